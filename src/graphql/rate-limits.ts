/**
 * Rate limits per API key (and per client address for open reads): requests per minute, counted as a
 * request arrives, and estimated query cost per minute, counted once the operation's cost is known and
 * before it runs. On PostgreSQL every server counts in one table (rate-limiter-flexible's PostgreSQL
 * store, table rate_limits), so a key's limit is shared; while that database cannot be reached each
 * server counts on its own (the library's insurance limiter) instead of failing requests. On SQLite each
 * server counts in memory, except the workers of one `vcm serve --workers N`: they count in their
 * primary's memory (rate-limiter-flexible's cluster limiter over node:cluster's IPC), each on its own
 * while the primary does not answer. The defaults are in limits.ts; a key may override them (`vcm keys create --rate`).
 */
import cluster from "node:cluster";
import {
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
  RLWrapperTimeouts,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { RateLimitStoreClient } from "../db/rate-limit-store.ts";
import { ErrorCode, UserError } from "../errors.ts";
import type { AuthState, GraphQLContext, RateCounter } from "./context.ts";
import { GraphQLError } from "graphql";
import { httpStatusOf } from "./errors.ts";
import { DEFAULT_COST_PER_MINUTE, DEFAULT_REQUESTS_PER_MINUTE } from "./limits.ts";

/** The window every limit counts over. */
const WINDOW_SECONDS = 60;
/** The PostgreSQL table of the counters (created by the migration PostgresApiKeys). */
const TABLE = "rate_limits";
/** How long a cluster worker waits for its primary's count before it counts the request on its own. */
const PRIMARY_ANSWER_MS = 2_000;

/** What is counted: requests, or estimated query cost. */
type Measure = "requests" | "cost";

/** A request over a limit: RATE_LIMITED, with the seconds until the caller may try again. */
export class RateLimitedError extends UserError {
  readonly retryAfterSeconds: number;

  constructor(measure: Measure, limit: number, retryAfterSeconds: number) {
    super(
      ErrorCode.RATE_LIMITED,
      measure === "requests"
        ? `Over the limit of ${limit} requests per minute for this key or address; try again in ${retryAfterSeconds} s, or ask an admin for a key with a higher --rate.`
        : `Over the limit of ${limit} estimated query cost per minute for this key or address; try again in ${retryAfterSeconds} s, ask for smaller pages, or ask an admin for a key with a higher --rate.`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The counters of one server. */
export class RateLimits implements RateCounter {
  /** The PostgreSQL store every server counts in (src/db/rate-limit-store.ts), or undefined to count in memory (a cluster's primary's, in a worker). */
  readonly #shared: RateLimitStoreClient | undefined;
  /** One limiter per measure and limit (keys may override the limit); they share the stored counters. */
  readonly #limiters = new Map<string, RateLimiterAbstract>();

  constructor(options: { shared: RateLimitStoreClient | undefined }) {
    this.#shared = options.shared;
  }

  /** Counts one request against its caller; throws RateLimitedError when over the limit. */
  async takeRequest(auth: AuthState): Promise<void> {
    await this.#take(auth, "requests", 1);
  }

  /** Counts an operation's estimated cost against its caller; throws RateLimitedError when over the limit. */
  async takeCost(auth: AuthState, cost: number): Promise<void> {
    if (cost > 0) await this.#take(auth, "cost", cost);
  }

  async #take(auth: AuthState, measure: Measure, points: number): Promise<void> {
    // In-process operations (tests, scripts) are nobody's traffic.
    if (auth.subject === "local") return;
    const limit = auth.rates?.[measure] ?? (measure === "requests" ? DEFAULT_REQUESTS_PER_MINUTE : DEFAULT_COST_PER_MINUTE);
    try {
      await this.#limiter(measure, limit).consume(auth.subject, points);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      throw new RateLimitedError(measure, limit, Math.max(1, Math.ceil(error.msBeforeNext / 1000)));
    }
  }

  #limiter(measure: Measure, points: number): RateLimiterAbstract {
    const name = `${measure}:${points}`;
    let limiter = this.#limiters.get(name);
    if (limiter === undefined) {
      const options = { keyPrefix: `vcm_${measure}`, points, duration: WINDOW_SECONDS };
      if (this.#shared !== undefined) {
        limiter = new RateLimiterPostgres({
          ...options,
          storeClient: this.#shared,
          storeType: "pool",
          tableName: TABLE,
          tableCreated: true,
          insuranceLimiter: new RateLimiterMemory(options),
        });
      } else if (cluster.isWorker) {
        // The primary keeps one counter set per key prefix, made with the first options it is sent, so each limit needs its own prefix.
        const clusterOptions = { ...options, keyPrefix: `vcm_${measure}_${points}` };
        limiter = new RLWrapperTimeouts({
          limiter: new RateLimiterCluster({ ...clusterOptions, timeoutMs: PRIMARY_ANSWER_MS }),
          timeoutMs: PRIMARY_ANSWER_MS,
          insuranceLimiter: new RateLimiterMemory(clusterOptions),
        });
      } else {
        limiter = new RateLimiterMemory(options);
      }
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }
}

/**
 * Keeps the counters of the workers' cluster limiters, in the primary of `vcm serve --workers N`; call it
 * before forking. The library keeps it until the process exits (it has no way to stop one).
 */
export function countForClusterWorkers(): void {
  // The constructor registers the primary's IPC listener; the library makes one instance per process.
  new RateLimiterClusterMaster();
}

/** A RATE_LIMITED GraphQL error with HTTP 429 and its Retry-After header. */
export function rateLimitedGraphQLError(error: RateLimitedError): GraphQLError {
  return new GraphQLError(error.message, {
    extensions: { code: error.code, http: { status: httpStatusOf(error.code), headers: new Map([["retry-after", String(error.retryAfterSeconds)]]) } },
  });
}

/** Counts an operation's estimated cost (worked out by query-limits.ts) before it runs; RATE_LIMITED with HTTP 429 when over. */
export async function chargeCost(cost: number, context: GraphQLContext): Promise<void> {
  try {
    await context.deps.rateLimits.takeCost(context.auth, cost);
  } catch (error) {
    if (error instanceof RateLimitedError) throw rateLimitedGraphQLError(error);
    throw error;
  }
}
