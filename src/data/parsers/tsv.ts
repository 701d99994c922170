import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";
import type { ReviewSink } from "../corpus.ts";
import type { SkipCounter } from "../skips.ts";
import type { ReadProgress, RecordSource } from "../source.ts";
import { ratingField } from "./fields.ts";
import { readLineBatches } from "./read-lines.ts";
import { requireSomeRecords } from "./require-records.ts";

const USER_HEADERS = new Set(["user", "users", "user_id", "userid", "uid", "reviewer", "reviewerid", "reviewer_id"]);
const ITEM_HEADERS = new Set(["item", "items", "item_id", "itemid", "iid", "asin", "business", "business_id", "product", "product_id"]);
const TEXT_HEADERS = new Set(["text", "texts", "review", "review_text", "reviewtext", "tag", "tags", "content", "body"]);

/** True when the first line of an interactions file is a header rather than data. */
export function isInteractionsHeader(fields: ReadonlyArray<string>): boolean {
  const [user = "", item = "", rating] = fields.map((f) => f.trim().toLowerCase());
  if (USER_HEADERS.has(user) && ITEM_HEADERS.has(item)) return true;
  return rating !== undefined && rating !== "" && ratingField(rating) === undefined;
}

/** True when the first line of a texts file is a header rather than data. */
export function isTextsHeader(fields: ReadonlyArray<string>): boolean {
  const [user = "", item = "", text = ""] = fields.map((f) => f.trim().toLowerCase());
  return (USER_HEADERS.has(user) && (ITEM_HEADERS.has(item) || item === "")) || TEXT_HEADERS.has(text);
}

/**
 * The generic layout: interactions `user<TAB>item[<TAB>rating]` and optional texts
 * `user<TAB>item<TAB>text`, where an empty item is text of the user about no particular item.
 */
export function tsvSource(options: { interactions: string; texts?: string }): RecordSource {
  return {
    kind: "tsv",
    description: { files: { interactions: options.interactions, ...(options.texts ? { texts: options.texts } : {}) } },
    async read({ sink, skips, onProgress }) {
      const accepted = await readTsv({ filePath: options.interactions, kind: "interactions", sink, skips, onProgress });
      requireSomeRecords({ accepted, filePath: options.interactions, formatName: "tab-separated interaction (user, item[, rating])", skips });
      if (options.texts !== undefined) {
        const texts = await readTsv({ filePath: options.texts, kind: "texts", sink, skips, onProgress });
        requireSomeRecords({ accepted: texts, filePath: options.texts, formatName: "tab-separated text (user, item, text)", skips });
      }
    },
  };
}

async function readTsv(options: {
  filePath: string;
  kind: "interactions" | "texts";
  sink: ReviewSink;
  skips: SkipCounter;
  onProgress: (progress: ReadProgress) => void;
}): Promise<number> {
  const { filePath, kind, sink, skips } = options;
  const name = path.basename(filePath);
  // Reasons from the texts file are prefixed so their line numbers are not mistaken for interaction lines.
  const skip = (reason: Parameters<SkipCounter["add"]>[0], line: number): void =>
    kind === "texts" ? skips.addTexts(reason, line) : skips.add(reason, line);
  let accepted = 0;
  let sawContent = false;
  for await (const batch of readLineBatches(filePath, { onBytes: (done, total) => options.onProgress({ done, total, unit: "bytes" }) })) {
    for (let k = 0; k < batch.lines.length; k++) {
      const line = batch.lines[k];
      const lineNumber = batch.firstLine + k;
      if (line.trim() === "") continue;
      const fields = line.split("\t");
      if (!sawContent) {
        sawContent = true;
        if (fields.length < 2) {
          const preview = line.length > 60 ? `${line.slice(0, 60)}…` : line;
          throw new UserError(
            ErrorCode.BAD_USER_INPUT,
            `${name} is not tab-separated: its first line has no tab (${JSON.stringify(preview)}); expected ${kind === "texts" ? "user<TAB>item<TAB>text" : "user<TAB>item[<TAB>rating]"}.`,
          );
        }
        if (kind === "interactions" ? isInteractionsHeader(fields) : isTextsHeader(fields)) continue;
      }
      if (batch.invalidUtf8.has(k)) {
        skip("invalidUtf8", lineNumber);
        continue;
      }
      if (fields.length < (kind === "texts" ? 3 : 2)) {
        skip("tooFewFields", lineNumber);
        continue;
      }
      const user = fields[0].trim();
      const item = fields[1].trim();
      if (user === "") {
        skip("missingUserId", lineNumber);
        continue;
      }
      if (kind === "interactions") {
        if (item === "") {
          skip("missingItemId", lineNumber);
          continue;
        }
        const rating = ratingField(fields[2]);
        if (rating === undefined) {
          skip("ratingNotANumber", lineNumber);
          continue;
        }
        sink.interaction(user, item, rating);
      } else {
        const text = fields.slice(2).join("\t");
        sink.review({ user, item: item === "" ? null : item, rating: null, text, summary: null, time: null }, false);
      }
      accepted += 1;
    }
    await sink.caughtUp?.();
  }
  if (!sawContent) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: it has only blank lines.`);
  return accepted;
}
