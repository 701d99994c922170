import { isUtf8 } from "node:buffer";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import zlib from "node:zlib";
import { ErrorCode, UserError } from "../../errors.ts";

/** Consecutive lines of a file; lines that were not valid UTF-8 are decoded with U+FFFD and flagged. */
export interface LineBatch {
  readonly lines: ReadonlyArray<string>;
  /** 1-based number of lines[0]. */
  readonly firstLine: number;
  /** Indices into `lines` of lines whose bytes were not valid UTF-8 (empty for almost every batch). */
  readonly invalidUtf8: ReadonlySet<number>;
}

/** Longest line accepted; anything longer is not a review record (and would exhaust memory). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
const NO_INVALID: ReadonlySet<number> = new Set();

/**
 * Streams a text file, plain or gzipped (detected from its first bytes), as batches of lines without
 * ever holding the whole file; refuses empty and binary files with a UserError.
 */
export async function* readLineBatches(
  filePath: string,
  options: { onBytes?: (done: number, total: number) => void } = {},
): AsyncGenerator<LineBatch> {
  const name = path.basename(filePath);
  const total = fileSize(filePath);
  if (total === 0) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: there is nothing to ingest.`);
  const gzipped = startsWithGzipMagic(filePath);
  const raw = fs.createReadStream(filePath, { highWaterMark: CHUNK_BYTES });
  let done = 0;
  raw.on("data", (chunk) => {
    done += chunk.length;
    options.onBytes?.(done, total);
  });
  const stream: Readable = gzipped ? raw.pipe(zlib.createGunzip({ chunkSize: CHUNK_BYTES })) : raw;
  if (gzipped) raw.on("error", (error) => stream.destroy(error));

  let leftover: Buffer = Buffer.alloc(0);
  let lineNumber = 1;
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buffer = leftover.length === 0 ? chunk : Buffer.concat([leftover, chunk]);
      if (first) {
        first = false;
        if (buffer.subarray(0, 8192).includes(0)) {
          throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is not a text file (it contains binary data, like an image or an archive).`);
        }
        if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) buffer = buffer.subarray(3);
      }
      const lastNewline = buffer.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        if (buffer.length > MAX_LINE_BYTES) throw tooLong(name, lineNumber);
        leftover = buffer;
        continue;
      }
      const batch = splitLines(buffer.subarray(0, lastNewline), lineNumber);
      leftover = Buffer.from(buffer.subarray(lastNewline + 1));
      lineNumber += batch.lines.length;
      yield batch;
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Cannot read ${name}: ${describeReadError(error, gzipped)}.`);
  } finally {
    raw.destroy();
  }
  if (first) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: there is nothing to ingest.`);
  if (leftover.length > 0) yield splitLines(leftover, lineNumber);
}

/** Splits bytes (no trailing newline) into lines; the whole block is decoded at once when it is valid UTF-8. */
function splitLines(bytes: Buffer, firstLine: number): LineBatch {
  if (isUtf8(bytes)) {
    const lines = bytes.toString("utf8").split("\n");
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k];
      if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) lines[k] = line.slice(0, -1);
    }
    return { lines, firstLine, invalidUtf8: NO_INVALID };
  }
  const lines: string[] = [];
  const invalid = new Set<number>();
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    let lineBytes = bytes.subarray(start, end);
    if (lineBytes.length > 0 && lineBytes[lineBytes.length - 1] === 13) lineBytes = lineBytes.subarray(0, -1);
    if (!isUtf8(lineBytes)) invalid.add(lines.length);
    lines.push(lineBytes.toString("utf8"));
    start = end + 1;
  }
  return { lines, firstLine, invalidUtf8: invalid };
}

function fileSize(filePath: string): number {
  try {
    const stat = fs.statSync(filePath);
    if (!stat.isFile()) throw new UserError(ErrorCode.BAD_USER_INPUT, `${filePath} is not a file.`);
    return stat.size;
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Cannot read ${filePath}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "there is no such file" : String(error)}.`);
  }
}

function startsWithGzipMagic(filePath: string): boolean {
  const fd = fs.openSync(filePath, "r");
  try {
    const head = Buffer.alloc(2);
    const read = fs.readSync(fd, head, 0, 2, 0);
    return read === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

function tooLong(name: string, line: number): UserError {
  return new UserError(ErrorCode.BAD_USER_INPUT, `${name} has a line longer than 64 MB at line ${line}; it is not a file of review records.`);
}

function describeReadError(error: unknown, gzipped: boolean): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (gzipped && typeof code === "string" && code.startsWith("Z_")) return "it is not a complete gzip file (it is truncated or corrupt)";
  return error instanceof Error ? error.message : String(error);
}
