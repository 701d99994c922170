/** Trains a paper baseline: its own epoch of updates (baseline.ts BaselineTrainer) inside the shared epoch loop (epochs.ts). */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import type { VcmConfig } from "../../config.ts";
import { Rng } from "../../random.ts";
import type { BaselineVariant } from "../../types.ts";
import { runEpochs } from "../epochs.ts";
import { initialValues, type Params } from "../params.ts";
import type { TrainedOn, TrainOptions } from "../recommender.ts";
import { ROW_FINGERPRINTS } from "./baseline.ts";
import { baselineOf } from "./index.ts";
import { BaselineModel } from "./model.ts";
import { rowFingerprints } from "./pmf.ts";

export async function trainBaseline(o: TrainOptions & TrainedOn & { variant: BaselineVariant }): Promise<BaselineModel> {
  const { config, train, words, backend, device } = o;
  const baseline = baselineOf(o.variant);
  const params = initBaselineParams({ variant: o.variant, train, words, config });
  const base = { config, backend, device, numItems: train.cols, numWords: words.cols };
  const live = BaselineModel.create({ ...base, params, history: [], bestEpoch: 0 });
  const trainer = await baseline.trainer({ params, train, words, config, rng: new Rng(config.seed + 1) });
  try {
    const result = await runEpochs({ ...o, params, live, epoch: async () => ({ terms: await trainer.epoch({ signal: o.signal }), beta: 0 }) });
    return BaselineModel.create({ ...base, params: result.best!, history: result.history, bestEpoch: result.bestEpoch });
  } finally {
    trainer.dispose();
    live.dispose();
  }
}

/** A baseline's fresh weights: seeded initial values, and the fingerprints of the training rows (the caller disposes them). */
export function initBaselineParams(o: { variant: BaselineVariant; train: CsrMatrix; words: CsrMatrix; config: VcmConfig }): Params {
  const { train, words, config } = o;
  const specs = baselineOf(o.variant).specs({ numUsers: train.rows, numItems: train.cols, numWords: words.cols, config });
  const params: Params = new Map();
  initialValues(specs, config.seed).forEach((values, i) => params.set(specs[i].name, tf.tensor(values, [...specs[i].shape])));
  params.get(ROW_FINGERPRINTS)!.dispose();
  params.set(ROW_FINGERPRINTS, tf.tensor1d(rowFingerprints(train)));
  return params;
}
