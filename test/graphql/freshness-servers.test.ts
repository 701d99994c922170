/**
 * Two real `vcm serve` processes on one database (a SQLite file, and PostgreSQL when
 * VCM_TEST_POSTGRES_URL is set): an append through server A's appendInteractions, or through the CLI
 * (`vcm ingest --append`), changes the user's recommendations on both servers within one second
 * (issue 25's figure), and leaves every other user's answer as it was.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runVcm } from "../cli/run-vcm.ts";
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from "../db/databases.ts";
import { serveProcess, sleep, type ServerProcess, removeServersAndDatabase, serverEnv } from "./serve-process.ts";

/** The figure: an append through one process is visible on every server within a second. */
const FRESHNESS_MS = 1_000;

const RANKING = `query ($ext: String!) { user(dataset: "demo", externalId: $ext) { recommendations(modelId: "1", k: 10) { score item { externalId } } } }`;

for (const dialect of ["sqlite", "postgres"] as const) {
  describe.skipIf(dialect === "postgres" && !POSTGRES_URL)(`two servers on one ${dialect} database and an append by another process`, () => {
    const children: ChildProcess[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-freshness-"));
    let database: TestDatabase;
    let a: ServerProcess;
    let b: ServerProcess;
    const envFor = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.target, dir, name });

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      // A's start generates the demo dataset and trains model 1; B's reuses them.
      a = await serveProcess(envFor("a"), children);
      b = await serveProcess(envFor("b"), children);
    }, 300_000);

    afterAll(async () => {
      await removeServersAndDatabase({ children, database, dir });
    });

    /** The user's ranking on a server. */
    const ranking = async (server: ServerProcess, ext: string) => {
      const result = await server.gql(RANKING, { ext });
      expect(result.errors).toBeUndefined();
      return result.data.user.recommendations as Array<{ score: number; item: { externalId: string } }>;
    };

    /** Waits (up to five times the figure) for the clicked item to leave the user's ranking on each server; asserts it took under FRESHNESS_MS. */
    const expectGoneWithin = async (o: { user: string; clicked: string; since: number }) => {
      for (const server of [a, b]) {
        let after = await ranking(server, o.user);
        while (after.some((r) => r.item.externalId === o.clicked) && performance.now() - o.since < 5 * FRESHNESS_MS) {
          await sleep(10);
          after = await ranking(server, o.user);
        }
        expect(performance.now() - o.since).toBeLessThan(FRESHNESS_MS);
        expect(after.map((r) => r.item.externalId)).not.toContain(o.clicked);
      }
    };

    /** Users of the demo dataset, and the first of a user's top-10 items that none of their clicks holds yet. */
    const usersAndUnclicked = async (count: number) => {
      const users = await b.gql(`{ dataset(name: "demo") { users(first: ${count}) { edges { node { externalId } } } } }`);
      return users.data.dataset.users.edges.map((e: any) => e.node.externalId as string) as string[];
    };
    const heldOut = async (ext: string) => {
      const clicks = await b.gql(`query ($ext: String!) { user(dataset: "demo", externalId: $ext) { clicks(first: 100) { edges { node { item { externalId } } } } } }`, { ext });
      return new Set<string>(clicks.data.user.clicks.edges.map((e: any) => e.node.item.externalId));
    };
    const firstUnclicked = async (ext: string, ranked: Array<{ item: { externalId: string } }>) => {
      const clicked = await heldOut(ext);
      return ranked.map((r) => r.item.externalId).find((id) => !clicked.has(id))!;
    };

    it("shows an append through server A's mutation on A and B within a second, and keeps the others' answers", async () => {
      const [changed, unchanged] = await usersAndUnclicked(2);
      const before = await ranking(b, changed);
      expect(await ranking(a, changed)).toEqual(before);
      const other = await ranking(a, unchanged);
      const clicked = await firstUnclicked(changed, before);
      const appended = await a.gql(`mutation ($records: [AppendRecordInput!]!) { appendInteractions(dataset: "demo", records: $records) { clicksAdded } }`, {
        records: [{ user: changed, item: clicked, rating: 5 }],
      });
      expect(appended.errors).toBeUndefined();
      expect(appended.data.appendInteractions.clicksAdded).toBe(1);
      await expectGoneWithin({ user: changed, clicked, since: performance.now() });
      expect(await ranking(a, unchanged)).toEqual(other);
      expect(await ranking(b, unchanged)).toEqual(other);
    }, 60_000);

    it("shows an append through the CLI (vcm ingest --append) on both servers within a second of its exit", async () => {
      const users = await usersAndUnclicked(3);
      const changed = users[2];
      const clicked = await firstUnclicked(changed, await ranking(b, changed));
      await ranking(a, changed);
      const file = path.join(dir, "append.tsv");
      fs.writeFileSync(file, `${changed}\t${clicked}\t5\n`);
      const run = runVcm(["ingest", "--append", "--dataset", "demo", "--format", "tsv", "--interactions", file, "--json"], envFor("cli"));
      expect(run.code, run.stderr).toBe(0);
      await expectGoneWithin({ user: changed, clicked, since: performance.now() });
    }, 60_000);
  });
}
