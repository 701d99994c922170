/**
 * Subscriptions under load, over a real WebSocket server (graphql-ws clients and raw `ws` sockets):
 * the sockets one address may open and the subscriptions one socket may hold are bounded, with a
 * close code or an error code and a sentence; a running job's updates are read once per change for
 * all its subscribers, who each still get its final state; cheap queries stay fast meanwhile.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import {
  MAX_SOCKETS_PER_ADDRESS,
  MAX_SUBSCRIPTIONS_PER_SOCKET,
  TOO_MANY_SOCKETS_CLOSE_CODE,
  TOO_MANY_SOCKETS_REASON,
  TOO_MANY_SUBSCRIPTIONS_MESSAGE,
} from "../../src/graphql/limits.ts";
import { JOB_UPDATE_WINDOW_MS } from "../../src/services/job-updates.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const TOKEN = "s3cret-token";
const TINY = { latentDim: 4, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };
const SUBSCRIPTION = `subscription ($id: ID!) { trainingJobUpdated(id: $id) { status progress { epoch } model { status } } }`;

let fixture: ApiFixture;
let base: string;

interface Seen {
  status: string;
  epoch: number;
  model: string | null;
}

/** One subscription's messages, and how it ended. */
interface Watch {
  readonly seen: Seen[];
  readonly ended: Promise<"complete" | { error: unknown }>;
  stop(): void;
}

function watch(client: Client, id: string): Watch {
  const seen: Seen[] = [];
  let stop = (): void => undefined;
  const ended = new Promise<"complete" | { error: unknown }>((resolve) => {
    stop = client.subscribe<{ trainingJobUpdated: { status: string; progress: { epoch: number }; model: { status: string } | null } }>(
      { query: SUBSCRIPTION, variables: { id } },
      {
        next: (message) => {
          if (message.errors) return resolve({ error: message.errors });
          const job = message.data!.trainingJobUpdated;
          seen.push({ status: job.status, epoch: job.progress.epoch, model: job.model?.status ?? null });
        },
        error: (error) => resolve({ error }),
        complete: () => resolve("complete"),
      },
    );
  });
  return { seen, ended, stop: () => stop() };
}

