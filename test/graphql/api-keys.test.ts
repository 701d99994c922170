/**
 * API keys with roles and rate limits (issue 26, items 1 and 2), with the real `vcm` bin: keys made by
 * `vcm keys create` (only a salted hash stored), a server on 0.0.0.0 that refuses to start without a
 * key and starts with --public-read, 401 for a missing, malformed, wrong or revoked key (over HTTP and
 * WebSocket) with nothing run, 403 for an analyst's mutation, `vcm keys list` with last-used times,
 * and 429 RATE_LIMITED with Retry-After over a key's requests or cost per minute.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { KEY_REQUIRED_MESSAGE, WRONG_KEY_MESSAGE } from "../../src/graphql/auth.ts";
import { UNAUTHENTICATED_CLOSE_CODE } from "../../src/graphql/subscriptions.ts";
import { KEY_CACHE_MS } from "../../src/services/api-keys.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { serveProcess, sleep, type ServerProcess } from "./serve-process.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-api-keys-"));
const dbPath = path.join(dir, "vcm.sqlite");
const env: NodeJS.ProcessEnv = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: dbPath, VCM_MODELS_DIR: path.join(dir, "models") };
const children: ChildProcess[] = [];

/** Runs `vcm keys …` on the test's database and returns the JSON it printed, with its exit code. */
function keys(args: string[]): { code: number | null; json: Record<string, any>; stderr: string } {
  const run = runVcm(["keys", ...args, "--json"], env);
  return { code: run.code, json: run.last, stderr: run.stderr };
}

/** The server's GraphQL URL on IPv4 loopback (it prints localhost for 0.0.0.0). */
function endpoint(server: ServerProcess): string {
  return server.url.replace("//localhost:", "//127.0.0.1:");
}

