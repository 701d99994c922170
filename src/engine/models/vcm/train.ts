/**
 * Algorithm 1: joint training of VAEx and VAEy with the annealed objective, Adam, the best epoch by
 * validation NDCG@100, per-epoch records, optional early stopping, a seed and cancellation, inside the
 * epoch loop all trained models share (epochs.ts).
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import { ErrorCode, invariant, UserError } from "../../../errors.ts";
import { sparseBatch } from "../../batch.ts";
import type { VcmConfig } from "../../config.ts";
import { Rng } from "../../random.ts";
import type { ModelSnapshot, Side } from "../../types.ts";
import { Adam, gaussianKernelsEnabled, gaussianTerms, sparseBatchTensors, sparseTarget, type SparseTarget } from "../../runtime/index.ts";
import { runEpochs, TERM_NAMES, type PhaseResult } from "../epochs.ts";
import { grownValues, initialValues, type Params } from "../params.ts";
import type { TrainedOn, TrainOptions } from "../recommender.ts";
import {
  annealedBeta,
  jointLoss,
  klGaussians,
  klToStandardNormal,
  multinomialNll,
  sampledMultinomialNll,
  squaredDistance,
  type LossTerms,
  type ObjectivePart,
  type SampledColumnTensors,
} from "./losses.ts";
import { VcmModel } from "./model.ts";
import { proposalOf, sampleColumnsOrAll, type Proposal, type SampledColumns } from "./sampling.ts";
import { decode, decodeHidden, encode, outputLayer, paramSpecs, reparameterise } from "./vae.ts";

/** Trains VCM or one of its ablations (vcm-od in two phases) and returns the model with its best epoch's weights. */
export async function trainVcm(options: TrainOptions & TrainedOn): Promise<VcmModel> {
  const { train, words, config, backend, device } = options;
  const sizes = { numItems: train.cols, numWords: words.cols, config };
  const params = options.from === undefined ? initParams(sizes) : warmStartParams({ ...sizes, from: options.from });
  const betaStart = betaStartStep({ from: options.from, config });
  const live = VcmModel.create({ config, backend, device, numItems: train.cols, numWords: words.cols, params, history: [], bestEpoch: 0 });
  const rng = new Rng(config.seed + 1);
  try {
    if (config.variant === "vcm-od") {
      // Phase 1: VAEy alone; its weights are then frozen for phase 2.
      await runPhase({ ...options, config, params, rng, part: "vcm-od-y", live: undefined, betaStart });
    }
    const part: ObjectivePart = config.variant === "vcm-od" ? "vcm-od-x" : config.variant;
    const result = await runPhase({ ...options, config, params, rng, part, live, betaStart });
    return VcmModel.create({
      config,
      backend,
      device,
      numItems: train.cols,
      numWords: words.cols,
      params: result.best!,
      history: result.history,
      bestEpoch: result.bestEpoch,
    });
  } finally {
    live.dispose();
  }
}

/** Runs the epochs of one objective; `live` (absent in vcm-od's first phase) is evaluated after each. */
async function runPhase(o: TrainOptions & { config: VcmConfig; params: Params; rng: Rng; part: ObjectivePart; live: VcmModel | undefined; betaStart: number }): Promise<PhaseResult> {
  const { config, params, part } = o;
  const names = [...params.keys()].filter((n) => (part === "vcm-od-y" ? n.startsWith("y.") : part === "vcm-od-x" ? n.startsWith("x.") : true));
  const adam = new Adam(
    names.map((n) => params.get(n)!.size),
    { learningRate: config.learningRate, inPlace: names.map(updatableInPlace) },
  );
  try {
    return await trainEpochs({ ...o, names, adam });
  } finally {
    adam.dispose();
  }
}

