/**
 * A number that changes whenever another connection (another process, another server) has committed
 * a change to the catalog, for the API's caches and consistent reads. On SQLite it is
 * `PRAGMA data_version`, which changes on this connection exactly when another connection committed,
 * at no table read. On PostgreSQL a connection of its own LISTENs to vcm_catalog (migration
 * CatalogNotify): each notification from another data source's connections counts one, so a change
 * made through another server is seen as soon as its notification arrives (milliseconds; a
 * dropped listener counts as a change and reconnects with back-off, LISTEN_RECONNECT). The same
 * connection hears vcm_jobs (migrations JobNotify, ExperimentNotify): the table and id of each job
 * (training job, experiment) that another process changed, for its subscribers here.
 */
import pg from "pg";
import type { DataSource } from "typeorm";
import { connectionNameOf, dialectOfSource, sqliteOf } from "./data-source.ts";

/**
 * The tables of the job kinds whose changes reach subscribers, each with what of a row counts as a
 * change (not its lease, which every heartbeat renews); a new kind adds its table here and a trigger
 * in a PostgreSQL migration, as ExperimentNotify does.
 */
const JOB_TABLES = {
  training_jobs: "status || ' ' || epoch || ' ' || cancel_requested",
  experiments: "status || ' ' || runs_done || ' ' || cancel_requested",
} as const;

/** The table of a kind of job (src/services/job-kinds.ts names each kind's). */
export type JobTableName = keyof typeof JOB_TABLES;

/** A job another process changed. */
export interface JobChange {
  readonly table: JobTableName;
  readonly id: number;
}

function isJobTable(name: string): name is JobTableName {
  return Object.hasOwn(JOB_TABLES, name);
}

export interface CommitWatch {
  /** The current count: compare two readings to learn whether others committed in between. */
  version(): number;
  /** Resolves once the watch hears every later commit (at once on SQLite). */
  ready(): Promise<void>;
  /**
   * Calls `listener` with each job (of any kind) another process changed: at once on PostgreSQL
   * (NOTIFY), within JOB_POLL_MS on SQLite (the unfinished jobs' states are compared after another
   * connection committed). On SQLite this process's own changes may be reported too.
   */
  onJobChanged(listener: (change: JobChange) => void): void;
  close(): Promise<void>;
}

/**
 * How a lost PostgreSQL listener connects again: one attempt at a time, after a pause that starts at
 * `firstMs` and doubles after each failed attempt up to `maxMs` (each pause drawn between half and all
 * of that, so servers that lost the database together do not return together); a success starts from
 * `firstMs` again. An attempt that gets no answer within `connectTimeoutMs` counts as failed.
 */
export const LISTEN_RECONNECT = Object.freeze({ firstMs: 100, maxMs: 5_000, connectTimeoutMs: 5_000 });

/** How long close() lets the listener's connection say goodbye before its socket is destroyed. */
const CLOSE_WAIT_MS = 1_000;

/** How often SQLite is asked whether other processes changed the unfinished jobs. */
export const JOB_POLL_MS = 500;

export function watchCommits(dataSource: DataSource): CommitWatch {
  return dialectOfSource(dataSource) === "sqlite" ? new SqliteCommitWatch(dataSource) : new PostgresCommitWatch(dataSource);
}

class SqliteCommitWatch implements CommitWatch {
  readonly #db: ReturnType<typeof sqliteOf>;
  readonly #jobListeners: Array<(change: JobChange) => void> = [];
  #timer: NodeJS.Timeout | undefined;
  #seenVersion = -1;
  /** False until the first look, which only records the jobs' states. */
  #primed = false;
  /** The last seen state of each job that was unfinished at the last look, by table, then id. */
  #states = new Map<JobTableName, Map<number, string>>();

  constructor(dataSource: DataSource) {
    this.#db = sqliteOf(dataSource);
  }

  version(): number {
    return this.#db.pragma("data_version", { simple: true }) as number;
  }

  async ready(): Promise<void> {}

