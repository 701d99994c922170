/**
 * A request refused before GraphQL ran is logged and counted with the code its answer carries, recorded
 * where the refusal is sent, not guessed back from the HTTP status: a 429 is RATE_LIMITED (it was logged
 * as BAD_REQUEST), a 503 while PostgreSQL is stopped is DATABASE_UNAVAILABLE (it was NOT_READY). A real
 * `vcm serve` on a private PostgreSQL server that the test stops.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DATABASE_UNAVAILABLE_MESSAGE } from "../../src/errors.ts";
import { KEY_CACHE_MS } from "../../src/services/api-keys.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "../db/private-postgres.ts";
import { serveProcess, sleep, type ServerProcess, serverEnv } from "./serve-process.ts";

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-log-codes-"));
let database: PrivatePostgres;
let server: ServerProcess;

const env = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.url, dir, name });

async function post(key: string): Promise<{ status: number; code: string | undefined; message: string | undefined; requestId: string | null }> {
  const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query: "{ datasets { name } }" }) });
  const body = (await response.json()) as { errors?: Array<{ message: string; extensions: { code: string } }> };
  return { status: response.status, code: body.errors?.[0]?.extensions.code, message: body.errors?.[0]?.message, requestId: response.headers.get("x-request-id") };
}

/** The log line of one request, once the server wrote it. */
async function logLine(requestId: string | null): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 50; i += 1) {
    const line = server
      .stdout()
      .split("\n")
      .filter((text) => text.startsWith("{"))
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.requestId === requestId);
    if (line !== undefined) return line;
    await sleep(50);
  }
  return undefined;
}

function createKey(name: string, extra: string[] = []): string {
  const run = runVcm(["keys", "create", "--name", name, "--role", "analyst", ...extra, "--db", database.url, "--json"], env("cli"));
  expect(run.code, run.stderr).toBe(0);
  return run.last.key;
}

if (!POSTGRES_BINDIR) console.warn("request-log code tests skipped: PostgreSQL's server binaries are not installed");

describe.skipIf(!POSTGRES_BINDIR)("the code a refused request is logged and counted with", () => {
  let team: string;
  let limited: string;
  let metricsUrl: string;

  beforeAll(async () => {
    database = startPrivatePostgres();
    const generated = runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--db", database.url, "--json"], env("cli"));
    expect(generated.code, generated.stderr).toBe(0);
    team = createKey("team");
    limited = createKey("limited", ["--rate", "2"]);
    server = await serveProcess(env("a"), children, ["--metrics-port", "0"]);
    metricsUrl = server.summary.metrics as string;
  }, 180_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await sleep(200);
    database?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a 429 is logged and counted as RATE_LIMITED", async () => {
    const answers = [await post(limited), await post(limited), await post(limited)];
    expect(answers.map((a) => [a.status, a.code])).toEqual([
      [200, undefined],
      [200, undefined],
      [429, "RATE_LIMITED"],
    ]);
    expect(await logLine(answers[2].requestId)).toMatchObject({ status: 429, code: "RATE_LIMITED", operation: null });
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toContain('vcm_graphql_requests_total{operation="anonymous",code="RATE_LIMITED"} 1');
    expect(metrics).not.toContain('code="BAD_REQUEST"');
  }, 60_000);

  it("a 503 while PostgreSQL is stopped is logged as DATABASE_UNAVAILABLE", async () => {
    expect((await post(team)).status).toBe(200);
    database.stop();
    try {
      // What the server read about the key is kept for KEY_CACHE_MS; after that the check needs the database.
      await sleep(KEY_CACHE_MS + 200);
      const refused = await post(team);
      expect([refused.status, refused.code, refused.message]).toEqual([503, "DATABASE_UNAVAILABLE", DATABASE_UNAVAILABLE_MESSAGE]);
      expect(await logLine(refused.requestId)).toMatchObject({ status: 503, code: "DATABASE_UNAVAILABLE" });
    } finally {
      database.start();
    }
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/vcm_graphql_requests_total\{operation="anonymous",code="DATABASE_UNAVAILABLE"\} [1-9]/);
    expect(metrics).not.toContain('code="NOT_READY"');
  }, 60_000);
});
