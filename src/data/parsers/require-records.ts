import path from "node:path";
import { ErrorCode, UserError } from "../../errors.ts";
import type { SkipCounter } from "../skips.ts";

/** Refuses a file in which not one record was usable: it is not the declared format. */
export function requireSomeRecords(options: { accepted: number; filePath: string; formatName: string; skips: SkipCounter }): void {
  if (options.accepted > 0) return;
  const reasons = options.skips.total > 0 ? ` (skipped ${options.skips.describe()})` : "";
  throw new UserError(
    ErrorCode.BAD_USER_INPUT,
    `No record in ${path.basename(options.filePath)} is a valid ${options.formatName} record${reasons}; check --format and the file.`,
  );
}