  onJobChanged(listener: (change: JobChange) => void): void {
    this.#jobListeners.push(listener);
    if (this.#timer !== undefined) return;
    this.#look();
    this.#timer = setInterval(() => this.#look(), JOB_POLL_MS);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #look(): void {
    const version = this.version();
    if (version === this.#seenVersion) return;
    this.#seenVersion = version;
    type Row = { tbl: JobTableName; id: number; state: string; finished: number };
    const tables = Object.keys(JOB_TABLES) as JobTableName[];
    let rows: Row[];
    try {
      rows = this.#db
        .prepare(
          tables
            .map(
              (table) =>
                `SELECT '${table}' AS tbl, id, ${JOB_TABLES[table]} AS state, status NOT IN ('queued', 'running') AS finished FROM ${table} ` +
                `WHERE status IN ('queued', 'running') OR id IN (SELECT value FROM json_each(?))`,
            )
            .join(" UNION ALL "),
        )
        .all(...tables.map((table) => JSON.stringify([...(this.#states.get(table)?.keys() ?? [])]))) as Row[];
    } catch {
      // Locked by another process this time: the next look sees the same commits.
      this.#seenVersion = -1;
      return;
    }
    const next = new Map<JobTableName, Map<number, string>>(tables.map((table) => [table, new Map()]));
    for (const row of rows) {
      if (this.#primed && this.#states.get(row.tbl)?.get(row.id) !== row.state) for (const listener of this.#jobListeners) listener({ table: row.tbl, id: row.id });
      if (row.finished === 0) next.get(row.tbl)?.set(row.id, row.state);
    }
    this.#states = next;
    this.#primed = true;
  }
}

/**
 * Exactly one listener client at a time: a client is reported lost once (whichever of its `error`,
 * its `end` or its failed connect comes first), is closed with its listeners removed, and only then is
 * the next attempt scheduled, so reconnects never pile up however often the database goes away.
 */
class PostgresCommitWatch implements CommitWatch {
  readonly #options: pg.ClientConfig;
  readonly #self: string;
  #count = 0;
  readonly #jobListeners: Array<(change: JobChange) => void> = [];
  /** The client listening or connecting now; undefined while a reconnect waits (or after close). */
  #client: pg.Client | undefined;
  /** The pending reconnect, so close() can cancel it. */
  #timer: NodeJS.Timeout | undefined;
  /** Failed attempts since the last success: the exponent of the next pause. */
  #failures = 0;
  /** True while #client runs LISTEN (not while it connects). */
  #listening = false;
  #closed = false;
  /** Settles once the first attempt has (LISTEN running, or a reconnect scheduled). */
  readonly #first: Promise<void>;

  constructor(dataSource: DataSource) {
    const url = (dataSource.options as { url?: string }).url;
    this.#self = connectionNameOf(dataSource);
    this.#options = {
      connectionString: url,
      application_name: `${this.#self}:listen`.slice(0, 63),
      connectionTimeoutMillis: LISTEN_RECONNECT.connectTimeoutMs,
      query_timeout: LISTEN_RECONNECT.connectTimeoutMs,
    };
    this.#first = this.#connect();
  }

  version(): number {
    return this.#count;
  }

  ready(): Promise<void> {
    return this.#first;
  }

  onJobChanged(listener: (change: JobChange) => void): void {
    this.#jobListeners.push(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const client = this.#client;
    this.#client = undefined;
    // A connect still in the air is not waited for: its client is ended (or its socket destroyed) here.
    if (client !== undefined) await endClient(client);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#options);
    this.#client = client;
    client.on("notification", (message) => {
      if (message.channel === "vcm_jobs") {
        const [table, id, writer] = (message.payload ?? "").split(" ");
        if (writer !== this.#self && isJobTable(table) && /^\d+$/.test(id)) for (const listener of this.#jobListeners) listener({ table, id: Number(id) });
      } else if (message.payload !== this.#self) {
        this.#count += 1;
      }
    });
    client.on("error", () => this.#lost(client));
    client.on("end", () => this.#lost(client));
    try {
      await client.connect();
      await client.query("LISTEN vcm_catalog; LISTEN vcm_jobs");
    } catch {
      this.#lost(client);
      return;
    }
    if (this.#client !== client) return;
    // Commits made while nobody listened were not heard: a reconnect counts as a change too.
    if (this.#failures > 0) this.#count += 1;
    this.#failures = 0;
    this.#listening = true;
  }

  /**
   * The one reaction to a client's loss, whichever way it was reported: close it, count a change if it
   * was listening (a refused attempt changes nothing), schedule one attempt.
   */
  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    // What happens while nobody listens is unknown: count it as a change.
    if (this.#listening) this.#count += 1;
    this.#listening = false;
    void endClient(client);
    if (this.#closed) return;
    const ceiling = Math.min(LISTEN_RECONNECT.maxMs, LISTEN_RECONNECT.firstMs * 2 ** this.#failures);
    this.#failures += 1;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed && this.#client === undefined) void this.#connect();
    }, ceiling * (0.5 + Math.random() / 2));
    this.#timer.unref();
  }
}

/**
 * Ends a client that is being dropped, its listeners removed (a late `error` is swallowed); resolves
 * within CLOSE_WAIT_MS whatever the server does, destroying the socket when the goodbye hangs.
 */
async function endClient(client: pg.Client): Promise<void> {
  client.removeAllListeners();
  client.on("error", () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    client.end().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  if (!ended) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
