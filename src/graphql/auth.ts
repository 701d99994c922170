/**
 * Who may do what. A request proves an API key (src/services/api-keys.ts) or the bootstrap admin
 * token VCM_ADMIN_TOKEN with `Authorization: Bearer <…>`; an analyst key reads, an admin key or the
 * token also runs mutations. Without a header, reads are open only where the server allows it (on
 * loopback, or with --public-read), and mutations only while the server has neither keys nor a token
 * on loopback (local use, as before keys existed). A header that proves nothing is refused before anything runs.
 * The plugin checks whole operations, so a mutation added later is covered without a decorator;
 * `@Authorized()` on a query field applies the mutation rule to that field.
 */
import type { ApolloServerPlugin } from "@apollo/server";
import type { AuthCheckerFn } from "type-graphql";
import { ErrorCode, faultAsUserError, UserError } from "../errors.ts";
import type { ApiKeyChecker, ApiKeyRole } from "../services/api-keys.ts";
import { bearerToken, isAdminToken, type Access, type AuthState, type GraphQLContext } from "./context.ts";
import { codedError } from "./errors.ts";

/** What a request without a key is told where reads need one. */
export const KEY_REQUIRED_MESSAGE =
  'This server needs an API key: send an "Authorization: Bearer <key>" header (an admin makes keys with vcm keys create).';
/** What a header that proves nothing is told. */
export const WRONG_KEY_MESSAGE =
  "The bearer token is not an API key of this server (a wrong, revoked or mistyped key) and not this server's VCM_ADMIN_TOKEN; check it, or ask an admin for a new key.";

/** The sentence for a request that may not run mutations, or null when the request may proceed. */
export function authFailure(auth: AuthState, what: string): string | null {
  if (auth.admin) return null;
  if (auth.role === "analyst") return `${what} needs an admin key; the key ${auth.keyName ?? ""} is an analyst key, which reads only.`;
  return `${what} needs an "Authorization: Bearer <token>" header with an admin API key or this server's VCM_ADMIN_TOKEN.`;
}

/** The error for a request that may not run mutations: FORBIDDEN for an analyst key, else UNAUTHENTICATED. */
function refusal(auth: AuthState, failure: string): { code: ErrorCode; message: string } {
  return { code: auth.role === "analyst" ? ErrorCode.FORBIDDEN : ErrorCode.UNAUTHENTICATED, message: failure };
}

/** type-graphql's authChecker for `@Authorized()` fields. */
export const adminAuthChecker: AuthCheckerFn<GraphQLContext> = ({ context, info }) => {
  const failure = authFailure(context.auth, `The field ${info.parentType.name}.${info.fieldName}`);
  if (failure !== null) {
    const { code, message } = refusal(context.auth, failure);
    throw new UserError(code, message);
  }
  return true;
};

/** Refuses a mutation operation without an admin credential before anything executes (HTTP 401 or 403). */
export function adminMutationsPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation !== "mutation") return;
          const failure = authFailure(contextValue.auth, "A mutation");
          if (failure === null) return;
          const { code, message } = refusal(contextValue.auth, failure);
          throw codedError(code, message);
        },
      };
    },
  };
}

/** Decides what each request's credentials allow, for one server. */
export class AccessControl implements Access {
  readonly #keys: ApiKeyChecker;
  readonly #adminToken: string | undefined;
  /** Whether a request without a key may read (loopback, or --public-read). */
  readonly openReads: boolean;
  /** Whether a request without a credential may run mutations while no credential exists (loopback only). */
  readonly #openWrites: boolean;

  constructor(options: { keys: ApiKeyChecker; adminToken: string | undefined; access: ListenAccess }) {
    this.#keys = options.keys;
    this.#adminToken = options.adminToken;
    this.openReads = options.access.openReads;
    this.#openWrites = options.access.loopback;
  }

  /** Whether any credential exists (a key, or the admin token): then mutations need one. */
  async credentialsExist(): Promise<boolean> {
    return this.#adminToken !== undefined || (await this.#keys.anyKey());
  }

  /**
   * Whether any credential exists, for a request without one; while the database cannot be read, yes
   * (mutations are refused, fail closed), so that a read is not refused before it runs: it answers
   * DATABASE_UNAVAILABLE itself if it needs the database.
   */
  async #credentialsExistOrAssume(): Promise<boolean> {
    try {
      return await this.credentialsExist();
    } catch (error) {
      if (faultAsUserError(error) === undefined) throw error;
      return true;
    }
  }

  /**
   * What a request's Authorization header proves; throws UNAUTHENTICATED for a header that proves
   * nothing, and for no header where reads need a key. `address` is the client's, for its rate limit.
   */
  async authenticate(request: { authorization: string | undefined; address: string | undefined }): Promise<AuthState> {
    const token = bearerToken(request.authorization);
    if (token === undefined) {
      if (!this.openReads) throw new UserError(ErrorCode.UNAUTHENTICATED, KEY_REQUIRED_MESSAGE);
      const required = !this.#openWrites || (await this.#credentialsExistOrAssume());
      return { required, admin: !required, presented: false, role: null, subject: `address:${request.address ?? "unknown"}` };
    }
    if (token === null) {
      throw new UserError(ErrorCode.UNAUTHENTICATED, 'The Authorization header must read "Bearer <key>", with the key as vcm keys create printed it.');
    }
    if (isAdminToken(token, this.#adminToken)) return { required: true, admin: true, presented: true, role: "admin", subject: "token" };
    const key = await this.#keys.check(token);
    if (key === null) throw new UserError(ErrorCode.UNAUTHENTICATED, WRONG_KEY_MESSAGE);
    const role: ApiKeyRole = key.role;
    return {
      required: true,
      admin: role === "admin",
      presented: true,
      role,
      keyName: key.name,
      subject: `key:${key.name}`,
      rates: { requests: key.rateRequests, cost: key.rateCost },
    };
  }
}

/** Whether a listen address is this machine's loopback only (the default 127.0.0.1 included). */
export function isLoopbackHost(host: string | undefined): boolean {
  return host === undefined || host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** What requests without a credential may do, decided by where the server listens. */
export interface ListenAccess {
  /** Reads without a key: on loopback, or with --public-read. */
  readonly openReads: boolean;
  /** Listening on loopback only: then mutations need no credential while none exists (local use). */
  readonly loopback: boolean;
}

/** What an in-process server (tests, benchmarks) allows: as on loopback. */
export const LOOPBACK_ACCESS: ListenAccess = Object.freeze({ openReads: true, loopback: true });

/**
 * Secure by default: a server reachable from other machines serves reads only to keys, and refuses to
 * start while there is none to serve, unless public reads were asked for; its mutations always need an
 * admin credential.
 */
export async function decideAccess(options: { host: string | undefined; publicRead: boolean; keys: ApiKeyChecker }): Promise<ListenAccess> {
  if (isLoopbackHost(options.host)) return LOOPBACK_ACCESS;
  if (options.publicRead) return { openReads: true, loopback: false };
  if (!(await options.keys.anyKey())) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `Refusing to listen on ${options.host} with no API key: anyone who can reach it could read every user's reviews. Create a key first (vcm keys create --name NAME --role analyst), or pass --public-read to serve reads to everyone on purpose.`,
    );
  }
  return { openReads: false, loopback: false };
}
