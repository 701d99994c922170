import path from "node:path";
import { idField } from "../parsers/fields.ts";
import { readJsonObjects } from "../parsers/json-records.ts";
import type { SkipCounter } from "../skips.ts";
import { wrongFormatError } from "./file-errors.ts";
import { categoryList, cleanText, pickAttributes } from "./item-fields.ts";
import type { FormatReaderOptions, ItemMetadata } from "./item-metadata.ts";

/** Fields of a business record kept as attributes. */
const YELP_ATTRIBUTES = ["city", "state", "stars"];

/** Fields of the dataset's other files (reviews, tips, users) that a business record never has. */
const NOT_BUSINESS_FIELDS = ["review_id", "user_id"];

/**
 * One Yelp business (`business_id`, `name`, `categories` as one comma-separated string or null,
 * `city`, `state`, `stars`), or null when it has no id (counted).
 */
export function yelpItemMetadata(record: Readonly<Record<string, unknown>>, at: { line: number; skips: SkipCounter }): ItemMetadata | null {
  const externalId = idField(record.business_id);
  if (externalId === null) {
    at.skips.add("missingItemId", at.line);
    return null;
  }
  const categories = typeof record.categories === "string" ? record.categories.split(",") : record.categories;
  return {
    externalId,
    title: cleanText(record.name),
    categories: categoryList([categories]),
    attributes: pickAttributes(record, YELP_ATTRIBUTES),
  };
}

/** Reads the Yelp academic dataset's business.json (JSON lines); returns how many items were accepted. */
export async function readYelpMetadata(options: FormatReaderOptions): Promise<number> {
  const { file, skips, onItem } = options;
  const name = path.basename(file);
  let accepted = 0;
  let sawObject = false;
  await readJsonObjects({
    filePath: file,
    formatName: "Yelp business",
    skips,
    onBytes: options.onBytes,
    onObject: (record, line) => {
      if (!sawObject) {
        sawObject = true;
        refuseOtherYelpFiles({ record, name });
      }
      const item = yelpItemMetadata(record, { line, skips });
      if (item === null) return;
      onItem(item, line);
      accepted += 1;
    },
  });
  return accepted;
}

/** Refuses review, tip, user and check-in files of the same dataset from the first record they hold. */
function refuseOtherYelpFiles(options: { record: Readonly<Record<string, unknown>>; name: string }): void {
  const { record, name } = options;
  const field = NOT_BUSINESS_FIELDS.find((candidate) => Object.hasOwn(record, candidate));
  const found =
    field !== undefined
      ? `its first record has "${field}", so it is a review, tip or user file`
      : !Object.hasOwn(record, "name") && !Object.hasOwn(record, "categories")
        ? "its first record has neither \"name\" nor \"categories\" (a check-in file, perhaps)"
        : undefined;
  if (found === undefined) return;
  throw wrongFormatError({ name, expected: "a Yelp business file", found: `${found}; expected business.json records with "business_id" and "name"` });
}
