/**
 * `vcm export` through the real bin (issue 10, §4): a dataset as RecBole atomic files and as TSVs,
 * re-read and compared with the database; recommendations as CSV and JSON lines, compared with the
 * service's own answer; cohorts as Markdown and CSV; per-user metrics re-read and compared with the engine.
 */
import Database from "better-sqlite3";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAppConfig } from "../../src/config.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { loadDatasetMatrices } from "../../src/db/load-dataset-matrices.ts";
import { beyondAccuracyPerUser } from "../../src/engine/beyond-accuracy.ts";
import { popularityCohorts } from "../../src/engine/cohort-groupings.ts";
import { evaluateRanking } from "../../src/engine/evaluate.ts";
import { createPredictionServices, loadTrainedModel } from "../../src/services/prediction-services.ts";
import { runVcm } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-export-"));
const env = { ...process.env, VCM_DB: path.join(dir, "vcm.sqlite"), VCM_MODELS_DIR: path.join(dir, "models"), VCM_BACKEND: "wasm" };
const vcm = (args: string[]) => runVcm(args, env);
let modelId: number;

beforeAll(() => {
  expect(vcm(["generate", "--dataset", "shop", "--users", "120", "--items", "90", "--vocab", "200", "--json"]).code).toBe(0);
  const trained = vcm(["train", "--dataset", "shop", "--variant", "vcm", "--epochs", "2", "--latent-dim", "8", "--hidden-x", "16", "--hidden-y", "16", "--json"]);
  expect(trained.code, trained.stderr).toBe(0);
  modelId = trained.last.modelId;
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const lines = (file: string) => fs.readFileSync(file, "utf8").trimEnd().split("\n");

describe("vcm export", () => {
  it("writes RecBole atomic files with our exact split, and TSVs, that re-read as the database's data", async () => {
    const recbole = vcm(["export", "dataset", "--dataset", "shop", "--format", "recbole", "--out", path.join(dir, "recbole"), "--json"]);
    expect(recbole.code, recbole.stderr).toBe(0);
    const tsv = vcm(["export", "dataset", "--dataset", "shop", "--format", "tsv", "--out", path.join(dir, "tsv"), "--json"]);
    expect(tsv.code, tsv.stderr).toBe(0);
    const dataSource = await openDatabase(env.VCM_DB);
    try {
      const m = await loadDatasetMatrices(dataSource, "shop");
      const nnz = (x: { indptr: Int32Array; rows: number }) => x.indptr[x.rows];
      const inter = (split: string) => lines(path.join(dir, "recbole", `shop.${split}.inter`));
      expect(inter("train")[0]).toBe("user_id:token\titem_id:token\trating:float");
      expect(inter("train").length - 1).toBe(nnz(m.train));
      expect(inter("valid").length - 1).toBe(nnz(m.validation));
      expect(inter("test").length - 1).toBe(nnz(m.test));
      // Every test pair is a test click of the database.
      const testPairs = new Set<string>();
      for (let r = 0; r < m.test.rows; r += 1) for (let p = m.test.indptr[r]; p < m.test.indptr[r + 1]; p += 1) testPairs.add(`${m.userIds[r]}\t${m.itemIds[m.test.indices[p]]}`);
      for (const line of inter("test").slice(1)) expect(testPairs.has(line.split("\t").slice(0, 2).join("\t"))).toBe(true);
      expect(lines(path.join(dir, "recbole", "shop.item")).length - 1).toBe(m.itemIds.length);
      // The bag of words: a word repeated by its count.
      const userLines = lines(path.join(dir, "recbole", "shop.user"));
      const first = userLines[1].split("\t");
      let bag = 0;
      for (let p = m.words.indptr[0]; p < m.words.indptr[1]; p += 1) bag += m.words.values[p];
      expect(first[0]).toBe(m.userIds[0]);
      expect(first[1].split(" ")).toHaveLength(bag);
      const clicks = lines(path.join(dir, "tsv", "clicks.tsv"));
      expect(clicks[0]).toBe("user\titem\tsplit");
      expect(clicks.length - 1).toBe(nnz(m.train) + nnz(m.validation) + nnz(m.test));
      expect(lines(path.join(dir, "tsv", "words.tsv")).length - 1).toBe(nnz(m.words));
      expect(tsv.last.files.map((f: { rows: number }) => f.rows)).toEqual([clicks.length - 1, nnz(m.words), m.itemIds.length, m.userIds.length]);
    } finally {
      await dataSource.destroy();
    }
  });

  it("writes every user's recommendations as CSV and JSON lines, equal to the service's rankings", async () => {
    const csv = vcm(["export", "recommendations", "--model", String(modelId), "--k", "5", "--format", "csv", "--out", path.join(dir, "recs.csv"), "--json"]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stderr).toMatch(/recommendations: 120 of 120 users/);
    const jsonl = vcm(["export", "recommendations", "--model", String(modelId), "--k", "5", "--format", "jsonl", "--out", path.join(dir, "recs.jsonl"), "--json"]);
    expect(jsonl.code, jsonl.stderr).toBe(0);
    const csvLines = lines(path.join(dir, "recs.csv"));
    expect(csvLines[0]).toBe("user,rank,item,title,score,explanation");
    expect(csvLines).toHaveLength(1 + 120 * 5);
    const records = lines(path.join(dir, "recs.jsonl")).map((l) => JSON.parse(l));
    expect(records).toHaveLength(120 * 5);
    expect(records[0]).toMatchObject({ rank: 1, title: null });
    expect(records[0].explanation.length).toBeGreaterThan(0);
    const dataSource = await openDatabase(env.VCM_DB);
    const services = createPredictionServices({ dataSource, config: loadAppConfig({ dbPath: env.VCM_DB, modelsDir: env.VCM_MODELS_DIR }, {}) });
    try {
      const { dataset } = await services.inference.modelWithDataset(modelId);
      const row = dataset.matrices.userIds.indexOf(records[0].user);
      const [ranked] = await services.inference.recommendMany([{ modelId, source: "CLICKS", row, k: 5, excludeSeen: true }]);
      expect(records.slice(0, 5).map((r) => r.item)).toEqual((ranked as Array<{ item: number }>).map((r) => dataset.matrices.itemIds[r.item]));
      expect(csvLines[1].split(",").slice(0, 3)).toEqual([records[0].user, "1", records[0].item]);
    } finally {
      await services.close();
      await dataSource.destroy();
    }
    const unknown = path.join(dir, "ids.txt");
    fs.writeFileSync(unknown, "nobody\n");
    const refused = vcm(["export", "recommendations", "--model", String(modelId), "--users", unknown, "--out", path.join(dir, "x.csv"), "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.last).toMatchObject({ error: { code: "NOT_FOUND" } });
  });

  it("writes the cohort table as Markdown and CSV", () => {
    const md = vcm(["export", "cohorts", "--model", String(modelId)]);
    expect(md.code, md.stderr).toBe(0);
    expect(md.stdout).toContain("| cohort | users | capacity | ndcg@10 | recall@20 | coverage@10 | arp@10 | aplt@10 | novelty@10 |");
    const out = path.join(dir, "cohorts.csv");
    expect(vcm(["export", "cohorts", "--model", String(modelId), "--format", "csv", "--out", out]).code).toBe(0);
    const rows = lines(out);
    expect(rows[0]).toBe("cohort,users,capacity,ndcg@10,recall@20,coverage@10,arp@10,aplt@10,novelty@10");
    const users = rows.slice(1).reduce((s, r) => s + Number(r.split(",")[1]), 0);
    expect(users).toBeGreaterThan(0);
    // Three groups of about equal users: the same users, cut at most twice.
    const quantile = path.join(dir, "cohorts-q.csv");
    const cut = vcm(["export", "cohorts", "--model", String(modelId), "--grouping", "equal-users", "--groups", "3", "--format", "csv", "--out", quantile]);
    expect(cut.code, cut.stderr).toBe(0);
    const groups = lines(quantile).slice(1);
    expect(groups.length).toBeGreaterThanOrEqual(2);
    expect(groups.length).toBeLessThanOrEqual(3);
    expect(groups.reduce((s, r) => s + Number(r.split(",")[1]), 0)).toBe(users);
    const refused = vcm(["export", "cohorts", "--model", String(modelId), "--grouping", "deciles"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("--grouping must be one of boundaries, equal-users, equal-interactions");
  });

  it("writes each test user's metrics as CSV, equal to the engine's per-user values", async () => {
    const out = path.join(dir, "user-metrics.csv");
    const run = vcm(["export", "metrics", "--model", String(modelId), "--out", out, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const [header, ...rows] = lines(out);
    expect(header).toBe("user,activity,ndcg@10,recall@20,arp@10,aplt@10,novelty@10,capacity");
    expect(run.last.rows).toBe(rows.length);
    const dataSource = await openDatabase(env.VCM_DB);
    try {
      const m = await loadDatasetMatrices(dataSource, "shop");
      const testRows: number[] = [];
      for (let r = 0; r < m.test.rows; r += 1) if (m.test.indptr[r + 1] > m.test.indptr[r]) testRows.push(r);
      expect(rows).toHaveLength(testRows.length);
      const loaded = await loadTrainedModel({ dataSource, modelId, modelsDir: env.VCM_MODELS_DIR });
      const ranking = await evaluateRanking({ model: loaded.model, mode: "vcm", input: m.train, heldOut: m.test, exclude: m.train, ks: [10, 20], rows: testRows });
      const capacity = await loaded.model.capacity({ matrix: m.train, rows: testRows });
      loaded.model.dispose();
      const itemClicks = new Int32Array(m.train.cols);
      for (let p = 0; p < m.train.indptr[m.train.rows]; p += 1) itemClicks[m.train.indices[p]] += 1;
      const tail = Array.from(popularityCohorts({ clicks: itemClicks, headShare: 0.2, tailShare: 0.2 }), (c) => c === 2);
      const beyond = beyondAccuracyPerUser({ lists: { items: ranking.top, stride: ranking.topStride }, k: 10, itemClicks, users: m.train.rows, tail });
      rows.forEach((line, u) => {
        const cells = line.split(",");
        const r = testRows[u];
        expect(cells[0]).toBe(m.userIds[r]);
        expect(Number(cells[1])).toBe(m.train.indptr[r + 1] - m.train.indptr[r]);
        const expected = [ranking.perUser["ndcg@10"][u], ranking.perUser["recall@20"][u], beyond.arp[u], beyond.aplt[u], beyond.novelty[u], capacity[u]];
        expected.forEach((v, j) => expect(Number(cells[2 + j]), `${header.split(",")[2 + j]} of ${cells[0]}`).toBeCloseTo(v, j === 5 ? 3 : 6));
      });
    } finally {
      await dataSource.destroy();
    }
  });

  it("keeps a dataset's files inside --out whatever its name, and refuses such names at generate and ingest", () => {
    const long = "a".repeat(65);
    for (const name of ["..", "../escape", ".hidden", "a b", long]) {
      const refused = vcm(["generate", "--dataset", name, "--users", "60", "--items", "60", "--vocab", "100", "--json"]);
      expect(refused.code, name).toBe(1);
      expect(refused.last.error.code).toBe("BAD_USER_INPUT");
      const shown = name === long ? `${"a".repeat(20)}… (65 characters)` : JSON.stringify(name);
      expect(refused.last.error.message).toBe(`A dataset name is 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit; got ${shown}. Choose another name.`);
    }
    const tsv = path.join(dir, "clicks.tsv");
    fs.writeFileSync(tsv, "u1\ti1\t5\n");
    const ingest = vcm(["ingest", "--dataset", "../up", "--format", "tsv", "--interactions", tsv, "--json"]);
    expect(ingest.last.error?.message).toMatch(/^A dataset name is 1 to 64 letters/);
    expect(vcm(["generate", "--dataset", "a.b_c-é9", "--users", "60", "--items", "60", "--vocab", "100", "--json"]).code).toBe(0);
    // A dataset named ".." from before names were checked (renamed here behind the CLI's back).
    expect(vcm(["generate", "--dataset", "dots", "--users", "60", "--items", "60", "--vocab", "100", "--json"]).code).toBe(0);
    const db = new Database(env.VCM_DB);
    db.prepare("UPDATE datasets SET name = '..' WHERE name = 'dots'").run();
    db.close();
    const parent = path.join(dir, "escape");
    const out = path.join(parent, "out");
    const exported = vcm(["export", "dataset", "--dataset", "..", "--format", "recbole", "--out", out, "--json"]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(fs.readdirSync(parent)).toEqual(["out"]);
    expect(fs.readdirSync(out).sort()).toEqual(["__.item", "__.test.inter", "__.train.inter", "__.user", "__.valid.inter"]);
  });
});
