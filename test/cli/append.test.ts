/**
 * Appending to a dataset through the real `vcm` bin (`vcm ingest --append`) and through the
 * `appendInteractions` mutation of a real `vcm serve` process, on a SQLite file or PostgreSQL (this
 * vitest project's database), and a CLI append killed with SIGKILL at several moments.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { MAX_APPEND_RECORDS } from "../../src/services/append.ts";
import { createTestDatabase, type TestDatabase } from "../db/databases.ts";
import { serveProcess, type ServerProcess } from "../graphql/serve-process.ts";
import { runVcm, VCM_BIN, type VcmRun } from "./run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-append-cli-"));
const children: ChildProcess[] = [];
let database: TestDatabase;
let env: NodeJS.ProcessEnv;

function vcm(args: string[]): VcmRun {
  return runVcm(args, env);
}

function write(name: string, lines: ReadonlyArray<string>): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

/** A base dataset: 50 users with 6 clicks each over 30 items, and one text per user. */
function ingestBase(name: string): void {
  const interactions: string[] = [];
  const texts: string[] = [];
  for (let u = 0; u < 50; u++) {
    for (let j = 0; j < 6; j++) interactions.push(`u${u}\ti${(u + 7 * j) % 30}\t5`);
    texts.push(`u${u}\ti${u % 30}\talpha beta gamma delta`);
  }
  const ingested = vcm([
    "ingest", "--dataset", name, "--format", "tsv", "--interactions", write(`${name}-base.tsv`, interactions), "--texts", write(`${name}-base-texts.tsv`, texts),
    "--min-user-clicks", "1", "--min-item-users", "1", "--json",
  ]);
  expect(ingested.code, ingested.stderr).toBe(0);
}

