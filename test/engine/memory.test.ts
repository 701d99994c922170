/**
 * The training memory estimate (engine/memory.ts): the parameter count against a hand count and a
 * real checkpoint's weights.bin, a shape known to train (Yelp's) accepted under the wasm heap, and the
 * shape that ran out of it after 46–54 s (40,000 users × 200,000 items, default sizes) refused at once
 * with the estimate, the limit and what to change.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../src/engine/runtime/index.ts";
import { saveCheckpoint } from "../../src/engine/checkpoint.ts";
import { resolveVcmConfig } from "../../src/engine/config.ts";
import { estimateInferenceMemory, estimateTrainingMemory, inferenceRefusal, memoryRefusal, trainingParameterCount, type TrainingShape } from "../../src/engine/memory.ts";
import { WASM_HEAP_BYTES } from "../../src/engine/runtime/index.ts";
import { trainModel } from "../../src/engine/models/index.ts";
import { plantedData } from "./planted.ts";

/** The Yelp-shaped benchmark dataset (BENCHMARKS.md), which trains with the default sizes. */
const YELP: TrainingShape = { users: 6_784, items: 10_003, words: 10_000, trainClicks: 79_462, wordEntries: 6_784 * 400 };
/** The generated dataset that failed with "memory access out of bounds" (issue 23, item 5). */
const HUGE: TrainingShape = { users: 40_000, items: 200_000, words: 10_000, trainClicks: 1_200_000, wordEntries: 40_000 * 400 };
const WASM = { totalBytes: WASM_HEAP_BYTES, what: "the WebAssembly backend's heap" };

