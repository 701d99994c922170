/**
 * What every resolver receives: the server's long-lived dependencies, the catalog, fresh per-request
 * DataLoaders, and what the request proved about its caller.
 */
import { timingSafeEqual } from "node:crypto";
import type { ClientAddressOf } from "./client-address.ts";
import type { DataSource } from "typeorm";
import type { AppConfig } from "../config.ts";
import type { CatalogService } from "../services/catalog-service.ts";
import type { ErrorLogger } from "../errors.ts";
import { createLoaders, type Loaders } from "./loaders.ts";
import type { PersistedOperations } from "./persisted-operations.ts";
import { createPredictionContext, type PredictionContextPart, type PredictionServices } from "./prediction-loaders.ts";

/**
 * Long-lived dependencies of the API, created once per server. A new service that resolvers need
 * (a model cache, a job runner…) becomes a field here, built where the server is wired (server.ts).
 */
export interface ServerDeps {
  /** The data source itself, for the server's wiring (housekeeping, the commit watch); resolvers read through `catalog`. */
  readonly dataSource: DataSource;
  /** Reads of datasets, users, items, reviews, clicks, models and experiments, batched by ids (src/services/catalog-service.ts). */
  readonly catalog: CatalogService;
  readonly config: AppConfig;
  /** Where masked internal errors are logged. */
  readonly logger: ErrorLogger;
  /** Model cache, explanations, cohorts and training jobs (absent in browse-only setups). */
  readonly prediction?: PredictionServices;
  /** Who may read and who may write (AccessControl, src/graphql/auth.ts). */
  readonly access: Access;
  /** Requests and query cost per minute, per key or address (RateLimits, src/graphql/rate-limits.ts). */
  readonly rateLimits: RateCounter;
  /** The dashboard's registered operations, and whether only they run for non-admins (src/graphql/persisted-operations.ts). */
  readonly persisted: PersistedOperations;
  /** A request's client address for rate limits and the WebSocket cap (src/graphql/client-address.ts, VCM_TRUST_PROXY). */
  readonly clientAddress: ClientAddressOf;
}

/** What a server allows each request (implemented by AccessControl in auth.ts). */
export interface Access {
  /** Whether a request without a key may read. */
  readonly openReads: boolean;
  /** Whether any credential exists (a key, or the admin token). */
  credentialsExist(): Promise<boolean>;
  /** What a request's Authorization header proves; throws UNAUTHENTICATED for a header that proves nothing. */
  authenticate(request: { authorization: string | undefined; address: string | undefined }): Promise<AuthState>;
}

/** Counts requests and query cost per caller (implemented by RateLimits in rate-limits.ts); throws RATE_LIMITED when over. */
export interface RateCounter {
  takeRequest(auth: AuthState): Promise<void>;
  takeCost(auth: AuthState, cost: number): Promise<void>;
}

/** What the request proved about its caller (src/graphql/auth.ts decides it). */
export interface AuthState {
  /** True when mutations need a credential (the server has a key or VCM_ADMIN_TOKEN). */
  readonly required: boolean;
  /** True when the request may run mutations (an admin key, the admin token, or no credential is required). */
  readonly admin: boolean;
  /** True when an Authorization header was sent at all (to tell "missing" from "wrong" in the message). */
  readonly presented: boolean;
  /** The role the request proved, or null without a credential. */
  readonly role: "admin" | "analyst" | null;
  /** The key's name, when a key was proved. */
  readonly keyName?: string;
  /** Whom the rate limits count this request against: `key:NAME`, `token`, `address:IP` or `local` (in-process). */
  readonly subject: string;
  /** The key's own rate limits (null: the defaults), when a key was proved. */
  readonly rates?: { readonly requests: number | null; readonly cost: number | null };
}

/** The GraphQL context of one request. */
export interface GraphQLContext {
  readonly deps: ServerDeps;
  readonly catalog: CatalogService;
  readonly loaders: Loaders;
  readonly auth: AuthState;
  /** Prediction services with this request's inference loaders (when the server has them). */
  readonly prediction: PredictionContextPart | undefined;
  /** What the request turned out to be, once Apollo resolved its operation (consistent-reads.ts). */
  readonly request: { operation?: "query" | "mutation" | "subscription" };
}

/** The bearer token of an Authorization header: undefined without a header, null for one of another shape. */
export function bearerToken(authorization: string | undefined): string | null | undefined {
  const text = authorization?.trim() ?? "";
  if (text === "") return undefined;
  return /^Bearer\s+(\S+)$/i.exec(text)?.[1] ?? null;
}

/** Whether a token equals the admin token, in constant time. */
export function isAdminToken(token: string, adminToken: string | undefined): boolean {
  if (adminToken === undefined) return false;
  const given = Buffer.from(token, "utf8");
  const expected = Buffer.from(adminToken, "utf8");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What the admin token alone proves (no key is looked up): for in-process contexts built from a header. */
export function authFromHeader(authorization: string | undefined, adminToken: string | undefined): AuthState {
  const token = bearerToken(authorization);
  const presented = token !== undefined;
  if (adminToken === undefined) return { required: false, admin: true, presented, role: null, subject: "local" };
  const admin = typeof token === "string" && isAdminToken(token, adminToken);
  return { required: true, admin, presented, role: admin ? "admin" : null, subject: admin ? "token" : "local" };
}

/** Builds the context of one request: fresh loaders (their caches never outlive the request). */
export function createContext(options: { deps: ServerDeps; authorization?: string; auth?: AuthState }): GraphQLContext {
  const { deps, authorization } = options;
  const { catalog } = deps;
  return {
    deps,
    catalog,
    loaders: createLoaders(catalog),
    auth: options.auth ?? authFromHeader(authorization, deps.config.adminToken),
    prediction: deps.prediction === undefined ? undefined : createPredictionContext(deps.prediction, catalog.queries),
    request: {},
  };
}