async function post(server: ServerProcess, query: string, authorization?: string): Promise<{ status: number; headers: Headers; json: any }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization !== undefined) headers.authorization = authorization;
  const send = () => fetch(endpoint(server), { method: "POST", headers, body: JSON.stringify({ query }) });
  // A keep-alive socket the server closed while this process was blocked (spawnSync of `vcm keys`) fails once with "other side closed", before the server saw the request.
  const response = await send().catch((error: { cause?: { code?: string } }) => {
    if (error.cause?.code !== "UND_ERR_SOCKET") throw error;
    return send();
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

/** Model ids in the database, read from the file itself (not through the server under test). */
function modelIds(): number[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare("SELECT id FROM trained_models ORDER BY id").pluck().all() as number[];
  } finally {
    db.close();
  }
}

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await sleep(200);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("a server on a non-loopback address", () => {
  let publicServer: ServerProcess;

  it("refuses to start while no key exists, saying what to do, and starts with --public-read, saying so", async () => {
    const refused = runVcm(["serve", "--host", "0.0.0.0", "--port", "0", "--json"], env);
    expect(refused.code).toBe(1);
    expect(refused.last.error.code).toBe("BAD_USER_INPUT");
    expect(refused.last.error.message).toMatch(/^Refusing to listen on 0\.0\.0\.0 with no API key: .*vcm keys create --name NAME --role analyst.*--public-read/);
    // Refused before the demo data: nothing was generated or trained.
    expect(fs.existsSync(path.join(dir, "models"))).toBe(false);
    publicServer = await serveProcess(env, children, ["--host", "0.0.0.0", "--public-read"]);
    expect(publicServer.stderr()).toContain("warning: --public-read: anyone who can reach 0.0.0.0 reads");
    const read = await post(publicServer, "{ datasets { name } }");
    expect(read.status).toBe(200);
    expect(read.json.data.datasets).toEqual([{ name: "demo" }]);
    // Public reads do not open mutations: off loopback they always need an admin credential.
    const write = await post(publicServer, `mutation { deleteModel(id: "${modelIds()[0]}") }`);
    expect(write.status).toBe(401);
    expect(write.json.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(modelIds()).toHaveLength(1);
    publicServer.child.kill("SIGTERM");
  }, 300_000);
});

describe("keys with roles", () => {
  let server: ServerProcess;
  let analyst: string;
  let admin: string;

  beforeAll(async () => {
    const made = keys(["create", "--name", "ana.lyst_1", "--role", "analyst"]);
    expect(made.code).toBe(0);
    analyst = made.json.key;
    admin = keys(["create", "--name", "root", "--role", "admin"]).json.key;
    server = await serveProcess(env, children, ["--host", "0.0.0.0"]);
  }, 300_000);

  it("prints a key once and stores only a salted hash of it", () => {
    expect(analyst).toMatch(/^vcm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const db = new Database(dbPath, { readonly: true });
    try {
      const rows = db.prepare("SELECT name, role, key_id, salt, hash FROM api_keys ORDER BY id").all() as Array<Record<string, string>>;
      expect(rows.map((r) => [r.name, r.role])).toEqual([["ana.lyst_1", "analyst"], ["root", "admin"]]);
      const secret = analyst.split("_").slice(2).join("_");
      for (const row of rows) {
        expect(Object.values(row).join(" ")).not.toContain(secret);
        expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
      }
      expect(rows[0].salt).not.toBe(rows[1].salt);
    } finally {
      db.close();
    }
  });

  it("refuses bad names and roles with a sentence, and a second key of one name", () => {
    for (const name of ["", "has space", "-dash-first", "x".repeat(65), "naïve"]) {
      const refused = keys(["create", "--name", name, "--role", "analyst"]);
      expect(refused.code).toBe(1);
      expect(refused.json.error.code).toBe("BAD_USER_INPUT");
      expect(refused.json.error.message).toContain("A key name is 1 to 64 letters, digits");
    }
    expect(keys(["create", "--name", "x".repeat(64), "--role", "analyst"]).code).toBe(0);
    expect(keys(["create", "--name", "other", "--role", "owner"]).json.error).toEqual({ code: "BAD_USER_INPUT", message: 'A key\'s role is analyst or admin, got "owner".' });
    expect(keys(["create", "--name", "root", "--role", "admin"]).json.error.code).toBe("CONFLICT");
    expect(keys(["create", "--name", "r", "--role", "admin", "--rate", "lots"]).json.error.code).toBe("BAD_USER_INPUT");
    expect(keys(["revoke", "x".repeat(64)]).code).toBe(0);
    expect(keys(["revoke", "nobody"]).json.error.code).toBe("NOT_FOUND");
  });

  it("answers 401 UNAUTHENTICATED with a sentence for no key, a malformed header, a wrong key or the wrong secret of a real key", async () => {
    const wrongSecret = `${analyst.slice(0, analyst.lastIndexOf("_") + 1)}${"A".repeat(43)}`;
    const cases: Array<[string | undefined, string]> = [
      [undefined, KEY_REQUIRED_MESSAGE],
      [analyst, 'The Authorization header must read "Bearer <key>", with the key as vcm keys create printed it.'],
      ["Bearer", 'The Authorization header must read "Bearer <key>", with the key as vcm keys create printed it.'],
      ["Bearer not-a-key", WRONG_KEY_MESSAGE],
      [`Bearer ${wrongSecret}`, WRONG_KEY_MESSAGE],
    ];
    for (const [authorization, message] of cases) {
      const answer = await post(server, "{ datasets { name } }", authorization);
      expect(answer.status).toBe(401);
      expect(answer.json).toEqual({ errors: [{ message, extensions: { code: "UNAUTHENTICATED", requestId: answer.headers.get("x-request-id") } }] });
    }
  });

  it("lets an analyst read but not run a mutation (403 FORBIDDEN, nothing run), and an admin do both", async () => {
    const read = await post(server, "{ datasets { name } }", `Bearer ${analyst}`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual({ data: { datasets: [{ name: "demo" }] } });
    const [model] = modelIds();
    const forbidden = await post(server, `mutation { deleteModel(id: "${model}") }`, `Bearer ${analyst}`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.errors[0]).toEqual({
      message: "A mutation needs an admin key; the key ana.lyst_1 is an analyst key, which reads only.",
      extensions: { code: "FORBIDDEN", requestId: forbidden.headers.get("x-request-id") },
    });
    expect(modelIds()).toEqual([model]);
    const allowed = await post(server, `mutation { deleteModel(id: "${model + 1000}") }`, `Bearer ${admin}`);
    expect(allowed.json.errors[0].extensions.code).toBe("NOT_FOUND");
  });

  it("checks a WebSocket's connection params: no key closes it with 4401 and the sentence, a key subscribes", async () => {
    const url = endpoint(server).replace(/^http/, "ws");
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const socket = new WebSocket(url, "graphql-transport-ws");
      socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
      socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    expect(closed.code).toBe(UNAUTHENTICATED_CLOSE_CODE);
    expect(closed.reason).toMatch(/^This server needs an API key/);
    const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${analyst}` } });
    try {
      const errors = await new Promise<unknown[]>((resolve, reject) => {
        // A subscription to a job that does not exist: the server answers it (NOT_FOUND), which needs a proved key.
        client.subscribe({ query: `subscription { trainingJobUpdated(id: "999") { id } }` }, { next: (m) => resolve([...(m.errors ?? [])]), error: reject, complete: () => resolve([]) });
      });
      expect(JSON.stringify(errors)).not.toContain("UNAUTHENTICATED");
    } finally {
      await client.dispose();
    }
  });

  it("lists keys with role, creation and last use, and a revoked key is refused within a second", async () => {
    const listed = keys(["list"]).json.keys as Array<Record<string, any>>;
    const byName = new Map(listed.map((k) => [k.name, k]));
    expect(byName.get("ana.lyst_1")).toMatchObject({ role: "analyst", rateRequests: null, rateCost: null });
    expect(Date.parse(byName.get("ana.lyst_1")!.lastUsed)).toBeGreaterThan(Date.parse(byName.get("ana.lyst_1")!.created) - 1000);
    expect(JSON.stringify(listed)).not.toContain(analyst);
    expect(keys(["revoke", "ana.lyst_1"]).code).toBe(0);
    await sleep(KEY_CACHE_MS + 50);
    const refused = await post(server, "{ datasets { name } }", `Bearer ${analyst}`);
    expect(refused.status).toBe(401);
    expect(refused.json.errors[0].message).toBe(WRONG_KEY_MESSAGE);
  });

  it("answers 429 RATE_LIMITED with Retry-After over a key's requests per minute, and over its cost per minute", async () => {
    const slow = keys(["create", "--name", "slow", "--role", "analyst", "--rate", "3"]).json.key;
    for (let i = 0; i < 3; i += 1) expect((await post(server, "{ datasets { name } }", `Bearer ${slow}`)).status).toBe(200);
    const over = await post(server, "{ datasets { name } }", `Bearer ${slow}`);
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(over.json.errors[0].extensions.code).toBe("RATE_LIMITED");
    expect(over.json.errors[0].message).toBe(
      `Over the limit of 3 requests per minute for this key or address; try again in ${retryAfter} s, or ask an admin for a key with a higher --rate.`,
    );
    // Another key is counted on its own.
    expect((await post(server, "{ datasets { name } }", `Bearer ${admin}`)).status).toBe(200);
    // A subscription counts as a request too.
    const client = createClient({ url: endpoint(server).replace(/^http/, "ws"), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${slow}` } });
    try {
      const refused = await new Promise<unknown>((resolve) => {
        client.subscribe({ query: `subscription { trainingJobUpdated(id: "999") { id } }` }, { next: resolve, error: resolve, complete: () => resolve(null) });
      });
      expect(JSON.stringify(refused)).toContain('"code":"RATE_LIMITED"');
    } finally {
      await client.dispose();
    }

    const cheap = keys(["create", "--name", "cheap", "--role", "analyst", "--rate", "100/30"]).json.key;
    const query = "{ datasets { name statistics { users items } } }";
    let answer = await post(server, query, `Bearer ${cheap}`);
    let sent = 1;
    while (answer.status === 200 && sent < 40) {
      answer = await post(server, query, `Bearer ${cheap}`);
      sent += 1;
    }
    expect(answer.status).toBe(429);
    expect(sent).toBeGreaterThan(1);
    expect(answer.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(answer.json.errors[0].extensions.code).toBe("RATE_LIMITED");
    expect(answer.json.errors[0].message).toContain("Over the limit of 30 estimated query cost per minute");
    expect(answer.json.data).toBeUndefined();
  });
});
