/**
 * startExperiment (issue 11): the experiment run by the server in its own worker process, its row visible
 * at once and finished later with the result tables; the same arguments resume the same row and
 * folder; refusals with a sentence. experimentUpdated (issue 24, item 3) over a real WebSocket: its
 * progress, its final state and its cancel arrive, as a training job's do.
 */
import fs from "node:fs";
import path from "node:path";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MAX_EXPERIMENT_RUNS, MAX_GRID_VALUES } from "../../src/services/experiment.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const TOKEN = "experiment-token";
let fixture: ApiFixture;

async function gql(query: string, variables: Record<string, unknown> = {}) {
  return fixture.server.execute({ query, variables }, { authorization: `Bearer ${TOKEN}` });
}

const START = `mutation ($input: StartExperimentInput!) { startExperiment(input: $input) { id status runsDone runsTotal args tuneTrials } }`;
const INPUT = { dataset: TEST_DATASET, models: ["VCM", "POPULARITY"], seeds: 1, epochs: 2 };

async function until(id: string, done: (e: any) => boolean): Promise<any> {
  for (let i = 0; i < 1200; i += 1) {
    const result = await gql(`query ($id: ID!) { experiment(id: $id) { id status runsDone runsTotal error results } }`, { id });
    expect(result.errors).toBeUndefined();
    const e = (result.data as any).experiment;
    if (done(e)) return e;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`experiment ${id} did not finish`);
}

let base: string;

beforeAll(async () => {
  fixture = await createApiFixture({ adminToken: TOKEN });
  base = (await fixture.server.listen({ port: 0 })).url.replace(/\/$/, "");
});
afterAll(async () => {
  await fixture?.close();
});

