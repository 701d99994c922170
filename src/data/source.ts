import type { StoredSource } from "../dataset-shapes.ts";
import type { ReviewSink } from "./corpus.ts";
import type { SkipCounter } from "./skips.ts";

/** Progress of reading a source: bytes (of the file on disk) or records. */
export interface ReadProgress {
  readonly done: number;
  readonly total: number | undefined;
  readonly unit: "bytes" | "records";
}

/** Something an ingest can read: a parser over files, or the synthetic generator. */
export interface RecordSource extends StoredSource {
  /** Settings worth remembering with the dataset (file names, generator options). */
  readonly description: Record<string, unknown>;
  /**
   * Streams every record into the sink, counting malformed ones in `skips`; throws a UserError when
   * the input is not this format at all.
   */
  read(context: { sink: ReviewSink; skips: SkipCounter; onProgress: (progress: ReadProgress) => void }): Promise<void>;
}
