/**
 * `vcm serve` (what `npm start` runs) as a real process on a fresh database: migrations, the demo
 * dataset and model with visible progress, the URL and an example query that works; a second start
 * reuses everything.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { serveProcess, type ServerProcess } from "./serve-process.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-serve-"));
const children: ChildProcess[] = [];

/** Starts `vcm serve --json` on this test's database and models folder (it keeps running). */
function serve(): Promise<ServerProcess> {
  return serveProcess({ ...process.env, VCM_ADMIN_TOKEN: "", PORT: "" }, children, ["--db", path.join(dir, "vcm.sqlite"), "--models-dir", path.join(dir, "models")]);
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGTERM");
  });
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("vcm serve", () => {
  it("sets up the demo on an empty database with progress, serves it, and reuses it on the next start", async () => {
    const first = await serve();
    expect(first.summary.generatedDemo).toBe(true);
    expect(first.summary.trainedModelId).toBe(1);
    expect(first.stderr()).toContain('generating the demo dataset "demo"');
    expect(first.stderr()).toMatch(/epoch +1\/\d+ +validation NDCG@100/);
    expect(first.stderr()).toContain("Model 1 is ready");

    const response = await fetch(first.summary.graphql, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: first.summary.exampleQuery }),
    });
    const body = (await response.json()) as any;
    expect(body.errors).toBeUndefined();
    expect(body.data.dataset.statistics.users).toBe(600);
    const users = body.data.dataset.users.edges;
    expect(users).toHaveLength(3);
    expect(users[0].node.recommendations).toHaveLength(5);
    expect(users[0].node.recommendations.map((r: { rank: number }) => r.rank)).toEqual([1, 2, 3, 4, 5]);
    expect((await fetch(first.summary.url)).headers.get("content-type")).toContain("text/html");
    expect(await stop(first.child)).toBe(0);

    const second = await serve();
    expect(second.summary).toMatchObject({ generatedDemo: false, trainedModelId: null });
    expect(second.stderr()).not.toContain("epoch");
    expect(second.summary.exampleQuery).toContain('modelId: "1"');
    expect(await stop(second.child)).toBe(0);
  });
});
