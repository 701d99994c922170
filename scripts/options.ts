import { ErrorCode, UserError } from "../src/errors.ts";

/** Parses a numeric CLI option given as text, naming the option when it is not a number. */
export function numberOption(value: string | undefined, option: { flag: string; integer?: boolean }): number | undefined {
  const { flag, integer = true } = option;
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed) || (integer && !Number.isInteger(parsed))) {
    throw new UserError(ErrorCode.BAD_USER_INPUT, `${flag} must be ${integer ? "an integer" : "a number"}, got "${value}".`);
  }
  return parsed;
}
