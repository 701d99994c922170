/**
 * Subscriptions over WebSocket are logged and counted like HTTP requests (issue 26, items 4 and 6), on a
 * real `vcm serve`: a line when one starts (operation name, key name, OK) or is refused (its code), a
 * line with its duration when it ends, and in /metrics the subscriptions by operation and outcome and a
 * gauge of the running ones (1 while a client watches a job, 0 once it stopped watching).
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "../cli/run-vcm.ts";
import { serveProcess, sleep, TINY_CONFIG, type ServerProcess } from "./serve-process.ts";

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-subscription-log-"));
const env: NodeJS.ProcessEnv = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_LOG_LEVEL: "", VCM_DB: path.join(dir, "vcm.sqlite"), VCM_MODELS_DIR: path.join(dir, "models") };
const WATCH = "subscription Watch($id: ID!) { trainingJobUpdated(id: $id) { status } }";

let server: ServerProcess;
let metricsUrl: string;
let key: string;
let client: Client;

async function post(query: string, variables: Record<string, unknown>): Promise<any> {
  const response = await fetch(server.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
  return response.json();
}

/** The subscription lines the server wrote so far. */
function subscriptionLines(): Array<Record<string, any>> {
  return server
    .stdout()
    .split("\n")
    .filter((line) => line.startsWith("{") && line.includes('"message":"subscription"'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 200 && !done(value); i += 1) {
    await sleep(50);
    value = await read();
  }
  return value;
}

const metric = (text: string, name: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

beforeAll(async () => {
  const generated = runVcm(["generate", "--dataset", "small", "--users", "60", "--items", "80", "--vocab", "200", "--json"], env);
  expect(generated.code, generated.stderr).toBe(0);
  const created = runVcm(["keys", "create", "--name", "ops-admin", "--role", "admin", "--json"], env);
  expect(created.code, created.stderr).toBe(0);
  key = created.last.key;
  server = await serveProcess(env, children, ["--metrics-port", "0"]);
  metricsUrl = server.summary.metrics as string;
  client = createClient({ url: server.url.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, retryAttempts: 0 });
}, 120_000);

afterAll(async () => {
  await client?.dispose();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await sleep(200);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("subscriptions in the request log and /metrics", () => {
  it("logs and counts a subscription's start with its key's name, its end with its duration, and a refused one with its code", async () => {
    const started = await post(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: { dataset: "small", variant: "VCM", hyperParameters: { ...TINY_CONFIG, epochs: 500 } },
    });
    const id: string = started.data.startTraining.id;
    let stop = (): void => undefined;
    const first = new Promise<void>((resolve, reject) => {
      stop = client.subscribe({ query: WATCH, variables: { id } }, { next: () => resolve(), error: reject, complete: () => undefined });
    });
    await first;
    const running = await until(async () => (await (await fetch(metricsUrl)).text()), (text) => metric(text, 'vcm_graphql_active_subscriptions{operation="Watch"}') === 1);
    expect(metric(running, 'vcm_graphql_active_subscriptions{operation="Watch"}')).toBe(1);
    expect(subscriptionLines()).toEqual([expect.objectContaining({ event: "subscribe", operation: "Watch", key: "ops-admin", code: "OK", level: "info" })]);

    const watchedFor = 300;
    await sleep(watchedFor);
    stop();
    const lines = await until(subscriptionLines, (found) => found.length === 2);
    expect(lines[1]).toMatchObject({ event: "complete", operation: "Watch", key: "ops-admin", code: "OK", requestId: lines[0].requestId });
    expect(lines[1].ms).toBeGreaterThanOrEqual(watchedFor);
    const after = await (await fetch(metricsUrl)).text();
    expect(metric(after, 'vcm_graphql_active_subscriptions{operation="Watch"}')).toBe(0);
    expect(metric(after, 'vcm_graphql_subscriptions_total{operation="Watch",code="OK"}')).toBe(1);

    // An unknown job: answered NOT_FOUND before a stream opens; one line, counted with its code, nothing running.
    const missing = await new Promise<unknown>((resolve) => {
      client.subscribe({ query: "subscription Missing { trainingJobUpdated(id: \"987654\") { status } }" }, { next: (message) => resolve(message.errors), error: resolve, complete: () => undefined });
    });
    expect(JSON.stringify(missing)).toContain("NOT_FOUND");
    const refused = await until(subscriptionLines, (found) => found.length === 3);
    expect(refused[2]).toMatchObject({ event: "subscribe", operation: "Missing", key: "ops-admin", code: "NOT_FOUND" });
    const counted = await (await fetch(metricsUrl)).text();
    expect(metric(counted, 'vcm_graphql_subscriptions_total{operation="Missing",code="NOT_FOUND"}')).toBe(1);
    expect(metric(counted, 'vcm_graphql_active_subscriptions{operation="Missing"}') ?? 0).toBe(0);
    for (const line of subscriptionLines()) expect(JSON.stringify(line)).not.toContain(key);

    expect((await post(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { status } }`, { id })).errors).toBeUndefined();
  }, 60_000);
});
