import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CorpusBuilder } from "../../src/data/corpus.ts";
import { generateSynthetic, syntheticSource } from "../../src/data/generate.ts";
import { preprocessCorpus, resolvePreprocessOptions, SPLIT_NAMES } from "../../src/data/preprocess.ts";
import { tsvSource } from "../../src/data/parsers/tsv.ts";
import { stopWordSet } from "../../src/data/tokenizer.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { ErrorCode } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { createTestDatabase, TEST_DIALECT, type TestDatabase } from "./databases.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-matrices-"));
let dataSource: DataSource;
let database: TestDatabase;
const shape = { users: 120, items: 150, vocab: 400, seed: 3 };

beforeAll(async () => {
  database = await createTestDatabase();
  dataSource = await openDatabase(database.target);
});
afterAll(async () => {
  await dataSource.destroy();
  await database.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("loadDatasetMatrices", () => {
  it(`returns exactly what preprocessing produced (round trip through ${TEST_DIALECT})`, async () => {
    await ingestDataset(dataSource, { name: "syn", source: syntheticSource(shape), preprocess: { vocabSize: shape.vocab, seed: shape.seed } });
    const corpus = new CorpusBuilder({ stopWords: stopWordSet() });
    generateSynthetic(shape, corpus);
    const expected = preprocessCorpus(corpus.build(), resolvePreprocessOptions({ vocabSize: shape.vocab, seed: shape.seed }));

    const m = await loadDatasetMatrices(dataSource, "syn");
    expect(m.name).toBe("syn");
    expect(m.userIds).toEqual(expected.userNames);
    expect(m.itemIds).toEqual(expected.itemNames);
    expect(m.vocabulary).toEqual(expected.vocabulary);
    expect(m.words).toEqual(expected.words);
    const splits = { train: m.train, validation: m.validation, test: m.test };
    SPLIT_NAMES.forEach((split, code) => {
      const matrix = splits[split];
      expect(matrix.rows).toBe(expected.userNames.length);
      expect(matrix.cols).toBe(expected.itemNames.length);
      for (let r = 0; r < matrix.rows; r++) {
        const want = [];
        for (let k = expected.clickIndptr[r]; k < expected.clickIndptr[r + 1]; k++) if (expected.clickSplit[k] === code) want.push(expected.clickCols[k]);
        expect(Array.from(matrix.indices.subarray(matrix.indptr[r], matrix.indptr[r + 1]))).toEqual(want);
      }
      expect(Array.from(matrix.values).every((v) => v === 1)).toBe(true);
    });
    expect((await loadDatasetMatrices(dataSource, m.datasetId)).words).toEqual(m.words);
  });

  it("loads a hand-made tsv dataset with the expected rows, columns and counts", async () => {
    const interactions = path.join(dir, "hand.tsv");
    const texts = path.join(dir, "hand-texts.tsv");
    fs.writeFileSync(interactions, "user\titem\trating\nb\tx\t5\nb\ty\t4\na\ty\t5\na\tx\t2\na\tz\n");
    fs.writeFileSync(texts, "a\t\tjazz jazz blues\nb\tx\tjazz\n");
    await ingestDataset(dataSource, { name: "hand", preprocess: { minUserClicks: 1, minItemUsers: 1 }, source: tsvSource({ interactions, texts }) });
    const m = await loadDatasetMatrices(dataSource, "hand");
    expect(m.userIds).toEqual(["a", "b"]);
    // a rated x 2 (no click) and z without a rating (a click).
    expect(m.itemIds).toEqual(["x", "y", "z"]);
    // Two clicks per user split 2/0/0 (20 % of 2 rounds to 0).
    expect(Array.from(m.train.indptr)).toEqual([0, 2, 4]);
    expect(Array.from(m.train.indices)).toEqual([1, 2, 0, 1]);
    expect(m.validation.indices).toHaveLength(0);
    expect(m.vocabulary).toEqual(["jazz", "blues"]);
    expect(Array.from(m.words.indptr)).toEqual([0, 2, 3]);
    expect(Array.from(m.words.indices)).toEqual([0, 1, 0]);
    expect(Array.from(m.words.values)).toEqual([2, 1, 1]);
  });

  it("names what is ingested when a dataset does not exist", async () => {
    await expect(loadDatasetMatrices(dataSource, "nope")).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
      message: expect.stringMatching(/There is no dataset "nope"; known: hand, syn/),
    });
  });
});
