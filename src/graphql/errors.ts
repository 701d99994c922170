/**
 * GraphQL errors with codes from the one ErrorCode enum, and the `formatError` that masks everything
 * else: a response never carries a stack trace, SQL or an internal message.
 */
import { ApolloServerErrorCode, unwrapResolverError } from "@apollo/server/errors";
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { ErrorCode, faultAsUserError, UserError, type ErrorLogger } from "../errors.ts";

/** HTTP status that goes with each code when the whole request fails before execution. */
const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.MODEL_NOT_READY]: 409,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.PERSISTED_QUERY_ONLY]: 403,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.DATABASE_BUSY]: 503,
  [ErrorCode.DATABASE_UNAVAILABLE]: 503,
  [ErrorCode.STORAGE_FULL]: 507,
  [ErrorCode.SERVER_BUSY]: 503,
  [ErrorCode.TOO_MANY_SUBSCRIPTIONS]: 429,
  [ErrorCode.JOB_FAILED]: 500,
  [ErrorCode.INTERNAL_SERVER_ERROR]: 500,
};

/** The HTTP status of a request refused as a whole with this code. */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

/** A GraphQLError carrying one of our codes (and, before execution, the matching HTTP status). */
export function codedError(code: ErrorCode, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status: HTTP_STATUS[code] } } });
}

/** BAD_USER_INPUT with a sentence that says what to change. */
export function badUserInputError(message: string): GraphQLError {
  return codedError(ErrorCode.BAD_USER_INPUT, message);
}

/** Codes that graphql-js and Apollo give to a client's own mistakes: safe to show as they are. */
const CLIENT_CODES: ReadonlySet<string> = new Set<string>([
  ...Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR),
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_USER_INPUT,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
]);

/**
 * Automatic-persisted-query refusals that Apollo (5.5.1, requestPipeline.js) throws as plain GraphQLErrors
 * without a code, by their message, with the sentence a client gets under BAD_REQUEST instead.
 */
const PERSISTED_QUERY_REFUSALS: ReadonlyMap<string, string> = new Map([
  [
    "provided sha does not match query",
    "The persisted query's sha256Hash is not the SHA-256 of the query sent with it; send the lowercase hex SHA-256 of the exact query text, or leave out extensions.persistedQuery.",
  ],
  ["Unsupported persisted query version", "This server supports version 1 of automatic persisted queries only; send extensions.persistedQuery.version 1."],
]);

/** The message every masked error gets. */
export const INTERNAL_ERROR_MESSAGE = "Internal server error; it has been logged.";

/**
 * Builds Apollo's `formatError`: a UserError thrown anywhere becomes its code and sentence; GraphQL
 * errors with a client code pass (without stack traces); anything else is logged and masked.
 */
export function createFormatError(
  logger: ErrorLogger,
): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  return (formatted, error) => {
    const original = unwrapResolverError(error);
    const where = { locations: formatted.locations, path: formatted.path };
    // A foreign lock, a database restarting, a full disk: a code and a sentence, not an internal error.
    const user = original instanceof UserError ? original : faultAsUserError(original);
    if (user !== undefined) return { message: user.message, ...where, extensions: { code: user.code } };
    const refusal = original instanceof GraphQLError && original.extensions.code === undefined ? PERSISTED_QUERY_REFUSALS.get(original.message) : undefined;
    if (refusal !== undefined) return { message: refusal, ...where, extensions: { code: ApolloServerErrorCode.BAD_REQUEST } };
    const code = formatted.extensions?.code;
    const thrownAsGraphQL = original instanceof GraphQLError || !(original instanceof Error);
    if (typeof code === "string" && CLIENT_CODES.has(code) && thrownAsGraphQL) {
      return { message: formatted.message, ...where, extensions: { code } };
    }
    logger.error(`internal error${formatted.path ? ` at ${formatted.path.join(".")}` : ""}`, original);
    return { message: INTERNAL_ERROR_MESSAGE, ...where, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}
