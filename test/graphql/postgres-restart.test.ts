/**
 * A PostgreSQL restart under two real `vcm serve` processes (issue 23, items 1 and 2), on a private
 * server the test may stop: after `pg_ctl restart` and after a 15 s stop both serve again within 5 s,
 * each keeps exactly one listener connection and a bounded number of connections and open files;
 * while the database is away every failed query says DATABASE_UNAVAILABLE (never an internal error);
 * SIGTERM stops a server within a few seconds while the database is down; an ingest that loses the
 * database says so, changes nothing and prints no stack trace.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataSource } from "../../src/db/data-source.ts";
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailableError } from "../../src/errors.ts";
import { runVcm, VCM_BIN } from "../cli/run-vcm.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "../db/private-postgres.ts";
import { serveProcess, sleep, type ServerProcess, serverEnv } from "./serve-process.ts";

/** A query that reads three tables on every call (nothing of it is cached by the server). */
const QUERY = `{ datasets { name users(first: 2) { edges { node { externalId } } } } }`;
/** The figure of the issue: both servers answer again within this long after the database is back. */
const RECOVERY_MS = 5_000;
/** Pool (10) and listener (1) of one server, the most it may hold. */
const MAX_CONNECTIONS_PER_SERVER = 11;

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-pg-restart-"));
let database: PrivatePostgres;
let servers: ServerProcess[];

const env = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.url, dir, name });

/** This process's connections to the database by role, from pg_stat_activity (application_name is `vcm:host:pid:…`). */
function connectionsOf(server: ServerProcess): { listeners: string[]; total: number } {
  // One line per connection: a last statement written over several lines (the rate limiter's upsert) is joined.
  const rows = database.psql(`SELECT application_name, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_activity WHERE application_name LIKE 'vcm:%:${server.child.pid}:%'`);
  return { listeners: rows.filter((row) => row.split("\t")[0].endsWith(":listen")).map((row) => row.split("\t")[1]), total: rows.length };
}

/** The first column of each row of `sql` on the test's database (vcm_test; psql() talks to `postgres`). */
async function column(sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query({ text: sql, rowMode: "array" })).rows.map((row: unknown[]) => row[0]);
  } finally {
    await client.end();
  }
}

function openFiles(server: ServerProcess): number {
  return fs.readdirSync(`/proc/${server.child.pid}/fd`).length;
}

/** Queries `server` until it answers with data; the time that took and the codes of the errors before. */
async function untilServing(server: ServerProcess, withinMs: number): Promise<{ ms: number; codes: Array<string | undefined> }> {
  const started = performance.now();
  const codes: Array<string | undefined> = [];
  while (performance.now() - started < withinMs + 5_000) {
    const answer = await server.gql(QUERY);
    if (answer.errors === undefined && answer.data.datasets.length > 0) return { ms: performance.now() - started, codes };
    codes.push(...(answer.errors ?? []).map((e) => e.extensions?.code));
    await sleep(100);
  }
  return { ms: Infinity, codes };
}

/**
 * Waits (up to 12 s: the reconnect pause is at most 5 s) until `server` has exactly one listener again
 * and that listener has sent its LISTEN (between its connect and that statement its query is empty).
 */
async function untilListening(server: ServerProcess): Promise<{ listeners: string[]; total: number }> {
  const settled = (seen: { listeners: string[] }): boolean => seen.listeners.length === 1 && seen.listeners[0] !== "";
  let seen = connectionsOf(server);
  for (let i = 0; i < 120 && !settled(seen); i += 1) {
    await sleep(100);
    seen = connectionsOf(server);
  }
  return seen;
}

/**
 * A client process that queries every server every 25 ms and prints one JSON line per answer: it keeps
 * asking while this test process is blocked in pg_ctl, so the moments of shutdown and start-up are met.
 */
function startLoad(urls: ReadonlyArray<string>): { stop: () => Promise<Array<{ codes: string[]; ok: boolean; failed?: string }>> } {
  const script = `
    const [urls, query] = JSON.parse(process.argv[1]);
    const ask = (url) => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) })
      .then((r) => r.json())
      .then((j) => ({ ok: j.errors === undefined, codes: (j.errors ?? []).map((e) => e.extensions?.code ?? "none") }), (e) => ({ ok: false, codes: [], failed: String(e) }))
      .then((line) => process.stdout.write(JSON.stringify(line) + "\\n"));
    const timer = setInterval(() => { for (const url of urls) void ask(url); }, 25);
    process.on("SIGTERM", () => { clearInterval(timer); setTimeout(() => process.exit(0), 500); });
  `;
  const child = spawn(process.execPath, ["-e", script, JSON.stringify([urls, QUERY])], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return {
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
      return out.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { codes: string[]; ok: boolean; failed?: string });
    },
  };
}

