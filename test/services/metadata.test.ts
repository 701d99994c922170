/**
 * Item and user metadata on a real database, SQLite or PostgreSQL (issue 10, §1): attached to an ingested dataset as an
 * upsert in one transaction (unknown ids counted, nothing else changed), refused with nothing changed
 * for a file of the wrong format, visible and searchable through GraphQL; and, through the real bin,
 * a real Amazon review file ingested together with metadata written for its items.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Item } from "../../src/db/entities/item.entity.ts";
import { UserError } from "../../src/errors.ts";
import { attachMetadata } from "../../src/services/metadata.ts";
import { runVcm } from "../cli/run-vcm.ts";
import { createTestDatabase } from "../db/databases.ts";
import { createApiFixture, TEST_DATASET, type ApiFixture } from "../graphql/api-fixture.ts";

let fixture: ApiFixture;
let externalIds: string[];

beforeAll(async () => {
  fixture = await createApiFixture();
  externalIds = (await fixture.dataSource.getRepository(Item).find({ where: { datasetId: 1 }, order: { id: "ASC" } })).map((i) => i.externalId);
});

afterAll(async () => {
  await fixture.close();
});

describe("vcm metadata (the service)", () => {
  it("attaches titles, categories and attributes from a TSV, counts ids the dataset lacks, and GraphQL shows and searches them", async () => {
    const file = path.join(fixture.dir, "items.tsv");
    const [a, b, c] = externalIds;
    fs.writeFileSync(
      file,
      ["item_id\ttitle\ttags\tbrand", `${a}\tCafé Olé &amp; Co\tcoffee|espresso\tAcme`, `${b}\tPlanet Pizzeria\tpizza\tPP`, `${c}\t\t\t`, "not-in-dataset\tGhost\tx\ty", ""].join("\n"),
    );
    const summary = await attachMetadata({ dataSource: fixture.dataSource, dataset: TEST_DATASET, items: { file, format: "tsv" } });
    expect(summary.items).toMatchObject({ records: 4, updated: 3, unknown: 1 });
    const items = fixture.dataSource.getRepository(Item);
    expect(await items.findOneByOrFail({ datasetId: 1, externalId: a })).toMatchObject({ title: "Café Olé & Co", categories: ["coffee", "espresso"], attributes: { brand: "Acme" } });
    expect((await items.findOneByOrFail({ datasetId: 1, externalId: c })).title).toBeNull();
    // Everything else is unchanged.
    expect(await items.count({ where: { datasetId: 1 } })).toBe(externalIds.length);

    const found = await fixture.server.execute({
      query: `{ dataset(name: "${TEST_DATASET}") { items(search: "PLANET") { totalCount edges { node { externalId title categories attributes } } } } }`,
    });
    expect(found.errors).toBeUndefined();
    expect((found.data as any).dataset.items).toEqual({ totalCount: 1, edges: [{ node: { externalId: b, title: "Planet Pizzeria", categories: ["pizza"], attributes: { brand: "PP" } } }] });
    // By external id too, and LIKE's wildcards are taken literally.
    const byId = await fixture.server.execute({ query: `{ dataset(name: "${TEST_DATASET}") { items(search: "${a.slice(0, -1)}") { totalCount } } }` });
    expect((byId.data as any).dataset.items.totalCount).toBeGreaterThanOrEqual(1);
    const wildcard = await fixture.server.execute({ query: `{ dataset(name: "${TEST_DATASET}") { items(search: "%") { totalCount } } }` });
    expect((wildcard.data as any).dataset.items.totalCount).toBe(0);
  });

  it("attaches user names from a TSV", async () => {
    const user = (await fixture.server.execute({ query: `{ dataset(name: "${TEST_DATASET}") { users(first: 1) { edges { node { externalId } } } } }` })).data as any;
    const id = user.dataset.users.edges[0].node.externalId;
    const file = path.join(fixture.dir, "users.tsv");
    fs.writeFileSync(file, `user\tname\n${id}\tAda Lovelace\n`);
    const summary = await attachMetadata({ dataSource: fixture.dataSource, dataset: TEST_DATASET, users: { file } });
    expect(summary.users).toMatchObject({ records: 1, updated: 1, unknown: 0 });
    const found = await fixture.server.execute({ query: `{ dataset(name: "${TEST_DATASET}") { users(search: "lovelace") { edges { node { externalId name } } } } }` });
    expect((found.data as any).dataset.users.edges).toEqual([{ node: { externalId: id, name: "Ada Lovelace" } }]);
  });

  it("refuses a file of the wrong format with a sentence and changes nothing", async () => {
    const before = await fixture.dataSource.getRepository(Item).find({ where: { datasetId: 1 }, order: { id: "ASC" } });
    const file = path.join(fixture.dir, "reviews.json");
    fs.writeFileSync(file, `${JSON.stringify({ reviewerID: "u1", asin: "x", overall: 5, reviewText: "nice" })}\n`.repeat(3));
    const error = await attachMetadata({ dataSource: fixture.dataSource, dataset: TEST_DATASET, items: { file, format: "yelp" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toContain("reviews.json");
    expect((error as UserError).message).not.toContain(fixture.dir);
    expect(await fixture.dataSource.getRepository(Item).find({ where: { datasetId: 1 }, order: { id: "ASC" } })).toEqual(before);
    const unknown = await attachMetadata({ dataSource: fixture.dataSource, dataset: "nope", items: { file, format: "tsv" } }).catch((e: unknown) => e);
    expect((unknown as UserError).code).toBe("NOT_FOUND");
  });
});

const BEAUTY = path.resolve(import.meta.dirname, "..", "..", "..", "shared", "datasets", "amazon-2018-5core", "All_Beauty_5.json.gz");

describe.skipIf(!fs.existsSync(BEAUTY))("vcm ingest --items with a real Amazon file (needs ../shared/datasets)", () => {
  it("ingests All_Beauty_5 with 2018-layout metadata written for its items, and shows the titles", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-metadata-"));
    const database = await createTestDatabase();
    try {
      const asins = [...new Set(zlib.gunzipSync(fs.readFileSync(BEAUTY)).toString("utf8").trim().split("\n").map((l) => (JSON.parse(l) as { asin: string }).asin))];
      const meta = path.join(dir, "meta_All_Beauty.json");
      fs.writeFileSync(meta, asins.map((asin, i) => JSON.stringify({ asin, title: `Product ${i} &amp; more`, brand: `Brand ${i % 3}`, category: ["All Beauty", `Shelf ${i % 4}`], main_cat: "All Beauty" })).join("\n"));
      const env = { ...process.env, VCM_DB: database.target };
      const run = runVcm(["ingest", "--dataset", "beauty", "--format", "amazon", "--reviews", BEAUTY, "--items", meta, "--json"], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.last.metadata.items).toMatchObject({ records: asins.length, unknown: asins.length - run.last.items });
      expect(run.last.metadata.items.updated).toBe(run.last.items);
    } finally {
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
