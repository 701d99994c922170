/**
 * Two real `vcm serve` processes on one database (a SQLite file, and PostgreSQL when
 * VCM_TEST_POSTGRES_URL is set): an append committed by a third process (as `vcm ingest --append`
 * would) changes the changed user's recommendations on both servers within one second (issue 25's
 * figure), and leaves every other user's answer as it was.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DataSource } from "typeorm";
import { openDatabase } from "../../src/db/data-source.ts";
import { appendRecords } from "../../src/services/append.ts";
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from "../db/databases.ts";
import { serveProcess, sleep, type ServerProcess } from "./serve-process.ts";

/** The figure: an append through one process is visible on every server within a second. */
const FRESHNESS_MS = 1_000;

const RANKING = `query ($ext: String!) { user(dataset: "demo", externalId: $ext) { recommendations(modelId: "1", k: 10) { score item { externalId } } } }`;

for (const dialect of ["sqlite", "postgres"] as const) {
  describe.skipIf(dialect === "postgres" && !POSTGRES_URL)(`two servers on one ${dialect} database and an append by another process`, () => {
    const children: ChildProcess[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-freshness-"));
    let database: TestDatabase;
    let writer: DataSource;
    let a: ServerProcess;
    let b: ServerProcess;
    const envFor = (name: string): NodeJS.ProcessEnv => ({
      ...process.env,
      VCM_ADMIN_TOKEN: "",
      PORT: "",
      VCM_DB: database.target,
      VCM_MODELS_DIR: path.join(dir, `${name}-models`),
    });

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      // A's start generates the demo dataset and trains model 1; B's reuses them.
      a = await serveProcess(envFor("a"), children);
      b = await serveProcess(envFor("b"), children);
      writer = await openDatabase(database.target);
    }, 300_000);

    afterAll(async () => {
      for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
      await sleep(200);
      await writer?.destroy();
      await database?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("changes the user's recommendations on both servers within a second and keeps the others'", async () => {
      const users = await b.gql(`{ dataset(name: "demo") { users(first: 2) { edges { node { externalId } } } } }`);
      const [changed, unchanged] = users.data.dataset.users.edges.map((e: any) => e.node.externalId as string);
      const ranking = async (server: ServerProcess, ext: string) => {
        const result = await server.gql(RANKING, { ext });
        expect(result.errors).toBeUndefined();
        return result.data.user.recommendations as Array<{ score: number; item: { externalId: string } }>;
      };
      const before = { a: await ranking(a, changed), b: await ranking(b, changed), other: await ranking(b, unchanged) };
      expect(before.b).toEqual(before.a);

      // The user clicks their best recommendation (one not already among their held-out clicks).
      let clicked = "";
      for (const candidate of before.b) {
        const summary = await appendRecords(writer, { dataset: "demo", records: [{ user: changed, item: candidate.item.externalId, rating: 5, text: null }] });
        if (summary.clicksAdded === 1) {
          clicked = candidate.item.externalId;
          break;
        }
      }
      expect(clicked).not.toBe("");
      const committed = performance.now();
      for (const [name, server] of [["b", b], ["a", a]] as const) {
        let after = await ranking(server, changed);
        while (JSON.stringify(after) === JSON.stringify(before[name]) && performance.now() - committed < 5 * FRESHNESS_MS) {
          await sleep(10);
          after = await ranking(server, changed);
        }
        expect(performance.now() - committed).toBeLessThan(FRESHNESS_MS);
        expect(after.map((r) => r.item.externalId)).not.toContain(clicked);
      }
      expect(await ranking(b, unchanged)).toEqual(before.other);
    }, 60_000);
  });
}
