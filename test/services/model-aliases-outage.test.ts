/**
 * Model aliases while PostgreSQL is down (a private server of this test, stopped and started): the
 * alias read fails with an error the API answers as DATABASE_UNAVAILABLE, is not kept, and the first
 * read after the server returns succeeds; an answer's serving log is dropped (served unlogged) rather
 * than failing the answer.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DataSource } from "typeorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticSource } from "../../src/data/generate.ts";
import { openDatabase } from "../../src/db/data-source.ts";
import { isDatabaseUnavailableError } from "../../src/errors.ts";
import { ingestDataset } from "../../src/services/ingest.ts";
import { ModelAliasDirectory, setModelAlias } from "../../src/services/model-aliases.ts";
import { trainAndSave } from "../../src/services/training.ts";
import { POSTGRES_BINDIR, startPrivatePostgres, type PrivatePostgres } from "../db/private-postgres.ts";

const modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-alias-outage-"));
let server: PrivatePostgres;
let db: DataSource;
let modelId: number;

describe.skipIf(POSTGRES_BINDIR === undefined)("model aliases across a PostgreSQL outage", () => {
  beforeAll(async () => {
    server = startPrivatePostgres();
    db = await openDatabase(server.url);
    await ingestDataset(db, { name: "d", source: syntheticSource({ users: 40, items: 30, vocab: 100, seed: 2 }) });
    modelId = (await trainAndSave({ dataSource: db, dataset: "d", variant: "popularity", modelsDir })).model.id;
    await setModelAlias(db, { dataset: "d", alias: "production", modelId, logServing: true });
  }, 300_000);

  afterAll(async () => {
    await db?.destroy().catch(() => undefined);
    server?.destroy();
    fs.rmSync(modelsDir, { recursive: true, force: true });
  });

  it("fails a read as unavailable while the server is stopped, keeps no failed read, and reads again once it is back", async () => {
    // A fixed commit count: only a failed read being dropped can make the directory read again.
    const directory = new ModelAliasDirectory({ dataSource: db, version: () => 0 });
    const alias = await directory.resolve({ name: "production" });
    expect(alias.modelId).toBe(modelId);
    server.stop();
    try {
      directory.invalidate();
      const failed = await directory.resolve({ name: "production" }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(isDatabaseUnavailableError(failed)).toBe(true);
      // The answer is served without its log rows rather than refused.
      expect(await directory.logServed({ alias, modelId, userId: 1, itemColumns: [0] })).toBe(false);
    } finally {
      server.start();
    }
    let again = await directory.resolve({ name: "production" }).catch((error: unknown) => error);
    const deadline = Date.now() + 10_000;
    while (!(typeof again === "object" && again !== null && "modelId" in again) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await directory.resolve({ name: "production" }).catch((error: unknown) => error);
    }
    expect(again).toMatchObject({ name: "production", modelId });
  });
});
