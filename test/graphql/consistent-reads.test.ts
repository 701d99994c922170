/**
 * A query that another process's commit lands in the middle of is answered from one version of the
 * data (issue 8, item 4): here a second connection deletes the dataset's first user between the
 * query's two reads (the page of users and their count), as an ingest --replace would commit.
 */
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Catalog } from "../../src/db/catalog.ts";
import { TrainingJobService } from "../../src/services/jobs.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "./api-fixture.ts";

let fixture: ApiFixture;

beforeAll(async () => {
  fixture = await createApiFixture();
});

afterAll(async () => {
  vi.restoreAllMocks();
  await fixture.close();
});

const QUERY = `{ dataset(name: "${TEST_DATASET}") { users(first: 3) { totalCount edges { node { id } } } } }`;

describe("consistent reads", () => {
  it("runs a query again when another process committed while it ran, so its count and its page agree", async () => {
    const before = (await fixture.server.execute({ query: QUERY })).data as any;
    const firstUser = before.dataset.users.edges[0].node.id;
    const total = before.dataset.users.totalCount;

    // The second of the two reads of the first run waits for another connection's commit.
    const other = new Database(fixture.dbPath);
    other.pragma("foreign_keys = ON");
    const reads: string[] = [];
    let committed = false;
    const commitOnce = () => {
      if (reads.length === 2 && !committed) {
        committed = true;
        other.prepare("DELETE FROM users WHERE id = ?").run(Number(firstUser));
      }
    };
    const page = Catalog.prototype.pageUsers;
    const count = Catalog.prototype.countUsers;
    const pageSpy = vi.spyOn(Catalog.prototype, "pageUsers").mockImplementation(async function (this: Catalog, query) {
      reads.push("page");
      commitOnce();
      return page.call(this, query);
    });
    const countSpy = vi.spyOn(Catalog.prototype, "countUsers").mockImplementation(async function (this: Catalog, query) {
      reads.push("count");
      commitOnce();
      return count.call(this, query);
    });
    try {
      const answer = await fixture.server.execute({ query: QUERY });
      expect(answer.errors).toBeUndefined();
      const users = (answer.data as any).dataset.users;
      expect(committed).toBe(true);
      // Both from after the commit: one user fewer, and it is not on the page.
      expect(users.totalCount).toBe(total - 1);
      expect(users.edges.map((e: any) => e.node.id)).not.toContain(firstUser);
      // The first run read both, the second run read both again.
      expect(pageSpy.mock.calls.length + countSpy.mock.calls.length).toBe(4);
    } finally {
      pageSpy.mockRestore();
      countSpy.mockRestore();
      other.close();
    }
  });

  it("never runs a mutation twice, even when another process commits while it runs", async () => {
    const other = new Database(fixture.dbPath);
    const cancel = TrainingJobService.prototype.cancel;
    const spy = vi.spyOn(TrainingJobService.prototype, "cancel").mockImplementation(async function (this: TrainingJobService, id) {
      other.exec("CREATE TABLE IF NOT EXISTS scratch (x integer); INSERT INTO scratch VALUES (1);");
      return cancel.call(this, id);
    });
    try {
      const answer = await fixture.server.execute({ query: `mutation { cancelTrainingJob(id: "999") { id } }` });
      expect(answer.errors?.[0].extensions?.code).toBe("NOT_FOUND");
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
      other.close();
    }
  });
});