/** The epoch loop of runPhase: VCM's batches of Adam steps inside the shared runEpochs. */
async function trainEpochs(o: TrainOptions & { config: VcmConfig; params: Params; rng: Rng; part: ObjectivePart; live: VcmModel | undefined; names: string[]; adam: Adam; betaStart: number }): Promise<PhaseResult> {
  const { config, params, rng, part, train, words, names, adam, betaStart } = o;
  const proposals = sampledProposals({ config, train, words });
  return runEpochs({
    ...o,
    epoch: async () => {
      const order = rng.permutation(train.rows);
      const sums = new Float64Array(TERM_NAMES.length);
      for (let start = 0; start < order.length; start += config.batchSize) {
        o.signal?.throwIfAborted();
        const rows = order.subarray(start, start + config.batchSize);
        const beta = annealedBeta({ step: betaStart + adam.steps, beta: config.beta, annealSteps: config.annealSteps });
        // Reading the means also lets timers, requests and abort signals run between steps.
        const means = await trainStep({ params, names, adam, part, beta, rows, rng, train, words, config, proposals });
        means.forEach((m, i) => (sums[i] += m * rows.length));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return { terms: Array.from(sums, (x) => x / train.rows), beta: annealedBeta({ step: betaStart + adam.steps, beta: config.beta, annealSteps: config.annealSteps }) };
    },
  });
}

/**
 * The first layers' weights are read by sparseSegmentSum, or by a matMul only when it is the native
 * sgemm (prefersDenseInput), which keeps no packed copy: so they can be updated in place (see Adam).
 */
export function updatableInPlace(name: string): boolean {
  return name.endsWith(".enc.W");
}

/** Fresh parameter tensors with the config's seeded initial values (the caller disposes them). */
export function initParams(options: { numItems: number; numWords: number; config: VcmConfig }): Params {
  const specs = paramSpecs(options);
  const params: Params = new Map();
  initialValues(specs, options.config.seed).forEach((values, i) => params.set(specs[i].name, tf.tensor(values, [...specs[i].shape])));
  return params;
}

/**
 * A warm start's parameter tensors: the saved model's weights bit for bit, with the rows of the items
 * appended since it was trained (columns numItems.. of the grown data) as a fresh start with the
 * config's seed creates them (params.ts grownValues). The caller disposes them.
 */
export function warmStartParams(options: { numItems: number; numWords: number; config: VcmConfig; from: ModelSnapshot }): Params {
  const { from } = options;
  if (from.numItems > options.numItems || from.numWords !== options.numWords) {
    throw new UserError(
      ErrorCode.BAD_USER_INPUT,
      `the saved model knows ${from.numItems} items and ${from.numWords} words but the data has ${options.numItems} items and ${options.numWords} words; ` +
        "a warm start needs the same words and at least the model's items (train from scratch on replaced data)",
    );
  }
  const specs = paramSpecs(options);
  const params: Params = new Map();
  grownValues({ specs, weights: from.weights, knownItems: from.numItems, seed: options.config.seed }).forEach((values, i) => params.set(specs[i].name, tf.tensor(values, [...specs[i].shape])));
  return params;
}

/**
 * The optimiser step β's annealing starts from: 0 for a fresh start; for a warm start the step at
 * which min(β, step / annealSteps) equals the β the saved model's best epoch ended with, so the
 * schedule continues and a trained posterior is not pulled back to β = 0 and re-annealed.
 */
export function betaStartStep(options: { from: ModelSnapshot | undefined; config: VcmConfig }): number {
  const best = options.from?.history.find((h) => h.epoch === options.from?.bestEpoch);
  return best === undefined ? 0 : Math.round(best.beta * options.config.annealSteps);
}

/**
 * One optimiser step on a batch of users (exported for the step profiler and the leak test); updates
 * `params` and resolves to the batch means of the six loss terms (read once the step has run).
 */
export async function trainStep(o: {
  params: Params;
  names: string[];
  adam: Adam;
  part: ObjectivePart;
  beta: number;
  rows: ArrayLike<number>;
  rng: Rng;
  train: CsrMatrix;
  words: CsrMatrix;
  config: VcmConfig;
  /** The sampled softmax's proposals over items and words (sampledProposals), built here when absent. */
  proposals?: SampledProposals;
  /** When given, milliseconds spent building the batch, in forward + backward, and in Adam are added to it. */
  timings?: StepTimings;
}): Promise<number[]> {
  const { params, names, adam, part, beta, rows, rng, train, words, config } = o;
  const t0 = performance.now();
  const b = rows.length;
  const k = config.latentDim;
  const xIn = sparseBatch({ matrix: train, rows, dropout: config.dropout, rng });
  const xRaw = sparseBatch({ matrix: train, rows, normalise: false });
  const yIn = sparseBatch({ matrix: words, rows });
  const yRaw = sparseBatch({ matrix: words, rows, normalise: false });
  const epsX = rng.normals(b * k);
  const epsY = rng.normals(b * k);
  const proposals = o.proposals ?? sampledProposals({ config, train, words });
  const negatives = config.sampledSoftmax ?? 0;
  const sampledX = proposals && sampleColumnsOrAll({ target: xRaw, proposal: proposals.x, negatives, rng });
  const sampledY = proposals && sampleColumnsOrAll({ target: yRaw, proposal: proposals.y, negatives, rng });
  let means: tf.Tensor1D | undefined;
  const trainable = names.map((n) => params.get(n)!);
  const t1 = performance.now();
  const grads = tf.tidy(() => {
    const inputs = {
      xIn: sparseBatchTensors(xIn, train.cols),
      xTarget: sparseTarget(xRaw),
      yIn: sparseBatchTensors(yIn, words.cols),
      yTarget: sparseTarget(yRaw),
      epsX: tf.tensor2d(epsX, [b, k]),
      epsY: tf.tensor2d(epsY, [b, k]),
      sampledX: sampledX && sampledColumnTensors(sampledX),
      sampledY: sampledY && sampledColumnTensors(sampledY),
    };
    const { grads: g } = tf.valueAndGrads(() => {
      const terms = lossTerms({ params, part, ...inputs });
      const loss = jointLoss({ terms, beta, part });
      means = tf.keep(tf.stack(TERM_NAMES.map((n) => tf.mean(terms[n])))) as tf.Tensor1D;
      return loss;
    })(trainable);
    return g;
  });
  const t2 = performance.now();
  const updated = adam.update(trainable, grads);
  names.forEach((n, i) => params.set(n, updated[i]));
  tf.dispose(grads);
  const t3 = performance.now();
  invariant(means !== undefined, "the loss terms were not computed");
  let values: number[];
  try {
    values = Array.from((await means.data()) as Float32Array);
  } finally {
    means.dispose();
  }
  if (o.timings) {
    o.timings.batchMs += t1 - t0;
    o.timings.gradientsMs += t2 - t1;
    o.timings.adamMs += t3 - t2;
  }
  return values;
}

/** Where a training step's time goes (for the step profiler). */
export interface StepTimings {
  batchMs: number;
  gradientsMs: number;
  adamMs: number;
}

/** The proposals a sampled softmax draws from over the items (x) and the words (y); undefined for the full softmax. */
export type SampledProposals = { readonly x: Proposal; readonly y: Proposal } | undefined;

/** The configured sampled softmax's proposals over the training clicks' items and the words (sampling.ts). */
export function sampledProposals(o: { config: VcmConfig; train: CsrMatrix; words: CsrMatrix }): SampledProposals {
  if (o.config.sampledSoftmax === null) return undefined;
  return { x: proposalOf({ kind: o.config.sampledProposal, matrix: o.train }), y: proposalOf({ kind: o.config.sampledProposal, matrix: o.words }) };
}

/** A step's sampled columns as tensors (inside the step's tidy). */
export function sampledColumnTensors(s: SampledColumns): SampledColumnTensors {
  return { columnIds: s.columns, columns: tf.tensor1d(s.columns, "int32"), correction: tf.tensor1d(s.correction), target: sparseTarget(s.target) };
}

/**
 * One side's reconstruction term −log p(· | z): the full softmax over every column, or, when the step
 * sampled columns, the sampled softmax over those (losses.ts sampledMultinomialNll).
 */
function reconstruction(o: { params: Params; side: Side; z: tf.Tensor2D; target: SparseTarget; sample: SampledColumnTensors | undefined }): tf.Tensor1D {
  const { params, side, z } = o;
  if (o.sample === undefined) return multinomialNll(decode({ params, side, z }), o.target);
  return sampledMultinomialNll({ hidden: decodeHidden({ params, side, z }), ...outputLayer(params, side), sample: o.sample });
}

/** The six per-user terms of a batch (zeros for the side or terms a part does not use). */
export function lossTerms(o: {
  params: Params;
  part: ObjectivePart;
  xIn: ReturnType<typeof sparseBatchTensors>;
  xTarget: ReturnType<typeof sparseTarget>;
  yIn: ReturnType<typeof sparseBatchTensors>;
  yTarget: ReturnType<typeof sparseTarget>;
  epsX: tf.Tensor2D;
  epsY: tf.Tensor2D;
  /** The columns of a sampled softmax of each side (absent: the full softmax). */
  sampledX?: SampledColumnTensors;
  sampledY?: SampledColumnTensors;
}): LossTerms {
  const { params, part } = o;
  const zeros = (): tf.Tensor1D => tf.zeros([o.epsY.shape[0]]);
  const qy = encode({ params, side: "y", input: o.yIn });
  const reconY = reconstruction({ params, side: "y", z: reparameterise({ ...qy, eps: o.epsY }), target: o.yTarget, sample: o.sampledY });
  if (part === "vcm-od-y") {
    const none = zeros();
    return { reconX: none, reconY, klPriorX: none, klPriorY: klToStandardNormal(qy.mu, qy.logVar), klCrossX: none, klCrossY: none };
  }
  const qx = encode({ params, side: "x", input: o.xIn });
  const reconX = reconstruction({ params, side: "x", z: reparameterise({ ...qx, eps: o.epsX }), target: o.xTarget, sample: o.sampledX });
  if (gaussianKernelsEnabled()) {
    // The four Gaussian terms in one kernel and one for their gradient (gaussian-terms.ts).
    const cross = part === "vcm-nv" ? "squared" : part === "vcm-se" ? "none" : "kl";
    const [priorX, priorY, crossX, crossY] = tf.unstack(gaussianTerms({ muX: qx.mu, logVarX: qx.logVar, muY: qy.mu, logVarY: qy.logVar, cross })) as tf.Tensor1D[];
    return { reconX, reconY, klPriorX: priorX, klPriorY: priorY, klCrossX: crossX, klCrossY: crossY };
  }
  const klPriorX = klToStandardNormal(qx.mu, qx.logVar);
  const klPriorY = klToStandardNormal(qy.mu, qy.logVar);
  let klCrossX: tf.Tensor1D;
  let klCrossY: tf.Tensor1D;
  if (part === "vcm-nv") {
    klCrossX = squaredDistance(qx.mu, qy.mu);
    klCrossY = klCrossX;
  } else if (part !== "vcm-se") {
    klCrossX = klGaussians({ mu1: qx.mu, logVar1: qx.logVar, mu2: qy.mu, logVar2: qy.logVar });
    klCrossY = klGaussians({ mu1: qy.mu, logVar1: qy.logVar, mu2: qx.mu, logVar2: qx.logVar });
  } else {
    klCrossX = zeros();
    klCrossY = klCrossX;
  }
  return { reconX, reconY, klPriorX, klPriorY, klCrossX, klCrossY };
}