describe("training memory estimate", () => {
  it("counts VCM's parameters as its layers hold them", () => {
    const config = resolveVcmConfig({ latentDim: 2, hiddenX: 5, hiddenY: 6 });
    // VAEx: 3×5+5, 5×2+2 (μ), 5×2+2 (log σ²), 2×5+5, 5×3+3; VAEy: 4×6+6, 6×2+2, 6×2+2, 2×4+4.
    expect(trainingParameterCount({ users: 10, items: 3, words: 4, trainClicks: 0, wordEntries: 0 }, config)).toBe(77 + 70);
    expect(trainingParameterCount({ users: 10, items: 3, words: 4, trainClicks: 0, wordEntries: 0 }, resolveVcmConfig({ variant: "popularity" }))).toBe(3);
  });

  it("sizes the checkpoint as saveCheckpoint writes it", async () => {
    await initBackend();
    const data = plantedData({ users: 60, items: 40, vocab: 50, groups: 2, seed: 2 });
    const config = resolveVcmConfig({ latentDim: 4, hiddenX: 12, hiddenY: 10, epochs: 1, batchSize: 30 });
    const model = await trainModel({ train: data.train, validation: data.validation, words: data.words, config });
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-memory-"));
    try {
      const manifest = await saveCheckpoint({ dir: path.join(dir, "m"), snapshot: await model.snapshot() });
      const shape = { users: data.train.rows, items: data.train.cols, words: data.words.cols, trainClicks: 0, wordEntries: 0 };
      expect(estimateTrainingMemory(shape, config).checkpointBytes).toBe(manifest.byteLength);
    } finally {
      model.dispose();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("accepts the Yelp shape with the default sizes under the wasm heap", () => {
    const config = resolveVcmConfig({});
    const estimate = estimateTrainingMemory(YELP, config);
    expect(estimate.totalBytes).toBeLessThan(WASM_HEAP_BYTES / 4);
    expect(memoryRefusal({ shape: YELP, config, limit: WASM })).toBeUndefined();
    // And on a GPU whose buffers hold 128 MiB (WebGPU's default maxStorageBufferBindingSize).
    expect(memoryRefusal({ shape: YELP, config, limit: { totalBytes: 16 * 1024 ** 3, tensorBytes: 128 * 1024 ** 2, what: "the GPU adapter" } })).toBeUndefined();
  });

  it("refuses 40,000 users × 200,000 items with the default sizes, in milliseconds, saying the estimate, the limit and what to change", () => {
    const config = resolveVcmConfig({});
    const started = performance.now();
    const refusal = memoryRefusal({ shape: HUGE, config, limit: WASM });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(refusal).toMatch(/^Training this model needs about 5\.\d GiB \(246,\d{3},\d{3} parameters: 4\.6 GiB for weights, Adam state, gradients and the best epoch's copy; /);
    expect(refusal).toContain(
      "more than the WebAssembly backend's heap holds (4.0 GiB); train with a smaller batch (batchSize, evalBatchSize), smaller hidden sizes (hiddenX, hiddenY) or a sampled softmax (--sampled-softmax N), on fewer items (ingest with a higher --min-item-users), or where more memory is free (VCM_MAX_MEMORY_MB).",
    );
    // Smaller hidden layers make it fit.
    expect(memoryRefusal({ shape: HUGE, config: resolveVcmConfig({ hiddenX: 100, hiddenY: 100, evalBatchSize: 128 }), limit: WASM })).toBeUndefined();
    // A GPU's largest buffer is checked for the largest tensor (200,000 items × 600 hidden units).
    const gpu = memoryRefusal({ shape: HUGE, config, limit: { totalBytes: 64 * 1024 ** 3, tensorBytes: 128 * 1024 ** 2, what: "the GPU adapter" } });
    expect(gpu).toMatch(/^Training this model needs a tensor of about 458 MiB, more than the GPU adapter allows in one buffer \(128 MiB\); /);
  });

  it("sizes loading and scoring with a saved model from its manifest: a 200,000-item model fits the wasm heap, a 1,000,000-item one is refused with the estimate, the limit and what to change", () => {
    const config = resolveVcmConfig({});
    const weightsOf = (items: number): number => trainingParameterCount({ users: 0, items, words: 10_000, trainClicks: 0, wordEntries: 0 }, config) * 4;
    const at200k = { items: 200_000, words: 10_000, weightBytes: weightsOf(200_000), inputBytes: 0 };
    const e = estimateInferenceMemory(at200k, config);
    // One pass: 640 rows (the explanations' deletion chunk; evaluation's 512) × one block of 32,768 items, not × 200,000.
    expect(e.scoringRows).toBe(640);
    expect(e.scoringColumns).toBe(32_768);
    expect(e.scoringBytes).toBe(640 * 32_768 * 4 * 2);
    expect(e.loadingBytes).toBe(2 * at200k.weightBytes);
    expect(inferenceRefusal({ shape: at200k, config, limit: WASM, doing: "Loading model 7" })).toBeUndefined();
    const at1m = { items: 1_000_000, words: 10_000, weightBytes: weightsOf(1_000_000), inputBytes: 0 };
    expect(inferenceRefusal({ shape: at1m, config, limit: WASM, doing: "Loading model 7" })).toBe(
      "Loading model 7 needs about 9.2 GiB (4.5 GiB of weights, 9.0 GiB while they load; 160 MiB of scores for 640 users × 32,768 items a pass), more than the WebAssembly backend's heap holds (4.0 GiB); run it where more memory is free (or raise VCM_MAX_MEMORY_MB), or train a smaller model: smaller hidden sizes (hiddenX, hiddenY), or fewer items (ingest with a higher --min-item-users).",
    );
  });

  it("counts approximate retrieval's index and host copy when the model will be ranked through it, and names it in the refusal", () => {
    const config = resolveVcmConfig({});
    const weightBytes = trainingParameterCount({ users: 0, items: 200_000, words: 10_000, trainClicks: 0, wordEntries: 0 }, config) * 4;
    const exact = estimateInferenceMemory({ items: 200_000, words: 10_000, weightBytes, inputBytes: 0 }, config);
    const indexed = estimateInferenceMemory({ items: 200_000, words: 10_000, weightBytes, inputBytes: 0, approximateRetrieval: true }, config);
    // 200,000 items × ((600 + 2) × 2 bytes of half-precision vector + 128 of links + 16 of bookkeeping) + 200,000 × 601 float32s on the host.
    expect(exact.retrievalBytes).toBe(0);
    expect(indexed.retrievalBytes).toBe(200_000 * 1_348 + 200_000 * 2_404);
    expect(indexed.totalBytes - exact.totalBytes).toBe(750_400_000);
    const limit = { totalBytes: exact.totalBytes + 1, what: "VCM_MAX_MEMORY_MB" };
    expect(inferenceRefusal({ shape: { items: 200_000, words: 10_000, weightBytes, inputBytes: 0 }, config, limit, doing: "Loading model 7" })).toBeUndefined();
    expect(inferenceRefusal({ shape: { items: 200_000, words: 10_000, weightBytes, inputBytes: 0, approximateRetrieval: true }, config, limit, doing: "Loading model 7" })).toMatch(
      /^Loading model 7 needs about .*; 716 MiB of approximate retrieval's index \(--retrieval exact does without it\)\), more than VCM_MAX_MEMORY_MB holds/,
    );
  });
});
