/**
 * /ready of a real `vcm serve` across a real PostgreSQL restart and stop (issue 26, item 3), on a
 * private server the test may stop: /ready answers 503 with a reason while the database is away and 200
 * again by itself once it is back; queries meanwhile answer DATABASE_UNAVAILABLE with its sentence, never
 * an internal error; after SIGTERM, /ready on the metrics port answers 503 until the process is gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_UNAVAILABLE_MESSAGE } from "../../src/errors.ts";
import { SHUTTING_DOWN_REASON } from "../../src/services/readiness.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "../db/private-postgres.ts";
import { serveProcess, sleep, type ServerProcess, serverEnv } from "./serve-process.ts";

const QUERY = `{ datasets { name users(first: 2) { edges { node { externalId } } } } }`;
/** How long /ready may take to say 200 again once the database is back (the figure of issue 23 for queries). */
const RECOVERY_MS = 5_000;

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-ready-restart-"));
let database: PrivatePostgres;
let server: ServerProcess;
let readyUrl: string;

const env = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.url, dir, name });

async function ready(url = readyUrl): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
}

/** Polls /ready until it answers `status`, for at most `withinMs`; the answer and how long it took. */
async function untilReady(status: number, withinMs: number): Promise<{ ms: number; answer: Awaited<ReturnType<typeof ready>> }> {
  const started = performance.now();
  let answer = await ready();
  while (answer.status !== status && performance.now() - started < withinMs) {
    await sleep(100);
    answer = await ready();
  }
  return { ms: performance.now() - started, answer };
}

/**
 * A client process that asks /ready and a query every 25 ms and prints one JSON line per answer: it keeps
 * asking while this test process is blocked in pg_ctl, so the restart's moments are met.
 */
function startProbes(): { stop: () => Promise<Array<{ kind: string; status: number; body: any }>> } {
  const script = `
    const [ready, graphql, query] = JSON.parse(process.argv[1]);
    const line = (kind) => (r) => r.json().then((body) => process.stdout.write(JSON.stringify({ kind, status: r.status, body }) + "\\n"));
    const failed = (kind) => (e) => process.stdout.write(JSON.stringify({ kind, status: 0, body: String(e) }) + "\\n");
    const timer = setInterval(() => {
      fetch(ready).then(line("ready"), failed("ready"));
      fetch(graphql, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) }).then(line("query"), failed("query"));
    }, 25);
    process.on("SIGTERM", () => { clearInterval(timer); setTimeout(() => process.exit(0), 500); });
  `;
  const child = spawn(process.execPath, ["-e", script, JSON.stringify([readyUrl, server.url, QUERY])], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return {
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
      return out.split("\n").filter(Boolean).map((text) => JSON.parse(text) as { kind: string; status: number; body: any });
    },
  };
}

if (!POSTGRES_BINDIR) console.warn("/ready restart tests skipped: PostgreSQL's server binaries are not installed");

describe.skipIf(!POSTGRES_BINDIR)("/ready across PostgreSQL restarts", () => {
  beforeAll(async () => {
    database = startPrivatePostgres();
    const generated = runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--db", database.url, "--json"], env("cli"));
    expect(generated.code, generated.stderr).toBe(0);
    server = await serveProcess(env("a"), children, ["--metrics-port", "0"]);
    readyUrl = new URL("/ready", server.url).toString();
  }, 120_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await sleep(200);
    database?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("goes 503 during a pg_ctl restart and back to 200 by itself; queries meanwhile say DATABASE_UNAVAILABLE", async () => {
    expect((await untilReady(200, 30_000)).answer).toEqual({ status: 200, body: { status: "ready" } });
    const probes = startProbes();
    await sleep(300);
    database.restart();
    const back = await untilReady(200, RECOVERY_MS);
    expect(back.answer.status).toBe(200);
    expect(back.ms).toBeLessThan(RECOVERY_MS);
    await sleep(300);
    const answers = await probes.stop();
    const readies = answers.filter((a) => a.kind === "ready");
    const queries = answers.filter((a) => a.kind === "query");
    // The server never went away, and while the database was down /ready said so in a sentence.
    expect(answers.filter((a) => a.status === 0)).toEqual([]);
    const notReady = readies.filter((a) => a.status === 503);
    expect(notReady.length).toBeGreaterThan(0);
    for (const answer of notReady) expect(answer.body).toEqual({ status: "not ready", reason: expect.stringContaining(DATABASE_UNAVAILABLE_MESSAGE) });
    expect(readies.at(-1)).toMatchObject({ status: 200, body: { status: "ready" } });
    for (const answer of queries) {
      if (answer.body.errors === undefined) continue;
      expect(answer.body.errors.map((e: any) => [e.extensions.code, e.message])).toEqual([["DATABASE_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE]]);
    }
    expect(server.stderr()).not.toContain("internal error");
  }, 120_000);

  it("answers 503 with the reason for as long as the database is stopped, and 200 within 5 s of its start", async () => {
    database.stop();
    const down = await untilReady(503, 10_000);
    expect(down.answer).toEqual({ status: 503, body: { status: "not ready", reason: expect.stringContaining(DATABASE_UNAVAILABLE_MESSAGE) } });
    for (let i = 0; i < 5; i += 1) {
      expect((await ready()).status).toBe(503);
      const answer = await server.gql(QUERY);
      expect(answer.errors?.map((e) => [e.extensions?.code, e.message])).toEqual([["DATABASE_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE]]);
      await sleep(500);
    }
    database.start();
    const back = await untilReady(200, RECOVERY_MS);
    expect(back.answer).toEqual({ status: 200, body: { status: "ready" } });
    expect(back.ms).toBeLessThan(RECOVERY_MS);
    expect((await server.gql(QUERY)).errors).toBeUndefined();
    expect(server.stderr()).not.toContain("internal error");
  }, 120_000);

  it("answers /ready 503 on the metrics port once SIGTERM has begun the stop", async () => {
    const metricsReady = new URL("/ready", server.summary.metrics as string).toString();
    expect((await ready(metricsReady)).status).toBe(200);
    // A request whose body never ends keeps the stop waiting (up to its grace period) while the metrics port answers.
    const socket = net.connect({ port: Number(new URL(server.url).port), host: "127.0.0.1" });
    await once(socket, "connect");
    socket.write("POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{");
    await sleep(100);
    const exited = once(server.child, "exit");
    server.child.kill("SIGTERM");
    let answer = await ready(metricsReady);
    for (let i = 0; i < 50 && answer.status === 200; i += 1) {
      await sleep(20);
      answer = await ready(metricsReady);
    }
    expect(answer).toEqual({ status: 503, body: { status: "not ready", reason: SHUTTING_DOWN_REASON } });
    socket.destroy();
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  }, 60_000);
});
