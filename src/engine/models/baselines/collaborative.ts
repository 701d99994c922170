/**
 * The frame CDL and CVAE share: PMF with confidence weights over the clicks (pmf.ts) whose user factor
 * u_u is tied to a network over the user's words, u_u ~ N(t(y_u), λ⁻¹ I), with t = the SDAE's middle
 * layer (CDL) or the inference network's mean (CVAE). Both papers put the text on the item side; here
 * the text belongs to users, so the roles of u and v are swapped (docs/cli.md "Baselines").
 * One epoch alternates, as both papers do: the user factors in closed form, the item factors in closed
 * form, then one pass of the optimiser (`baselineOptimizer`, Adam by default as in both authors' codes)
 * over the network's weights with the factors fixed.
 */
import * as tf from "@tensorflow/tfjs";
import type { CsrMatrix } from "../../../data/csr.ts";
import type { SparseBatch } from "../../batch.ts";
import type { CdlConfig, CvaeConfig } from "../../config.ts";
import { matMulNT, sparseBatchTensors, type SparseBatchTensors } from "../../runtime/index.ts";
import type { Rng } from "../../random.ts";
import type { PredictionMode } from "../../types.ts";
import type { ParamSpec, Params } from "../params.ts";
import { replaceParam, ROW_FINGERPRINTS, rowsInBatches, type Baseline, type BaselineSizes, type BaselineTrainer } from "./baseline.ts";
import { networkOptimizer, type NetworkOptimizer } from "./optimizer.ts";
import { rowFingerprint, solveFactors, transposeCsr, weightedSquaredLoss, type Confidence } from "./pmf.ts";

/** What CDL and CVAE read between them: the shared alternation their common fields, each text network its own. */
type CollaborativeConfig = CdlConfig & CvaeConfig;

/** The user and item factors. */
export const USER_FACTORS = "pmf.U";
export const ITEM_FACTORS = "pmf.V";

/** Per-user network terms of a batch, each already weighted (types.ts EpochRecord). */
export interface NetworkTerms {
  readonly reconY: tf.Tensor1D;
  readonly klPriorY: tf.Tensor1D;
  readonly klCrossX: tf.Tensor1D;
}

/** The part that differs between CDL and CVAE: the network over the words. */
export interface TextNetwork {
  /** The network's weights (names start with its variant's name); with `tiedWeights`, no decoder matrix that is an encoder's transpose. */
  specs(o: { numWords: number; config: CollaborativeConfig }): ParamSpec[];
  /** Share of each user's words masked in the training input (CDL's denoising); 0 for none. */
  corruption(config: CollaborativeConfig): number;
  /** Whether its terms take reparameterisation noise ε ∈ R^K per user (CVAE). */
  readonly usesEps: boolean;
  /** The text side's mean for the user factor: f_e(y) (CDL), E_q[z] = μ(y) (CVAE); rows × K. */
  encode(o: { params: Params; config: CollaborativeConfig; clean: SparseBatchTensors }): tf.Tensor2D;
  /** The batch's per-user terms given its user factors u (rows × K). */
  terms(o: {
    params: Params;
    config: CollaborativeConfig;
    clean: SparseBatchTensors;
    noisy: SparseBatchTensors;
    target: tf.Tensor2D;
    u: tf.Tensor2D;
    eps: tf.Tensor2D | undefined;
  }): NetworkTerms;
}

/** A Baseline (baseline.ts) from a text network. */
export function collaborativeBaseline(net: TextNetwork): Baseline {
  return {
    specs: (sizes: BaselineSizes) => {
      const k = sizes.config.baselineLatentDim;
      return [
        { name: USER_FACTORS, shape: [sizes.numUsers, k] },
        { name: ITEM_FACTORS, shape: [sizes.numItems, k] },
        { name: ROW_FINGERPRINTS, shape: [sizes.numUsers] },
        ...net.specs({ numWords: sizes.numWords, config: sizes.config }),
      ];
    },
    trainer: async (o) => new CollaborativeTrainer({ net, ...o }),
    logits: (o) => collaborativeLogits({ net, ...o }),
  };
}

/**
 * Ranking scores r̂_ui = u_uᵀ v_i: for "vcm-cd" with u = t(y_u) (CDL §3.4's out-of-matrix prediction,
 * CVAE's likewise); for "vcm" with the trained u of a training row, or, for a row whose clicks are not
 * the ones trained on, u folded in from its clicks: one closed-form solve with the item factors and the
 * confidence weights, regularised towards 0 (its words are not at hand here).
 */
