import type { RawReview } from "../corpus.ts";
import type { SkipCounter } from "../skips.ts";
import type { RecordSource } from "../source.ts";
import { idField, ratingField, textField } from "./fields.ts";
import { readJsonObjects } from "./json-records.ts";
import { requireSomeRecords } from "./require-records.ts";

/** One Amazon review (2014 and 2018 layouts share these fields), or null when it is malformed (counted). */
export function amazonReview(record: Record<string, unknown>, at: { line: number; skips: SkipCounter }): RawReview | null {
  const { line, skips } = at;
  const user = idField(record.reviewerID);
  if (user === null) {
    skips.add("missingUserId", line);
    return null;
  }
  const item = idField(record.asin);
  if (item === null) {
    skips.add("missingItemId", line);
    return null;
  }
  const rating = ratingField(record.overall);
  if (rating === undefined) {
    skips.add("ratingNotANumber", line);
    return null;
  }
  const summary = typeof record.summary === "string" ? record.summary : null;
  const time = typeof record.unixReviewTime === "number" && Number.isFinite(record.unixReviewTime) ? record.unixReviewTime : null;
  return { user, item, rating, text: textField(record.reviewText), summary, time };
}

/** Amazon review data (`reviewerID`, `asin`, `overall`, `reviewText`, `summary`, `unixReviewTime`). */
export function amazonSource(options: { reviews: string }): RecordSource {
  return {
    kind: "amazon",
    description: { files: { reviews: options.reviews } },
    async read({ sink, skips, onProgress }) {
      let accepted = 0;
      await readJsonObjects({
        filePath: options.reviews,
        formatName: "Amazon review",
        skips,
        onBytes: (done, total) => onProgress({ done, total, unit: "bytes" }),
        afterBatch: async () => sink.caughtUp?.(),
        onObject: (record, line) => {
          const review = amazonReview(record, { line, skips });
          if (review === null) return;
          sink.review(review, true);
          accepted += 1;
        },
      });
      requireSomeRecords({ accepted, filePath: options.reviews, formatName: "Amazon review (reviewerID, asin)", skips });
    },
  };
}
