/**
 * The memory estimates (engine/memory.ts) against what real processes hold: at two shapes, a child
 * process trains one epoch (estimateTrainingMemory) and another loads the saved model and evaluates
 * every user (estimateInferenceMemory); each estimate is within 25 % of the child's peak resident
 * memory above what it held once the backend had started.
 */
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { MemoryChildPlan, MemoryChildReport } from "./memory-child.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHILD = path.join(ROOT, "test/engine/memory-child.ts");
const TSX = path.join(ROOT, "node_modules/.bin/tsx");

async function runChild(plan: MemoryChildPlan): Promise<MemoryChildReport> {
  const child = spawn(TSX, [CHILD, JSON.stringify(plan)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  if (code !== 0) throw new Error(`the memory child exited with ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as MemoryChildReport;
}

/** Shapes whose weights and score blocks dwarf the runtime's own memory (hundreds of MB), trained in a minute on 2 cores. */
const SHAPES = [
  { users: 4_000, items: 40_000, words: 2_000, hidden: 300 },
  { users: 2_000, items: 100_000, words: 1_000, hidden: 200 },
];

describe("memory estimates against a real process's peak RSS", () => {
  for (const shape of SHAPES) {
    it(`are within 25 % for training and for loading and evaluating at ${shape.users} users × ${shape.items} items × ${shape.words} words, hidden ${shape.hidden}`, async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vcm-memory-rss-"));
      try {
        const checkpoint = path.join(dir, "model");
        for (const work of ["train", "evaluate"] as const) {
          const report = await runChild({ work, ...shape, dir: checkpoint });
          const used = report.peakBytes - report.baselineBytes;
          const ratio = report.estimateBytes / used;
          expect(ratio, `${work}: estimate ${report.estimateBytes} bytes, measured ${used} bytes above the started backend`).toBeGreaterThan(0.75);
          expect(ratio, `${work}: estimate ${report.estimateBytes} bytes, measured ${used} bytes above the started backend`).toBeLessThan(1.25);
        }
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }, 600_000);
  }
});
