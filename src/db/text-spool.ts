/**
 * Lines of text kept in a local temporary file and read back once, in order: a PostgreSQL ingest
 * keeps its review texts here, already in COPY's text format, while the source is read, and streams
 * them into the reviews table once their users and items have ids (dataset-writer-postgres.ts).
 * Staging them in a temporary table instead wrote every text twice on the server and joined them
 * back at the end; here the server writes each text once. The folder is under os.tmpdir() (TMPDIR):
 * a million reviews take about as much disk as the file they came from.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ErrorCode, UserError } from "../errors.ts";

export interface TextSpool {
  /** The file, in a folder of its own that close() removes. */
  readonly file: string;
  /** Appends whole lines (each ends with a newline). */
  append(lines: string): Promise<void>;
  /** What was appended, in order, as blocks of whole lines of about 1 MB; call it once, after the last append. */
  blocks(): AsyncGenerator<string>;
  /** Deletes the file; call it once, whatever happened. */
  close(): Promise<void>;
}

const BLOCK_BYTES = 1 << 20;

/** The refusal when the temporary folder cannot take the texts (full, read-only, missing). */
function spoolFailed(error: unknown): UserError {
  const code = (error as { code?: string }).code;
  const why = code === "ENOSPC" ? "it is full" : code === "EACCES" || code === "EROFS" ? "it cannot be written" : code === "ENOENT" ? "it does not exist" : `the system said ${code ?? String(error)}`;
  return new UserError(
    ErrorCode.BAD_USER_INPUT,
    `The ingest keeps its review texts in the temporary folder ${os.tmpdir()} while it reads, and ${why}; point TMPDIR at a folder with room (about the size of the input file) and run it again. Nothing was changed.`,
  );
}

export async function openTextSpool(): Promise<TextSpool> {
  let dir: string;
  try {
    dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "vcm-spool-"));
  } catch (error) {
    throw spoolFailed(error);
  }
  const file = path.join(dir, "texts.copy");
  let handle: fs.promises.FileHandle | null = null;
  try {
    handle = await fs.promises.open(file, "w");
  } catch (error) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw spoolFailed(error);
  }
  const closeHandle = async (): Promise<void> => {
    const h = handle;
    handle = null;
    await h?.close();
  };
  return {
    file,
    async append(lines) {
      if (handle === null) throw new Error("Invariant failed: the text spool was read or closed before this append");
      try {
        await handle.write(lines);
      } catch (error) {
        throw spoolFailed(error);
      }
    },
    async *blocks() {
      await closeHandle();
      let carry = "";
      for await (const chunk of fs.createReadStream(file, { encoding: "utf8", highWaterMark: BLOCK_BYTES })) {
        const text = carry + (chunk as string);
        const end = text.lastIndexOf("\n") + 1;
        carry = text.slice(end);
        if (end > 0) yield text.slice(0, end);
      }
      if (carry !== "") throw new Error(`Invariant failed: the text spool ends inside a line (${carry.length} characters)`);
    },
    async close() {
      await closeHandle().catch(() => undefined);
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}
