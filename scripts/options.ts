import { ErrorCode, UserError } from "../src/errors.ts";
import { MAX_SHARDS, validateShards } from "../src/services/sharded-pass.ts";

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

/** The help of a `--shards` option, for a pass whose shards are whole batches of `batch` users. */
export function shardsHelp(batch: string): string {
  return `cut the users into n shards (whole batches of ${batch}, at most ${MAX_SHARDS}) that every \`vcm serve\` on the database computes beside this process; the result is the same`;
}

/** The number a `--shards` option gives, refused with a sentence outside 1 to MAX_SHARDS; undefined when not given. */
export function shardsOption(value: string | undefined): number | undefined {
  const shards = numberOption(value, { flag: "--shards" });
  return shards === undefined ? undefined : validateShards({ shards });
}
