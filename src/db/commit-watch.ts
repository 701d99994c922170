/**
 * A number that changes whenever another connection (another process, another server) has committed
 * a change to the catalog, for the API's caches and consistent reads. On SQLite it is
 * `PRAGMA data_version`, which changes on this connection exactly when another connection committed,
 * at no table read. On PostgreSQL a connection of its own LISTENs to vcm_catalog (migration
 * CatalogNotify): each notification from another data source's connections counts one, so a change
 * made through another server is seen as soon as its notification arrives (milliseconds; a
 * dropped listener counts as a change and reconnects). The same connection hears vcm_jobs (migration
 * JobNotify): the ids of training jobs that other servers changed, for their subscribers here.
 */
import pg from "pg";
import type { DataSource } from "typeorm";
import { connectionNameOf, dialectOfSource, sqliteOf } from "./data-source.ts";

export interface CommitWatch {
  /** The current count: compare two readings to learn whether others committed in between. */
  version(): number;
  /** Resolves once the watch hears every later commit (at once on SQLite). */
  ready(): Promise<void>;
  /**
   * Calls `listener` with the id of each training job another process changed (PostgreSQL; on SQLite
   * never: there a job's subscribers are on the server that runs it).
   */
  onJobChanged(listener: (jobId: number) => void): void;
  close(): Promise<void>;
}

/** Pause before a lost PostgreSQL listener connects again. */
const RECONNECT_MS = 1_000;

export function watchCommits(dataSource: DataSource): CommitWatch {
  if (dialectOfSource(dataSource) === "sqlite") {
    const db = sqliteOf(dataSource);
    return {
      version: () => db.pragma("data_version", { simple: true }) as number,
      ready: async () => undefined,
      onJobChanged: () => undefined,
      close: async () => undefined,
    };
  }
  return new PostgresCommitWatch(dataSource);
}

class PostgresCommitWatch implements CommitWatch {
  readonly #options: pg.ClientConfig;
  readonly #self: string;
  #count = 0;
  readonly #jobListeners: Array<(jobId: number) => void> = [];
  #client: pg.Client | undefined;
  #closed = false;
  #connected: Promise<void>;

  constructor(dataSource: DataSource) {
    const url = (dataSource.options as { url?: string }).url;
    this.#self = connectionNameOf(dataSource);
    this.#options = { connectionString: url, application_name: `${this.#self}:listen`.slice(0, 63) };
    this.#connected = this.#connect();
  }

  version(): number {
    return this.#count;
  }

  ready(): Promise<void> {
    return this.#connected;
  }

  onJobChanged(listener: (jobId: number) => void): void {
    this.#jobListeners.push(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connected.catch(() => undefined);
    await this.#client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options);
    client.on("notification", (message) => {
      if (message.channel === "vcm_jobs") {
        const [id, writer] = (message.payload ?? "").split(" ");
        if (writer !== this.#self && /^\d+$/.test(id)) for (const listener of this.#jobListeners) listener(Number(id));
      } else if (message.payload !== this.#self) {
        this.#count += 1;
      }
    });
    client.on("error", () => this.#lost(client));
    client.on("end", () => this.#lost(client));
    try {
      await client.connect();
      await client.query("LISTEN vcm_catalog; LISTEN vcm_jobs");
      this.#client = client;
    } catch {
      this.#lost(client);
    }
  }

  #lost(client: pg.Client): void {
    if (this.#closed || (this.#client !== undefined && this.#client !== client)) return;
    this.#client = undefined;
    // What happened while nobody listened is unknown: count it as a change.
    this.#count += 1;
    client.end().catch(() => undefined);
    const timer = setTimeout(() => {
      if (!this.#closed) this.#connected = this.#connect();
    }, RECONNECT_MS);
    timer.unref();
  }
}
