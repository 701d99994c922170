import cliProgress from "cli-progress";
import type { IngestProgress } from "../src/services/ingest.ts";
import type { CliIo } from "./commands/command-module.ts";

/** Seconds between plain progress lines when stderr is not a terminal (logs stay short). */
const PLAIN_INTERVAL_MS = 2_000;

/** Shows ingest progress on stderr: a bar on a terminal, plain lines otherwise. */
export function createIngestProgress(io: CliIo): { onProgress: (event: IngestProgress) => void; stop: () => void } {
  const tty = process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = 0;
  const started = Date.now();
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  const onProgress = (event: IngestProgress): void => {
    if (event.phase !== "read") {
      stop();
      io.info(event.message);
      return;
    }
    const { progress, records } = event;
    const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
    const rate = Math.round(records / seconds);
    if (tty && progress.total !== undefined) {
      const scale = progress.unit === "bytes" ? 1 / 1_048_576 : 1;
      const total = Math.ceil(progress.total * scale);
      // A second input file (tsv texts) has its own size: start a fresh bar for it.
      if (bar !== undefined && bar.getTotal() !== total) stop();
      if (bar === undefined) {
        bar = new cliProgress.SingleBar(
          { format: "reading |{bar}| {percentage}% | {value}/{total} {unit} | {records} records | {rate}/s", stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, 0, { unit: progress.unit === "bytes" ? "MB" : "records", records, rate });
      }
      bar.update(Math.floor(progress.done * scale), { records, rate });
      return;
    }
    const now = Date.now();
    if (now - lastLine < PLAIN_INTERVAL_MS && progress.done !== progress.total) return;
    lastLine = now;
    const share = progress.total ? ` (${Math.floor((100 * progress.done) / progress.total)}%)` : "";
    io.info(`reading: ${records} records${share}, ${rate} records/s`);
  };
  return { onProgress, stop };
}
