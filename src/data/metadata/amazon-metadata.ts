import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";
import { idField } from "../parsers/fields.ts";
import { readLineBatches } from "../parsers/read-lines.ts";
import type { SkipCounter } from "../skips.ts";
import { previewLine, wrongFormatError } from "./file-errors.ts";
import { categoryList, cleanText, pickAttributes } from "./item-fields.ts";
import { parsePythonLiteral } from "./python-literal.ts";
import type { FormatReaderOptions, ItemMetadata } from "./item-metadata.ts";

/** Fields kept as attributes: 2014 brand/price/salesRank, 2018 main_cat, 2023 main_category/store/ratings. */
const AMAZON_ATTRIBUTES = ["brand", "price", "salesRank", "main_cat", "main_category", "store", "average_rating", "rating_number"];

/** Fields only a review record has (2014/2018 reviewerID, overall, reviewText; 2023 user_id). */
const REVIEW_FIELDS = ["reviewerID", "user_id", "overall", "reviewText"];

/** A price as the 2018 files write it ("$12.99", "$5.99 - $9.99"); the field also holds scraped CSS there. */
const PRICE_TEXT = /^\$\s?\d[\d,]*(?:\.\d+)?(?:\s*-\s*\$\s?\d[\d,]*(?:\.\d+)?)?$/;

/** A 2018 main_cat that was scraped as the category's logo: `<img src="…" alt="Digital Music"/>`. */
const IMAGE_ALT = /^<img\b[^>]*\balt="([^"]*)"/i;

/**
 * One Amazon product, whichever public layout the record follows, or null when it has no id (counted):
 * 2014 (`asin`, `categories` as lists of lists), 2018 (`asin`, `category`, `main_cat`, price as text)
 * or 2023 (`parent_asin`, the id its reviews use, `categories`, `main_category`, `store`).
 */
export function amazonItemMetadata(record: Readonly<Record<string, unknown>>, at: { line: number; skips: SkipCounter }): ItemMetadata | null {
  const externalId = idField(record.parent_asin) ?? idField(record.asin);
  if (externalId === null) {
    at.skips.add("missingItemId", at.line);
    return null;
  }
  const attributes = pickAttributes(record, AMAZON_ATTRIBUTES);
  if (typeof attributes.main_cat === "string") {
    const alt = IMAGE_ALT.exec(attributes.main_cat);
    const mainCat = alt === null ? attributes.main_cat : cleanText(alt[1]);
    if (mainCat === null) delete attributes.main_cat;
    else attributes.main_cat = mainCat;
  }
  if (typeof attributes.price === "string" && !PRICE_TEXT.test(attributes.price)) delete attributes.price;
  return {
    externalId,
    title: cleanText(record.title),
    categories: categoryList([record.categories, record.category]),
    attributes,
  };
}

/**
 * Reads Amazon product metadata, one record per line: JSON (2018, 2023) or a Python dict literal
 * (2014, single-quoted), told apart per line. Returns how many items were accepted.
 */
export async function readAmazonMetadata(options: FormatReaderOptions): Promise<number> {
  const { file, skips, onItem } = options;
  const name = path.basename(file);
  let accepted = 0;
  let sawContent = false;
  let sawObject = false;
  for await (const batch of readLineBatches(file, { onBytes: options.onBytes })) {
    for (let k = 0; k < batch.lines.length; k++) {
      const line = batch.lines[k].trim();
      const lineNumber = batch.firstLine + k;
      if (line === "") continue;
      if (!sawContent) {
        sawContent = true;
        if (!line.startsWith("{")) {
          throw wrongFormatError({
            name,
            expected: "Amazon item metadata",
            found: `its first line does not start a record (${previewLine(line)}); expected one product per line, a JSON object or a Python dict`,
          });
        }
      }
      if (batch.invalidUtf8.has(k)) {
        skips.add("invalidUtf8", lineNumber);
        continue;
      }
      const value = parseRecord(line);
      if (value === undefined) {
        skips.add("brokenJson", lineNumber);
        continue;
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        skips.add("notAnObject", lineNumber);
        continue;
      }
      const record = value as Record<string, unknown>;
      if (!sawObject) {
        sawObject = true;
        refuseReviews({ record, name });
      }
      const item = amazonItemMetadata(record, { line: lineNumber, skips });
      if (item === null) continue;
      onItem(item, lineNumber);
      accepted += 1;
    }
  }
  if (!sawContent) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: it has only blank lines.`);
  return accepted;
}

/** A line as JSON or, failing that, as a Python literal; undefined when it is neither. */
function parseRecord(line: string): unknown {
  // A 2014 line opens with a single-quoted key; trying JSON first there would only waste a throw.
  if (!/^\{\s*[uU]?'/.test(line)) {
    try {
      return JSON.parse(line) as unknown;
    } catch {
      // Not JSON: a 2014 record may still use double quotes throughout and True/None.
    }
  }
  try {
    return parsePythonLiteral(line);
  } catch {
    return undefined;
  }
}

/** Refuses a reviews file, whose records also carry an asin, from the first record it holds. */
function refuseReviews(options: { record: Readonly<Record<string, unknown>>; name: string }): void {
  const field = REVIEW_FIELDS.find((candidate) => Object.hasOwn(options.record, candidate));
  if (field === undefined) return;
  throw wrongFormatError({
    name: options.name,
    expected: "Amazon item metadata",
    found: `its first record has "${field}", so it is a file of reviews; expected one product per line with "asin" (2014, 2018) or "parent_asin" (2023) and a title or categories`,
  });
}
