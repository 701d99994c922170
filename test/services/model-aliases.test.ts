/**
 * Model aliases (issue 26, item 7) on a real database: what setModelAlias refuses, the split's
 * stability and share over many users, aliasReport's paired t-test against the engine's compareModels
 * and a hand calculation, and the online hit rate of a hand-made serving log with appended clicks.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { ErrorCode, UserError } from "../../src/errors.ts";
import { appendRecords } from "../../src/services/append.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { aliasReport, armOf, SERVING_LOG_DAYS, SERVING_LOG_WAIT_MS, listAliases, MAX_ALIAS_NAME_LENGTH, ModelAliasDirectory, removeModelAlias, setModelAlias, splitPoint } from "../../src/services/model-aliases.ts";
import { compareModels, evaluateSavedModel } from "../../src/services/model-evaluation.ts";
import { trainAndSave } from "../../src/services/training.ts";
import Database from "better-sqlite3";
import { setBusyTimeout } from "../../src/db/busy.ts";
import { createTestDatabase, TEST_DIALECT, type TestDatabase } from "../db/databases.ts";

const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-alias-models-"));
let database: TestDatabase;
let db: DataSource;
let popularity: number;
let vcm: number;

async function codeOf(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UserError);
  return (error as UserError).code;
}

/** Per-user figures the way `vcm alias report` evaluates: a fresh evaluation of the saved model. */
async function evaluate(modelId: number): Promise<{ ndcg10: Float64Array; recall20: Float64Array }> {
  const { ranking } = await evaluateSavedModel({ dataSource: db, modelId });
  return { ndcg10: ranking.perUser["ndcg@10"], recall20: ranking.perUser["recall@20"] };
}

beforeAll(async () => {
  database = await createTestDatabase();
  db = await openDatabase(database.target);
  await ingestDataset(db, { name: "d", source: syntheticSource({ users: 80, items: 50, vocab: 150, seed: 7 }) });
  popularity = (await trainAndSave({ dataSource: db, dataset: "d", variant: "popularity", modelsDir })).model.id;
  vcm = (await trainAndSave({ dataSource: db, dataset: "d", variant: "vcm", config: { latentDim: 4, hiddenX: 8, hiddenY: 8, epochs: 2, batchSize: 16 }, modelsDir })).model.id;
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
  fs.rmSync(modelsDir, { recursive: true, force: true });
});

describe("setModelAlias", () => {
  it("refuses an alias naming no ready model (NOT_FOUND), a share outside 0–1 and bad names (BAD_USER_INPUT)", async () => {
    expect(await codeOf(setModelAlias(db, { dataset: "d", alias: "production", modelId: 999_999 }))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(setModelAlias(db, { dataset: "d", alias: "production", modelId: popularity, candidate: { modelId: 999_999, share: 0.1 } }))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(setModelAlias(db, { dataset: "nope", alias: "production", modelId: popularity }))).toBe(ErrorCode.NOT_FOUND);
    for (const share of [-0.01, 1.01, Number.NaN]) {
      expect(await codeOf(setModelAlias(db, { dataset: "d", alias: "production", modelId: popularity, candidate: { modelId: vcm, share } }))).toBe(ErrorCode.BAD_USER_INPUT);
    }
    for (const alias of ["", "a".repeat(MAX_ALIAS_NAME_LENGTH + 1), "7up", "prod uction", "prod/uction", "ünï"]) {
      expect(await codeOf(setModelAlias(db, { dataset: "d", alias, modelId: popularity }))).toBe(ErrorCode.BAD_USER_INPUT);
    }
    expect(await codeOf(setModelAlias(db, { dataset: "d", alias: "same", modelId: vcm, candidate: { modelId: vcm, share: 0.5 } }))).toBe(ErrorCode.BAD_USER_INPUT);
    expect(await listAliases(db)).toEqual([]);
  });

  it("creates, replaces and removes an alias; the longest name and shares 0 and 1 are accepted", async () => {
    const longest = "a".repeat(MAX_ALIAS_NAME_LENGTH);
    await setModelAlias(db, { dataset: "d", alias: longest, modelId: popularity, candidate: { modelId: vcm, share: 0 } });
    // Replaced by another process (a fresh connection: on SQLite it has inserted nothing yet, as `vcm alias set`).
    const other = await openDatabase(database.target);
    const replaced = await setModelAlias(other, { dataset: "d", alias: longest, modelId: vcm, candidate: { modelId: popularity, share: 1 }, logServing: true }).finally(() => other.destroy());
    expect(replaced).toMatchObject({ dataset: "d", alias: longest, modelId: vcm, candidateModelId: popularity, candidateShare: 1, logServing: true });
    expect(await listAliases(db, "d")).toEqual([expect.objectContaining({ alias: longest, modelId: vcm, candidateModelId: popularity, candidateShare: 1, logServing: true })]);
    await removeModelAlias(db, { dataset: "d", alias: longest });
    expect(await listAliases(db)).toEqual([]);
    expect(await codeOf(removeModelAlias(db, { dataset: "d", alias: longest }))).toBe(ErrorCode.NOT_FOUND);
  });
});

