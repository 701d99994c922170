import { ErrorCode, UserError } from "../errors.ts";

/** The refusal when an ingest's dataset name is taken and --replace was not given (either database). */
export function datasetNameTaken(name: string): UserError {
  return new UserError(ErrorCode.CONFLICT, `A dataset named "${name}" already exists; pass --replace to ingest it again, or choose another name.`);
}
