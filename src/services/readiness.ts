/**
 * Whether this server should be sent traffic (issue 26, item 3): the database answers and is migrated,
 * the engine's backend has started, and the server is not shutting down. A load balancer asks /ready;
 * /health only says that the process answers.
 */
import type { DataSource } from "typeorm";
import { initBackend } from "../engine/runtime/index.ts";
import { databaseNotReady } from "../db/ops-queries.ts";
import { DATABASE_UNAVAILABLE_MESSAGE, isBusyError, isDatabaseUnavailableError, type ErrorLogger } from "../errors.ts";

/** How long a probe waits for the database before it calls it unreachable (a load balancer's probe times out too). */
const DATABASE_PROBE_MS = 2_000;

/** The answer to one readiness probe: ready, or a sentence saying why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** The sentence /ready gives while the server stops. */
export const SHUTTING_DOWN_REASON = "The server is shutting down; send requests to another instance.";

/** The sentence /ready gives when the database's error is none it knows; the error itself goes to the server's log. */
export const DATABASE_PROBE_FAILED_REASON = "The database answered the readiness probe with an error; see the server's log.";

/** One server's readiness: created at its start (which starts the engine's backend), told when it stops. */
export class ReadinessCheck {
  readonly #dataSource: DataSource;
  readonly #logger: ErrorLogger;
  #backend: { state: "starting" } | { state: "started" } | { state: "failed"; reason: string } = { state: "starting" };
  #stopping = false;
  readonly #backendStarted: Promise<void>;

  constructor(dataSource: DataSource, logger: ErrorLogger) {
    this.#dataSource = dataSource;
    this.#logger = logger;
    // Started now rather than at the first query, so a probe says "ready" only once a query can be served.
    this.#backendStarted = initBackend().then(
      () => void (this.#backend = { state: "started" }),
      (error: unknown) => void (this.#backend = { state: "failed", reason: `The engine's backend failed to start (${error instanceof Error ? error.message : String(error)}); see the server's log.` }),
    );
  }

  /** From now on the server is not ready (stop() calls it before it closes anything). */
  shuttingDown(): void {
    this.#stopping = true;
  }

  /** Resolves once the engine's backend has started or failed (tests and start-up wait for it). */
  async backendSettled(): Promise<void> {
    await this.#backendStarted;
  }

  async check(): Promise<Readiness> {
    if (this.#stopping) return { ready: false, reason: SHUTTING_DOWN_REASON };
    if (this.#backend.state === "starting") return { ready: false, reason: "The engine's backend is still starting; ask again in a moment." };
    if (this.#backend.state === "failed") return { ready: false, reason: this.#backend.reason };
    const database = await this.#database();
    return database === null ? { ready: true } : { ready: false, reason: database };
  }

  async #database(): Promise<string | null> {
    const timeout = new Promise<string>((resolve) => setTimeout(resolve, DATABASE_PROBE_MS, `The database did not answer within ${DATABASE_PROBE_MS / 1000} s; ${DATABASE_UNAVAILABLE_MESSAGE}`).unref());
    const probe = databaseNotReady(this.#dataSource).catch((error: unknown) => {
      if (isDatabaseUnavailableError(error)) return DATABASE_UNAVAILABLE_MESSAGE;
      if (isBusyError(error)) return null;
      this.#logger.error("readiness probe failed", error);
      return DATABASE_PROBE_FAILED_REASON;
    });
    return Promise.race([probe, timeout]);
  }
}
