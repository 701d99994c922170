/**
 * `npm run bench:api`: the GraphQL API under load on a Yelp-shaped synthetic dataset. Generates the
 * dataset and trains a VCM model briefly (1 epoch: enough for realistic shapes and timings, not for
 * quality) on first use, keeps both under data/bench-api/ for later runs, starts the server in this
 * process and drives it from a second process (autocannon, scripts/bench-api-client.ts) on loopback.
 * Prints p50/p99 latency and requests per second for (a) one user's top-20 recommendations with
 * explanations (the default rule, EFFECT; (a′) the same with EVIDENCE, which does no counterfactual
 * scoring; both ask about the same user every time, so after the first request a model's recent
 * answers serve them), (a″) as (a) with a different user on every request (each one scored), (b) 100
 * users' top-20 in one query, and (c) a cheap `{ datasets { id } }` while 20 connections send (b): the
 * latency that one heavy client imposes on everyone else (issue 8: p99 ≤ 100 ms); (d) a cheap
 * `{ __typename }` while 20 connections send hostile documents in turn (issue 23: fragments that spread
 * each other twice over, 14 and 28 levels deep, a costly query hidden behind them, a page of a review's
 * highlights, a persisted query whose hash does not match), target p99 ≤ 100 ms.
 * `--scenario hostile` runs (d) alone. The server needs a key for reads and counts rate limits, as on a
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
import { createServer, createServerDeps } from "../src/server.ts";
import { ErrorCode, UserError } from "../src/errors.ts";
import { createApiKey, MAX_RATE_PER_MINUTE, revokeApiKey } from "../src/services/api-keys.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { trainAndSave } from "../src/services/training.ts";

const DATASET = "bench-yelp-shaped";
/** The API key the load is sent with (made again on each run, since a key is shown only once). */
const BENCH_KEY = "bench-api";
/** What `--scenario` may name: everything, or (d) alone. */
const SCENARIOS = ["all", "hostile"] as const;
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
}

