/**
 * Training through the API: a job runs in a child process from start to finish with progress that
 * polling sees, another is cancelled, a restart marks a running job failed and keeps the models,
 * models can be deleted, and the admin token guards the mutations.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import fs from "node:fs";
import { TrainingJob } from "../../src/db/entities/training-job.entity.ts";
import { createServer, createServerDeps, type VcmServer } from "../../src/server.ts";
import { RESTART_MESSAGE, STOPPED_MESSAGE } from "../../src/services/jobs.ts";
import { loadTrainedModel } from "../../src/services/prediction-services.ts";
import { createApiFixture, insertTrainedModel, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

const TOKEN = "s3cret-token";
const AUTH = `Bearer ${TOKEN}`;
const TINY = { latentDim: 4, hiddenX: 16, hiddenY: 16, batchSize: 50, annealSteps: 10 };

let fixture: ApiFixture;
let server: VcmServer;

const JOB_FIELDS = `id status variant error config progress { epoch totalEpochs etaSeconds bestValidationNdcg100 lastEpoch { epoch reconX klCrossX valNdcg100 } } model { id status } dataset { name }`;

/** Runs an operation; mutations send the admin token unless another authorization is given ("" = none). */
async function gql(query: string, variables: Record<string, unknown> = {}, authorization = AUTH) {
  return server.execute({ query, variables }, { authorization });
}

async function startJob(epochs: number, variant = "VCM") {
  const result = await gql(
    `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { ${JOB_FIELDS} } }`,
    { input: { dataset: TEST_DATASET, variant, hyperParameters: { ...TINY, epochs } } },
  );
  expect(result.errors).toBeUndefined();
  return (result.data as any).startTraining;
}

async function poll(id: string, until: (job: any) => boolean, timeoutMs = 120_000): Promise<any> {
  const started = Date.now();
  for (;;) {
    const result = await gql(`query ($id: ID!) { trainingJob(id: $id) { ${JOB_FIELDS} } }`, { id }, "");
    expect(result.errors).toBeUndefined();
    const job = (result.data as any).trainingJob;
    if (until(job)) return job;
    if (Date.now() - started > timeoutMs) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  fixture = await createApiFixture({ adminToken: TOKEN });
  server = fixture.server;
});

afterAll(async () => {
  await fixture?.close();
});

