import fs from "node:fs";
import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";

/** How much of a file's first line a refusal quotes. */
const PREVIEW_CHARS = 60;

/**
 * Refuses a missing path or a directory with a sentence naming only the base name (the line reader
 * would name the full path, which may reveal where the server keeps its files).
 */
export function checkReadableFile(filePath: string): void {
  const name = path.basename(filePath);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "there is no such file" : code === "EACCES" ? "permission is denied" : `the system said ${code ?? "no"}`;
    throw new UserError(ErrorCode.BAD_USER_INPUT, `Cannot read the metadata file ${name}: ${why}.`);
  }
  if (!stat.isFile()) throw new UserError(ErrorCode.BAD_USER_INPUT, `The metadata file ${name} is not a file (it is a directory or a device).`);
}

/** The refusal of a file that is some other format: what was found, what was expected, what to do. */
export function wrongFormatError(options: { name: string; expected: string; found: string }): UserError {
  return new UserError(
    ErrorCode.BAD_USER_INPUT,
    `${options.name} is not ${options.expected}: ${options.found}; check --format and the file.`,
  );
}

/** A file's first line, shortened for an error message. */
export function previewLine(line: string): string {
  return JSON.stringify(line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS)}…` : line);
}
