/**
 * `npm run bench:experiment`: a small `vcm experiment` (2 seeds, few epochs) on generated data at a
 * stated shape, printing the wall time of each model and seed and of the whole run with its report; then
 * the same experiment with `--tune N` (default 4; 0 skips it), with its wall time beside the untuned one's.
 *
 *   npm run bench:experiment -- [--users 600 --items 800 --vocab 2000] [--seeds 2] [--epochs 10]
 *                               [--models vcm,vcm-se,vcm-od,vcm-nv,popularity] [--tune 4]
 */
import "reflect-metadata";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { syntheticSource } from "../src/data/generate.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { currentBackend, currentDevice, initBackend } from "../src/engine/runtime/index.ts";
import { resolveExperimentArgs, runExperiment } from "../src/services/experiment.ts";
import { ingestDataset } from "../src/services/ingest.ts";

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "600" },
    items: { type: "string", default: "800" },
    vocab: { type: "string", default: "2000" },
    seeds: { type: "string", default: "2" },
    epochs: { type: "string", default: "10" },
    models: { type: "string", default: "vcm,vcm-se,vcm-od,vcm-nv,popularity" },
    tune: { type: "string", default: "4" },
  },
});
const shape = { users: Number(values.users), items: Number(values.items), vocab: Number(values.vocab) };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-experiment-"));
const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
try {
  await initBackend();
  await ingestDataset(dataSource, { name: "bench", source: syntheticSource({ ...shape, seed: 1 }) });
  const args = resolveExperimentArgs({ dataset: "bench", models: values.models!.split(","), seeds: Number(values.seeds), epochs: Number(values.epochs) });
  /** Runs one experiment, timing each progress event (a run, a grid cell or a tuning trial) and the whole. */
  const timed = async (runArgs: typeof args, outDir: string) => {
    const timings: Array<{ model: string; seed: number; seconds: number }> = [];
    const started = performance.now();
    let last = started;
    await runExperiment({
      dataSource,
      modelsDir: path.join(dir, "models"),
      args: runArgs,
      outDir: path.join(dir, outDir),
      onProgress: (e) => {
        const now = performance.now();
        timings.push({ model: e.model, seed: e.seed, seconds: (now - last) / 1000 });
        last = now;
      },
    });
    return { timings, total: (performance.now() - started) / 1000 };
  };
  const print = (timings: ReadonlyArray<{ model: string; seed: number; seconds: number }>) => {
    console.log("run (tuning trials: in memory, early stopping)            seed   seconds (train + evaluate VCM and VCM-CD)");
    for (const t of timings) console.log(`${t.model.slice(0, 56).padEnd(56)} ${String(t.seed).padStart(4)}   ${t.seconds.toFixed(1).padStart(7)}`);
  };
  const untuned = await timed(args, "experiment");
  console.log(`shape ${shape.users} users × ${shape.items} items × ${shape.vocab} words; ${args.seeds} seeds × ${args.epochs} epochs; backend ${currentBackend()} (${currentDevice()})`);
  print(untuned.timings);
  console.log(`whole experiment with its report: ${untuned.total.toFixed(1)} s`);
  const trials = Number(values.tune);
  if (trials > 0) {
    const tuned = await timed(resolveExperimentArgs({ ...args, tune: trials }), "experiment-tuned");
    print(tuned.timings);
    const trialSeconds = tuned.timings.filter((t) => t.model.startsWith("tune ")).reduce((sum, t) => sum + t.seconds, 0);
    console.log(
      `the same with --tune ${trials}: ${tuned.total.toFixed(1)} s (${trialSeconds.toFixed(1)} s of trials), ${(tuned.total / untuned.total).toFixed(2)} × the untuned run's ${untuned.total.toFixed(1)} s`,
    );
  }
  console.log(`# ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`);
} finally {
  await dataSource.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
