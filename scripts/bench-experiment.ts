/**
 * `npm run bench:experiment`: a small `vcm experiment` (2 seeds, few epochs) on generated data at a
 * stated shape, printing the wall time of each model and seed and of the whole run with its report.
 *
 *   npm run bench:experiment -- [--users 600 --items 800 --vocab 2000] [--seeds 2] [--epochs 10]
 *                               [--models vcm,vcm-se,vcm-od,vcm-nv,popularity]
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
  },
});
const shape = { users: Number(values.users), items: Number(values.items), vocab: Number(values.vocab) };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bench-experiment-"));
const dataSource = await openDatabase(path.join(dir, "vcm.sqlite"));
try {
  await initBackend();
  await ingestDataset(dataSource, { name: "bench", source: syntheticSource({ ...shape, seed: 1 }) });
  const args = resolveExperimentArgs({ dataset: "bench", models: values.models!.split(","), seeds: Number(values.seeds), epochs: Number(values.epochs) });
  const timings: Array<{ model: string; seed: number; seconds: number }> = [];
  const started = performance.now();
  let last = started;
  await runExperiment({
    dataSource,
    modelsDir: path.join(dir, "models"),
    args,
    outDir: path.join(dir, "experiment"),
    onProgress: (e) => {
      const now = performance.now();
      timings.push({ model: e.model, seed: e.seed, seconds: (now - last) / 1000 });
      last = now;
    },
  });
  const total = (performance.now() - started) / 1000;
  console.log(`shape ${shape.users} users × ${shape.items} items × ${shape.vocab} words; ${args.seeds} seeds × ${args.epochs} epochs; backend ${currentBackend()} (${currentDevice()})`);
  console.log("model          seed   seconds (train + evaluate VCM and VCM-CD)");
  for (const t of timings) console.log(`${t.model.padEnd(14)} ${String(t.seed).padStart(4)}   ${t.seconds.toFixed(1).padStart(7)}`);
  console.log(`whole experiment with its report: ${total.toFixed(1)} s`);
  console.log(`# ${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, Node ${process.version}, load average ${os.loadavg()[0].toFixed(2)}`);
} finally {
  await dataSource.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
}
