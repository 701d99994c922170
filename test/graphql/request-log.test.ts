/**
 * The request log of a real `vcm serve` on its stdout (issue 26, item 6): one JSON line per request with
 * the request id of the x-request-id header (and of the error's extensions), the operation name, the
 * outcome code and the milliseconds; no key, no query text or variables, nothing a user wrote; probes
 * only at debug; VCM_LOG_LEVEL=warn writes no request lines.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "../cli/run-vcm.ts";
import { serveProcess, sleep, type ServerProcess } from "./serve-process.ts";

const TOKEN = "log-test-admin-token-5678";
/** Stands for personal data and review text sent in a request: it must not reach the log. */
const PRIVATE = "Jane Doe's review: the blender broke on day two";

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-request-log-"));
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  VCM_ADMIN_TOKEN: TOKEN,
  PORT: "",
  VCM_LOG_LEVEL: "",
  VCM_DB: path.join(dir, "vcm.sqlite"),
  VCM_MODELS_DIR: path.join(dir, "models"),
  ...extra,
});

let server: ServerProcess;

async function post(target: ServerProcess, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; requestId: string | null }> {
  const response = await fetch(target.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: response.status, json: await response.json(), requestId: response.headers.get("x-request-id") };
}

/** The request lines the server wrote (every stdout line after the `--json` summary). */
async function logLines(target: ServerProcess, count: number): Promise<Array<Record<string, unknown>>> {
  const read = () =>
    target
      .stdout()
      .split("\n")
      .filter((line) => line.startsWith("{") && !line.includes('"graphql":"http'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  for (let i = 0; i < 50 && read().length < count; i += 1) await sleep(50);
  return read();
}

beforeAll(async () => {
  const generated = runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--json"], env());
  expect(generated.code, generated.stderr).toBe(0);
  server = await serveProcess(env(), children);
}, 120_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("request log", () => {
  it("writes one JSON line per request with its id, operation, code and duration, and nothing private", async () => {
    const ok = await post(server, { query: "query Datasets { datasets { name } }" });
    const missing = await post(server, { query: "query Find($name: String!) { dataset(name: $name) { name } }", variables: { name: PRIVATE } }, { authorization: `Bearer ${TOKEN}` });
    const refused = await post(server, { query: `mutation Drop { deleteModel(id: "1") }` }, { authorization: "Bearer not-the-token" });
    // A client's own x-request-id does not replace the server's.
    const spoofed = await post(server, { query: "{ datasets { name } }" }, { "x-request-id": "client-chosen-id" });
    const health = await fetch(new URL("/health", server.url));
    expect(health.status).toBe(200);

    expect(missing.json.errors[0].extensions).toMatchObject({ code: "NOT_FOUND", requestId: missing.requestId });
    expect(refused.json.errors[0].extensions).toMatchObject({ code: "UNAUTHENTICATED", requestId: refused.requestId });
    const ids = [ok, missing, refused, spoofed].map((answer) => answer.requestId);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(4);

    const lines = await logLines(server, 4);
    // /health is a probe: logged at debug, below the default level.
    expect(lines).toHaveLength(4);
    expect(lines.map((line) => [line.requestId, line.operation, line.code, line.status, line.method, line.path, line.level])).toEqual([
      [ok.requestId, "Datasets", "OK", 200, "POST", "/graphql", "info"],
      [missing.requestId, "Find", "NOT_FOUND", 200, "POST", "/graphql", "info"],
      // A wrong credential is refused before the body is read, so its operation is never known.
      [refused.requestId, null, "UNAUTHENTICATED", 401, "POST", "/graphql", "info"],
      [spoofed.requestId, null, "OK", 200, "POST", "/graphql", "info"],
    ]);
    for (const line of lines) {
      expect(typeof line.ms).toBe("number");
      expect(line.ms as number).toBeGreaterThan(0);
      expect(Object.keys(line).sort()).toEqual(["code", "level", "message", "method", "ms", "operation", "path", "requestId", "status", "time"]);
    }
    const stdout = server.stdout();
    for (const secret of [TOKEN, "not-the-token", "Jane", "blender", "deleteModel", "datasets { name }", "client-chosen"]) expect(stdout).not.toContain(secret);
  });

  it("writes no request lines at VCM_LOG_LEVEL=warn, and probes at debug", async () => {
    const quiet = await serveProcess(env({ VCM_LOG_LEVEL: "warn" }), children);
    await post(quiet, { query: "query Datasets { datasets { name } }" });
    await sleep(300);
    expect(await logLines(quiet, 0)).toEqual([]);
    const verbose = await serveProcess(env({ VCM_LOG_LEVEL: "debug" }), children);
    const probe = await fetch(new URL("/ready", verbose.url));
    const lines = await logLines(verbose, 1);
    expect(lines.map((line) => [line.requestId, line.path, line.level])).toEqual([[probe.headers.get("x-request-id"), "/ready", "debug"]]);
  });

  it("refuses an unknown VCM_LOG_LEVEL at start with a sentence", () => {
    const result = runVcm(["serve", "--port", "0", "--json"], env({ VCM_LOG_LEVEL: "loud" }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('VCM_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"');
  });
});
