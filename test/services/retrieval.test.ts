/**
 * The served ranking under each retrieval mode: a planted VCM model served by two inference services,
 * one exact and one approximate, gives the same answers (items, ranks, scores) when the candidate pool
 * holds every item; `auto` keeps a small catalogue exact.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadAppConfig } from "../../src/config.ts";
import { csrFromRows, type DatasetMatrices } from "../../src/data/csr.ts";
import { buildItemWordStats } from "../../src/engine/explanation-rules.ts";
import { Rng } from "../../src/engine/random.ts";
import { plantedVcmModel } from "../../src/engine/retrieval/planted-model.ts";
import type { RetrievalMode } from "../../src/engine/retrieval/retrieval-mode.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";
import { DatasetIndex } from "../../src/services/dataset-index.ts";
import { InferenceService } from "../../src/services/inference.ts";

const ITEMS = 60;
const USERS = 12;
const WORDS = 20;

function matricesOf(seed: number): DatasetMatrices {
  const rng = new Rng(seed);
  const train = csrFromRows({
    cols: ITEMS,
    rows: Array.from({ length: USERS }, () => {
      const chosen = new Set<number>();
      while (chosen.size < 4) chosen.add(Math.floor(ITEMS * rng.next()));
      return [...chosen].sort((a, b) => a - b).map((c): [number, number] => [c, 1]);
    }),
  });
  const empty = csrFromRows({ cols: ITEMS, rows: Array.from({ length: USERS }, () => []) });
  return {
    datasetId: 1,
    name: "planted",
    version: 1,
    train,
    validation: empty,
    test: empty,
    words: csrFromRows({ cols: WORDS, rows: Array.from({ length: USERS }, (_, u) => [[u % WORDS, 1]]) }),
    userIds: Array.from({ length: USERS }, (_, u) => `u${u}`),
    itemIds: Array.from({ length: ITEMS }, (_, i) => `i${i}`),
    vocabulary: Array.from({ length: WORDS }, (_, w) => `w${w}`),
  };
}

function serviceFor(retrieval: RetrievalMode, matrices: DatasetMatrices): InferenceService {
  const stats = buildItemWordStats({ itemWords: csrFromRows({ cols: WORDS, rows: [] }) });
  return new InferenceService({
    loadModel: async (modelId) => ({ modelId, datasetId: 1, datasetName: "planted", variant: "vcm", model: plantedVcmModel({ items: ITEMS, words: WORDS, seed: 4, config: { latentDim: 8, hiddenX: 32, hiddenY: 8 } }) }),
    loadDataset: async () => new DatasetIndex({ matrices, stopWords: new Set(), loadItemWordStats: async () => stats }),
    retrieval,
  });
}

describe("served rankings under approximate retrieval", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("answers as exact scoring does when the candidate pool holds every item, and says which way it ranked", async () => {
    const matrices = matricesOf(2);
    const exact = serviceFor("exact", matrices);
    const approximate = serviceFor("approximate", matrices);
    // k = 8 with 4 clicks asks the index for 80 × 12 candidates, more than the 60 items.
    const requests = Array.from({ length: USERS }, (_, row) => ({ modelId: 1, source: "CLICKS" as const, row, k: 8, excludeSeen: true }));
    const [want, got] = [await exact.recommendMany(requests), await approximate.recommendMany(requests)];
    for (const [u, answer] of got.entries()) {
      if (answer instanceof Error || want[u] instanceof Error) throw new Error("a ranking failed");
      const expected = want[u] as Array<{ item: number; score: number; rank: number }>;
      expect(answer.map((r) => [r.item, r.rank])).toEqual(expected.map((r) => [r.item, r.rank]));
      answer.forEach((r, i) => expect(r.score).toBeCloseTo(expected[i].score, 6));
      const seen = matrices.train.indices.subarray(matrices.train.indptr[u], matrices.train.indptr[u + 1]);
      for (const r of answer) expect(seen).not.toContain(r.item);
    }
    // From the words (VCM-CD) too: the same decoder, another encoder.
    const fromWords = requests.map((r) => ({ ...r, source: "REVIEWS" as const, excludeSeen: false }));
    const [wantWords, gotWords] = [await exact.recommendMany(fromWords), await approximate.recommendMany(fromWords)];
    expect((gotWords as Array<Array<{ item: number }>>).map((a) => a.map((r) => r.item))).toEqual((wantWords as Array<Array<{ item: number }>>).map((a) => a.map((r) => r.item)));
    expect((await exact.model(1)).retrieval).toEqual({ approximate: false });
    const held = (await approximate.model(1)).retrieval;
    expect(held.approximate).toBe(true);
    if (held.approximate) expect(held.indexBytes).toBeGreaterThan(ITEMS * 33 * 4);
    exact.dispose();
    approximate.dispose();
  });

  it("keeps a catalogue below the threshold exact under auto", async () => {
    const auto = serviceFor("auto", matricesOf(3));
    expect((await auto.model(1)).retrieval).toEqual({ approximate: false });
    auto.dispose();
  });
});

describe("the retrieval switch", () => {
  it("reads VCM_RETRIEVAL, lets an explicit setting win, and refuses an unknown mode with the choices", () => {
    expect(loadAppConfig({}, {}).retrieval).toBe("auto");
    expect(loadAppConfig({}, { VCM_RETRIEVAL: "Exact" }).retrieval).toBe("exact");
    expect(loadAppConfig({ retrieval: "approximate" }, { VCM_RETRIEVAL: "exact" }).retrieval).toBe("approximate");
    expect(() => loadAppConfig({}, { VCM_RETRIEVAL: "fast" })).toThrow('VCM_RETRIEVAL must be one of exact, approximate, auto, got "fast"');
  });
});