describe("startExperiment", () => {
  it("runs the experiment as its own process: RUNNING at once, FINISHED later with its tables and report", async () => {
    const started = await gql(START, { input: INPUT });
    expect(started.errors).toBeUndefined();
    const row = (started.data as any).startExperiment;
    expect(row).toMatchObject({ status: "RUNNING", runsDone: 0, runsTotal: 2, args: { dataset: TEST_DATASET, models: ["vcm", "popularity"], seeds: 1, epochs: 2 } });
    // The same experiment cannot run twice at once.
    const again = await gql(START, { input: INPUT });
    expect(again.errors?.[0]).toMatchObject({ extensions: { code: "CONFLICT" } });
    expect(again.errors?.[0].message).toBe(`Experiment ${row.id} with these arguments is running; wait for it, or poll experiment(id: ${row.id}).`);

    const done = await until(row.id, (e) => e.status !== "RUNNING");
    expect(done).toMatchObject({ status: "FINISHED", runsDone: 2, error: null });
    expect(Object.keys(done.results)).toEqual(["settings", "vcm", "vcm-cd"]);
    expect(done.results.settings).toEqual({ vcm: { epochs: 2 }, popularity: {} });
    expect(JSON.stringify(done.results.vcm)).toContain("popularity");
    const folders = fs.readdirSync(path.join(fixture.dir, "experiments"));
    expect(folders).toHaveLength(1);
    const report = fs.readFileSync(path.join(fixture.dir, "experiments", folders[0], "report.md"), "utf8");
    expect(report).toMatch(/^# Experiment on "demo-small"/);
    // Each run is a trained model of the database.
    const models = await gql(`{ models { variant status } }`);
    expect((models.data as any).models.filter((m: any) => m.status === "READY").map((m: any) => m.variant).sort()).toEqual(expect.arrayContaining(["popularity", "vcm"]));

    // Started again with the same arguments: the same row and folder, nothing trained again.
    const resumed = await gql(START, { input: INPUT });
    expect(resumed.errors).toBeUndefined();
    expect((resumed.data as any).startExperiment.id).toBe(row.id);
    // Queued while the first process exits (one experiment at a time per server), then run.
    const finished = await until(row.id, (e) => e.status !== "RUNNING" && e.status !== "QUEUED");
    expect(finished).toMatchObject({ status: "FINISHED", runsDone: 2 });
    // The log holds each process's JSON summary: the second one trained nothing.
    // The process records its end in the database just before it prints its summary: wait for the line.
    const logFile = path.join(fixture.dir, "experiments", folders[0], "experiment.log");
    const summaryLines = () => fs.readFileSync(logFile, "utf8").split("\n").filter((l) => l.startsWith("{"));
    for (let i = 0; i < 100 && summaryLines().length < 2; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    const summaries = summaryLines().map((l) => JSON.parse(l));
    expect(summaries.map((s: any) => [s.runs, s.trained])).toEqual([
      [2, 2],
      [2, 0],
    ]);
  }, 240_000);

  it("refuses arguments it could not run, and an unknown dataset, with a sentence", async () => {
    const seeds = await gql(START, { input: { ...INPUT, seeds: 0 } });
    expect(seeds.errors?.[0]).toMatchObject({ message: "--seeds must be an integer from 1 to 100, got 0.", extensions: { code: "BAD_USER_INPUT" } });
    const grid = await gql(START, { input: { ...INPUT, gridLatentDim: [0] } });
    expect(grid.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(grid.errors?.[0].message).toMatch(/latentDim must be an integer from 1 to 1,000, got 0/);
    // Settings of the config table: refused when no listed model reads them, or when the experiment sets them itself.
    const unread = await gql(START, { input: { ...INPUT, baselineParameters: { textOffsetReg: 3 } } });
    expect(unread.errors?.[0]).toMatchObject({
      message: "textOffsetReg is read only by cdl, cvae, and none of the chosen models (vcm, popularity) reads it; add one of them to the models, or leave textOffsetReg out.",
      extensions: { code: "BAD_USER_INPUT" },
    });
    const seed = await gql(START, { input: { ...INPUT, hyperParameters: { seed: 3 } } });
    expect(seed.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(seed.errors?.[0].message).toMatch(/^seed is set by the experiment itself/);
    const twice = await gql(START, { input: { ...INPUT, gridLatentDim: [8], grid: [{ name: "latentDim", values: [4] }] } });
    expect(twice.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    const notNumeric = await gql(START, { input: { ...INPUT, models: ["CDL"], grid: [{ name: "tiedWeights", values: [1] }] } });
    expect(notNumeric.errors?.[0]?.message).toBe("A grid runs over numeric settings; tiedWeights is true or false: set it once instead.");
    const unknown = await gql(START, { input: { ...INPUT, dataset: "nope" } });
    expect(unknown.errors?.[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    const anonymous = await fixture.server.execute({ query: START, variables: { input: INPUT } });
    expect(anonymous.errors?.[0]).toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
  });
});

describe("experiments are bounded, queued and cancellable", () => {
  const STATUS = `query ($id: ID!) { experiment(id: $id) { id status error runsDone } }`;
  const CANCEL = `mutation ($id: ID!) { cancelExperiment(id: $id) { id status error cancelRequested } }`;

  it("lists experiments without a dataset argument", async () => {
    const all = await gql(`{ experiments { id } }`);
    expect(all.errors).toBeUndefined();
    const ofDataset = await gql(`{ experiments(dataset: "${TEST_DATASET}") { id } }`);
    expect(ofDataset.errors).toBeUndefined();
    expect((all.data as any).experiments).toEqual((ofDataset.data as any).experiments);
  });

  it("refuses a 1,000 × 1,000 grid in milliseconds, and removes duplicate grid values", async () => {
    const values = Array.from({ length: 1000 }, (_, i) => i + 1);
    const started = performance.now();
    const huge = await gql(START, { input: { ...INPUT, gridLatentDim: values, gridBeta: values.map((v) => v / 1000) } });
    const ms = performance.now() - started;
    expect(huge.errors?.[0]).toMatchObject({ message: `The grid's latentDim lists 1,000 distinct values; at most ${MAX_GRID_VALUES} per axis.`, extensions: { code: "BAD_USER_INPUT" } });
    // Generous: the unbounded check took 14.4 s; a linear one takes a few milliseconds.
    expect(ms).toBeLessThan(1000);
    // Within each axis' bound, the total is still bounded: 20 × 20 cells × 100 seeds.
    const twenty = values.slice(0, MAX_GRID_VALUES);
    const many = await gql(START, { input: { ...INPUT, seeds: 100, gridLatentDim: twenty, gridBeta: twenty.map((v) => v / 100) } });
    expect(many.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(many.errors?.[0].message).toBe(
      `These arguments plan 40,200 runs (models × seeds + grid cells × seeds); an experiment may plan at most ${MAX_EXPERIMENT_RUNS.toLocaleString("en-US")}: use fewer seeds, models or grid values.`,
    );
    // Duplicates count once (and a duplicated value repeated 1,000 times is one value).
    // A setting of the table and a grid axis of any numeric setting go with them, in the table's order.
    const duplicated = await gql(START, {
      input: { ...INPUT, hyperParameters: { annealSteps: 7 }, grid: [{ name: "dropout", values: [0.5, 0.5] }], gridLatentDim: [4, 4, 8, 8, 4], gridBeta: Array.from({ length: 1000 }, () => 0.5), tune: 2 },
    });
    expect(duplicated.errors).toBeUndefined();
    const row = (duplicated.data as any).startExperiment;
    expect(row.args.grid).toEqual({ latentDim: [4, 8], dropout: [0.5], beta: [0.5] });
    expect(row.args.config).toEqual({ annealSteps: 7 });
    // VCM's 2 tuning trials (over the learning rate: β is a grid axis) count as runs; popularity has nothing to tune; the row says it is tuned.
    expect(row).toMatchObject({ runsTotal: 2 + 2 + 2, tuneTrials: 2, args: { tune: 2 } });
    const allFixed = await gql(START, { input: { ...INPUT, gridBeta: [0.2], hyperParameters: { learningRate: 0.01 }, tune: 2 } });
    expect(allFixed.errors?.[0].message).toBe(
      "None of the chosen models (vcm, popularity) has a setting left to tune (each is fixed by a setting or a grid, or the model reads none); leave --tune out.",
    );
    const tooMany = await gql(START, { input: { ...INPUT, tune: 101 } });
    expect(tooMany.errors?.[0]).toMatchObject({ message: "--tune must be an integer from 0 (untuned) to 100 trials per model, got 101.", extensions: { code: "BAD_USER_INPUT" } });
    expect((await gql(CANCEL, { id: row.id })).errors).toBeUndefined();
    const ended = await until(row.id, (e) => e.status !== "RUNNING" && e.status !== "QUEUED");
    expect(["CANCELLED", "FINISHED"]).toContain(ended.status);
  }, 120_000);

  it("queues a second experiment while the first runs, and cancels a queued and a running one; the model it left can be deleted", async () => {
    const first = (await gql(START, { input: { ...INPUT, seeds: 3, epochs: 5000 } })).data as any;
    // The previous test's experiment may still be handing back its turn (its process exiting on a busy machine).
    expect(["RUNNING", "QUEUED"]).toContain(first.startExperiment.status);
    expect((await until(first.startExperiment.id, (e) => e.status !== "QUEUED")).status).toBe("RUNNING");
    // Popularity reads no epochs: they are left out, as a setting no listed model reads is refused.
    const second = await gql(START, { input: { dataset: TEST_DATASET, models: ["POPULARITY"], seeds: 2 } });
    expect(second.errors).toBeUndefined();
    const queuedId = (second.data as any).startExperiment.id;
    expect((second.data as any).startExperiment.status).toBe("QUEUED");

    // Still queued while the first runs.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(((await gql(STATUS, { id: queuedId })).data as any).experiment.status).toBe("QUEUED");
    const cancelledQueued = await gql(CANCEL, { id: queuedId });
    expect((cancelledQueued.data as any).cancelExperiment).toMatchObject({ status: "CANCELLED", error: "The experiment was cancelled; start it again with the same arguments to resume it." });
    const again = await gql(CANCEL, { id: queuedId });
    expect(again.errors?.[0]).toMatchObject({ message: `Experiment ${queuedId} has already ended (cancelled); there is nothing to cancel.`, extensions: { code: "CONFLICT" } });

    // The first, cancelled while its run trains: stopped before the answer, its half-made model failed.
    const id = first.startExperiment.id;
    for (let i = 0; i < 300; i += 1) {
      const models = ((await gql(`{ models { id status } }`)).data as any).models;
      if (models.some((m: any) => m.status === "TRAINING")) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const training = ((await gql(`{ models { id status } }`)).data as any).models.filter((m: any) => m.status === "TRAINING");
    expect(training).toHaveLength(1);
    const cancelled = await gql(CANCEL, { id });
    expect(cancelled.errors).toBeUndefined();
    expect((cancelled.data as any).cancelExperiment).toMatchObject({ status: "CANCELLED" });
    const model = ((await gql(`query ($id: ID!) { model(id: $id) { status } }`, { id: training[0].id })).data as any).model;
    expect(model.status).toBe("FAILED");
    const deleted = await gql(`mutation ($id: ID!) { deleteModel(id: $id) }`, { id: training[0].id });
    expect(deleted.errors).toBeUndefined();
    const unknown = await gql(CANCEL, { id: 9999 });
    expect(unknown.errors?.[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
  }, 240_000);
});

describe("experimentUpdated", () => {
  interface Seen {
    status: string;
    runsDone: number;
    runsTotal: number;
  }

  function client(): Client {
    return createClient({ url: `${base.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  }

  /** One subscription's messages, and how it ended. */
  function watch(socket: Client, id: string): { seen: Seen[]; ended: Promise<"complete" | { error: unknown }> } {
    const seen: Seen[] = [];
    const ended = new Promise<"complete" | { error: unknown }>((resolve) => {
      socket.subscribe<{ experimentUpdated: Seen }>(
        { query: `subscription ($id: ID!) { experimentUpdated(id: $id) { status runsDone runsTotal } }`, variables: { id } },
        {
          next: (message) => {
            if (message.errors) return resolve({ error: message.errors });
            seen.push(message.data!.experimentUpdated);
          },
          error: (error) => resolve({ error }),
          complete: () => resolve("complete"),
        },
      );
    });
    return { seen, ended };
  }

  /** Starts an experiment of VCM over `seeds` seeds and subscribes to it at once. */
  async function startAndWatch(socket: Client, o: { seeds: number; epochs: number }): Promise<{ id: string } & ReturnType<typeof watch>> {
    const started = await gql(START, { input: { ...INPUT, models: ["VCM"], ...o } });
    expect(started.errors).toBeUndefined();
    const id: string = (started.data as any).startExperiment.id;
    return { id, ...watch(socket, id) };
  }

  it("sends an experiment's progress as its runs finish, then its final state, and ends the stream", async () => {
    const socket = client();
    try {
      const { seen, ended } = await startAndWatch(socket, { seeds: 3, epochs: 40 });
      expect(await ended).toBe("complete");
      console.log(`experimentUpdated messages: ${JSON.stringify(seen)}`);
      expect(seen.at(-1)).toEqual({ status: "FINISHED", runsDone: 3, runsTotal: 3 });
      expect(["QUEUED", "RUNNING"]).toContain(seen[0].status);
      // Progress arrives while it runs: a RUNNING state part of the way, and runsDone never goes back.
      expect(seen.some((m) => m.status === "RUNNING" && m.runsDone >= 1 && m.runsDone < 3)).toBe(true);
      const done = seen.map((m) => m.runsDone);
      expect(done).toEqual([...done].sort((x, y) => x - y));
    } finally {
      await socket.dispose();
    }
  }, 240_000);

  it("sends the cancel of a running experiment as its last state, and NOT_FOUND for an unknown one", async () => {
    const socket = client();
    try {
      const { id, seen, ended } = await startAndWatch(socket, { seeds: 2, epochs: 5000 });
      for (let i = 0; i < 600 && !seen.some((m) => m.status === "RUNNING"); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen.some((m) => m.status === "RUNNING")).toBe(true);
      const cancelled = await gql(`mutation ($id: ID!) { cancelExperiment(id: $id) { status } }`, { id });
      expect(cancelled.errors).toBeUndefined();
      expect(await ended).toBe("complete");
      expect(seen.at(-1)).toMatchObject({ status: "CANCELLED" });

      const unknown = await watch(socket, "9999").ended;
      expect(unknown).toMatchObject({ error: [{ extensions: { code: "NOT_FOUND" } }] });
    } finally {
      await socket.dispose();
    }
  }, 240_000);
});
