/**
 * What training a model, or loading, evaluating and exporting with a saved one, will hold in memory,
 * estimated from the shapes and the configuration alone, so work that cannot fit is refused before it
 * starts (instead of failing tens of seconds in with "memory access out of bounds", or a server
 * killed for memory mid-request). The same parameter count sizes the checkpoint.
 */
import type { VcmConfig } from "./config.ts";
import { familyOf } from "./models/index.ts";
import type { TrainingMemoryLimit } from "./runtime/index.ts";
import { capabilitiesOf } from "./types.ts";
import { DELETION_ROWS_PER_CHUNK } from "./models/vcm/deletion.ts";
import { blockItemsFor } from "./running-top-k.ts";
import { approximateRetrievalBytes } from "./retrieval/retrieval-mode.ts";

export type { TrainingMemoryLimit } from "./runtime/index.ts";

/** The shape of a dataset as training sees it. */
export interface TrainingShape {
  readonly users: number;
  readonly items: number;
  readonly words: number;
  /** Stored entries of the training clicks. */
  readonly trainClicks: number;
  /** Stored entries of the users' bags of words (0 where unknown: the estimate is then a lower bound). */
  readonly wordEntries: number;
}

/** The estimate, in bytes, by part. */
export interface TrainingMemoryEstimate {
  readonly parameters: number;
  /** Weights, Adam's m and v, gradients and the best epoch's copy: five float32 values per parameter. */
  readonly parameterBytes: number;
  /** Dense activations of a training step (forward and backward) or of a validation pass's item block, whichever is larger. */
  readonly activationBytes: number;
  /** The input CSR matrices (indices, values, row pointers). */
  readonly inputBytes: number;
  readonly totalBytes: number;
  /** The largest single tensor (a GPU buffer must hold it whole). */
  readonly largestTensorBytes: number;
  /** weights.bin of the checkpoint. */
  readonly checkpointBytes: number;
}

const FLOAT = 4;
/** Copies of each parameter while training (weights, Adam m and v, gradients, best epoch). */
const PARAMETER_COPIES = 5;
/** Dense batch × width tensors alive at once per output (logits, softmax, log-softmax, gradient). */
const ACTIVATION_COPIES = 4;

/** Trainable parameters of the configured variant for this shape (the popularity floor counts one per item). */
export function trainingParameterCount(shape: TrainingShape, config: VcmConfig): number {
  return familyOf(config.variant).parameterCount({ numUsers: shape.users, numItems: shape.items, numWords: shape.words, config });
}

/** The memory a training run of `config` on a dataset of `shape` needs, by part (a pure function). */
export function estimateTrainingMemory(shape: TrainingShape, config: VcmConfig): TrainingMemoryEstimate {
  const parameters = trainingParameterCount(shape, config);
  const batch = Math.min(shape.users, config.batchSize);
  const evalBatch = Math.min(shape.users, config.evalBatchSize);
  // A training step decodes every item and word (or, with a sampled softmax, the batch's positives and the sampled columns); validation scores one item block at a time (running-top-k.ts).
  const stepBytes = config.sampledSoftmax === null ? batch * (shape.items + shape.words) * FLOAT * ACTIVATION_COPIES : sampledSoftmaxActivationBytes(shape, config);
  const validationBytes = evalBatch * (Math.min(shape.items, blockItemsFor(evalBatch)) + shape.words) * FLOAT * ACTIVATION_COPIES;
  const activationBytes = !capabilitiesOf(config.variant).trained ? 0 : Math.max(stepBytes, validationBytes);
  const inputBytes = (shape.trainClicks + shape.wordEntries) * 2 * FLOAT + (shape.users + 1) * 2 * FLOAT;
  const parameterBytes = parameters * FLOAT * PARAMETER_COPIES;
  const largestTensorBytes = Math.max(
    batch * Math.max(shape.items, shape.words) * FLOAT,
    evalBatch * Math.max(Math.min(shape.items, blockItemsFor(evalBatch)), shape.words) * FLOAT,
    shape.items * Math.max(config.hiddenX, config.baselineLatentDim) * FLOAT,
    shape.words * Math.max(config.hiddenY, config.latentDim) * FLOAT,
  );
  return {
    parameters,
    parameterBytes,
    activationBytes,
    inputBytes,
    totalBytes: parameterBytes + activationBytes + inputBytes,
    largestTensorBytes,
    checkpointBytes: parameters * FLOAT,
  };
}

