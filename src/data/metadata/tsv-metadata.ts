import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";
import { readLineBatches } from "../parsers/read-lines.ts";
import { previewLine, wrongFormatError } from "./file-errors.ts";
import { categoryList, cleanText } from "./item-fields.ts";
import type { FormatReaderOptions, ItemMetadata } from "./item-metadata.ts";

/** Header names (lower case) of the title column. */
const TITLE_HEADERS = new Set(["name", "title"]);
/** Header names (lower case) of the categories column. */
const CATEGORY_HEADERS = new Set(["categories", "category", "tags", "tag"]);
/** First-column headers of an interactions or texts file, which has users where metadata has items. */
const USER_HEADERS = new Set(["user", "users", "user_id", "userid", "uid", "reviewer", "reviewerid", "reviewer_id"]);

/** Which column holds what, from the header line. */
interface TsvColumns {
  readonly width: number;
  readonly title: number;
  readonly categories: number;
  /** Column index and attribute name of every other column but the first (the id). */
  readonly attributes: ReadonlyArray<readonly [number, string]>;
}

/** Reads the header: the first title-like and categories-like columns (after the id), the rest as attributes. */
export function tsvColumns(header: ReadonlyArray<string>): TsvColumns {
  const names = header.map((cell) => cell.trim());
  let title = -1;
  let categories = -1;
  const attributes: Array<readonly [number, string]> = [];
  const used = new Set<string>();
  for (let k = 1; k < names.length; k++) {
    const lower = names[k].toLowerCase();
    if (title < 0 && TITLE_HEADERS.has(lower)) title = k;
    else if (categories < 0 && CATEGORY_HEADERS.has(lower)) categories = k;
    else {
      // A blank or repeated header would lose a column under one key; such a column is named by position.
      const key = names[k] === "" || used.has(names[k]) ? `column${k + 1}` : names[k];
      used.add(key);
      attributes.push([k, key]);
    }
  }
  return { width: names.length, title, categories, attributes };
}

/** One data row as an item, given the header's columns; the caller has checked the row is wide enough. */
export function tsvItemMetadata(fields: ReadonlyArray<string>, columns: TsvColumns): ItemMetadata | null {
  const externalId = fields[0].trim();
  if (externalId === "") return null;
  const rawCategories = columns.categories >= 0 ? fields[columns.categories] : "";
  const categories = categoryList(rawCategories.split(rawCategories.includes("|") ? "|" : ","));
  const attributes: Record<string, string> = {};
  for (const [index, key] of columns.attributes) {
    const value = fields[index].trim();
    if (value !== "") attributes[key] = value;
  }
  return { externalId, title: columns.title >= 0 ? cleanText(fields[columns.title]) : null, categories, attributes };
}

/**
 * Reads tab-separated metadata: a header line, then one item per line with its id in the first column.
 * Empty cells are left out of the attributes, and cells past the header's width are ignored.
 */
export async function readTsvMetadata(options: FormatReaderOptions): Promise<number> {
  const { file, skips, onItem } = options;
  const name = path.basename(file);
  let columns: TsvColumns | null = null;
  let accepted = 0;
  for await (const batch of readLineBatches(file, { onBytes: options.onBytes })) {
    for (let k = 0; k < batch.lines.length; k++) {
      const line = batch.lines[k];
      const lineNumber = batch.firstLine + k;
      if (line.trim() === "") continue;
      const fields = line.split("\t");
      if (columns === null) {
        columns = tsvColumns(fields);
        refuseHeader({ name, line, fields, rows: options.rows ?? "items" });
        continue;
      }
      if (batch.invalidUtf8.has(k)) {
        skips.add("invalidUtf8", lineNumber);
        continue;
      }
      if (fields.length < columns.width) {
        skips.add("tooFewFields", lineNumber);
        continue;
      }
      const item = tsvItemMetadata(fields, columns);
      if (item === null) {
        skips.add("missingItemId", lineNumber);
        continue;
      }
      onItem(item, lineNumber);
      accepted += 1;
    }
  }
  if (columns === null) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: it has only blank lines.`);
  return accepted;
}

/** Refuses a first line that is not a tab-separated header, or that heads a file of users' interactions. */
function refuseHeader(options: { name: string; line: string; fields: ReadonlyArray<string>; rows: "items" | "users" }): void {
  const { name, line, fields } = options;
  const expected = `tab-separated ${options.rows === "users" ? "user" : "item"} metadata`;
  if (fields.length < 2) {
    throw wrongFormatError({
      name,
      expected,
      found: `its first line has no tab (${previewLine(line)}); expected a header such as item_id<TAB>title<TAB>categories, then one item per line`,
    });
  }
  const first = fields[0].trim().toLowerCase();
  if (options.rows === "items" && USER_HEADERS.has(first)) {
    throw wrongFormatError({
      name,
      expected,
      found: `its first column is "${fields[0].trim()}", so it is a file of interactions or texts; expected the item id in the first column`,
    });
  }
}