describe("the documentation", () => {
  it("states the numbers the service enforces: the alias name's length, the serving log's retention and its write wait", () => {
    const read = (page: string) => fs.readFileSync(new URL(`../../docs/${page}`, import.meta.url), "utf8").replaceAll("\n  ", " ").replaceAll("\n", " ");
    const [operations, api, cli] = [read("operations.md"), read("graphql-api.md"), read("cli.md")];
    const row = operations.split("| model alias names")[1]?.split("|")[1] ?? "";
    expect(row).toContain(`1 to ${MAX_ALIAS_NAME_LENGTH} letters, digits`);
    for (const page of [api, cli]) expect(page).toContain(`1 to ${MAX_ALIAS_NAME_LENGTH} letters, digits`);
    for (const page of [operations, api, cli]) expect(page).toContain(`${SERVING_LOG_DAYS} days`);
    expect(operations).toContain(`within ${SERVING_LOG_WAIT_MS / 1000} s (SQLite locked`);
  });
});

describe("the A/B split", () => {
  it("gives each user the same arm every time, and the candidate to its share of 20 000 users within ±0.015", () => {
    const alias = { datasetId: 1, datasetName: "d", name: "production", modelId: 1, candidateModelId: 2, candidateShare: 0.25, logServing: false, updatedAt: new Date() };
    const users = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    const arms = users.map((user) => armOf(alias, user).arm);
    expect(users.map((user) => armOf(alias, user).arm)).toEqual(arms);
    const share = arms.filter((arm) => arm === "candidate").length / users.length;
    // Binomial standard deviation √(0.25 · 0.75 / 20 000) ≈ 0.003: the bound is five of them.
    expect(Math.abs(share - 0.25)).toBeLessThan(0.015);
    // The point is SHA-256 of "dataset\nalias\nuser" (here from `printf 'd\nproduction\nuser-0' | sha256sum`): its first 32 bits over 2^32.
    expect(splitPoint({ dataset: "d", alias: "production", user: "user-0" })).toBeCloseTo(0x01b84c53 / 2 ** 32, 12);
    // Another alias splits the same users independently: about a quarter of each arm falls in the other's candidate share.
    const other = arms.filter((arm, i) => arm === "candidate" && armOf({ ...alias, name: "staging" }, users[i]).arm === "candidate").length / users.length;
    expect(Math.abs(other - 0.0625)).toBeLessThan(0.01);
    // Without a user (text or history queries), the alias's own model serves.
    expect(armOf(alias, null)).toEqual({ arm: "model", modelId: 1 });
  });
});

