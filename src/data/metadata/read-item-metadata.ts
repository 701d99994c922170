import { assertNever } from "../../errors.ts";
import { requireSomeRecords } from "../parsers/require-records.ts";
import { readAmazonMetadata } from "./amazon-metadata.ts";
import { checkReadableFile } from "./file-errors.ts";
import type { FormatReaderOptions, MetadataFormat, ReadItemMetadataOptions } from "./item-metadata.ts";
import { readTsvMetadata } from "./tsv-metadata.ts";
import { readYelpMetadata } from "./yelp-metadata.ts";

export type { ItemMetadata, MetadataFormat, ReadItemMetadataOptions } from "./item-metadata.ts";

/** How each format names itself in the refusal of a file with no usable record. */
const FORMAT_NAMES: Readonly<Record<MetadataFormat, string>> = {
  amazon: "Amazon item metadata (asin or parent_asin)",
  yelp: "Yelp business (business_id, name)",
  tsv: "tab-separated item metadata (item id, then title, categories…)",
};

/**
 * Streams the items of a metadata file to `onItem`, counting malformed records in `skips`; throws a
 * UserError naming the file's base name when it is not the format at all or not one record was usable.
 */
export async function readItemMetadata(options: ReadItemMetadataOptions): Promise<{ accepted: number }> {
  const { format, ...reader } = options;
  checkReadableFile(reader.file);
  const accepted = await readFormat(format, reader);
  requireSomeRecords({ accepted, filePath: reader.file, formatName: FORMAT_NAMES[format], skips: reader.skips });
  return { accepted };
}

function readFormat(format: MetadataFormat, reader: FormatReaderOptions): Promise<number> {
  switch (format) {
    case "amazon":
      return readAmazonMetadata(reader);
    case "yelp":
      return readYelpMetadata(reader);
    case "tsv":
      return readTsvMetadata(reader);
    default:
      return assertNever(format);
  }
}