/**
 * A sampled softmax's training step (models/vcm/sampling.ts): per decoder, batch × S activations, S the
 * batch's positives (at most batch × the mean entries per user) plus the negatives, at most every
 * column; and the (row, column) pairs and gathered columns of the output layer, hidden × S each.
 */
export function sampledSoftmaxActivationBytes(shape: TrainingShape, config: VcmConfig): number {
  const batch = Math.min(shape.users, config.batchSize);
  const negatives = config.sampledSoftmax ?? 0;
  const columns = (cols: number, entries: number): number => Math.min(cols, Math.ceil((batch * entries) / Math.max(1, shape.users)) + negatives);
  const sx = columns(shape.items, shape.trainClicks);
  const sy = columns(shape.words, shape.wordEntries);
  const gathered = (rows: number, s: number): number => rows * s * (2 * FLOAT + 2 * FLOAT);
  return batch * (sx + sy) * FLOAT * ACTIVATION_COPIES + gathered(config.hiddenX, sx) + gathered(config.latentDim, sy);
}

/** Bytes as a person reads them: "4.0 GiB", "312 MiB". */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * The sentence refusing a run that cannot fit under `limit` (the estimate, the limit, what to change),
 * or undefined when it fits.
 */
export function memoryRefusal(o: { shape: TrainingShape; config: VcmConfig; limit: TrainingMemoryLimit }): string | undefined {
  const e = estimateTrainingMemory(o.shape, o.config);
  const change =
    "train with a smaller batch (batchSize, evalBatchSize), smaller hidden sizes (hiddenX, hiddenY) or a sampled softmax (--sampled-softmax N), on fewer items (ingest with a higher --min-item-users), or where more memory is free (VCM_MAX_MEMORY_MB)";
  if (e.totalBytes > o.limit.totalBytes) {
    return `Training this model needs about ${formatBytes(e.totalBytes)} (${e.parameters.toLocaleString("en-US")} parameters: ${formatBytes(e.parameterBytes)} for weights, Adam state, gradients and the best epoch's copy; ${formatBytes(e.activationBytes)} of batch activations; ${formatBytes(e.inputBytes)} of input), more than ${o.limit.what} holds (${formatBytes(o.limit.totalBytes)}); ${change}.`;
  }
  if (o.limit.tensorBytes !== undefined && e.largestTensorBytes > o.limit.tensorBytes) {
    return `Training this model needs a tensor of about ${formatBytes(e.largestTensorBytes)}, more than the GPU adapter allows in one buffer (${formatBytes(o.limit.tensorBytes)}); ${change}.`;
  }
  return undefined;
}

/** A saved model as loading, evaluating and exporting see it. */
export interface InferenceShape {
  readonly items: number;
  readonly words: number;
  /** Bytes of the checkpoint's weights.bin. */
  readonly weightBytes: number;
  /** Bytes of the dataset's matrices the work reads besides (0 for loading alone). */
  readonly inputBytes: number;
  /** Whether the model will be ranked through an approximate index (a server under --retrieval), which it holds besides. */
  readonly approximateRetrieval?: boolean;
}

/** The estimate of a loaded model's work, in bytes, by part. */
export interface InferenceMemoryEstimate {
  /** The weights while they load: the file's bytes, their arrays and the backend's tensors. */
  readonly loadingBytes: number;
  /** One pass's scores: a chunk of rows × one item block (or the vocabulary), as logits, probabilities and the host's copy. */
  readonly scoringBytes: number;
  /** Rows per pass and items per block the scoring part counts. */
  readonly scoringRows: number;
  readonly scoringColumns: number;
  readonly inputBytes: number;
  /** The approximate retrieval index and its host copy of the output layer (0 when ranked exactly). */
  readonly retrievalBytes: number;
  readonly totalBytes: number;
  /** The largest single tensor (a GPU buffer must hold it whole). */
  readonly largestTensorBytes: number;
}

