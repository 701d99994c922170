/**
 * What every resolver receives: the server's long-lived dependencies, the catalog, fresh per-request
 * DataLoaders, and whether the request proved the admin token.
 */
import { timingSafeEqual } from "node:crypto";
import type { DataSource } from "typeorm";
import type { AppConfig } from "../config.ts";
import type { CatalogService } from "../services/catalog-service.ts";
import type { ErrorLogger } from "./errors.ts";
import { createLoaders, type Loaders } from "./loaders.ts";
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
}

/** What the request proved about its caller. */
export interface AuthState {
  /** True when the server has VCM_ADMIN_TOKEN set, so mutations need it. */
  readonly required: boolean;
  /** True when the request sent `Authorization: Bearer <VCM_ADMIN_TOKEN>` (or no token is required). */
  readonly admin: boolean;
  /** True when an Authorization header was sent at all (to tell "missing" from "wrong" in the message). */
  readonly presented: boolean;
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

/** Compares the bearer token with the configured one in constant time. */
export function authFromHeader(authorization: string | undefined, adminToken: string | undefined): AuthState {
  const presented = authorization !== undefined && authorization.trim() !== "";
  if (adminToken === undefined) return { required: false, admin: true, presented };
  const match = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "");
  const given = Buffer.from(match?.[1]?.trim() ?? "", "utf8");
  const expected = Buffer.from(adminToken, "utf8");
  const admin = given.length === expected.length && timingSafeEqual(given, expected);
  return { required: true, admin, presented };
}

/** Builds the context of one request: fresh loaders (their caches never outlive the request). */
export function createContext(options: { deps: ServerDeps; authorization?: string }): GraphQLContext {
  const { deps, authorization } = options;
  const { catalog } = deps;
  return {
    deps,
    catalog,
    loaders: createLoaders(catalog),
    auth: authFromHeader(authorization, deps.config.adminToken),
    prediction: deps.prediction === undefined ? undefined : createPredictionContext(deps.prediction, catalog.queries),
    request: {},
  };
}
