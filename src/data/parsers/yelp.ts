import type { RawReview } from "../corpus.ts";
import type { SkipCounter } from "../skips.ts";
import type { RecordSource } from "../source.ts";
import { idField, ratingField, textField } from "./fields.ts";
import { readJsonObjects } from "./json-records.ts";
import { requireSomeRecords } from "./require-records.ts";

/** One Yelp academic-dataset review, or null when it is malformed (counted). */
export function yelpReview(record: Record<string, unknown>, at: { line: number; skips: SkipCounter }): RawReview | null {
  const { line, skips } = at;
  const user = idField(record.user_id);
  if (user === null) {
    skips.add("missingUserId", line);
    return null;
  }
  const item = idField(record.business_id);
  if (item === null) {
    skips.add("missingItemId", line);
    return null;
  }
  const rating = ratingField(record.stars);
  if (rating === undefined) {
    skips.add("ratingNotANumber", line);
    return null;
  }
  return { user, item, rating, text: textField(record.text), summary: null, time: yelpTime(record.date) };
}

/** Yelp dates are "YYYY-MM-DD HH:MM:SS" in UTC; anything unparseable gives null. */
function yelpTime(value: unknown): number | null {
  if (typeof value !== "string") return null;
  const millis = Date.parse(`${value.trim().replace(" ", "T")}Z`);
  return Number.isFinite(millis) ? Math.round(millis / 1000) : null;
}

/** Yelp academic dataset reviews (`user_id`, `business_id`, `stars`, `text`, `date`), JSON lines. */
export function yelpSource(options: { reviews: string }): RecordSource {
  return {
    kind: "yelp",
    description: { files: { reviews: options.reviews } },
    async read({ sink, skips, onProgress }) {
      let accepted = 0;
      await readJsonObjects({
        filePath: options.reviews,
        formatName: "Yelp review",
        skips,
        onBytes: (done, total) => onProgress({ done, total, unit: "bytes" }),
        afterBatch: async () => sink.caughtUp?.(),
        onObject: (record, line) => {
          const review = yelpReview(record, { line, skips });
          if (review === null) return;
          sink.review(review, true);
          accepted += 1;
        },
      });
      requireSomeRecords({ accepted, filePath: options.reviews, formatName: "Yelp review (user_id, business_id)", skips });
    },
  };
}
