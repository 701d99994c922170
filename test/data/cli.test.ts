import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { runVcm, VCM_BIN, type VcmRun } from "../cli/run-vcm.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-cli-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const dbPath = path.join(dir, "cli.sqlite");

function vcm(args: string[]): VcmRun {
  return runVcm(args, { ...process.env, VCM_DB: dbPath });
}

describe("vcm CLI through the real bin", () => {
  it("generate, ingest and datasets print one JSON object on the last stdout line", () => {
    const generated = vcm(["generate", "--dataset", "syn", "--users", "60", "--items", "80", "--vocab", "200", "--json"]);
    expect(generated.code).toBe(0);
    expect(generated.stdout.trim().split("\n")).toHaveLength(1);
    expect(generated.last).toMatchObject({ dataset: "syn", users: 60, items: 80, skipped: {} });
    for (const key of ["clicks", "reviews", "vocabulary"]) expect(typeof generated.last[key]).toBe("number");

    const interactions = path.join(dir, "i.tsv");
    fs.writeFileSync(interactions, "u1\ti1\t5\nu1\ti2\tfive\nu2\ti1\n");
    const ingested = vcm(["ingest", "--dataset", "tiny", "--format", "tsv", "--interactions", interactions, "--min-user-clicks", "1", "--min-item-users", "1", "--json", "--db", dbPath]);
    expect(ingested.code).toBe(0);
    expect(ingested.last).toMatchObject({ dataset: "tiny", users: 2, items: 1, clicks: 2, reviews: 0, vocabulary: 0, skipped: { ratingNotANumber: 1 } });
    expect(ingested.stderr).toMatch(/preprocessing/);

    const listed = vcm(["datasets", "--json"]);
    expect(listed.code).toBe(0);
    expect((listed.last.datasets as Array<{ name: string }>).map((d) => d.name)).toEqual(["syn", "tiny"]);
  });

  it("reports errors on stderr with a non-zero exit code, and keeps the old dataset", () => {
    const again = vcm(["generate", "--dataset", "syn", "--users", "60", "--items", "80", "--vocab", "200", "--json"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; pass --replace/);
    expect(again.last).toMatchObject({ error: { code: "CONFLICT" } });
    const empty = path.join(dir, "empty.json");
    fs.writeFileSync(empty, "");
    const refused = vcm(["ingest", "--dataset", "syn", "--replace", "--format", "amazon", "--reviews", empty]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/empty.json is empty/);
    expect(vcm(["datasets", "--json"]).last).toMatchObject({ datasets: [{ name: "syn", users: 60 }, { name: "tiny" }] });
  });

  it("a killed ingest leaves the old dataset or the complete new one, never a half", async () => {
    const reviews = path.join(dir, "big.json");
    const lines: string[] = [];
    for (let k = 0; k < 60_000; k++) {
      lines.push(JSON.stringify({ reviewerID: `u${k % 3000}`, asin: `i${(k * 7) % 500}`, overall: 5, reviewText: "solid coffee beans and a friendly barista ".repeat(4) }));
    }
    fs.writeFileSync(reviews, `${lines.join("\n")}\n`);
    const child = spawn(process.execPath, [VCM_BIN, "ingest", "--dataset", "syn", "--replace", "--format", "amazon", "--reviews", reviews, "--db", dbPath]);
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("reading")) child.kill("SIGKILL");
      });
      child.on("exit", () => resolve());
    });
    const db = new BetterSqlite3(dbPath, { readonly: true });
    try {
      const row = db.prepare("SELECT id, user_count, click_count FROM datasets WHERE name = 'syn'").get() as { id: number; user_count: number; click_count: number };
      expect(db.prepare("SELECT COUNT(*) FROM users WHERE dataset_id = ?").pluck().get(row.id)).toBe(row.user_count);
      expect(db.prepare("SELECT COUNT(*) FROM clicks WHERE dataset_id = ?").pluck().get(row.id)).toBe(row.click_count);
      expect([60, 3000]).toContain(row.user_count);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      db.close();
    }
  });
});
