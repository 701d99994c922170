/**
 * `npm run bench:dashboard`: how soon the dashboard paints on a model of the Yelp shape, measured in
 * headless Chromium (Debian's chromium, as the browser tests use). Fills a SQLite file with a
 * Yelp-shaped synthetic dataset and a 1-epoch VCM model the first time (kept for later runs), serves it,
 * and loads the first page (the models view) and a user's view `--runs` times each in a fresh page:
 * printed, the medians of the first contentful paint and of the moment the view has drawn its data
 * (the page's "vcm-dashboard-drawn" mark), both from the start of navigation.
 *
 *   npm run bench:dashboard -- [--db data/bench-dashboard/vcm.sqlite] [--runs 5]
 */
import "reflect-metadata";
import os from "node:os";
import path from "node:path";
import { Command } from "commander";
import { chromium } from "playwright-core";
import { loadAppConfig } from "../src/config.ts";
import { YELP_SHAPE, syntheticSource } from "../src/data/generate.ts";
import { openDatabase } from "../src/db/data-source.ts";
import { userIdsInOrder } from "../src/db/dataset-rows.ts";
import { findDatasetRef } from "../src/db/load-dataset-matrices.ts";
import { latestReadyModel } from "../src/db/model-rows.ts";
import { DRAWN_MARK } from "../src/graphql/dashboard.ts";
import { currentBackend, initBackend } from "../src/engine/runtime/index.ts";
import { createServer, createServerDeps } from "../src/server.ts";
import { ingestDataset } from "../src/services/ingest.ts";
import { trainAndSave } from "../src/services/training.ts";
import { CHROMIUM } from "../test/graphql/headless-chromium.ts";

const DATASET = "bench-yelp-shaped";

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function main(argv: ReadonlyArray<string>): Promise<void> {
  const program = new Command("bench:dashboard")
    .option("--db <path>", "SQLite file for the benchmark data (filled the first time)", path.resolve("data", "bench-dashboard", "vcm.sqlite"))
    .option("--runs <n>", "page loads per view", "5")
    .parse([...argv], { from: "user" });
  const opts = program.opts<{ db: string; runs: string }>();
  const runs = Number(opts.runs);
  const dbPath = path.resolve(opts.db);
  const config = loadAppConfig({ dbPath, modelsDir: path.join(path.dirname(dbPath), "models") });
  const dataSource = await openDatabase(dbPath);
  await initBackend();
  let dataset = await findDatasetRef(dataSource, DATASET).catch(() => undefined);
  if (dataset === undefined) {
    process.stderr.write(`generating the Yelp-shaped dataset (${YELP_SHAPE.users} users × ${YELP_SHAPE.items} items × ${YELP_SHAPE.vocab} words)…\n`);
    await ingestDataset(dataSource, { name: DATASET, source: syntheticSource(YELP_SHAPE) });
    dataset = await findDatasetRef(dataSource, DATASET);
  }
  let model = await latestReadyModel(dataSource, DATASET, "vcm");
  if (model === null) {
    process.stderr.write("training a VCM model for 1 epoch (the page's cost needs the real shapes, not a converged model)…\n");
    model = (await trainAndSave({ dataSource, dataset: DATASET, variant: "vcm", config: { epochs: 1 }, modelsDir: config.modelsDir })).model;
  }
  const [userId] = await userIdsInOrder(dataSource, { datasetId: dataset.id, offset: 0, limit: 1 });
  const server = await createServer(createServerDeps({ dataSource, config }));
  const base = (await server.listen({ port: 0 })).url.replace(/\/$/, "");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const loadBefore = os.loadavg()[0];
  try {
    const views: Array<[string, string]> = [
      ["first page (models view)", `${base}/dashboard`],
      [`user view (user ${userId}, model ${model.id})`, `${base}/dashboard?view=user&user=${userId}&model=${model.id}`],
    ];
    for (const [name, url] of views) {
      const paints: number[] = [];
      const drawn: number[] = [];
      for (let i = 0; i < runs; i += 1) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(url);
        await page.waitForSelector('#dashboard[data-ready="true"]', { timeout: 120_000 });
        const [paint, mark] = await page.evaluate((markName) => [
          performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
          performance.getEntriesByName(markName)[0]?.startTime ?? NaN,
        ], DRAWN_MARK);
        paints.push(paint);
        drawn.push(mark);
        await page.close();
      }
      console.log(`${name}: first contentful paint ${median(paints).toFixed(0)} ms, drawn ${median(drawn).toFixed(0)} ms (medians of ${runs}; drawn per run: ${drawn.map((d) => d.toFixed(0)).join(", ")} ms)`);
    }
  } finally {
    await browser.close();
    await server.stop();
    await dataSource.destroy();
  }
  console.log(`dataset ${DATASET} (${YELP_SHAPE.users} users × ${YELP_SHAPE.items} items), model ${model.id}, backend ${currentBackend()}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
}

await main(process.argv.slice(2));