if (!POSTGRES_BINDIR) console.warn("PostgreSQL restart tests skipped: PostgreSQL's server binaries are not installed (apt-get install -y postgresql)");

describe.skipIf(!POSTGRES_BINDIR)("two servers through PostgreSQL restarts and outages", () => {
  beforeAll(async () => {
    database = startPrivatePostgres();
    // A small dataset of its own keeps the servers from generating and training the demo at their start.
    const generated = runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--db", database.url, "--json"], env("cli"));
    expect(generated.code, generated.stderr).toBe(0);
    servers = await Promise.all([serveProcess(env("a"), children), serveProcess(env("b"), children)]);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await sleep(200);
    database?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("serves within 5 s of each pg_ctl restart, with one listener per server and no growth in connections or files", async () => {
    for (const server of servers) expect((await server.gql(QUERY)).errors).toBeUndefined();
    const filesBefore = servers.map(openFiles);
    const load = startLoad(servers.map((s) => s.url));
    for (let restart = 1; restart <= 3; restart += 1) {
      database.restart();
      const recovered = await Promise.all(servers.map((server) => untilServing(server, RECOVERY_MS)));
      for (const { ms, codes } of recovered) {
        expect(ms).toBeLessThan(RECOVERY_MS);
        for (const code of codes) expect(code).toBe("DATABASE_UNAVAILABLE");
      }
      for (const server of servers) {
        const connections = await untilListening(server);
        // One listener, LISTENing (its last statement), beside a pool that never outgrows its size.
        expect(connections.listeners, `restart ${restart}`).toEqual(["LISTEN vcm_catalog; LISTEN vcm_jobs"]);
        expect(connections.total).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_SERVER);
      }
    }
    const answers = await load.stop();
    // The load client met the restarts: every answer is data or DATABASE_UNAVAILABLE, and no server went away.
    expect(answers.length).toBeGreaterThan(50);
    expect(answers.filter((a) => a.failed !== undefined)).toEqual([]);
    expect([...new Set(answers.flatMap((a) => a.codes))].filter((code) => code !== "DATABASE_UNAVAILABLE")).toEqual([]);
    // The listener's and the pool's sockets are closed as they are replaced: beyond what the server had,
    // at most its pool's new connections (the load client's HTTP sockets are closed once it is gone).
    await sleep(1_000);
    servers.forEach((server, i) => expect(openFiles(server)).toBeLessThanOrEqual(filesBefore[i] + MAX_CONNECTIONS_PER_SERVER));
    const total = Number(database.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'vcm:%'")[0]);
    expect(total).toBeLessThanOrEqual(2 * MAX_CONNECTIONS_PER_SERVER);
  }, 120_000);

  it("answers DATABASE_UNAVAILABLE with its sentence during a 15 s stop, and serves within 5 s of the start", async () => {
    const load = startLoad(servers.map((s) => s.url));
    database.stop();
    const during: Array<Awaited<ReturnType<ServerProcess["gql"]>>> = [];
    const stopped = performance.now();
    while (performance.now() - stopped < 15_000) {
      for (const server of servers) during.push(await server.gql(QUERY));
      await sleep(500);
    }
    expect(during.length).toBeGreaterThan(20);
    for (const answer of during) {
      expect(answer.data).toBeNull();
      expect(answer.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([["DATABASE_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE]]);
    }
    database.start();
    const recovered = await Promise.all(servers.map((server) => untilServing(server, RECOVERY_MS)));
    for (const { ms } of recovered) expect(ms).toBeLessThan(RECOVERY_MS);
    const answers = await load.stop();
    expect(answers.filter((a) => a.failed !== undefined)).toEqual([]);
    expect([...new Set(answers.flatMap((a) => a.codes))].filter((code) => code !== "DATABASE_UNAVAILABLE")).toEqual([]);
    for (const server of servers) {
      const connections = await untilListening(server);
      expect(connections.listeners).toEqual(["LISTEN vcm_catalog; LISTEN vcm_jobs"]);
      expect(connections.total).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_SERVER);
      expect(server.stderr()).not.toContain("internal error");
    }
  }, 120_000);

  it("reports an ingest that lost the database in a sentence, exits 1 with no trace, and leaves no part of the dataset", async () => {
    const before = await column("SELECT name FROM datasets ORDER BY name");
    const ingest = spawn(process.execPath, [VCM_BIN, "generate", "--dataset", "interrupted", "--users", "10000", "--items", "2000", "--vocab", "1000", "--db", database.url], {
      env: env("cli"),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(ingest);
    let stderr = "";
    let stopped = false;
    ingest.stdout!.resume();
    const exited = once(ingest, "exit");
    ingest.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      // Mid-write: the dataset's transaction and the reviews' COPY are running on two connections.
      if (!stopped && stderr.includes("(on a second connection)")) {
        stopped = true;
        database.stop();
      }
    });
    const [code] = (await exited) as [number | null];
    expect(stopped, stderr).toBe(true);
    expect(code, stderr).toBe(1);
    expect(stderr).toContain(`error: ${DATABASE_UNAVAILABLE_MESSAGE}`);
    expect(stderr).not.toContain("internal error");
    expect(stderr).not.toMatch(/\n\s+at /);
    database.start();
    expect(await column("SELECT name FROM datasets ORDER BY name")).toEqual(before);
    for (const table of ["users", "items", "clicks", "words"]) expect(await column(`SELECT count(*)::int FROM ${table} WHERE dataset_id NOT IN (SELECT id FROM datasets)`)).toEqual([0]);
    const recovered = await untilServing(servers[0], RECOVERY_MS);
    expect(recovered.ms).toBeLessThan(RECOVERY_MS);
    expect((await servers[0].gql(`{ datasets { name } }`)).data.datasets.map((d: { name: string }) => d.name)).toEqual(before);
    // The next ingest clears reviews a lost write may have committed before its dataset (unfinished-review-writes.ts).
    const next = runVcm(["generate", "--dataset", "next", "--users", "60", "--items", "80", "--vocab", "200", "--db", database.url, "--json"], env("cli"));
    expect(next.code, next.stderr).toBe(0);
    expect(await column("SELECT count(*)::int FROM reviews WHERE dataset_id NOT IN (SELECT id FROM datasets)")).toEqual([0]);
  }, 120_000);

  it("recognises the errors pg and TypeORM really throw when the database goes away, and the pool's fresh connections after", async () => {
    const victim = new pg.Client({ connectionString: database.url });
    victim.on("error", () => undefined);
    await victim.connect();
    const { pid } = (await victim.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0];
    const ended = new Promise((resolve) => victim.once("end", resolve));
    const sleeping = victim.query("SELECT pg_sleep(10)").then(() => null, (error: unknown) => error);
    await sleep(100);
    await column(`SELECT pg_terminate_backend(${pid})`);
    const terminated = await sleeping;
    await ended;
    const afterwards = await victim.query("SELECT 1").then(() => null, (error: unknown) => error);
    const dataSource = createDataSource(database.url);
    await dataSource.initialize();
    try {
      expect(await dataSource.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
      database.stop();
      // The pool hands out its idle connections first, whose end this process has not read yet (pg_ctl
      // blocked it), then tries a new one, which is refused.
      const whileStopped: unknown[] = [];
      while (whileStopped.length < 12 && (whileStopped.at(-1) as { code?: string } | undefined)?.code !== "ECONNREFUSED") {
        whileStopped.push(await dataSource.query("SELECT 1 AS one").then(() => null, (error: unknown) => error));
      }
      database.start();
      expect([terminated, afterwards].map((error) => [(error as { code?: string }).code, (error as Error).message])).toEqual([
        ["57P01", "terminating connection due to administrator command"],
        [undefined, "Client has encountered a connection error and is not queryable"],
      ]);
      expect((whileStopped.at(-1) as { code?: string }).code).toBe("ECONNREFUSED");
      const errors = [terminated, afterwards, ...whileStopped];
      for (const error of errors) expect(isDatabaseUnavailableError(error)).toBe(true);
      // The pool's idle connection died with the server; once it is back, the pool opens a fresh one.
      expect(await dataSource.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await dataSource.destroy();
    }
  });

  it("stops each server within 5 s of SIGTERM while the database is down", async () => {
    database.stop();
    // Each server has met the outage (its pool's and listener's connections are gone) before it is told to stop.
    for (const server of servers) expect((await server.gql(QUERY)).errors?.[0].extensions?.code).toBe("DATABASE_UNAVAILABLE");
    const times = await Promise.all(
      servers.map(async (server) => {
        const exited = once(server.child, "exit");
        const started = performance.now();
        server.child.kill("SIGTERM");
        const [code] = (await exited) as [number | null];
        return { code, ms: performance.now() - started };
      }),
    );
    for (const { code, ms } of times) {
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
    }
    database.start();
  }, 60_000);
});