describe("aliasReport", () => {
  it("compares the arms on the same test users with the engine's paired t-test (equal to compareModels and to a hand calculation)", async () => {
    await setModelAlias(db, { dataset: "d", alias: "ab", modelId: popularity, candidate: { modelId: vcm, share: 0.5 } });
    const alias = await new ModelAliasDirectory({ dataSource: db, version: () => 0 }).resolve({ name: "ab" });
    const report = await aliasReport({ dataSource: db, alias, evaluate });
    expect(report.arms.map((a) => [a.arm, a.modelId, a.share])).toEqual([
      ["model", popularity, 0.5],
      ["candidate", vcm, 0.5],
    ]);
    const engine = await compareModels({ dataSource: db, modelA: vcm, modelB: popularity, metric: "ndcg@10" });
    const [ndcg] = report.comparisons;
    expect(ndcg.metric).toBe("ndcg@10");
    expect(ndcg.users).toBe(engine.users);
    expect(ndcg.statistic).toBeCloseTo(engine.statistic, 10);
    expect(ndcg.pValue).toBeCloseTo(engine.pValue, 10);
    // By hand: t = mean(d) / (sd(d) / √n) over the paired differences d = candidate − model.
    const [a, b] = [await evaluate(vcm), await evaluate(popularity)];
    const d = Array.from(a.ndcg10, (x, i) => x - b.ndcg10[i]).filter(Number.isFinite);
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1));
    expect(ndcg.difference).toBeCloseTo(mean, 12);
    expect(ndcg.statistic).toBeCloseTo(mean / (sd / Math.sqrt(d.length)), 8);
    expect(report.arms[0].ndcg10).toBeCloseTo(ndcg.meanModel, 12);
    expect(report.arms[1].ndcg10).toBeCloseTo(ndcg.meanCandidate, 12);
    expect(report.arms[0].testUsers).toBe(d.length);
    expect(report.arms.map((arm) => arm.hitRate)).toEqual([null, null]);
  });

  it("counts the online hit rate of a hand-made serving log: distinct served pairs that the user clicked after being served them", async () => {
    await setModelAlias(db, { dataset: "d", alias: "logged", modelId: popularity, candidate: { modelId: vcm, share: 0.5 }, logServing: true });
    const directory = new ModelAliasDirectory({ dataSource: db, version: () => 0 });
    const alias = await directory.resolve({ name: "logged", datasetName: "d" });
    const sql = sqlOf(db);
    const users = await sql.all<{ id: number; external_id: string }>("SELECT u.id, u.external_id FROM users u JOIN datasets d ON d.id = u.dataset_id WHERE d.name = 'd' ORDER BY u.row_index LIMIT 2");
    const [u1, u2] = users.map((u) => ({ id: Number(u.id), externalId: u.external_id }));
    // An item u1 already clicked before anything was served (a held-out or training click): never a hit.
    const before = await sql.get<{ column_index: number }>("SELECT i.column_index FROM clicks c JOIN items i ON i.id = c.item_id WHERE c.user_id = ? ORDER BY i.column_index LIMIT 1", [u1.id]);
    const clickedOf = async (userId: number) => new Set((await sql.all<{ column_index: number }>("SELECT i.column_index FROM clicks c JOIN items i ON i.id = c.item_id WHERE c.user_id = ?", [userId])).map((r) => Number(r.column_index)));
    const [clicked1, clicked2] = [await clickedOf(u1.id), await clickedOf(u2.id)];
    const fresh = (clicked: Set<number>) => Array.from({ length: 50 }, (_, c) => c).filter((c) => !clicked.has(c));
    const [c1, c2] = [fresh(clicked1).slice(0, 3), fresh(clicked2).slice(0, 2)];
    const served1 = [...c1, Number(before!.column_index)];
    await directory.logServed({ alias, modelId: popularity, userId: u1.id, itemColumns: served1 });
    // The same pair served again later counts once.
    await directory.logServed({ alias, modelId: popularity, userId: u1.id, itemColumns: [c1[0]] });
    await directory.logServed({ alias, modelId: vcm, userId: u2.id, itemColumns: c2 });
    const external = new Map((await sql.all<{ column_index: number; external_id: string }>("SELECT i.column_index, i.external_id FROM items i JOIN datasets d ON d.id = i.dataset_id WHERE d.name = 'd'")).map((r) => [Number(r.column_index), r.external_id]));
    // u1 clicks one of its three fresh items (and the one it had clicked before, again: no new click); u2 clicks one of two; a third user's click is not theirs.
    await appendRecords(db, {
      dataset: "d",
      records: [
        { user: u1.externalId, item: external.get(c1[1])!, rating: 5, text: null },
        { user: u1.externalId, item: external.get(Number(before!.column_index))!, rating: 5, text: null },
        { user: u2.externalId, item: external.get(c2[0])!, rating: 5, text: null },
        { user: "somebody-else", item: external.get(c2[1])!, rating: 5, text: null },
      ],
    });
    const report = await aliasReport({ dataSource: db, alias, evaluate });
    expect(report.arms.map((arm) => [arm.arm, arm.served, arm.hits, arm.hitRate])).toEqual([
      ["model", 4, 1, 1 / 4],
      ["candidate", 2, 1, 1 / 2],
    ]);
    expect(report.servingLogDays).toBeGreaterThan(0);
  });

  it.skipIf(TEST_DIALECT !== "sqlite")("serves unlogged rather than fails when another process holds SQLite's write lock past the wait", async () => {
    await setModelAlias(db, { dataset: "d", alias: "locked", modelId: popularity, logServing: true });
    const directory = new ModelAliasDirectory({ dataSource: db, version: () => 0 });
    const alias = await directory.resolve({ name: "locked" });
    const count = async () => Number((await sqlOf(db).get<{ n: number }>("SELECT COUNT(*) AS n FROM served_recommendations WHERE alias = 'locked'"))!.n);
    // As a server's connection: a statement waits 20 ms for a lock, then the write is retried asynchronously.
    setBusyTimeout(db, 20);
    const holder = new Database(database.target);
    try {
      holder.exec("BEGIN IMMEDIATE");
      const started = performance.now();
      expect(await directory.logServed({ alias, modelId: popularity, userId: 1, itemColumns: [0, 1] })).toBe(false);
      // It gives up after about SERVING_LOG_WAIT_MS (a generous bound: the answer is not held for long).
      expect(performance.now() - started).toBeLessThan(SERVING_LOG_WAIT_MS * 10);
      holder.exec("ROLLBACK");
      expect(await count()).toBe(0);
      expect(await directory.logServed({ alias, modelId: popularity, userId: 1, itemColumns: [0, 1] })).toBe(true);
      expect(await count()).toBe(2);
    } finally {
      holder.close();
    }
  });
});
