/**
 * The one rule for a dataset's name, checked when a dataset is created (ingest, generate): names end
 * up in file names (`vcm export dataset` writes NAME.train.inter…), so they are short and made only of
 * characters that cannot leave a folder or hide a file.
 */
import { ErrorCode, UserError } from "../errors.ts";

/** The longest dataset name accepted. */
export const DATASET_NAME_MAX_LENGTH = 64;

/** Letters and digits of any script, dots, dashes and underscores; a letter or digit first (so no "..", no hidden file). */
const DATASET_NAME = new RegExp(`^[\\p{L}\\p{N}][\\p{L}\\p{N}._-]{0,${DATASET_NAME_MAX_LENGTH - 1}}$`, "u");

/** The rule in words, for flags' help and error sentences. */
export const DATASET_NAME_RULE = `1 to ${DATASET_NAME_MAX_LENGTH} letters, digits, dots, dashes or underscores, starting with a letter or digit`;

/** The name, trimmed, or BAD_USER_INPUT with the rule when it breaks it. */
export function checkDatasetName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") throw new UserError(ErrorCode.BAD_USER_INPUT, "The dataset name is empty; pass --dataset NAME.");
  if (!DATASET_NAME.test(trimmed)) {
    const shown = trimmed.length > DATASET_NAME_MAX_LENGTH ? `${trimmed.slice(0, 20)}… (${trimmed.length} characters)` : JSON.stringify(trimmed);
    throw new UserError(ErrorCode.BAD_USER_INPUT, `A dataset name is ${DATASET_NAME_RULE}; got ${shown}. Choose another name.`);
  }
  return trimmed;
}