/** What an append changes in a dataset, read straight from the tables. */
async function stateOf(name: string): Promise<Record<string, number>> {
  const db = await openDatabase(database.target);
  try {
    const sql = sqlOf(db);
    const row = await sql.get<Record<string, number>>(
      `SELECT d.version, d.user_count, d.item_count, d.click_count, d.train_click_count, d.review_count,
        (SELECT COUNT(*) FROM users u WHERE u.dataset_id = d.id) AS users,
        (SELECT COUNT(*) FROM items i WHERE i.dataset_id = d.id) AS items,
        (SELECT COUNT(*) FROM clicks c WHERE c.dataset_id = d.id) AS clicks,
        (SELECT COUNT(*) FROM reviews r WHERE r.dataset_id = d.id) AS reviews,
        (SELECT COUNT(*) FROM user_word_counts w WHERE w.dataset_id = d.id) AS bags,
        (SELECT SUM(word_count) FROM users u WHERE u.dataset_id = d.id) AS words,
        (SELECT SUM(train_click_count) FROM users u WHERE u.dataset_id = d.id) AS user_train_clicks
       FROM datasets d WHERE d.name = ?`,
      [name],
    );
    return Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
  } finally {
    await db.destroy();
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  env = { ...process.env, VCM_ADMIN_TOKEN: "", PORT: "", VCM_DB: database.target, VCM_MODELS_DIR: path.join(dir, "models") };
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await database.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("vcm ingest --append and appendInteractions", () => {
  let server: ServerProcess;

  beforeAll(async () => {
    ingestBase("d");
    const trained = vcm(["train", "--dataset", "d", "--variant", "popularity", "--json"]);
    expect(trained.code, trained.stderr).toBe(0);
    server = await serveProcess(env, children);
  }, 120_000);

  it("appends a tsv file with the dataset's rules: new users and items, clicks, texts, skips, version 2", async () => {
    const before = await stateOf("d");
    const interactions = write("append.tsv", ["u0\ti29\t5", "u0\ti0\t5", "newA\ti1\t5", "newA\tnewI\t4", "u1\tnewI\t1", "onlyonefield"]);
    const texts = write("append-texts.tsv", ["newA\ti1\talpha alpha unknownword"]);
    const run = vcm(["ingest", "--append", "--dataset", "d", "--format", "tsv", "--interactions", interactions, "--texts", texts, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.last).toMatchObject({
      kind: "append",
      dataset: "d",
      version: 2,
      previousVersion: 1,
      added: true,
      usersAdded: 1,
      itemsAdded: 1,
      clicksAdded: 3,
      clicksAlreadyPresent: 1,
      reviewsAdded: 1,
      wordsAdded: 2,
      unknownWords: 1,
      notClicks: 1,
      recordsRead: 6,
      skipped: { tooFewFields: 1 },
    });
    expect(await stateOf("d")).toEqual({
      ...before,
      version: 2,
      user_count: 51,
      users: 51,
      item_count: 31,
      items: 31,
      click_count: before.click_count + 3,
      clicks: before.clicks + 3,
      train_click_count: before.train_click_count + 3,
      user_train_clicks: before.user_train_clicks + 3,
      review_count: before.review_count + 1,
      reviews: before.reviews + 1,
      bags: 51,
      words: before.words + 2,
    });
    const text = vcm(["ingest", "--append", "--dataset", "d", "--format", "tsv", "--interactions", interactions, "--items", write("items.tsv", ["item_id\ttitle", "newI\tThe new item"]), "--items-format", "tsv"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Nothing was added to "d" \(still version 2\): 4 click\(s\) were already there, 1 rating\(s\) were under the dataset's rating threshold, 1 record\(s\) skipped \(tooFewFields\)/);

    expect(text.stdout).toMatch(/items: 1 records, 1 of the dataset.s items updated/);
    const titled = await server.gql(`{ dataset(name: "d") { item(externalId: "newI") { title } } }`);
    expect(titled.data?.dataset.item).toEqual({ title: "The new item" });

    const listed = vcm(["datasets"]);
    expect(listed.stdout.split("\n")[0]).toMatch(/^name\s+source\s+version\s+users/);
    expect(listed.stdout.split("\n")[1]).toMatch(/^d\s+tsv\s+2\s+51\s+31/);
    expect(vcm(["datasets", "--json"]).last.datasets[0]).toMatchObject({ name: "d", version: 2, users: 51, items: 31 });
  });

  it("appends through the mutation on a running server, idempotently, and says when nothing was added", async () => {
    const mutation = `mutation($dataset: String!, $records: [AppendRecordInput!]!) { appendInteractions(dataset: $dataset, records: $records) {
      dataset version previousVersion added message usersAdded itemsAdded clicksAdded clicksAlreadyPresent reviewsAdded wordsAdded unknownWords notClicks recordsRead skipped } }`;
    const records = [
      { user: "newB", item: "i2", rating: 5, text: "beta beta" },
      { user: "u0", item: "i29" },
      { user: "", item: "i3" },
    ];
    const first = await server.gql(mutation, { dataset: "d", records });
    expect(first.errors).toBeUndefined();
    expect(first.data.appendInteractions).toMatchObject({
      dataset: "d", version: 3, previousVersion: 2, added: true, usersAdded: 1, itemsAdded: 0, clicksAdded: 1, clicksAlreadyPresent: 1, reviewsAdded: 1, wordsAdded: 2, unknownWords: 0, recordsRead: 3, skipped: { missingUserId: 1 },
    });
    const again = await server.gql(mutation, { dataset: "d", records: records.map(({ user, item }) => ({ user, item })) });
    expect(again.data.appendInteractions).toMatchObject({ version: 3, added: false, clicksAdded: 0, clicksAlreadyPresent: 2 });
    expect(again.data.appendInteractions.message).toMatch(/^Nothing was added to "d" \(still version 3\)/);
    const read = await server.gql(`{ dataset(name: "d") { version statistics { users items } } }`);
    expect(read.data.dataset).toEqual({ version: 3, statistics: { users: 52, items: 31 } });

    const oversized = await server.gql(mutation, { dataset: "d", records: Array.from({ length: MAX_APPEND_RECORDS + 1 }, (_, k) => ({ user: `x${k}`, item: "i1" })) });
    expect(oversized.errors?.[0].extensions?.code).toBe("BAD_USER_INPUT");
    expect(oversized.errors?.[0].message).toContain(`at most ${MAX_APPEND_RECORDS}`);
    const unknown = await server.gql(mutation, { dataset: "nope", records });
    expect(unknown.errors?.[0].extensions?.code).toBe("NOT_FOUND");

    // Another writer holds the dataset (SQLite: the write lock; PostgreSQL: the dataset's row): the mutation waits a few seconds, then says so.
    const holder = await openDatabase(database.target);
    const runner = holder.createQueryRunner();
    await runner.connect();
    try {
      if (database.dialect === "sqlite") await runner.query("BEGIN IMMEDIATE");
      else {
        await runner.startTransaction();
        await runner.query("SELECT id FROM datasets WHERE name = 'd' FOR UPDATE");
      }
      const busy = await server.gql(mutation, { dataset: "d", records });
      expect(busy.errors?.[0].extensions?.code).toBe("DATABASE_BUSY");
      expect(busy.errors?.[0].message).toMatch(/nothing was changed, try again/);
      // The CLI waits for the writer instead: it finishes once the lock is released.
      const waiting = spawn(process.execPath, [VCM_BIN, "ingest", "--append", "--dataset", "d", "--format", "tsv", "--interactions", write("late.tsv", ["late\ti5\t5"]), "--json"], { env });
      children.push(waiting);
      let out = "";
      waiting.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => waiting.once("exit", resolve));
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(waiting.exitCode).toBeNull();
      await runner.query(database.dialect === "sqlite" ? "ROLLBACK" : "COMMIT");
      expect(await exited).toBe(0);
      expect(JSON.parse(out.trim().split("\n").pop()!)).toMatchObject({ version: 4, usersAdded: 1 });
    } finally {
      await runner.release();
      await holder.destroy();
    }

    // Appends never delete a model: the popularity model trained on version 1 is still ready.
    const models = vcm(["models", "--json"]);
    expect(models.code, models.stderr).toBe(0);
    expect(JSON.stringify(models.last)).toMatch(/"status":"ready"/);
  });
});

describe("a CLI append killed with SIGKILL", () => {
  /** A large append: 40,000 new users with 5 clicks each over existing and new items, and a text each. */
  function bigAppendFiles(): { interactions: string; texts: string } {
    const interactions: string[] = [];
    const texts: string[] = [];
    for (let u = 0; u < 40_000; u++) {
      for (let j = 0; j < 5; j++) interactions.push(`n${u}\t${j === 0 ? `ni${u % 3000}` : `i${(u + j) % 30}`}\t5`);
      texts.push(`n${u}\ti${u % 30}\talpha beta beta gamma unknown${u % 10}`);
    }
    return { interactions: write("big.tsv", interactions), texts: write("big-texts.tsv", texts) };
  }

  /** Spawns the append and kills it `delayMs` after its first stderr line holding `marker`; resolves with its exit code. */
  function appendKilled(o: { files: { interactions: string; texts: string }; marker: string; delayMs: number }): Promise<number | null> {
    const child = spawn(process.execPath, [VCM_BIN, "ingest", "--append", "--dataset", "k", "--format", "tsv", "--interactions", o.files.interactions, "--texts", o.files.texts], { env });
    children.push(child);
    let stderr = "";
    let armed = false;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!armed && stderr.includes(o.marker)) {
        armed = true;
        setTimeout(() => child.kill("SIGKILL"), o.delayMs);
      }
    });
    return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  it("leaves the dataset exactly as before or as after the append, at every moment", async () => {
    ingestBase("k");
    const files = bigAppendFiles();
    const before = await stateOf("k");
    const seen: Array<Record<string, number>> = [];
    // Moments: as reading starts, while batches are written, and as the commit begins.
    for (const moment of [{ marker: "reading", delayMs: 0 }, { marker: "reading", delayMs: 1_500 }, { marker: "committing", delayMs: 0 }]) {
      await appendKilled({ files, ...moment });
      seen.push(await stateOf("k"));
    }
    const completed = seen.some((state) => state.version === 2);
    if (!completed) {
      const run = vcm(["ingest", "--append", "--dataset", "k", "--format", "tsv", "--interactions", files.interactions, "--texts", files.texts, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.last).toMatchObject({ usersAdded: 40_000, itemsAdded: 3000, clicksAdded: 200_000, reviewsAdded: 40_000 });
    }
    const after = await stateOf("k");
    expect(after).toMatchObject({ version: 2, users: before.users + 40_000, items: before.items + 3000, clicks: before.clicks + 200_000, reviews: before.reviews + 40_000, bags: before.bags + 40_000 });
    for (const state of seen) expect([before, after]).toContainEqual(state);
    // At least one kill landed inside the append (the dataset was still as before).
    expect(seen).toContainEqual(before);
  }, 300_000);
});