/** Copies of the weights at once while a checkpoint loads (the file's bytes and the tensors; measured 2.2–2.3, memory-rss.test.ts). */
const LOADING_COPIES = 2;
/** Copies of a pass's scores alive at once (the logits and their softmax, or a block's logits and the output layer's slice). */
const SCORING_COPIES = 2;

/**
 * What loading a saved model and scoring with it hold (a pure function): its weights as they load,
 * one pass of scores over evalBatchSize rows (or the explanations' 640-row deletion chunk, if more)
 * and one item block (running-top-k.ts) or the vocabulary, and the dataset's matrices read beside.
 */
export function estimateInferenceMemory(shape: InferenceShape, config: VcmConfig): InferenceMemoryEstimate {
  // The explanations' deletion chunks (deletion.ts) hold up to 640 rows of one block's width.
  const scoringRows = Math.max(config.evalBatchSize, DELETION_ROWS_PER_CHUNK);
  const scoringColumns = Math.max(Math.min(shape.items, blockItemsFor(config.evalBatchSize)), shape.words);
  const scoringBytes = scoringRows * scoringColumns * FLOAT * SCORING_COPIES;
  const loadingBytes = shape.weightBytes * LOADING_COPIES;
  const largestWeight = shape.items * Math.max(config.hiddenX, config.baselineLatentDim) * FLOAT;
  const retrievalBytes = shape.approximateRetrieval === true ? approximateRetrievalBytes({ items: shape.items, hidden: config.hiddenX }) : 0;
  return {
    loadingBytes,
    scoringBytes,
    scoringRows,
    scoringColumns,
    inputBytes: shape.inputBytes,
    retrievalBytes,
    totalBytes: loadingBytes + scoringBytes + shape.inputBytes + retrievalBytes,
    largestTensorBytes: Math.max(largestWeight, scoringRows * scoringColumns * FLOAT),
  };
}

/**
 * The sentence refusing to load (evaluate, export with) a saved model whose work cannot fit under
 * `limit`, `doing` naming the work ("Loading model 12"), or undefined when it fits.
 */
export function inferenceRefusal(o: { shape: InferenceShape; config: VcmConfig; limit: TrainingMemoryLimit; doing: string }): string | undefined {
  const e = estimateInferenceMemory(o.shape, o.config);
  const change =
    "run it where more memory is free (or raise VCM_MAX_MEMORY_MB), or train a smaller model: smaller hidden sizes (hiddenX, hiddenY), or fewer items (ingest with a higher --min-item-users)";
  if (e.totalBytes > o.limit.totalBytes) {
    const input = (e.inputBytes > 0 ? `; ${formatBytes(e.inputBytes)} of the dataset's matrices` : "") + (e.retrievalBytes > 0 ? `; ${formatBytes(e.retrievalBytes)} of approximate retrieval's index (--retrieval exact does without it)` : "");
    return `${o.doing} needs about ${formatBytes(e.totalBytes)} (${formatBytes(o.shape.weightBytes)} of weights, ${formatBytes(e.loadingBytes)} while they load; ${formatBytes(e.scoringBytes)} of scores for ${e.scoringRows.toLocaleString("en-US")} users × ${e.scoringColumns.toLocaleString("en-US")} items a pass${input}), more than ${o.limit.what} holds (${formatBytes(o.limit.totalBytes)}); ${change}.`;
  }
  if (o.limit.tensorBytes !== undefined && e.largestTensorBytes > o.limit.tensorBytes) {
    return `${o.doing} needs a tensor of about ${formatBytes(e.largestTensorBytes)}, more than the GPU adapter allows in one buffer (${formatBytes(o.limit.tensorBytes)}); ${change}.`;
  }
  return undefined;
}
