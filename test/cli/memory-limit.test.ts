/**
 * Memory known before it is spent (issue 27, item 1), through the real bin and a real server: under
 * VCM_MAX_MEMORY_MB, training, evaluating, exporting with and serving a model whose estimate is over
 * the limit are refused at once with BAD_USER_INPUT and a sentence naming the estimate, the limit
 * and what to change; without the limit the same work runs.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveProcess } from "../graphql/serve-process.ts";
import { runVcm } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-memory-limit-"));
const env = { ...process.env, VCM_DB: path.join(dir, "vcm.sqlite"), VCM_MODELS_DIR: path.join(dir, "models"), VCM_BACKEND: "wasm" };
/** The smallest limit VCM_MAX_MEMORY_MB takes: a 12,000-item catalogue's scoring passes alone exceed it. */
const limited = { ...env, VCM_MAX_MEMORY_MB: "64" };
const SMALL = ["--epochs", "1", "--latent-dim", "8", "--hidden-x", "256", "--hidden-y", "32"];
const children: ChildProcess[] = [];
let modelId: number;

beforeAll(() => {
  const generated = runVcm(["generate", "--dataset", "wide", "--users", "2400", "--items", "12000", "--vocab", "300", "--json"], env);
  expect(generated.code, generated.stderr).toBe(0);
  const trained = runVcm(["train", "--dataset", "wide", "--variant", "vcm", ...SMALL, "--json"], env);
  expect(trained.code, trained.stderr).toBe(0);
  modelId = trained.last.modelId;
}, 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("VCM_MAX_MEMORY_MB", () => {
  it("refuses training over the limit before any epoch, naming the estimate, the limit, and batch size, hidden sizes and --sampled-softmax", () => {
    const started = performance.now();
    const refused = runVcm(["train", "--dataset", "wide", "--variant", "vcm", "--json"], limited);
    expect(refused.code).toBe(1);
    expect(refused.last.error.code).toBe("BAD_USER_INPUT");
    expect(refused.last.error.message).toMatch(/^Training this model needs about \d+ MiB \([\d,]+ parameters: /);
    expect(refused.last.error.message).toContain(
      "more than VCM_MAX_MEMORY_MB (64 MiB) holds (64 MiB); train with a smaller batch (batchSize, evalBatchSize), smaller hidden sizes (hiddenX, hiddenY) or a sampled softmax (--sampled-softmax N)",
    );
    expect(refused.stderr).toContain(`error: ${refused.last.error.message}`);
    expect(refused.stderr).not.toMatch(/epoch 1/);
    // Nothing was trained: the start of node and the database dominate, not an epoch.
    expect(performance.now() - started).toBeLessThan(60_000);
  });

  it("refuses evaluating and exporting with a model over the limit, from its manifest, and runs them without the limit", () => {
    const evaluated = runVcm(["evaluate", "--model", String(modelId), "--json"], limited);
    expect(evaluated.code).toBe(1);
    expect(evaluated.last.error.code).toBe("BAD_USER_INPUT");
    expect(evaluated.last.error.message).toMatch(
      new RegExp(`^Evaluating model ${modelId} needs about \\d+ MiB \\([\\d.]+ MiB of weights, [\\d.]+ MiB while they load; \\d+ MiB of scores for 640 users × 12,000 items a pass; [\\d.]+ (KiB|MiB) of the dataset's matrices\\), more than VCM_MAX_MEMORY_MB \\(64 MiB\\) holds \\(64 MiB\\); `),
    );
    expect(evaluated.last.error.message).toContain("run it where more memory is free (or raise VCM_MAX_MEMORY_MB), or train a smaller model: smaller hidden sizes (hiddenX, hiddenY)");
    const exported = runVcm(["export", "recommendations", "--model", String(modelId), "--k", "5", "--out", path.join(dir, "recs.csv"), "--json"], limited);
    expect(exported.code).toBe(1);
    expect(exported.last.error).toMatchObject({ code: "BAD_USER_INPUT" });
    expect(exported.last.error.message).toMatch(new RegExp(`^Loading model ${modelId} needs about \\d+ MiB .*more than VCM_MAX_MEMORY_MB \\(64 MiB\\) holds \\(64 MiB\\); `));
    expect(fs.existsSync(path.join(dir, "recs.csv"))).toBe(false);
    const unlimited = runVcm(["evaluate", "--model", String(modelId), "--json"], env);
    expect(unlimited.code, unlimited.stderr).toBe(0);
    expect(unlimited.last).toMatchObject({ modelId, mode: "vcm" });
  });

  it("answers a GraphQL query that needs the model with BAD_USER_INPUT and the sentence, and the server stays up", async () => {
    const server = await serveProcess(limited, children);
    const query = `query ($id: ID!) { recommendFor(modelId: $id, clicks: ["i1"], k: 3) { recommendations { rank } } }`;
    const answer = await server.gql(query, { id: String(modelId) });
    expect(answer.errors?.[0]?.extensions?.code, JSON.stringify(answer)).toBe("BAD_USER_INPUT");
    expect(answer.errors?.[0]?.message).toMatch(new RegExp(`^Loading model ${modelId} needs about \\d+ MiB .*more than VCM_MAX_MEMORY_MB \\(64 MiB\\) holds \\(64 MiB\\); run it where more memory is free`));
    // Still serving: the refusal cost no memory, so the next request is answered.
    const again = await server.gql(query, { id: String(modelId) });
    expect(again.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    expect(server.child.exitCode).toBeNull();
  }, 120_000);
});