async function collaborativeLogits(o: { net: TextNetwork; params: Params; config: CollaborativeConfig; matrix: CsrMatrix; rows: ReadonlyArray<number>; mode: PredictionMode }): Promise<tf.Tensor2D> {
  const { net, params, config, matrix, rows } = o;
  const v = params.get(ITEM_FACTORS) as tf.Tensor2D;
  if (o.mode === "vcm-cd") {
    return tf.tidy(() => matMulNT(net.encode({ params, config, clean: sparseBatchTensors(textBatch({ words: matrix, rows }).input, matrix.cols) }), v));
  }
  const k = config.baselineLatentDim;
  const users = await readFactorsOfRows({ params, matrix, rows, k });
  if (users.foldIn.length > 0) {
    const solved = solveFactors({
      clicks: matrix,
      other: (await v.data()) as Float32Array,
      k,
      confidence: confidenceOf(config),
      reg: config.textOffsetReg,
      rows: users.foldIn.map((b) => rows[b]),
    });
    users.foldIn.forEach((b, q) => users.values.set(solved.subarray(q * k, (q + 1) * k), b * k));
  }
  return tf.tidy(() => matMulNT(tf.tensor2d(users.values, [rows.length, k]), v));
}

/**
 * The trained user factor of each row that is a training row with the clicks it was trained on, and
 * the positions (in `rows`) of the others.
 */
export async function readFactorsOfRows(o: { params: Params; matrix: CsrMatrix; rows: ReadonlyArray<number>; k: number; name?: string }): Promise<{ values: Float32Array; foldIn: number[] }> {
  const { params, matrix, rows, k } = o;
  const fingerprints = (await params.get(ROW_FINGERPRINTS)!.data()) as Float32Array;
  const factors = (await params.get(o.name ?? USER_FACTORS)!.data()) as Float32Array;
  const values = new Float32Array(rows.length * k);
  const foldIn: number[] = [];
  rows.forEach((r, b) => {
    if (r < fingerprints.length && fingerprints[r] === rowFingerprint(matrix, r)) values.set(factors.subarray(r * k, (r + 1) * k), b * k);
    else foldIn.push(b);
  });
  return { values, foldIn };
}

/** The confidence weights of a configuration. */
export function confidenceOf(config: CollaborativeConfig): Confidence {
  return { a: config.confidenceObserved, b: config.confidenceUnobserved };
}

/**
 * A batch of users' words scaled to [0, 1] by each row's largest count (the input and the target of
 * both networks), with `corruption` of the entries masked to 0 in the input (SDAE masking noise).
 */
export function textBatch(o: { words: CsrMatrix; rows: ArrayLike<number>; corruption?: number; rng?: Rng; withTarget?: boolean }): { input: SparseBatch; target: Float32Array | undefined } {
  const { words, rows } = o;
  const corruption = o.corruption ?? 0;
  let capacity = 0;
  for (let b = 0; b < rows.length; b += 1) capacity += words.indptr[rows[b] + 1] - words.indptr[rows[b]];
  const idx = new Int32Array(capacity);
  const seg = new Int32Array(capacity);
  const vals = new Float32Array(capacity);
  const rowSum = new Float32Array(rows.length);
  const target = o.withTarget ? new Float32Array(rows.length * words.cols) : undefined;
  let n = 0;
  for (let b = 0; b < rows.length; b += 1) {
    const r = rows[b];
    let max = 0;
    for (let e = words.indptr[r]; e < words.indptr[r + 1]; e += 1) max = Math.max(max, words.values[e]);
    for (let e = words.indptr[r]; e < words.indptr[r + 1]; e += 1) {
      const value = words.values[e] / max;
      if (target) target[b * words.cols + words.indices[e]] = value;
      if (corruption > 0 && o.rng!.next() < corruption) continue;
      idx[n] = words.indices[e];
      seg[n] = b;
      vals[n] = value;
      rowSum[b] += value;
      n += 1;
    }
  }
  return { input: { rows: rows.length, idx: idx.subarray(0, n), seg: seg.subarray(0, n), vals: vals.subarray(0, n), rowScale: undefined, rowSum }, target };
}

/** λw/2 Σ ‖W‖² over a network's weight matrices (names ending in ".W"). */
export function weightDecayTerm(params: Params, names: ReadonlyArray<string>, lambda: number): tf.Scalar {
  return tf.tidy(() => {
    const squares = names.filter((n) => n.endsWith(".W")).map((n) => tf.sum(tf.square(params.get(n)!)));
    return tf.mul(lambda / 2, squares.length === 0 ? tf.scalar(0) : tf.addN(squares)) as tf.Scalar;
  });
}