describe("training jobs", () => {
  it("returns at once, trains outside the request path, reports progress and saves a usable model", async () => {
    const job = await startJob(3);
    // It answered before training did anything: no epoch, no model yet.
    expect(["QUEUED", "RUNNING"]).toContain(job.status);
    expect(job.progress.epoch).toBe(0);
    expect(job.model).toBeNull();
    expect(job.progress.totalEpochs).toBe(3);
    expect(job.config.epochs).toBe(3);
    expect(job.config.latentDim).toBe(4);

    // While it trains, queries are answered.
    const during = await gql(`{ datasets { name } }`, {}, "");
    expect(during.errors).toBeUndefined();

    const done = await poll(job.id, (j) => j.status !== "QUEUED" && j.status !== "RUNNING");
    expect(done.error).toBeNull();
    expect(done.status).toBe("SUCCEEDED");
    expect(done.progress.epoch).toBe(3);
    expect(done.progress.etaSeconds).toBe(0);
    expect(done.progress.lastEpoch.epoch).toBe(3);
    expect(Number.isFinite(done.progress.lastEpoch.reconX)).toBe(true);
    expect(done.progress.bestValidationNdcg100).toBeGreaterThanOrEqual(0);
    expect(done.model.status).toBe("READY");
    expect(done.model.id).toBeTruthy();
    expect(done.dataset.name).toBe(TEST_DATASET);

    const recs = await gql(
      `query ($m: ID!) { user(id: 1) { recommendations(modelId: $m, k: 3) { rank } } }`,
      { m: done.model.id },
      undefined,
    );
    expect(recs.errors).toBeUndefined();
    expect((recs.data as any).user.recommendations).toHaveLength(3);

    const list = await gql(`{ trainingJobs(status: SUCCEEDED) { id } }`, {}, "");
    expect((list.data as any).trainingJobs.map((j: any) => j.id)).toContain(job.id);
  });

  it("trains a paper baseline with its own hyper-parameters, which it records, and refuses one out of range", async () => {
    const started = await gql(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: {
        dataset: TEST_DATASET,
        variant: "CDL",
        hyperParameters: { epochs: 2, batchSize: 50 },
        baselineParameters: { baselineLatentDim: 6, sdaeHidden: 24, sdaeReconWeight: 10, tiedWeights: false, baselineOptimizer: "RMSPROP" },
      },
    });
    expect(started.errors).toBeUndefined();
    const done = await poll((started.data as any).startTraining.id, (job) => job.status !== "QUEUED" && job.status !== "RUNNING");
    expect(done).toMatchObject({ status: "SUCCEEDED", variant: "cdl" });
    expect(done.config).toMatchObject({ variant: "cdl", baselineLatentDim: 6, sdaeHidden: 24, sdaeReconWeight: 10, epochs: 2, tiedWeights: false, baselineOptimizer: "rmsprop", learningRate: 0.001 });
    // It ranks from clicks and from text alone; it decodes no words.
    const m = done.model.id;
    const ranked = await gql(`query ($m: ID!) { user(id: 2) { recommendations(modelId: $m, k: 3) { rank } } recommendForText(modelId: $m, text: "sushi tuna salmon", k: 2) { items { rank } } }`, { m }, "");
    expect(ranked.errors).toBeUndefined();
    expect((ranked.data as any).user.recommendations).toHaveLength(3);
    const words = await gql(`query ($m: ID!) { user(id: 2) { topWords(modelId: $m, k: 3) { word } } }`, { m }, "");
    expect(words.errors?.[0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT" } });
    expect(words.errors?.[0].message).toMatch(/decodes no words from clicks; choose a VCM model/);
    const refused = await gql(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: { dataset: TEST_DATASET, variant: "DEEPCONN", baselineParameters: { deepconnWindow: 50 } },
    });
    expect(refused.errors?.[0]).toMatchObject({ message: "deepconnWindow must be an integer from 1 to 20, got 50", extensions: { code: "BAD_USER_INPUT" } });
    const dropout = await gql(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: { dataset: TEST_DATASET, variant: "DEEPCONN", baselineParameters: { deepconnDropout: 1 } },
    });
    expect(dropout.errors?.[0]).toMatchObject({ message: "deepconnDropout must be a number from 0 (inclusive) to 1 (exclusive), got 1", extensions: { code: "BAD_USER_INPUT" } });
    // An optimiser the schema does not name is refused by GraphQL itself, before any job.
    const optimizer = await gql(`mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`, {
      input: { dataset: TEST_DATASET, variant: "DEEPCONN", baselineParameters: { baselineOptimizer: "SGD" } },
    });
    expect(optimizer.errors?.[0].message).toMatch(/Value "SGD" does not exist in "BaselineOptimizer" enum/);
  });

  it("cancels a queued job and a running one: CANCELLED, no model kept, and a second cancel is a CONFLICT", async () => {
    const modelsBefore = await gql(`{ models { id } }`, {}, "");
    const job = await startJob(2_000);
    // One job trains at a time: a second one waits, and cancelling it never starts it.
    const waiting = await startJob(5);
    expect(waiting.status).toBe("QUEUED");
    const dropped = await gql(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { status error startedAt } }`, { id: waiting.id });
    expect((dropped.data as any).cancelTrainingJob).toEqual({ status: "CANCELLED", error: "Cancelled before it started.", startedAt: null });
    const running = await poll(job.id, (j) => j.status === "RUNNING" && j.progress.epoch >= 1);
    expect(running.model.status).toBe("TRAINING");
    expect(running.progress.etaSeconds).toBeGreaterThan(0);
    const cancelled = await gql(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { ${JOB_FIELDS} } }`, { id: job.id });
    expect(cancelled.errors).toBeUndefined();
    const after = (cancelled.data as any).cancelTrainingJob;
    expect(after.status).toBe("CANCELLED");
    expect(after.model).toBeNull();
    expect(after.progress.epoch).toBeLessThan(2_000);
    const modelsAfter = await gql(`{ models { id } }`, {}, "");
    expect((modelsAfter.data as any).models).toEqual((modelsBefore.data as any).models);
    const again = await gql(`mutation ($id: ID!) { cancelTrainingJob(id: $id) { id } }`, { id: job.id });
    expect(again.errors?.[0].extensions?.code).toBe("CONFLICT");
  });

  it("rejects bad hyper-parameters and unknown datasets or jobs with a sentence", async () => {
    const bad = await gql(
      `mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: VCM, hyperParameters: { dropout: 1.5 } }) { id } }`,
    );
    expect(bad.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(bad.errors?.[0].message).toMatch(/dropout/);
    // An absurd size is refused before any work: no job is queued for it.
    const jobsBefore = ((await gql(`{ trainingJobs { id } }`, {}, "")).data as any).trainingJobs.length;
    const huge = await gql(
      `mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: VCM, hyperParameters: { hiddenX: 2000000000 } }) { id } }`,
    );
    expect(huge.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(huge.errors?.[0].message).toBe("hiddenX must be an integer from 1 to 10,000, got 2000000000");
    // A sampled softmax for a baseline, which trains no softmax over the items, is refused, not ignored.
    const sampled = await gql(
      `mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: CDL, hyperParameters: { sampledSoftmax: 64, sampledProposal: POPULARITY } }) { id } }`,
    );
    expect(sampled.errors?.[0]).toMatchObject({ message: "sampledSoftmax is read only by vcm, vcm-se, vcm-od, vcm-nv, not by cdl; leave sampledSoftmax out for cdl", extensions: { code: "BAD_USER_INPUT" } });
    expect(((await gql(`{ trainingJobs { id } }`, {}, "")).data as any).trainingJobs).toHaveLength(jobsBefore);
    // A models folder that cannot be written is refused up front too (a file in its place: ENOTDIR, even for root).
    const models = fixture.config.modelsDir;
    fs.renameSync(models, `${models}.aside`);
    fs.writeFileSync(models, "");
    try {
      const unwritable = await gql(`mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: VCM }) { id } }`);
      expect(unwritable.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
      expect(unwritable.errors?.[0].message).toMatch(/^The models folder .* cannot be written \((EEXIST|ENOTDIR)\); make it writable or point VCM_MODELS_DIR/);
      expect(((await gql(`{ trainingJobs { id } }`, {}, "")).data as any).trainingJobs).toHaveLength(jobsBefore);
    } finally {
      fs.rmSync(models);
      fs.renameSync(`${models}.aside`, models);
    }
    const missing = await gql(`mutation { startTraining(input: { dataset: "nope", variant: VCM }) { id } }`);
    expect(missing.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const noJob = await gql(`{ trainingJob(id: 424242) { id } }`, {}, "");
    expect(noJob.errors?.[0].extensions?.code).toBe("NOT_FOUND");
  });

  it("needs the admin token for startTraining, cancelTrainingJob and deleteModel", async () => {
    for (const mutation of [
      `mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: POPULARITY }) { id } }`,
      `mutation { cancelTrainingJob(id: 1) { id } }`,
      `mutation { deleteModel(id: 1) }`,
    ]) {
      const missing = await gql(mutation, {}, "");
      expect(missing.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
      const wrong = await gql(mutation, {}, "Bearer nope");
      expect(wrong.errors?.[0].extensions?.code).toBe("UNAUTHENTICATED");
    }
  });

  it("deletes a model: its checkpoint goes, later queries answer NOT_FOUND", async () => {
    const job = await startJob(1, "POPULARITY");
    const done = await poll(job.id, (j) => j.status === "SUCCEEDED" || j.status === "FAILED");
    expect(done.status).toBe("SUCCEEDED");
    const modelId = done.model.id;
    const row = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: Number(modelId) });
    row.model.dispose();
    const deleted = await gql(`mutation ($id: ID!) { deleteModel(id: $id) }`, { id: modelId });
    expect(deleted.errors).toBeUndefined();
    expect((deleted.data as any).deleteModel).toBe(String(modelId));
    const gone = await gql(`query ($id: ID!) { user(id: 1) { recommendations(modelId: $id, k: 1) { rank } } }`, { id: modelId }, "");
    expect(gone.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const again = await gql(`mutation ($id: ID!) { deleteModel(id: $id) }`, { id: modelId });
    expect(again.errors?.[0].extensions?.code).toBe("NOT_FOUND");
    const jobAfter = await poll(job.id, () => true);
    expect(jobAfter.model).toBeNull();
    expect(fs.existsSync(fixture.config.modelsDir)).toBe(true);
  });

  it("fails the running job and its half-made model when the server stops", async () => {
    const other = await createServer(
      createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, logger: fixture.logger }),
    );
    const run = (query: string, variables: Record<string, unknown> = {}) => other.execute({ query, variables }, { authorization: AUTH });
    const started = await run(
      `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`,
      { input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { ...TINY, epochs: 2_000 } } },
    );
    const id = (started.data as any).startTraining.id;
    for (let i = 0; i < 1_200; i += 1) {
      const job = (await run(`{ trainingJob(id: ${id}) { progress { epoch } model { id } } }`)).data as any;
      if (job.trainingJob.progress.epoch >= 1 && job.trainingJob.model !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await other.stop();
    const after = await gql(`{ trainingJob(id: ${id}) { status error model { status error } } }`, {}, "");
    expect((after.data as any).trainingJob).toEqual({
      status: "FAILED",
      error: STOPPED_MESSAGE,
      model: { status: "FAILED", error: STOPPED_MESSAGE },
    });
  });

  it("marks a job left RUNNING by a previous server FAILED on start, and keeps the models", async () => {
    const jobs = fixture.dataSource.getRepository(TrainingJob);
    const modelsBefore = (await gql(`{ models { id status } }`, {}, "")).data as any;
    const halfMade = await insertTrainedModel(fixture.dataSource, { datasetId: 1, status: "training", checkpointPath: null });
    const orphan = await jobs.save(
      jobs.create({
        datasetId: 1,
        variant: "vcm",
        config: { epochs: 5 },
        status: "running",
        epoch: 2,
        totalEpochs: 5,
        lastEpoch: null,
        bestValNdcg100: null,
        etaSeconds: 12,
        modelId: halfMade.id,
        error: null,
        startedAt: new Date(),
        finishedAt: null,
      }),
    );
    const restarted = await createServer(
      createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, logger: fixture.logger }),
    );
    try {
      const result = await restarted.execute({
        query: `{ trainingJob(id: ${orphan.id}) { status error progress { etaSeconds } model { id status error } } }`,
      });
      expect((result.data as any).trainingJob).toEqual({
        status: "FAILED",
        error: RESTART_MESSAGE,
        progress: { etaSeconds: null },
        model: { id: String(halfMade.id), status: "FAILED", error: RESTART_MESSAGE },
      });
      const modelsAfter = (await restarted.execute({ query: `{ models { id status } }` })).data as any;
      expect(modelsAfter.models.filter((m: any) => m.id !== String(halfMade.id))).toEqual(modelsBefore.models);
      for (const m of modelsAfter.models.filter((m: any) => m.status === "READY")) {
        const loaded = await loadTrainedModel({ dataSource: fixture.dataSource, modelId: Number(m.id) });
        loaded.model.dispose();
      }
    } finally {
      await restarted.stop();
    }
  });

  it("works over real HTTP: 401 without the bearer token, a job with it, polling without it", async () => {
    const { url } = await server.listen({ port: 0 });
    const post = async (query: string, authorization?: string) => {
      const response = await fetch(new URL("/graphql", url), {
        method: "POST",
        headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ query }),
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const start = `mutation { startTraining(input: { dataset: "${TEST_DATASET}", variant: POPULARITY }) { id status } }`;
    const refused = await post(start);
    expect(refused.status).toBe(401);
    expect(refused.body.errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const started = await post(start, AUTH);
    expect(started.status).toBe(200);
    const id = started.body.data.startTraining.id as string;
    let status = started.body.data.startTraining.status as string;
    for (let i = 0; i < 600 && (status === "QUEUED" || status === "RUNNING"); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await post(`{ trainingJob(id: ${id}) { status } }`)).body.data.trainingJob.status;
    }
    expect(status).toBe("SUCCEEDED");
    const words = await post(`{ user(id: 2) { capacity(modelId: 1) topWords(modelId: 1, k: 3) { word probability } } }`);
    expect(words.body.errors).toBeUndefined();
    expect(words.body.data.user.topWords).toHaveLength(3);
  });

  it("streams a job's progress over a WebSocket subscription until it ends; only subscriptions go over WebSocket", async () => {
    const other = await createServer(
      createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, logger: fixture.logger }),
    );
    const { port } = await other.listen({ port: 0 });
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const started = await other.execute(
        {
          query: `mutation ($input: StartTrainingInput!) { startTraining(input: $input) { id } }`,
          variables: { input: { dataset: TEST_DATASET, variant: "VCM", hyperParameters: { ...TINY, epochs: 3 } } },
        },
        { authorization: AUTH },
      );
      const id = (started.data as any).startTraining.id as string;
      const seen: Array<{ status: string; epoch: number; model: string | null }> = [];
      for await (const event of client.iterate({
        query: `subscription ($id: ID!) { trainingJobUpdated(id: $id) { status progress { epoch totalEpochs } model { status } } }`,
        variables: { id },
      })) {
        expect(event.errors).toBeUndefined();
        const job = (event.data as any).trainingJobUpdated;
        seen.push({ status: job.status, epoch: job.progress.epoch, model: job.model?.status ?? null });
      }
      // Changes closer together than the window arrive as one, the latest: the end is always seen, with its saved model.
      expect(seen.at(-1)).toEqual({ status: "SUCCEEDED", epoch: 3, model: "READY" });
      const epochs = seen.map((e) => e.epoch);
      expect([...epochs].sort((a, b) => a - b)).toEqual(epochs);
      // No state is sent twice.
      expect(new Set(seen.map((e) => JSON.stringify(e))).size).toBe(seen.length);

      const refuse = async (query: string) => {
        try {
          for await (const event of client.iterate({ query })) return event.errors?.[0]?.extensions?.code ?? "answered";
          return "ended";
        } catch (errors) {
          return (errors as Array<{ extensions?: { code?: string } }>)[0]?.extensions?.code;
        }
      };
      expect(await refuse(`subscription { trainingJobUpdated(id: 424242) { status } }`)).toBe("NOT_FOUND");
      expect(await refuse(`mutation { deleteModel(id: 1) }`)).toBe("BAD_USER_INPUT");
      // Hostile documents get a sentence too: two operations without a name, too many fields, a nesting bomb.
      expect(await refuse(`subscription A { trainingJobUpdated(id: 1) { status } } mutation B { deleteModel(id: 1) }`)).toBe("BAD_USER_INPUT");
      expect(await refuse(`subscription { trainingJobUpdated(id: 1) { ${Array.from({ length: 1200 }, (_, i) => `a${i}: status`).join(" ")} } }`)).toBe("BAD_USER_INPUT");
      expect(await refuse(`subscription { trainingJobUpdated(id: ${"[".repeat(3000)}1${"]".repeat(3000)}) { status } }`)).toBe("BAD_USER_INPUT");
    } finally {
      await client.dispose();
      await other.stop();
    }
  });

  it("closes a WebSocket whose message is over the HTTP body limit, before parsing it, and keeps answering", async () => {
    const other = await createServer(createServerDeps({ dataSource: fixture.dataSource, config: fixture.config, logger: fixture.logger }));
    const { port } = await other.listen({ port: 0 });
    try {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, "graphql-transport-ws");
      await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
      socket.send(JSON.stringify({ type: "connection_init" }));
      await new Promise((resolve) => socket.once("message", resolve));
      // 3 million selections of id: ≈ 9 MB, far over the 1 MB limit.
      const query = `subscription { trainingJobUpdated(id: 1) { ${"id ".repeat(3_000_000)} } }`;
      const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      const started = Date.now();
      socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
      expect(await closed).toBe(1009);
      expect(Date.now() - started).toBeLessThan(2_000);
      const cheap = await other.execute({ query: "{ datasets { name } }" });
      expect(cheap.data).toEqual({ datasets: [{ name: TEST_DATASET }] });
    } finally {
      await other.stop();
    }
  });
});