function client(): Client {
  return createClient({ url: base.replace(/^http/, "ws") + "/graphql", webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

async function gql(query: string, variables: Record<string, unknown> = {}, authorization?: string): Promise<any> {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

async function startJob(epochs: number): Promise<string> {
  const body = await gql(
    `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`,
    { input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { ...TINY, epochs } } },
    `Bearer ${TOKEN}`,
  );
  expect(body.errors).toBeUndefined();
  return body.data.startTraining.id as string;
}

async function cancelJob(id: string): Promise<void> {
  const body = await gql(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { status } }`, { id }, `Bearer ${TOKEN}`);
  if (body.errors) expect(body.errors[0].extensions.code).toBe("CONFLICT");
}

/** Waits (polling, for at most 60 s) until a condition holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 3_000 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(condition()).toBe(true);
}

/** Opens a raw graphql-ws socket: acknowledged, or closed by the server with a code and reason. */
async function openSocket(): Promise<{ socket: WebSocket; acked: boolean; code?: number; reason?: string }> {
  const socket = new WebSocket(`${base.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.once("close", (code, reason) => resolve({ socket, acked: false, code, reason: reason.toString() }));
    socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init" })));
    socket.once("message", (data) => {
      if (JSON.parse(data.toString()).type === "connection_ack") resolve({ socket, acked: true });
    });
  });
}

async function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.close();
  await closed;
}

beforeAll(async () => {
  fixture = await createApiFixture({ adminToken: TOKEN });
  base = (await fixture.server.listen({ port: 0 })).url.replace(/\/$/, "");
}, 120_000);

afterAll(async () => {
  await fixture?.close();
});

describe("subscription limits and shared job updates", () => {
  it(`closes a socket beyond ${MAX_SOCKETS_PER_ADDRESS} from one address with code ${TOO_MANY_SOCKETS_CLOSE_CODE} and a reason, and admits one again once another closed`, async () => {
    const open = [];
    try {
      for (let i = 0; i < MAX_SOCKETS_PER_ADDRESS; i += 1) open.push(await openSocket());
      expect(open.every((s) => s.acked)).toBe(true);
      const extra = await openSocket();
      expect(extra).toMatchObject({ acked: false, code: TOO_MANY_SOCKETS_CLOSE_CODE, reason: TOO_MANY_SOCKETS_REASON });
      // A graphql-ws client is told the same, through its subscription's error, and does not retry.
      const refused = await watch(client(), "1").ended;
      expect(refused).toEqual({ error: expect.objectContaining({ code: TOO_MANY_SOCKETS_CLOSE_CODE, reason: TOO_MANY_SOCKETS_REASON }) });
      // HTTP is not limited by it.
      expect((await gql("{ datasets { name } }")).data).toEqual({ datasets: [{ name: TEST_DATASET }] });
      await closeSocket(open.pop()!.socket);
      let again = await openSocket();
      // The server counts the closed socket out when its close reaches it, a moment after the client's.
      for (let i = 0; i < 50 && !again.acked; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        again = await openSocket();
      }
      expect(again.acked).toBe(true);
      open.push(again);
    } finally {
      for (const { socket } of open) await closeSocket(socket);
    }
  });

  it(`refuses a subscription beyond ${MAX_SUBSCRIPTIONS_PER_SOCKET} on one socket with TOO_MANY_SUBSCRIPTIONS, and the others keep working`, async () => {
    const id = await startJob(2_000);
    const socket = client();
    try {
      const watches = Array.from({ length: MAX_SUBSCRIPTIONS_PER_SOCKET }, () => watch(socket, id));
      await until(() => watches.every((w) => w.seen.length > 0));
      const extra = watch(socket, id);
      expect(await extra.ended).toEqual({
        error: [expect.objectContaining({ message: TOO_MANY_SUBSCRIPTIONS_MESSAGE, extensions: expect.objectContaining({ code: "TOO_MANY_SUBSCRIPTIONS" }) })],
      });
      // The others go on: each sees a later epoch than it had when the extra one was refused.
      const before = watches.map((w) => w.seen.at(-1)!.epoch);
      await until(() => watches.every((w, i) => w.seen.at(-1)!.epoch > before[i]));
      // Completing one frees its place.
      watches[0].stop();
      expect(await watches[0].ended).toBe("complete");
      const replacement = watch(socket, id);
      await until(() => replacement.seen.length > 0);
      await cancelJob(id);
      for (const w of [...watches.slice(1), replacement]) {
        expect(await w.ended).toBe("complete");
        expect(w.seen.at(-1)!.status).toBe("CANCELLED");
      }
    } finally {
      await cancelJob(id);
      await socket.dispose();
    }
  }, 120_000);

  it("reads a running job's update once per change for all its subscribers, who each get its final state", async () => {
    const services = fixture.server.deps.prediction!;
    const snapshots = vi.spyOn(services.jobUpdates, "snapshot");
    // The model rows the subscribers' own loaders would read.
    const modelReads = vi.spyOn(fixture.server.deps.catalog, "modelsByIds");
    const sockets = [client(), client()];
    try {
      const id = await startJob(30);
      const watches = sockets.flatMap((socket) => Array.from({ length: MAX_SUBSCRIPTIONS_PER_SOCKET }, () => watch(socket, id)));
      for (const w of watches) expect(await w.ended).toBe("complete");
      for (const w of watches) expect(w.seen.at(-1)).toEqual({ status: "SUCCEEDED", epoch: 30, model: "READY" });
      const messages = Math.max(...watches.map((w) => w.seen.length));
      expect(messages).toBeGreaterThanOrEqual(2);
      // One read per change, whatever the number of subscribers: a change may be read twice (the
      // job service's own row, then the commit watch's relay of it, which is not sent again), never
      // once per subscriber (that would be at least 20 per message).
      expect(snapshots.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(snapshots.mock.calls.length).toBeLessThanOrEqual(2 * messages + 2);
      expect(modelReads).not.toHaveBeenCalled();
    } finally {
      snapshots.mockRestore();
      modelReads.mockRestore();
      for (const socket of sockets) await socket.dispose();
    }
  }, 120_000);

  it("answers a cheap query quickly while every socket one address may open carries its full count of subscriptions", async () => {
    const id = await startJob(2_000);
    const sockets = Array.from({ length: MAX_SOCKETS_PER_ADDRESS }, () => client());
    try {
      const watches = sockets.flatMap((socket) => Array.from({ length: MAX_SUBSCRIPTIONS_PER_SOCKET }, () => watch(socket, id)));
      await until(() => watches.every((w) => w.seen.some((s) => s.epoch >= 1)));
      const slowest = { ms: 0 };
      const started = Date.now();
      // Half a dozen update windows of cheap queries, while every subscriber keeps receiving epochs.
      while (Date.now() - started < 1_500) {
        const t0 = performance.now();
        const body = await gql("{ datasets { name } }");
        slowest.ms = Math.max(slowest.ms, performance.now() - t0);
        expect(body.data).toEqual({ datasets: [{ name: TEST_DATASET }] });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Generous: before the limits and the shared reads, 2,700 subscribers made it 11.9 s.
      expect(slowest.ms).toBeLessThan(2_000);
      const before = watches.map((w) => w.seen.at(-1)!.epoch);
      await until(() => watches.every((w, i) => w.seen.at(-1)!.epoch > before[i]));
    } finally {
      await cancelJob(id);
      for (const socket of sockets) await socket.dispose();
    }
  }, 120_000);

  it("documents the numbers it enforces in docs/operations.md (Limits) and docs/graphql-api.md", () => {
    const limits = fs.readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
    const api = fs.readFileSync(new URL("../../docs/graphql-api.md", import.meta.url), "utf8");
    const row = (start: string) => limits.split("\n").find((line) => line.startsWith(start)) ?? "";
    expect(row("| WebSockets per client address")).toContain(`| ${MAX_SOCKETS_PER_ADDRESS} open at once; one more is closed at once with code ${TOO_MANY_SOCKETS_CLOSE_CODE}`);
    expect(TOO_MANY_SOCKETS_REASON).toMatch(/^Over \d+ WebSockets from one address; /);
    expect(row("| WebSockets per client address")).toContain(`"Over ${MAX_SOCKETS_PER_ADDRESS} WebSockets from one address; …"`);
    expect(row("| subscriptions per WebSocket")).toContain(`| ${MAX_SUBSCRIPTIONS_PER_SOCKET} open at once; one more answers \`TOO_MANY_SUBSCRIPTIONS\``);
    expect(row("| training-job updates")).toContain(`one message per job per ${JOB_UPDATE_WINDOW_MS} ms`);
    expect(api).toContain(`Changes less than\n${JOB_UPDATE_WINDOW_MS} ms apart are sent as one message`);
    expect(api).toContain(`may hold ${MAX_SOCKETS_PER_ADDRESS} sockets of ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions each`);
  });
});
