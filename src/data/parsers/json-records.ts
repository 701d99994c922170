import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";
import type { SkipCounter } from "../skips.ts";
import { readLineBatches } from "./read-lines.ts";

/** Longest record (in lines) before a never-closing object is given up as broken. */
const MAX_RECORD_LINES = 10_000;

/**
 * Streams JSON objects from a file that holds one per line (JSON lines) or pretty-printed objects one
 * after another (the 2018 Amazon "5-core" layout). A broken record is counted and the reader resyncs
 * at the next line that starts with `{`; a file whose first line does not open an object is refused.
 */
export async function readJsonObjects(options: {
  filePath: string;
  formatName: string;
  skips: SkipCounter;
  onObject: (record: Record<string, unknown>, line: number) => void;
  onBytes?: (done: number, total: number) => void;
  /** Awaited after each batch of lines (ReviewSink.caughtUp). */
  afterBatch?: () => Promise<void>;
}): Promise<void> {
  const { filePath, formatName, skips, onObject } = options;
  const name = path.basename(filePath);
  let sawContent = false;
  // The multi-line record being accumulated, if any.
  let pending: string[] = [];
  let pendingLine = 0;
  let pendingInvalid = false;
  let pendingBroken = false;
  const scan = { depth: 0, inString: false, escape: false };

  const emit = (text: string, at: { line: number; invalidUtf8: boolean }): void => {
    const { line, invalidUtf8 } = at;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      skips.add("brokenJson", line);
      return;
    }
    if (invalidUtf8) skips.add("invalidUtf8", line);
    else if (value === null || typeof value !== "object" || Array.isArray(value)) skips.add("notAnObject", line);
    else onObject(value as Record<string, unknown>, line);
  };
  const closePending = (): void => {
    if (pendingBroken) skips.add(pendingInvalid ? "invalidUtf8" : "brokenJson", pendingLine);
    else emit(pending.join("\n"), { line: pendingLine, invalidUtf8: pendingInvalid });
    pending = [];
    pendingInvalid = false;
    pendingBroken = false;
  };
  const startPending = (line: string, at: { lineNumber: number; invalid: boolean }): void => {
    const { lineNumber, invalid } = at;
    pending = [line];
    pendingLine = lineNumber;
    pendingInvalid = invalid;
    pendingBroken = false;
    scan.depth = 0;
    scan.inString = false;
    scan.escape = false;
    if (scanLine(line, scan)) pendingBroken = true;
  };

  for await (const batch of readLineBatches(filePath, { onBytes: options.onBytes })) {
    const { lines, firstLine, invalidUtf8 } = batch;
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k];
      const lineNumber = firstLine + k;
      const invalid = invalidUtf8.size > 0 && invalidUtf8.has(k);
      if (pending.length > 0 && line.charCodeAt(0) === 123 /* { */) {
        // A new object at column 0 while one is open: the open one never closed; read this line afresh.
        skips.add(pendingInvalid ? "invalidUtf8" : "brokenJson", pendingLine);
        pending = [];
      }
      if (pending.length > 0) {
        pending.push(line);
        pendingInvalid ||= invalid;
        if (scanLine(line, scan)) pendingBroken = true;
        if (scan.depth <= 0) closePending();
        else if (pending.length > MAX_RECORD_LINES) {
          skips.add("brokenJson", pendingLine);
          pending = [];
        }
        continue;
      }
      const trimmed = line.trim();
      if (trimmed === "") continue;
      if (!sawContent) {
        sawContent = true;
        if (trimmed.charCodeAt(0) !== 123) throw notJsonObjects({ name, formatName, firstLine: trimmed });
      }
      if (trimmed.charCodeAt(0) !== 123) {
        skips.add(invalid ? "invalidUtf8" : "brokenJson", lineNumber);
      } else if (trimmed.charCodeAt(trimmed.length - 1) === 125 /* } */) {
        emit(trimmed, { line: lineNumber, invalidUtf8: invalid });
      } else {
        startPending(line, { lineNumber, invalid });
        if (scan.depth <= 0) closePending();
      }
    }
    await options.afterBatch?.();
  }
  if (pending.length > 0) skips.add(pendingInvalid ? "invalidUtf8" : "brokenJson", pendingLine);
  if (!sawContent) throw new UserError(ErrorCode.BAD_USER_INPUT, `${name} is empty: it has only blank lines.`);
}

/** Tracks brace depth and string state over one line; true when a string runs past the line end (broken). */
function scanLine(line: string, state: { depth: number; inString: boolean; escape: boolean }): boolean {
  for (let k = 0; k < line.length; k++) {
    const c = line.charCodeAt(k);
    if (state.inString) {
      if (state.escape) state.escape = false;
      else if (c === 92 /* \ */) state.escape = true;
      else if (c === 34 /* " */) state.inString = false;
    } else if (c === 34) state.inString = true;
    else if (c === 123 || c === 91) state.depth += 1;
    else if (c === 125 || c === 93) state.depth -= 1;
  }
  if (state.inString) {
    // JSON strings cannot hold raw newlines.
    state.inString = false;
    state.escape = false;
    return true;
  }
  return false;
}

function notJsonObjects(options: { name: string; formatName: string; firstLine: string }): UserError {
  const preview = options.firstLine.length > 60 ? `${options.firstLine.slice(0, 60)}…` : options.firstLine;
  const hint = options.firstLine.startsWith("[")
    ? "it is a JSON array; expected one JSON object per review (JSON lines or objects one after another)"
    : `its first line does not start a JSON object: ${JSON.stringify(preview)}`;
  return new UserError(ErrorCode.BAD_USER_INPUT, `${options.name} is not ${options.formatName} JSON: ${hint}. Check --format.`);
}