/** Runs autocannon in its own process (so load generation does not share this event loop), sending `bodies` in turn. */
async function autocannon(options: { url: string; headers: Record<string, string>; bodies: ReadonlyArray<string>; connections: number; seconds: number }): Promise<LoadResult> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-bench-api-"));
  const spec = path.join(dir, "load.json");
  await fs.writeFile(spec, JSON.stringify({ url: options.url, headers: options.headers, bodies: options.bodies, connections: options.connections, seconds: options.seconds }));
  const client = fileURLToPath(new URL("./bench-api-client.ts", import.meta.url));
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["--import", "tsx", client, spec], { maxBuffer: 64 * 1024 * 1024 }, (error, out) => (error ? reject(error) : resolve(out)));
    });
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
    .option("--scenario <name>", `${SCENARIOS.join(" or ")}: every scenario, or (d) alone`, "all")
    .parse([...argv], { from: "user" });
  const opts = program.opts<{ db: string; models?: string; seconds: string; connections: string; heavyConnections: string; scenario: string }>();
  if (!(SCENARIOS as ReadonlyArray<string>).includes(opts.scenario)) throw new Error(`--scenario must be ${SCENARIOS.join(" or ")}, got "${opts.scenario}".`);
  const everything = opts.scenario === "all";
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

  // As a server on a shared address runs: every request proves a key, and is counted against its rates
  // (set high enough that the load itself is never refused).
  await revokeApiKey(dataSource, BENCH_KEY).catch((error: unknown) => {
    if (!(error instanceof UserError && error.code === ErrorCode.NOT_FOUND)) throw error;
  });
  const { key } = await createApiKey(dataSource, { name: BENCH_KEY, role: "admin", rateRequests: MAX_RATE_PER_MINUTE, rateCost: MAX_RATE_PER_MINUTE });
  const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
  const server = await createServer(createServerDeps({ dataSource, config, access: { openReads: false, loopback: false } }));
  const { port } = await server.listen({ port: 0 });
  const url = `http://127.0.0.1:${port}/graphql`;
  const oneUserQuery = (explanationArguments: string) =>
    `query ($u: ID!, $m: ID!) { user(id: $u) { recommendations(modelId: $m, k: 20) { rank score item { externalId } explanation(${explanationArguments}) { coveredShare words { word weight } } } } }`;
  const scenarios: Scenario[] = [
    {
      name: "(a) one user's top-20 with explanations (the same user on every request)",
      query: oneUserQuery("k: 10"),
      variables: [{ u: userId, m: model.id }],
      connections: Number(opts.connections),
    },
    {
      name: "(a′) the same with rule: EVIDENCE (no counterfactual scoring)",
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
  const results: Array<{ scenario: Scenario; result: LoadResult }> = [];
  for (const scenario of everything ? scenarios : []) {
    const bodies = scenario.variables.map((variables) => JSON.stringify({ query: scenario.query, variables }));
    // Warm-up: loads the model, the dataset matrices and the item word statistics into the caches
    // (from the end of the list of users, so that the measured requests still find no recent answers).
    for (let i = 0; i < 5; i += 1) {
      const response = await fetch(url, { method: "POST", headers, body: bodies[bodies.length - 1 - i] ?? bodies[0] });
      const json = (await response.json()) as { errors?: unknown };
      if (json.errors) throw new Error(`${scenario.name} answered errors: ${JSON.stringify(json.errors)}`);
    }
    process.stderr.write(`${scenario.name}: ${seconds} s at ${scenario.connections} connection(s)…\n`);
    results.push({ scenario, result: await autocannon({ url, headers, bodies, connections: scenario.connections, seconds }) });
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
      autocannon({ url, headers, bodies: [cheap], connections: 1, seconds }),
      autocannon({ url, headers, bodies: [heavy], connections: heavyConnections, seconds }),
    ]);
    underHeavy = { cheap: cheapResult, heavy: heavyResult };
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
  const cheapAlone = await autocannon({ url, headers, bodies: [typename], connections: 1, seconds });
  process.stderr.write(`(d) { __typename } at 1 connection while ${heavyConnections} connections send ${hostile.length} hostile documents in turn: ${seconds} s…\n`);
  const [cheapBeside, hostileResult] = await Promise.all([
    autocannon({ url, headers, bodies: [typename], connections: 1, seconds }),
    autocannon({ url, headers, bodies: hostile.map((h) => h.body), connections: heavyConnections, seconds }),
  ]);
  await server.stop();
  await dataSource.destroy();

  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `backend ${currentBackend()}, ${os.cpus().length} × ${cpu}, Node ${process.version}, model ${model.id}, ` +
      `load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)} (other processes share the cores)`,
  );
  const line = (name: string, connections: number, result: LoadResult) =>
    `${name} [${connections} conn]: p50 ${result.p50} ms, p99 ${result.p99} ms, ` +
    `${result.requestsPerSecond.toFixed(1)} req/s (${result.requests} requests, ${result.non2xx} non-2xx, ${result.errors} errors)`;
  for (const { scenario, result } of results) console.log(line(scenario.name, scenario.connections, result));
  if (underHeavy !== undefined) {
    console.log(line("(c) cheap { datasets { id } } during (b) at load", 1, underHeavy.cheap) + " — target p99 ≤ 100 ms");
    console.log(line(`    (b) at ${heavyConnections} connections meanwhile`, heavyConnections, underHeavy.heavy));
  }
  console.log(`(d) hostile documents, each answered once: ${answers.join("; ")}`);
  console.log(line("(d₀) cheap { __typename } alone", 1, cheapAlone));
  console.log(line("(d) cheap { __typename } beside hostile documents", 1, cheapBeside) + " — target p99 ≤ 100 ms");
  console.log(line(`    hostile documents at ${heavyConnections} connections meanwhile`, heavyConnections, hostileResult));
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
