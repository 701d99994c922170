/**
 * `npm run bench:api`: the GraphQL API under load on a Yelp-shaped synthetic dataset. Generates the
 * dataset and trains a VCM model briefly (1 epoch: enough for realistic shapes and timings, not for
 * quality) on first use, keeps both under data/bench-api/ for later runs, starts the server in this
 * process and drives it from a second process (autocannon, scripts/bench-api-client.ts) on loopback.
 * Prints p50/p99 latency and requests per second for (a) one user's top-20 recommendations with
 * explanations (the default rule, EFFECT; (a′) the same with EVIDENCE, which scores no word deletions
 * (the clicks it still does); both ask about the same user every time, so after the first request a model's recent
 * answers serve them), (a″) as (a) with a different user on every request (each one scored), (b) 100
 * users' top-20 in one query, and (c) a cheap `{ datasets { id } }` while 20 connections send (b): the
 * latency that one heavy client imposes on everyone else (issue 8: p99 ≤ 100 ms); (d) a cheap
 * `{ __typename }` while 20 connections send hostile documents in turn (issue 23: fragments that spread
 * each other twice over, 14 and 28 levels deep, a costly query hidden behind them, a page of a review's
 * highlights, a persisted query whose hash does not match), target p99 ≤ 100 ms.
 * Every explanation asks for its words and its clicks (issue 25: target ≥ 100 requests/s for (a″)).
 * `--scenario hostile` runs (d) alone, `--scenario explained` (a″) alone. `--scenario history` runs (e) alone (issue 25): the cost of one
 * user's top-20 right after another connection appended a click to that user's history (the server
 * reads the dataset's new version, then scores) against that of a user whose history did not change
 * (scored, not held); it appends to the benchmark dataset, so it is not part of `all`.
 * The server needs a key for reads and counts rate limits, as on a
 * shared address: every request carries an admin API key whose rates are set high enough never to refuse it.
 */
import "reflect-metadata";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import fs from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { loadAppConfig } from "../src/config.ts";
import { YELP_SHAPE, syntheticSource } from "../src/data/generate.ts";
import { dialectOf, openDatabase, redactedUrl } from "../src/db/data-source.ts";
import { userIdsInOrder } from "../src/db/dataset-rows.ts";
import { findDatasetRef } from "../src/db/load-dataset-matrices.ts";
import { latestReadyModel } from "../src/db/model-rows.ts";
import { currentBackend, initBackend } from "../src/engine/runtime/index.ts";
import { serveWorkers } from "../src/cluster/supervisor.ts";
import { createServer, createServerDeps } from "../src/server.ts";
import { serveChild } from "./serve-child.ts";
import { appendRecords } from "../src/services/append.ts";
import { ErrorCode, UserError } from "../src/errors.ts";
import { createApiKey, MAX_RATE_PER_MINUTE, revokeApiKey } from "../src/services/api-keys.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { trainAndSave } from "../src/services/training.ts";
import { createRequestLog } from "../src/observability/request-log.ts";
import { startTracing } from "../src/observability/tracing.ts";

const DATASET = "bench-yelp-shaped";
/** The API key the load is sent with (made again on each run, since a key is shown only once). */
const BENCH_KEY = "bench-api";
/** What `--scenario` may name: everything, (d) alone, (e) alone, or (a″) alone. */
const SCENARIOS = ["all", "hostile", "history", "explained"] as const;
/** Appends (e) makes, each followed by one changed and one unchanged user's request. */
const HISTORY_ROUNDS = 50;
/** Users that (a″) asks about in turn. */
const DISTINCT_USERS = 3000;

interface Scenario {
  readonly name: string;
  readonly query: string;
  /** One set per request body, sent in turn. */
  readonly variables: ReadonlyArray<Record<string, unknown>>;
  readonly connections: number;
}

