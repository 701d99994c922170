/**
 * The child process of memory-rss.test.ts: it does one piece of the engine's work on random data of
 * a given shape (train one epoch and save the model, or load that model and evaluate every user) and
 * prints, as its last line, its resident memory after the backend started and its peak, with the
 * engine's estimate of that work, so the estimate is compared with what a real process held.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../../src/engine/checkpoint.ts";
import { resolveVcmConfig } from "../../src/engine/config.ts";
import { evaluateRanking } from "../../src/engine/evaluate.ts";
import { estimateInferenceMemory, estimateTrainingMemory } from "../../src/engine/memory.ts";
import { recommenderFromSnapshot, trainModel } from "../../src/engine/models/index.ts";
import { Rng } from "../../src/engine/random.ts";
import { initBackend } from "../../src/engine/runtime/index.ts";
import { heldOutCsr, randomCsr } from "../../scripts/bench-train-worker.ts";

/** What the parent asks for. */
export interface MemoryChildPlan {
  readonly work: "train" | "evaluate";
  readonly users: number;
  readonly items: number;
  readonly words: number;
  readonly hidden: number;
  /** The checkpoint folder the "train" work writes and the "evaluate" work reads. */
  readonly dir: string;
}

/** The child's last line. */
export interface MemoryChildReport {
  readonly baselineBytes: number;
  readonly peakBytes: number;
  readonly estimateBytes: number;
}

const CLICKS_PER_USER = 16;
const WORDS_PER_USER = 60;

async function main(plan: MemoryChildPlan): Promise<void> {
  await initBackend();
  const baselineBytes = process.memoryUsage().rss;
  const rng = new Rng(1);
  const train = randomCsr({ rows: plan.users, cols: plan.items, perRow: CLICKS_PER_USER, maxValue: 1, rng });
  const words = randomCsr({ rows: plan.users, cols: plan.words, perRow: WORDS_PER_USER, maxValue: 5, rng });
  const validation = heldOutCsr({ train, perRow: 4, rng });
  const config = resolveVcmConfig({ hiddenX: plan.hidden, hiddenY: plan.hidden, epochs: 1 });
  const csrBytes = (m: typeof train): number => m.indptr.byteLength + m.indices.byteLength + m.values.byteLength;
  let estimateBytes: number;
  if (plan.work === "train") {
    estimateBytes = estimateTrainingMemory({ users: plan.users, items: plan.items, words: plan.words, trainClicks: train.indptr[train.rows], wordEntries: words.indptr[words.rows] }, config).totalBytes;
    const model = await trainModel({ train, validation, words, config });
    await saveCheckpoint({ dir: plan.dir, snapshot: await model.snapshot() });
    model.dispose();
  } else {
    const weightBytes = (await fs.stat(path.join(plan.dir, "weights.bin"))).size;
    const inputBytes = csrBytes(train) + csrBytes(validation);
    estimateBytes = estimateInferenceMemory({ items: plan.items, words: plan.words, weightBytes, inputBytes }, config).totalBytes;
    const { snapshot } = await loadCheckpoint(plan.dir);
    const model = recommenderFromSnapshot(snapshot);
    await evaluateRanking({ model, mode: "vcm", input: train, heldOut: validation, exclude: train, ks: [20, 100] });
    model.dispose();
  }
  const report: MemoryChildReport = { baselineBytes, peakBytes: process.resourceUsage().maxRSS * 1024, estimateBytes };
  console.log(JSON.stringify(report));
}

await main(JSON.parse(process.argv[2]) as MemoryChildPlan);
