/**
 * The demo that `npm start` sets up on a fresh clone: a generated dataset and a small trained model,
 * made once and reused on later starts.
 */
import type { DataSource } from "typeorm";
import { syntheticSource, type SyntheticOptions } from "../data/generate.ts";
import { countDatasets, findDatasetFrom, firstDataset } from "../db/dataset-rows.ts";
import { countReadyModels } from "../db/model-rows.ts";
import type { VcmConfig } from "../engine/config.ts";
import type { EpochRecord } from "../engine/types.ts";
import { ingestDataset } from "./ingest.ts";
import { trainAndSave } from "./training.ts";

/** Name of the generated demo dataset. */
export const DEMO_DATASET = "demo";

/** Shape of the demo dataset: planted topics, hundreds of users, quick to train. */
export const DEMO_SHAPE: SyntheticOptions = Object.freeze({ users: 600, items: 800, vocab: 2_000, seed: 1 });

/** A small VCM that trains in well under two minutes on 2 cores and still beats popularity. */
export const DEMO_TRAINING: Partial<VcmConfig> = Object.freeze({
  variant: "vcm",
  latentDim: 32,
  hiddenX: 200,
  hiddenY: 200,
  epochs: 25,
  batchSize: 64,
  annealSteps: 200,
  seed: 1,
});

/** What ensureDemoData did. */
export interface DemoSetup {
  /** True when this call generated the demo dataset. */
  readonly generated: boolean;
  /** Id of the model this call trained, or null when a ready model already existed (or data did, not ours). */
  readonly trainedModelId: number | null;
  /** A dataset to show in the example query. */
  readonly datasetName: string | null;
}

/** Progress lines for the console. */
export type DemoProgress =
  | { readonly kind: "message"; readonly text: string }
  | { readonly kind: "epoch"; readonly record: EpochRecord; readonly epochs: number };

/**
 * When the database holds no dataset, generates the demo dataset; when the demo dataset has no ready
 * model (first start, or a start interrupted while training), trains one. Anything else is left as it is.
 */
export async function ensureDemoData(options: {
  dataSource: DataSource;
  modelsDir: string;
  onProgress?: (event: DemoProgress) => void;
}): Promise<DemoSetup> {
  const { dataSource, modelsDir } = options;
  const report = options.onProgress ?? (() => undefined);
  let generated = false;
  if ((await countDatasets(dataSource)) === 0) {
    report({ kind: "message", text: `No dataset yet: generating the demo dataset "${DEMO_DATASET}" (${DEMO_SHAPE.users} users, ${DEMO_SHAPE.items} items)…` });
    const summary = await ingestDataset(dataSource, { name: DEMO_DATASET, source: syntheticSource(DEMO_SHAPE) });
    report({ kind: "message", text: `Generated "${DEMO_DATASET}": ${summary.users} users, ${summary.items} items, ${summary.clicks} clicks, ${summary.vocabulary} words.` });
    generated = true;
  }
  const demo = await findDatasetFrom(dataSource, { name: DEMO_DATASET, source: "generated" });
  if (demo === null) {
    const first = await firstDataset(dataSource);
    return { generated, trainedModelId: null, datasetName: first?.name ?? null };
  }
  const ready = await countReadyModels(dataSource, demo.id);
  if (ready > 0) return { generated, trainedModelId: null, datasetName: demo.name };

  const epochs = DEMO_TRAINING.epochs ?? 0;
  report({ kind: "message", text: `Training a small VCM on "${DEMO_DATASET}" (${epochs} epochs; well under a minute on 2 cores)…` });
  const { model } = await trainAndSave({
    dataSource,
    dataset: DEMO_DATASET,
    variant: "vcm",
    config: DEMO_TRAINING,
    modelsDir,
    onEpoch: (record) => report({ kind: "epoch", record, epochs }),
  });
  report({
    kind: "message",
    text: `Model ${model.id} is ready: best epoch ${model.bestEpoch}, test NDCG@10 ${(model.testMetrics?.vcm["ndcg@10"] ?? 0).toFixed(4)}.`,
  });
  return { generated, trainedModelId: model.id, datasetName: demo.name };
}