interface LoadResult {
  readonly p50: number;
  readonly p99: number;
  readonly requestsPerSecond: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  /**
   * The server's CPU time (this process: user + system) per request, in ms: less sensitive than the
   * latencies to other work on a shared host. For a scenario measured beside another, it counts both.
   */
  readonly cpuMsPerRequest: number;
  /**
   * Of that, the CPU time of the thread that runs the event loop (every request's JavaScript), in ms a
   * request, where Linux reports it; the throughput one thread allows is 1000 / this.
   */
  readonly mainThreadMsPerRequest: number | undefined;
  /** Event loops (server processes) the requests were shared by. */
  readonly eventLoops: number;
}

/**
 * Where the server's CPU time is read: this process (the server runs in it), or the processes of a
 * `vcm serve --workers` (the primary and its workers, from Linux's /proc).
 */
interface CpuMeter {
  /** CPU time (user + system, every thread) so far, in ms. */
  total(): Promise<number>;
  /** CPU time of the event loops' threads so far, in ms, summed over the server processes; undefined where Linux does not say. */
  eventLoops(): Promise<number | undefined>;
  /** How many event loops share the requests. */
  readonly loops: number;
}

/** CPU time of a thread so far, in ms, from Linux's schedstat; undefined elsewhere. */
async function threadCpuMs(pid: number | "self", tid: number): Promise<number | undefined> {
  try {
    const fields = (await fs.readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8")).split(" ");
    return Number(fields[0]) / 1e6;
  } catch {
    return undefined;
  }
}

/** The meter of a server in this process. */
const IN_PROCESS: CpuMeter = {
  total: async () => {
    const cpu = process.cpuUsage();
    return (cpu.user + cpu.system) / 1000;
  },
  eventLoops: () => threadCpuMs("self", process.pid),
  loops: 1,
};

/** Clock ticks a second of /proc's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** The meter of `vcm serve --workers`: its primary and the workers it reported. */
function processesMeter(pids: ReadonlyArray<number>, workers: ReadonlyArray<number>): CpuMeter {
  return {
    total: async () => {
      let ms = 0;
      for (const pid of pids) {
        const fields = (await fs.readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1].split(" ");
        ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
      }
      return ms;
    },
    eventLoops: async () => {
      let ms = 0;
      for (const pid of workers) {
        const thread = await threadCpuMs(pid, pid);
        if (thread === undefined) return undefined;
        ms += thread;
      }
      return ms;
    },
    loops: workers.length,
  };
}

/** Runs autocannon in its own process (so load generation does not share this event loop), sending `bodies` in turn. */
async function autocannon(options: { url: string; headers: Record<string, string>; bodies: ReadonlyArray<string>; connections: number; seconds: number; meter: CpuMeter }): Promise<LoadResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-bench-api-"));
  const spec = path.join(dir, "load.json");
  await fs.writeFile(spec, JSON.stringify({ url: options.url, headers: options.headers, bodies: options.bodies, connections: options.connections, seconds: options.seconds }));
  const client = fileURLToPath(new URL("./bench-api-client.ts", import.meta.url));
  const cpuBefore = await options.meter.total();
  const mainBefore = await options.meter.eventLoops();
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["--import", "tsx", client, spec], { maxBuffer: 64 * 1024 * 1024 }, (error, out) => (error ? reject(error) : resolve(out)));
    });
    const mainAfter = await options.meter.eventLoops();
    const cpuAfter = await options.meter.total();
    const result = JSON.parse(stdout) as {
      latency: { p50: number; p99: number };
      requests: { average: number; total: number };
      non2xx: number;
      errors: number;
    };
    return {
      p50: result.latency.p50,
      p99: result.latency.p99,
      requestsPerSecond: result.requests.average,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      cpuMsPerRequest: (cpuAfter - cpuBefore) / Math.max(1, result.requests.total),
      eventLoops: options.meter.loops,
      mainThreadMsPerRequest: mainBefore === undefined || mainAfter === undefined ? undefined : (mainAfter - mainBefore) / Math.max(1, result.requests.total),
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(argv: ReadonlyArray<string>): Promise<void> {
  const program = new Command("bench-api")
    .option("--db <path-or-url>", "SQLite file, or postgres:// URL, for the benchmark data", path.resolve("data", "bench-api", "vcm.sqlite"))
    .option("--models <dir>", "models folder (default: beside the SQLite file, or data/bench-api/models-postgres)")
    .option("--seconds <n>", "seconds of load per scenario", "10")
    .option("--connections <n>", "concurrent connections for the single-user scenario", "10")
    .option("--heavy-connections <n>", "connections sending (b) while (c), or hostile documents while (d), measures a cheap query", "20")
    .option("--scenario <name>", `${SCENARIOS.join(" or ")}: every scenario, (d), (e) or (a″) alone`, "all")
    .option("--request-log <file>", "where the server's request log (one JSON line per request, at info) goes", "/dev/null")
    .option("--workers <n>", "drive a real `vcm serve --workers N` (N processes on one port, started from this checkout) instead of a server in this process")
    .option("--traces", "record spans and export them over OTLP (to OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318)")
    .parse([...argv], { from: "user" });
  const opts = program.opts<{ db: string; models?: string; seconds: string; connections: string; heavyConnections: string; scenario: string; requestLog: string; traces?: boolean; workers?: string }>();
  if (!(SCENARIOS as ReadonlyArray<string>).includes(opts.scenario)) throw new Error(`--scenario must be ${SCENARIOS.join(" or ")}, got "${opts.scenario}".`);
  const everything = opts.scenario === "all";
  const explainedAlone = opts.scenario === "explained";
  const seconds = Number(opts.seconds);
  const postgres = dialectOf(opts.db) === "postgres";
  const dbPath = postgres ? opts.db : path.resolve(opts.db);
  const modelsDir = path.resolve(opts.models ?? (postgres ? path.join("data", "bench-api", "models-postgres") : path.join(path.dirname(dbPath), "models")));
  const config = loadAppConfig({ dbPath, modelsDir });
  const dataSource = await openDatabase(dbPath);
  await initBackend();
  console.log(`database: ${postgres ? `PostgreSQL ${redactedUrl(dbPath)}` : `SQLite ${dbPath}`}`);

  let found = await findDatasetRef(dataSource, DATASET).catch(() => undefined);
  if (found === undefined) {
    const started = Date.now();
    process.stderr.write(`generating the Yelp-shaped dataset (${YELP_SHAPE.users} users × ${YELP_SHAPE.items} items × ${YELP_SHAPE.vocab} words)…\n`);
    await ingestDataset(dataSource, { name: DATASET, source: syntheticSource(YELP_SHAPE) });
    process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    found = await findDatasetRef(dataSource, DATASET);
  }
  const dataset = found;
  let model: { id: number } | null = await latestReadyModel(dataSource, DATASET, "vcm");
  if (model === null) {
    const started = Date.now();
    process.stderr.write("training a VCM model for 1 epoch (timings need the real shapes, not a converged model)…\n");
    const { model: row } = await trainAndSave({
      dataSource,
      dataset: DATASET,
      variant: "vcm",
      config: { epochs: 1 },
      modelsDir: config.modelsDir,
    });
    process.stderr.write(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    model = { id: row.id };
  }
  const [userId] = await userIdsInOrder(dataSource, { datasetId: dataset.id, offset: 0, limit: 1 });
  // (a″)'s users: more of them than a model keeps recent answers for (256 rows), and none of the
  // first 100 that (b) asks for, so that every request is scored.
  const manyUsers = await userIdsInOrder(dataSource, { datasetId: dataset.id, offset: 200, limit: DISTINCT_USERS });

  // As `vcm serve` runs: metrics always, the request log at info, traces only when asked for.
  const tracing = opts.traces === true ? startTracing() : null;
  console.log(`request log: ${opts.requestLog}; traces: ${tracing === null ? "off" : "on, over OTLP"}`);
  // As a server on a shared address runs: every request proves a key, and is counted against its rates
  // (set high enough that the load itself is never refused).
  await revokeApiKey(dataSource, BENCH_KEY).catch((error: unknown) => {
    if (!(error instanceof UserError && error.code === ErrorCode.NOT_FOUND)) throw error;
  });
  const { key } = await createApiKey(dataSource, { name: BENCH_KEY, role: "admin", rateRequests: MAX_RATE_PER_MINUTE, rateCost: MAX_RATE_PER_MINUTE });
  const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
  const workers = opts.workers === undefined ? undefined : serveWorkers(opts.workers);
  const served = workers === undefined ? await serveInProcess({ dataSource, config, requestLog: opts.requestLog }) : await serveWorkersProcess({ workers, dbPath, modelsDir });
  const { url, meter } = served;
  if (workers !== undefined) console.log(`server: vcm serve --workers ${workers} (pids ${served.pids.join(", ")}; request log at info on its stdout)`);
  if (opts.scenario === "history") {
    const loadBefore = os.loadavg()[0];
    const figures = await changedHistoryScenario({ url, headers, dbPath, modelId: model.id });
    await served.stop();
    await dataSource.destroy();
    console.log(`backend ${currentBackend()}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, model ${model.id}, load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    console.log(`(e) one user's top-20, ${HISTORY_ROUNDS} rounds: changed history (first answer after an append by another connection): p50 ${figures.changed.p50} ms, p99 ${figures.changed.p99} ms; unchanged history (scored, not held): p50 ${figures.unchanged.p50} ms, p99 ${figures.unchanged.p99} ms`);
    return;
  }
  const oneUserQuery = (explanationArguments: string) =>
    `query ($u: ID!, $m: ID!) { user(id: $u) { recommendations(modelId: $m, k: 20) { rank score item { externalId } explanation(${explanationArguments}) { coveredShare words { word weight } clicks { effect item { externalId } } } } } }`;
  const scenarios: Scenario[] = [
    {
      name: "(a) one user's top-20 with explanations (the same user on every request)",
      query: oneUserQuery("k: 10"),
      variables: [{ u: userId, m: model.id }],
      connections: Number(opts.connections),
    },
    {
      name: "(a′) the same with rule: EVIDENCE (no word deletions scored; the clicks still are)",
      query: oneUserQuery("k: 10, rule: EVIDENCE"),
      variables: [{ u: userId, m: model.id }],
      connections: Number(opts.connections),
    },
    {
      name: `(a″) as (a), a different user per request (${manyUsers.length} in turn: none answered from recent answers)`,
      query: oneUserQuery("k: 10"),
      variables: manyUsers.map((u) => ({ u, m: model.id })),
      connections: Number(opts.connections),
    },
    {
      name: "(b) 100 users' top-20 in one query",
      query: `query ($m: ID!) { dataset(name: "${DATASET}") { users(first: 100) { edges { node { externalId recommendations(modelId: $m, k: 20) { rank score item { externalId } } } } } } }`,
      variables: [{ m: model.id }],
      connections: 1,
    },
  ];
  const loadBefore = os.loadavg()[0];
  // The server's CPU time per request (all its threads, the engine's included): on a shared host it
  // says what the requests cost where throughput says mostly what the other processes left.
  const results: Array<{ scenario: Scenario; result: LoadResult }> = [];
  for (const scenario of everything ? scenarios : explainedAlone ? scenarios.filter((s) => s.name.startsWith("(a″)")) : []) {
    const bodies = scenario.variables.map((variables) => JSON.stringify({ query: scenario.query, variables }));
    // Warm-up: loads the model, the dataset matrices and the item word statistics into the caches
    // (from the end of the list of users, so that the measured requests still find no recent answers).
    // Several at once, so that every worker of `--workers` takes some (each connection goes to one).
    const warmConnections = 2 * meter.loops;
    for (let i = 0; i < 5; i += 1) {
      await Promise.all(
        Array.from({ length: warmConnections }, async (_, c) => {
          const response = await fetch(url, { method: "POST", headers, body: bodies[bodies.length - 1 - i * warmConnections - c] ?? bodies[0] });
          const json = (await response.json()) as { errors?: unknown };
          if (json.errors) throw new Error(`${scenario.name} answered errors: ${JSON.stringify(json.errors)}`);
        }),
      );
    }
    process.stderr.write(`${scenario.name}: ${seconds} s at ${scenario.connections} connection(s)…\n`);
    const result = await autocannon({ url, headers, bodies, connections: scenario.connections, seconds, meter });
    results.push({ scenario, result });
  }
  const heavyConnections = Number(opts.heavyConnections);
  // (c) Cheap queries while heavy ones saturate the server: the cheap one's latency is what is measured.
  let underHeavy: { cheap: LoadResult; heavy: LoadResult } | undefined;
  if (everything) {
    const [heavyScenario] = scenarios.filter((s) => s.name.startsWith("(b)"));
    const heavy = JSON.stringify({ query: heavyScenario.query, variables: heavyScenario.variables[0] });
    const cheap = JSON.stringify({ query: "{ datasets { id } }" });
    process.stderr.write(`(c) { datasets { id } } at 1 connection while ${heavyConnections} connections send (b): ${seconds} s…\n`);
    const [cheapResult, heavyResult] = await Promise.all([
      autocannon({ url, headers, bodies: [cheap], connections: 1, seconds, meter }),
      autocannon({ url, headers, bodies: [heavy], connections: heavyConnections, seconds, meter }),
    ]);
    underHeavy = { cheap: cheapResult, heavy: heavyResult };
  }
  const loadAfter = os.loadavg()[0];
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const line = (name: string, connections: number, result: LoadResult) =>
    `${name} [${connections} conn]: p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
    `${result.requestsPerSecond.toFixed(1)} req/s (${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors)`;
  if (explainedAlone) {
    await served.stop();
    await dataSource.destroy();
    console.log(`backend ${currentBackend()}, ${os.cpus().length} × ${cpu}, Node ${process.version}, model ${model.id}, load average ${loadBefore.toFixed(1)} → ${loadAfter.toFixed(1)}`);
    for (const { scenario, result } of results) console.log(`${line(scenario.name, scenario.connections, result)}; ${cpuLine(result)}`);
    return;
  }
  // (d) The same with hostile documents: each must be refused (or, for highlights, answered one page) in milliseconds.
  const hostile = hostileBodies({ userId, modelId: model.id });
  const answers: string[] = [];
  for (const { name, body } of hostile) {
    const response = await fetch(url, { method: "POST", headers, body });
    const json = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    answers.push(`${name}: HTTP ${response.status} ${json.errors?.[0]?.extensions?.code ?? "data"}`);
  }
  const typename = JSON.stringify({ query: "{ __typename }" });
  // The same cheap query alone first: on a host shared with other work, its p99 is the floor (d) is read against.
  process.stderr.write(`(d₀) { __typename } alone at 1 connection: ${seconds} s…\n`);
  const cheapAlone = await autocannon({ url, headers, bodies: [typename], connections: 1, seconds, meter });
  process.stderr.write(`(d) { __typename } at 1 connection while ${heavyConnections} connections send ${hostile.length} hostile documents in turn: ${seconds} s…\n`);
  const [cheapBeside, hostileResult] = await Promise.all([
    autocannon({ url, headers, bodies: [typename], connections: 1, seconds, meter }),
    autocannon({ url, headers, bodies: hostile.map((h) => h.body), connections: heavyConnections, seconds, meter }),
  ]);
  await served.stop();
  await dataSource.destroy();
  await tracing?.stop();

  console.log(
    `backend ${currentBackend()}, ${os.cpus().length} × ${cpu}, Node ${process.version}, model ${model.id}, ` +
      `load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)} (other processes share the cores)`,
  );
  for (const { scenario, result } of results) console.log(`${line(scenario.name, scenario.connections, result)}; ${cpuLine(result)}`);
  if (underHeavy !== undefined) {
    console.log(line("(c) cheap { datasets { id } } during (b) at load", 1, underHeavy.cheap) + " — target p99 ≤ 100 ms");
    console.log(line(`    (b) at ${heavyConnections} connections meanwhile`, heavyConnections, underHeavy.heavy));
  }
  console.log(`(d) hostile documents, each answered once: ${answers.join("; ")}`);
  console.log(line("(d₀) cheap { __typename } alone", 1, cheapAlone));
  console.log(line("(d) cheap { __typename } beside hostile documents", 1, cheapBeside) + " — target p99 ≤ 100 ms");
  console.log(line(`    hostile documents at ${heavyConnections} connections meanwhile`, heavyConnections, hostileResult));
}

/** CPU time per request, the event loop's thread's share, and the throughput each allows were the cores free. */
/** A server the load is sent to, its CPU meter, and how to stop it. */
interface Served {
  readonly url: string;
  readonly meter: CpuMeter;
  readonly pids: ReadonlyArray<number>;
  stop(): Promise<void>;
}

/** The server in this process, as `vcm serve` builds it (request log at info). */
async function serveInProcess(options: { dataSource: Awaited<ReturnType<typeof openDatabase>>; config: ReturnType<typeof loadAppConfig>; requestLog: string }): Promise<Served> {
  const { dataSource, config } = options;
  const server = await createServer(createServerDeps({ dataSource, config, access: { openReads: false, loopback: false } }), { requestLog: createRequestLog({ level: "info", file: options.requestLog }) });
  const { port } = await server.listen({ port: 0 });
  return { url: `http://127.0.0.1:${port}/graphql`, meter: IN_PROCESS, pids: [process.pid], stop: () => server.stop() };
}

/** A real `vcm serve --workers N` on the benchmark's database (scripts/serve-child.ts), its request log at info as in this process. */
async function serveWorkersProcess(options: { workers: number; dbPath: string; modelsDir: string }): Promise<Served> {
  const env = { ...process.env, NODE_ENV: "production", VCM_DB: options.dbPath, VCM_MODELS_DIR: options.modelsDir, VCM_LOG_LEVEL: "info" };
  const { child, url, summary } = await serveChild(env, { args: ["--workers", String(options.workers), "--port", "0"] });
  const workerPids = summary.workerPids as number[];
  const pids = [child.pid ?? -1, ...workerPids];
  return {
    url,
    meter: processesMeter(pids, workerPids),
    pids,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

function cpuLine(result: LoadResult): string {
  const { cpuMsPerRequest: cpu, mainThreadMsPerRequest: main, eventLoops: loops } = result;
  const thread =
    main === undefined
      ? ""
      : loops === 1
        ? `; its event loop's thread ${main.toFixed(1)} ms (at most ${(1000 / main).toFixed(0)} req/s on that one thread)`
        : `; its ${loops} event loops' threads ${main.toFixed(1)} ms (at most ${((1000 * loops) / main).toFixed(0)} req/s on those threads)`;
  return `server CPU ${cpu.toFixed(1)} ms a request (at most ${((1000 * os.cpus().length) / cpu).toFixed(0)} req/s on ${os.cpus().length} free cores)${thread}`;
}

/**
 * (e): each round appends, through a connection of its own (as `vcm ingest --append` from another
 * process would), a click on a user's best recommendation, then times that user's top-20 (the server
 * follows the dataset's new version first) and another, never asked, user's (scored under the new
 * version, nothing to reload). Users from the end of the dataset, so (a″) and (b) keep theirs.
 */
async function changedHistoryScenario(options: { url: string; headers: Record<string, string>; dbPath: string; modelId: number }): Promise<{ changed: { p50: number; p99: number }; unchanged: { p50: number; p99: number } }> {
  const writer = await openDatabase(options.dbPath);
  const dataset = await findDatasetRef(writer, DATASET);
  const users = await userIdsInOrder(writer, { datasetId: dataset.id, offset: Math.max(0, dataset.userCount - 2 * HISTORY_ROUNDS - 1), limit: 2 * HISTORY_ROUNDS });
  const query = `query ($u: ID!, $m: ID!) { user(id: $u) { externalId recommendations(modelId: $m, k: 20) { score item { externalId } } } }`;
  const ask = async (u: number): Promise<{ ms: number; user: { externalId: string; recommendations: Array<{ item: { externalId: string } }> } }> => {
    const started = performance.now();
    const response = await fetch(options.url, { method: "POST", headers: options.headers, body: JSON.stringify({ query, variables: { u, m: options.modelId } }) });
    const json = (await response.json()) as { data?: { user: { externalId: string; recommendations: Array<{ item: { externalId: string } }> } }; errors?: unknown };
    if (json.errors || !json.data) throw new Error(`(e) answered errors: ${JSON.stringify(json.errors)}`);
    return { ms: performance.now() - started, user: json.data.user };
  };
  const changed: number[] = [];
  const unchanged: number[] = [];
  try {
    await ask(users[users.length - 1]);
    for (let round = 0; round < HISTORY_ROUNDS; round += 1) {
      const before = (await ask(users[2 * round])).user;
      // The best recommendation that is not among the user's held-out clicks already.
      let clicked: string | undefined;
      for (const r of before.recommendations) {
        const summary = await appendRecords(writer, { dataset: DATASET, records: [{ user: before.externalId, item: r.item.externalId, rating: 5, text: null }] });
        if (summary.added) {
          clicked = r.item.externalId;
          break;
        }
      }
      if (clicked === undefined) throw new Error(`(e) every top-20 item of user ${before.externalId} is clicked already`);
      // On PostgreSQL the commit's notification may reach the server just after the first request: the
      // request timed is the one that answers from the new history.
      let after = await ask(users[2 * round]);
      while (after.user.recommendations.some((r) => r.item.externalId === clicked)) after = await ask(users[2 * round]);
      changed.push(after.ms);
      unchanged.push((await ask(users[2 * round + 1])).ms);
    }
  } finally {
    await writer.destroy();
  }
  return { changed: percentiles(changed), unchanged: percentiles(unchanged) };
}

function percentiles(values: ReadonlyArray<number>): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] * 10) / 10;
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * (d)'s request bodies: fragments F1 … Fn that spread the next twice (2^(n−1) fields once written out),
 * at 14 and 28 levels; a query refused at its cost alone with 14 such levels beside it; a page of the
 * highlights of a user's reviews (answered, at its cost); a persisted query whose hash does not match.
 */
function hostileBodies(options: { userId: number; modelId: number }): Array<{ name: string; body: string }> {
  const doubling = (levels: number, root = "") =>
    `query { ${root} ...F1 } ${Array.from({ length: levels }, (_, i) =>
      i + 1 < levels ? `fragment F${i + 1} on Query { ...F${i + 2} ...F${i + 2} }` : `fragment F${i + 1} on Query { __typename }`,
    ).join(" ")}`;
  const costly = `dataset(name: "${DATASET}") { users(first: 100) { edges { node { reviews(first: 100) { edges { node { item { reviews(first: 100) { edges { node { id text } } } } } } } } } } }`;
  const highlights = `query ($u: ID!, $m: ID!) { user(id: $u) { reviews(first: 5) { edges { node { highlights(modelId: $m) { text start end word mark { probability level } } } } } } }`;
  return [
    { name: "doubling 14", body: JSON.stringify({ query: doubling(14) }) },
    { name: "doubling 28", body: JSON.stringify({ query: doubling(28) }) },
    { name: "costly behind 14", body: JSON.stringify({ query: doubling(14, costly) }) },
    { name: "highlights", body: JSON.stringify({ query: highlights, variables: { u: options.userId, m: options.modelId } }) },
    {
      name: "APQ mismatch",
      body: JSON.stringify({ query: "{ __typename }", extensions: { persistedQuery: { version: 1, sha256Hash: createHash("sha256").update("{ datasets { id } }").digest("hex") } } }),
    },
  ];
}

await main(process.argv.slice(2));
