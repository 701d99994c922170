/**
 * What training a model will hold in memory, estimated from the dataset's shape and the configuration
 * alone, so a run that cannot fit is refused before any work (instead of failing tens of seconds in
 * with "memory access out of bounds"). The same parameter count sizes the checkpoint.
 */
import type { VcmConfig } from "./config.ts";
import { familyOf } from "./models/index.ts";
import type { TrainingMemoryLimit } from "./runtime/index.ts";
import { capabilitiesOf } from "./types.ts";

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
  /** Dense activations of the largest batch (training or evaluation), forward and backward. */
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
  const batch = Math.min(shape.users, Math.max(config.batchSize, config.evalBatchSize));
  const width = shape.items + shape.words;
  const activationBytes = !capabilitiesOf(config.variant).trained
    ? 0
    : config.sampledSoftmax === null
      ? batch * width * FLOAT * ACTIVATION_COPIES
      : Math.max(sampledSoftmaxActivationBytes(shape, config), Math.min(shape.users, config.evalBatchSize) * width * FLOAT * ACTIVATION_COPIES);
  const inputBytes = (shape.trainClicks + shape.wordEntries) * 2 * FLOAT + (shape.users + 1) * 2 * FLOAT;
  const parameterBytes = parameters * FLOAT * PARAMETER_COPIES;
  const largestTensorBytes = Math.max(
    batch * Math.max(shape.items, shape.words) * FLOAT,
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
    "train on fewer items (ingest with a higher --min-item-users), with smaller hidden sizes (hiddenX, hiddenY) or a smaller batch (batchSize, evalBatchSize), or on a backend with more memory";
  if (e.totalBytes > o.limit.totalBytes) {
    return `Training this model needs about ${formatBytes(e.totalBytes)} (${e.parameters.toLocaleString("en-US")} parameters: ${formatBytes(e.parameterBytes)} for weights, Adam state, gradients and the best epoch's copy; ${formatBytes(e.activationBytes)} of batch activations; ${formatBytes(e.inputBytes)} of input), more than ${o.limit.what} holds (${formatBytes(o.limit.totalBytes)}); ${change}.`;
  }
  if (o.limit.tensorBytes !== undefined && e.largestTensorBytes > o.limit.tensorBytes) {
    return `Training this model needs a tensor of about ${formatBytes(e.largestTensorBytes)}, more than ${o.limit.what} allows in one buffer (${formatBytes(o.limit.tensorBytes)}); ${change}.`;
  }
  return undefined;
}
