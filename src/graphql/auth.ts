/**
 * The admin rule: when VCM_ADMIN_TOKEN is set, every mutation needs `Authorization: Bearer <token>`.
 * The plugin checks whole operations, so a mutation added later is covered without a decorator;
 * `@Authorized()` on a query field applies the same rule to that field.
 */
import type { ApolloServerPlugin } from "@apollo/server";
import type { AuthCheckerFn } from "type-graphql";
import { ErrorCode, UserError } from "../errors.ts";
import type { AuthState, GraphQLContext } from "./context.ts";
import { codedError } from "./errors.ts";

/** The sentence for a request that lacks the token, or null when the request may proceed. */
export function authFailure(auth: AuthState, what: string): string | null {
  if (auth.admin) return null;
  return auth.presented
    ? `The bearer token is not this server's VCM_ADMIN_TOKEN; ${what} needs the right one.`
    : `${what} needs an "Authorization: Bearer <token>" header with this server's VCM_ADMIN_TOKEN.`;
}

/** type-graphql's authChecker for `@Authorized()` fields. */
export const adminAuthChecker: AuthCheckerFn<GraphQLContext> = ({ context, info }) => {
  const failure = authFailure(context.auth, `The field ${info.parentType.name}.${info.fieldName}`);
  if (failure !== null) throw new UserError(ErrorCode.UNAUTHENTICATED, failure);
  return true;
};

/** Refuses a mutation operation without the admin token before anything executes (HTTP 401). */
export function adminMutationsPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation !== "mutation") return;
          const failure = authFailure(contextValue.auth, "A mutation");
          if (failure !== null) throw codedError(ErrorCode.UNAUTHENTICATED, failure);
        },
      };
    },
  };
}
