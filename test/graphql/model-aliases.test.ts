/**
 * Model aliases and A/B splits through real `vcm serve` processes and the real `vcm` bin (issue 26,
 * item 7), on SQLite and on PostgreSQL: an alias set on server A is served by server B within a second
 * (and a change of it too), each user gets the same arm on both servers as the SHA-256 split says,
 * bad input answers its code over HTTP, the served recommendations are logged and the clicks appended
 * afterwards make the report's hit rate, and the API's report equals `vcm alias report`.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.ts";
import { sqlOf } from "../../src/db/sql.ts";
import { MAX_ALIAS_NAME_LENGTH, splitPoint } from "../../src/services/model-aliases.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from "../db/databases.ts";
import { serveProcess, sleep, type ServerProcess, removeServersAndDatabase, serverEnv } from "./serve-process.ts";

/** The figure: a change made on one server is served by every server within a second. */
const REACH_MS = 1_000;
/** Users asked in one query (the users field's page limit). */
const PAGE = 100;
const SHARE = 0.3;

const USERS = `query ($model: String!, $first: Int!) { dataset(name: "demo") { users(first: $first) { edges { node { id externalId servedBy(model: $model) { id } recommendations(model: $model, k: 5) { servedBy { id } item { externalId } } } } } } }`;

interface Answer {
  status: number;
  data?: any;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

async function post(server: ServerProcess, query: string, variables: Record<string, unknown> = {}, key?: string): Promise<Answer> {
  const send = () =>
    fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) },
      body: JSON.stringify({ query, variables }),
    });
  // A keep-alive socket the server closed while this process was blocked in a `vcm` run (spawnSync) fails once.
  const response = await send().catch((error: { cause?: { code?: string } }) => {
    if (error.cause?.code !== "UND_ERR_SOCKET") throw error;
    return send();
  });
  return { status: response.status, ...((await response.json()) as object) };
}

const codeOf = (answer: Answer): string | undefined => answer.errors?.[0]?.extensions?.code;