/** CDL / CVAE training: the alternating updates, each also callable alone (for the tests). */
export class CollaborativeTrainer implements BaselineTrainer {
  private readonly net: TextNetwork;
  private readonly params: Params;
  private readonly train: CsrMatrix;
  private readonly byItem: CsrMatrix;
  private readonly words: CsrMatrix;
  private readonly config: CollaborativeConfig;
  private readonly rng: Rng;
  private readonly names: string[];
  private readonly optimizer: NetworkOptimizer;
  /** Whether `pretrain` ran (the first epoch runs it). */
  private pretrained = false;

  constructor(o: { net: TextNetwork; params: Params; train: CsrMatrix; words: CsrMatrix; config: CollaborativeConfig; rng: Rng }) {
    this.net = o.net;
    this.params = o.params;
    this.train = o.train;
    this.byItem = transposeCsr(o.train);
    this.words = o.words;
    this.config = o.config;
    this.rng = o.rng;
    this.names = o.net.specs({ numWords: o.words.cols, config: o.config }).map((s) => s.name);
    this.optimizer = networkOptimizer(
      this.names.map((n) => o.params.get(n)!),
      o.config,
    );
  }

  async epoch(o: { signal?: AbortSignal }): Promise<number[]> {
    o.signal?.throwIfAborted();
    if (!this.pretrained) {
      await this.pretrain(o);
      this.pretrained = true;
    }
    await this.solveUsers();
    o.signal?.throwIfAborted();
    await this.solveItems();
    const sums = [0, 0, 0];
    const order = this.rng.permutation(this.train.rows);
    for (let start = 0; start < order.length; start += this.config.batchSize) {
      o.signal?.throwIfAborted();
      const rows = order.subarray(start, start + this.config.batchSize);
      const means = await this.networkStep(rows, this.rng);
      means.forEach((m, i) => (sums[i] += m * rows.length));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const n = this.train.rows;
    const clicks = await this.clickLoss();
    // TERM_NAMES order: reconX, reconY, klPriorX, klPriorY, klCrossX, klCrossY.
    return [clicks.reduce((s, x) => s + x, 0) / n, sums[0] / n, 0, sums[1] / n, sums[2] / n, 0];
  }

  /**
   * `textPretrainEpochs` passes over the users training the text network on its own loss (the SDAE's
   * reconstruction; the VAE's ELBO), as the authors' code does before the alternation (CDL's
   * train_sdae.py, CVAE's test_vae.py); the first epoch runs them, so their time counts in it.
   * Resolves to the mean of the own loss per pass, for the tests.
   */
  async pretrain(o: { signal?: AbortSignal } = {}): Promise<number[]> {
    const means: number[] = [];
    for (let pass = 0; pass < this.config.textPretrainEpochs; pass += 1) {
      let sum = 0;
      const order = this.rng.permutation(this.train.rows);
      for (let start = 0; start < order.length; start += this.config.batchSize) {
        o.signal?.throwIfAborted();
        const rows = order.subarray(start, start + this.config.batchSize);
        const [reconY, klPriorY] = await this.networkStep(rows, this.rng, { coupled: false });
        sum += (reconY + klPriorY) * rows.length;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      means.push(sum / this.train.rows);
    }
    return means;
  }

  /** u_u ← (Vᵀ C_u V + λ I)⁻¹ (Vᵀ C_u x_u + λ t(y_u)) for every user (CDL §3.3; CVAE's M-step). */
  async solveUsers(): Promise<void> {
    const k = this.config.baselineLatentDim;
    const prior = await this.encodeAll();
    const other = (await this.params.get(ITEM_FACTORS)!.data()) as Float32Array;
    const u = solveFactors({ clicks: this.train, other, k, confidence: confidenceOf(this.config), reg: this.config.textOffsetReg, prior });
    replaceParam(this.params, USER_FACTORS, tf.tensor2d(u, [this.train.rows, k]));
  }

  /** v_i ← (Uᵀ C_i U + λv I)⁻¹ Uᵀ C_i x_i for every item (the side without text: a zero-mean prior). */
  async solveItems(): Promise<void> {
    const k = this.config.baselineLatentDim;
    const other = (await this.params.get(USER_FACTORS)!.data()) as Float32Array;
    const v = solveFactors({ clicks: this.byItem, other, k, confidence: confidenceOf(this.config), reg: this.config.itemFactorReg });
    replaceParam(this.params, ITEM_FACTORS, tf.tensor2d(v, [this.train.cols, k]));
  }

  /**
   * One optimiser step on the network's weights for a batch of users with the factors fixed (CDL's
   * back-propagation step, CVAE's SGVB step); resolves to the batch means of reconY, klPriorY, klCrossX.
   */
  async networkStep(rows: ArrayLike<number>, rng: Rng, o: { coupled?: boolean } = {}): Promise<number[]> {
    const coupled = o.coupled ?? true;
    const trainable = this.names.map((n) => this.params.get(n)!);
    let means: tf.Tensor1D | undefined;
    const grads = await this.withBatch(rows, rng, (terms) => {
      const { grads: g } = tf.valueAndGrads(() => {
        const t = terms();
        means = tf.keep(tf.stack([tf.mean(t.reconY), tf.mean(t.klPriorY), tf.mean(t.klCrossX)])) as tf.Tensor1D;
        // Pretraining (uncoupled) fits the text network to the text alone, before any user factor exists.
        const own = tf.add(t.reconY, t.klPriorY);
        const perUser = coupled ? tf.add(own, t.klCrossX) : own;
        return tf.add(tf.mean(perUser), weightDecayTerm(this.params, this.names, this.config.weightDecay / this.train.rows)) as tf.Scalar;
      })(trainable);
      return g;
    });
    const updated = this.optimizer.update(trainable, grads);
    this.names.forEach((n, i) => this.params.set(n, updated[i]));
    tf.dispose(grads);
    try {
      return Array.from((await means!.data()) as Float32Array);
    } finally {
      means!.dispose();
    }
  }

  /**
   * The objective the alternation lowers, per training user: the weighted click loss and the network
   * terms over `rows` (noise drawn from `rng`, so a fresh generator of one seed gives a fixed batch),
   * plus the item prior λv/2 ‖V‖² and the weight decay, each divided by the number of users.
   */
  async objective(rows: ArrayLike<number>, rng: Rng): Promise<number> {
    const network = await this.withBatch(rows, rng, (terms) => {
      const t = terms();
      return tf.mean(tf.add(tf.add(t.reconY, t.klPriorY), t.klCrossX));
    });
    const priors = tf.tidy(() =>
      tf.add(
        tf.mul(this.config.itemFactorReg / 2, tf.sum(tf.square(this.params.get(ITEM_FACTORS)!))),
        weightDecayTerm(this.params, this.names, this.config.weightDecay),
      ),
    );
    try {
      const clicks = await this.clickLoss();
      const n = this.train.rows;
      return clicks.reduce((s, x) => s + x, 0) / n + (await network.data())[0] + (await priors.data())[0] / n;
    } finally {
      tf.dispose([network, priors]);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }

  /** ½ Σ_i c_ui (x_ui − u_uᵀv_i)² per user. */
  private async clickLoss(): Promise<Float64Array> {
    return weightedSquaredLoss({
      clicks: this.train,
      own: (await this.params.get(USER_FACTORS)!.data()) as Float32Array,
      other: (await this.params.get(ITEM_FACTORS)!.data()) as Float32Array,
      k: this.config.baselineLatentDim,
      confidence: confidenceOf(this.config),
    });
  }

  /** Builds a batch's tensors and runs `body` in a tidy with a thunk for its network terms. */
  private async withBatch<T extends tf.TensorContainer>(rows: ArrayLike<number>, rng: Rng, body: (terms: () => NetworkTerms) => T): Promise<T> {
    const k = this.config.baselineLatentDim;
    const corruption = this.net.corruption(this.config);
    const clean = textBatch({ words: this.words, rows, withTarget: true });
    const noisy = corruption > 0 ? textBatch({ words: this.words, rows, corruption, rng }).input : undefined;
    const eps = this.net.usesEps ? rng.normals(rows.length * k) : undefined;
    const factors = (await this.params.get(USER_FACTORS)!.data()) as Float32Array;
    const u = new Float32Array(rows.length * k);
    for (let b = 0; b < rows.length; b += 1) u.set(factors.subarray(rows[b] * k, (rows[b] + 1) * k), b * k);
    return tf.tidy(() => {
      const cleanT = sparseBatchTensors(clean.input, this.words.cols);
      const inputs = {
        params: this.params,
        config: this.config,
        clean: cleanT,
        noisy: noisy ? sparseBatchTensors(noisy, this.words.cols) : cleanT,
        target: tf.tensor2d(clean.target!, [rows.length, this.words.cols]),
        u: tf.tensor2d(u, [rows.length, k]),
        eps: eps ? tf.tensor2d(eps, [rows.length, k]) : undefined,
      };
      return body(() => this.net.terms(inputs));
    });
  }

  /** t(y_u) for every training user, users × K row-major. */
  private async encodeAll(): Promise<Float32Array> {
    const k = this.config.baselineLatentDim;
    return rowsInBatches({
      rows: this.words.rows,
      width: k,
      batchSize: this.config.evalBatchSize,
      compute: (start, count) => {
        const rows = Array.from({ length: count }, (_, i) => start + i);
        return this.net.encode({ params: this.params, config: this.config, clean: sparseBatchTensors(textBatch({ words: this.words, rows }).input, this.words.cols) });
      },
    });
  }
}