for (const dialect of ["sqlite", "postgres"] as const) {
  describe.skipIf(dialect === "postgres" && !POSTGRES_URL)(`model aliases on two servers on one ${dialect} database`, () => {
    const children: ChildProcess[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-aliases-"));
    let database: TestDatabase;
    let a: ServerProcess;
    let b: ServerProcess;
    let admin: string;
    let analyst: string;
    let vcm: number;
    let popularity: number;
    const envFor = (name: string): NodeJS.ProcessEnv => serverEnv({ db: database.target, dir, name });
    const vcmCli = (args: string[]) => {
      const run = runVcm([...args, "--json"], envFor("cli"));
      expect(run.code, run.stderr).toBe(0);
      return run.last;
    };
    const mutate = async (server: ServerProcess, query: string, variables: Record<string, unknown> = {}) => {
      const answer = await post(server, query, variables, admin);
      expect(answer.errors).toBeUndefined();
      return answer.data;
    };
    const SET = `mutation ($alias: String!, $modelId: ID!, $candidate: AliasCandidateInput, $log: Boolean! = false) { setModelAlias(dataset: "demo", alias: $alias, modelId: $modelId, candidate: $candidate, logServing: $log) { alias modelId candidateModelId candidateShare logServing } }`;
    /** Each user's arm as a server serves it: the recommendations' servedBy, which must equal the user's servedBy. */
    const armsOn = async (server: ServerProcess, model = "production") => {
      const answer = await post(server, USERS, { model, first: PAGE });
      expect(answer.errors).toBeUndefined();
      return (answer.data.dataset.users.edges as any[]).map(({ node: u }) => {
        const served = new Set(u.recommendations.map((r: any) => Number(r.servedBy.id)));
        expect([...served]).toEqual([Number(u.servedBy.id)]);
        return { id: Number(u.id), externalId: u.externalId as string, modelId: Number(u.servedBy.id), items: u.recommendations.map((r: any) => r.item.externalId) as string[] };
      });
    };
    /** Polls B until `served` holds of its answer; asserts it took under REACH_MS since `since`. */
    const expectOnBWithin = async (since: number, served: (answer: Answer) => boolean) => {
      const ask = () => post(b, `{ user(dataset: "demo", externalId: "${firstUser}") { servedBy(model: "production") { id } } }`);
      let answer = await ask();
      while (!served(answer) && performance.now() - since < 5 * REACH_MS) {
        await sleep(10);
        answer = await ask();
      }
      expect(served(answer)).toBe(true);
      expect(performance.now() - since).toBeLessThan(REACH_MS);
    };
    let firstUser: string;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      admin = vcmCli(["keys", "create", "--name", "lead", "--role", "admin"]).key;
      analyst = vcmCli(["keys", "create", "--name", "reader", "--role", "analyst"]).key;
      // A's start generates the demo dataset and trains its VCM model; B's reuses them.
      a = await serveProcess(envFor("a"), children);
      b = await serveProcess(envFor("b"), children);
      vcm = Number(a.summary.trainedModelId);
      popularity = Number(vcmCli(["train", "--dataset", "demo", "--variant", "popularity"]).modelId);
      firstUser = (await post(a, `{ dataset(name: "demo") { users(first: 1) { edges { node { externalId } } } } }`)).data.dataset.users.edges[0].node.externalId;
    }, 300_000);

    afterAll(async () => {
      await removeServersAndDatabase({ children, database, dir });
    });

    it("serves on B, within a second, an alias set on A (B had just answered NOT_FOUND for it), and a change of it", async () => {
      expect(codeOf(await post(b, `{ user(dataset: "demo", externalId: "${firstUser}") { recommendations(model: "production", k: 3) { rank } } }`))).toBe("NOT_FOUND");
      const setAt = performance.now();
      await mutate(a, SET, { alias: "production", modelId: String(vcm) });
      await expectOnBWithin(setAt, (answer) => Number(answer.data?.user?.servedBy?.id) === vcm);
      const movedAt = performance.now();
      await mutate(a, SET, { alias: "production", modelId: String(popularity) });
      await expectOnBWithin(movedAt, (answer) => Number(answer.data?.user?.servedBy?.id) === popularity);
    });

    it("splits users between model and candidate by the SHA-256 split point, the same on both servers and on every ask", async () => {
      const data = await mutate(a, SET, { alias: "production", modelId: String(vcm), candidate: { modelId: String(popularity), share: SHARE }, log: true });
      expect(data.setModelAlias).toEqual({ alias: "production", modelId: String(vcm), candidateModelId: String(popularity), candidateShare: SHARE, logServing: true });
      await sleep(REACH_MS);
      const onA = await armsOn(a);
      const onB = await armsOn(b);
      expect(onA.map((u) => u.modelId)).toEqual(onB.map((u) => u.modelId));
      expect((await armsOn(a)).map((u) => u.modelId)).toEqual(onA.map((u) => u.modelId));
      for (const user of onA) {
        expect(user.modelId).toBe(splitPoint({ dataset: "demo", alias: "production", user: user.externalId }) < SHARE ? popularity : vcm);
      }
      // Both arms serve someone among 100 users (a share of 0.3 leaves either empty with probability < 1e-15).
      expect(new Set(onA.map((u) => u.modelId))).toEqual(new Set([vcm, popularity]));
      // Questions without a user (a history, a text) get the alias's model.
      const history = await post(a, `query ($clicks: [String!]!) { recommendFor(model: "production", clicks: $clicks, k: 2) { servedBy { id } } }`, { clicks: onA[0].items.slice(0, 2) });
      expect(history.errors).toBeUndefined();
      expect(Number(history.data.recommendFor.servedBy.id)).toBe(vcm);
    });

    it("answers bad input with its code over HTTP: FORBIDDEN for an analyst key, NOT_FOUND, BAD_USER_INPUT", async () => {
      const byAnalyst = await post(a, SET, { alias: "production", modelId: String(vcm) }, analyst);
      expect([byAnalyst.status, codeOf(byAnalyst)]).toEqual([403, "FORBIDDEN"]);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ alias: "production", modelId: "999999" }, "NOT_FOUND"],
        [{ alias: "production", modelId: String(vcm), candidate: { modelId: "999999", share: 0.1 } }, "NOT_FOUND"],
        [{ alias: "production", modelId: String(vcm), candidate: { modelId: String(popularity), share: 1.5 } }, "BAD_USER_INPUT"],
        [{ alias: "production", modelId: String(vcm), candidate: { modelId: String(popularity), share: -0.1 } }, "BAD_USER_INPUT"],
        [{ alias: "p".repeat(MAX_ALIAS_NAME_LENGTH + 1), modelId: String(vcm) }, "BAD_USER_INPUT"],
        [{ alias: "no spaces", modelId: String(vcm) }, "BAD_USER_INPUT"],
      ];
      for (const [variables, code] of cases) expect(codeOf(await post(a, SET, variables, admin)), JSON.stringify(variables)).toBe(code);
      const ask = (args: string) => post(b, `{ user(dataset: "demo", externalId: "${firstUser}") { recommendations(${args}, k: 3) { rank } } }`);
      expect(codeOf(await ask(`model: "staging"`))).toBe("NOT_FOUND");
      expect(codeOf(await ask(`model: "production", modelId: "${vcm}"`))).toBe("BAD_USER_INPUT");
      expect(codeOf(await ask(`k: 3`.replace("k: 3", `model: "${"p".repeat(MAX_ALIAS_NAME_LENGTH + 1)}"`)))).toBe("BAD_USER_INPUT");
      // An id in `model` is read as an id.
      expect((await ask(`model: "${vcm}"`)).errors).toBeUndefined();
    });

    it("counts the clicks appended after serving as hits, per arm, and reports the paired t-test as `vcm alias report` does", async () => {
      // The splitting test served 5 items to each of 100 users through the logged alias (twice on A, once on B: distinct pairs count once).
      const served = await armsOn(a);
      const reader = await openDatabase(database.target);
      const clicked = async (user: number, item: string) =>
        (await sqlOf(reader).get<{ n: number }>("SELECT COUNT(*) AS n FROM clicks c JOIN items i ON i.id = c.item_id WHERE c.user_id = ? AND i.external_id = ?", [user, item]))!.n > 0;
      const records: Array<{ user: string; item: string; rating: number }> = [];
      const hits = new Map<number, number>([
        [vcm, 0],
        [popularity, 0],
      ]);
      try {
        for (const modelId of [vcm, popularity]) {
          // Three users of each arm click one served item each that they had not clicked before.
          for (const user of served.filter((u) => u.modelId === modelId).slice(0, 3)) {
            const item = (await Promise.all(user.items.map(async (i) => ((await clicked(user.id, i)) ? null : i)))).find((i) => i !== null);
            if (item == null) continue;
            records.push({ user: user.externalId, item, rating: 5 });
            hits.set(modelId, hits.get(modelId)! + 1);
          }
        }
      } finally {
        await reader.destroy();
      }
      const appended = await mutate(b, `mutation ($records: [AppendRecordInput!]!) { appendInteractions(dataset: "demo", records: $records) { clicksAdded } }`, { records });
      expect(appended.appendInteractions.clicksAdded).toBe(records.length);
      const REPORT = `{ aliasReport(alias: "production") { alias { modelId candidateModelId } arms { arm modelId share testUsers ndcg10 recall20 served hits hitRate } comparisons { metric users meanModel meanCandidate difference statistic df pValue } servingLogDays } }`;
      const report = (await post(b, REPORT)).data.aliasReport;
      const perArm = (modelId: number) => served.filter((u) => u.modelId === modelId).reduce((n, u) => n + u.items.length, 0);
      expect(report.arms.map((arm: any) => [arm.arm, Number(arm.modelId), arm.share, arm.served, arm.hits])).toEqual([
        ["model", vcm, 1 - SHARE, perArm(vcm), hits.get(vcm)],
        ["candidate", popularity, SHARE, perArm(popularity), hits.get(popularity)],
      ]);
      for (const arm of report.arms) expect(arm.hitRate).toBeCloseTo(arm.hits / arm.served, 12);
      // The CLI evaluates afresh (evaluateSavedModel) where the server reuses its cohort evaluation: the same figures.
      const cli = vcmCli(["alias", "report", "--alias", "production", "--dataset", "demo"]);
      expect(cli.arms.map((arm: any) => [arm.served, arm.hits, arm.testUsers])).toEqual(report.arms.map((arm: any) => [arm.served, arm.hits, arm.testUsers]));
      for (const [i, comparison] of report.comparisons.entries()) {
        expect(comparison.metric).toBe(cli.comparisons[i].metric);
        expect(comparison.users).toBe(cli.comparisons[i].users);
        expect(comparison.difference).toBeCloseTo(cli.comparisons[i].difference, 5);
        expect(comparison.pValue).toBeCloseTo(cli.comparisons[i].pValue, 5);
      }
      expect(report.comparisons.map((c: any) => c.metric)).toEqual(["ndcg@10", "recall@20"]);
    });

    it("sets, lists and removes aliases from the CLI; B then answers NOT_FOUND through the removed alias within a second", async () => {
      const refused = runVcm(["alias", "set", "--dataset", "demo", "--alias", "production", "--model", String(vcm), "--candidate", `${popularity}:1.5`, "--json"], envFor("cli"));
      expect([refused.code, refused.last.error?.code]).toEqual([1, "BAD_USER_INPUT"]);
      expect(refused.stderr).toContain("A candidate's share is a number from 0 to 1");
      const set = vcmCli(["alias", "set", "--dataset", "demo", "--alias", "production", "--model", String(vcm), "--candidate", `${popularity}:${SHARE}`, "--log-serving"]);
      expect(set).toMatchObject({ dataset: "demo", alias: "production", modelId: vcm, candidateModelId: popularity, candidateShare: SHARE, logServing: true });
      expect(vcmCli(["alias", "list"]).aliases).toEqual([expect.objectContaining({ dataset: "demo", alias: "production", modelId: vcm, candidateModelId: popularity, candidateShare: SHARE, logServing: true })]);
      vcmCli(["alias", "remove", "--dataset", "demo", "--alias", "production"]);
      // Counted from the CLI's exit, just after its commit (the run itself takes seconds to start).
      await expectOnBWithin(performance.now(), (answer) => codeOf(answer) === "NOT_FOUND");
      expect(runVcm(["alias", "remove", "--dataset", "demo", "--alias", "production"], envFor("cli")).code).not.toBe(0);
    });

    it("answers NOT_FOUND, naming the alias, once the model an alias names is deleted", async () => {
      await mutate(a, SET, { alias: "retired", modelId: String(popularity) });
      await mutate(a, `mutation ($id: ID!) { deleteModel(id: $id) }`, { id: String(popularity) });
      const deletedAt = performance.now();
      const ask = () => post(b, `{ user(dataset: "demo", externalId: "${firstUser}") { recommendations(model: "retired", k: 3) { rank } } }`);
      let answer = await ask();
      while (codeOf(answer) !== "NOT_FOUND" && performance.now() - deletedAt < 5 * REACH_MS) {
        await sleep(10);
        answer = await ask();
      }
      expect(codeOf(answer)).toBe("NOT_FOUND");
      expect(answer.errors![0].message).toContain('Alias "retired"');
      expect(codeOf(await post(b, `{ aliasReport(alias: "retired") { servingLogDays } }`))).toBe("NOT_FOUND");
    });
  });
}
