/**
 * What the VCM objective predicts for the capacity ĉu = KL(qx(z | x_u) ‖ N(0, I)) of VCM against VCM-Se at
 * equal β (docs/capacity.md): one latent dimension, each reconstruction term replaced by its local quadratic
 * approximation in z (a Gaussian evidence of precision λ around a location a) with the decoders held fixed,
 * and the posterior of every user at the stationary point of its own objective. Plain numbers, no tensors.
 */

/** A reconstruction term −E_q[log p(· | z)] ≈ λ/2 · ((m − a)² + v) + const for q = N(m, v): its curvature and optimum. */
export interface Evidence {
  /** λ ≥ 0: how sharply the data pins z (grows with the user's clicks or words). */
  readonly precision: number;
  /** a: where the data alone would put z. */
  readonly location: number;
}

/** A one-dimensional Gaussian posterior N(mean, variance). */
export interface Posterior1d {
  readonly mean: number;
  readonly variance: number;
}

/** KL(N(m, v) ‖ N(0, 1)) = ½ (v + m² − 1 − ln v): one dimension's share of ĉu. */
export function capacity1d(q: Posterior1d): number {
  return 0.5 * (q.variance + q.mean * q.mean - 1 - Math.log(q.variance));
}

/**
 * VCM-Se's click posterior at its stationary point, the minimiser of λ/2 ((m − a)² + v) + β KL(q ‖ N(0, 1)):
 * q ∝ N(0, 1) · exp(ℓ / β), precision 1 + λ/β and mean (λ/β) a / (1 + λ/β).
 */
export function separateStationary(options: { beta: number; evidence: Evidence }): Posterior1d {
  const rho = options.evidence.precision / options.beta;
  return { mean: (rho * options.evidence.location) / (1 + rho), variance: 1 / (1 + rho) };
}

/** What jointStationary found, and how far from stationary it stopped. */
export interface JointStationary {
  /** qx(z | x_u): the click posterior, whose KL to N(0, 1) is VCM's ĉu. */
  readonly x: Posterior1d;
  /** qy(z | y_u): the word posterior. */
  readonly y: Posterior1d;
  /** Largest absolute partial derivative of the objective at the answer (≈ 0 at a stationary point). */
  readonly gradient: number;
}

/**
 * VCM's stationary point for one user and dimension: the minimiser over qx = N(m, v) and qy = N(n, w) of
 *   λx/2 ((m − ax)² + v) + λy/2 ((n − ay)² + w) + β [KL(qx‖p) + KL(qy‖p) + KL(qx‖qy) + KL(qy‖qx)].
 * Block coordinate descent: the means solve a 2 × 2 linear system given the variances, and each variance
 * solves a quadratic given the rest (the objective is convex in each block), so every sweep lowers it.
 */
export function jointStationary(options: { beta: number; clicks: Evidence; words: Evidence; maxSweeps?: number }): JointStationary {
  const { beta, clicks: ex, words: ey } = options;
  let v = 1;
  let w = 1;
  let m = 0;
  let n = 0;
  const maxSweeps = options.maxSweeps ?? 100_000;
  for (let sweep = 0; sweep < maxSweeps; sweep += 1) {
    // Means: ∂/∂m = λx (m − ax) + β m + β (1/v + 1/w)(m − n) = 0, and the same for n.
    const c = beta * (1 / v + 1 / w);
    const [a11, a22] = [ex.precision + beta + c, ey.precision + beta + c];
    const det = a11 * a22 - c * c;
    const [mNext, nNext] = [(a22 * ex.precision * ex.location + c * ey.precision * ey.location) / det, (a11 * ey.precision * ey.location + c * ex.precision * ex.location) / det];
    const d2 = (mNext - nNext) ** 2;
    // Variances: A v² − β v − β (w + d²) = 0 with A = λx + β + β / w (the positive root), and the same for w.
    const vNext = positiveRoot({ a: ex.precision + beta + beta / w, beta, c: w + d2 });
    const wNext = positiveRoot({ a: ey.precision + beta + beta / vNext, beta, c: vNext + d2 });
    const change = Math.max(Math.abs(mNext - m), Math.abs(nNext - n), Math.abs(vNext - v), Math.abs(wNext - w));
    [m, n, v, w] = [mNext, nNext, vNext, wNext];
    if (change < 1e-14) break;
  }
  return { x: { mean: m, variance: v }, y: { mean: n, variance: w }, gradient: jointGradient({ beta, clicks: ex, words: ey, x: { mean: m, variance: v }, y: { mean: n, variance: w } }) };
}

/** The positive root of a·v² − β·v − β·c = 0. */
function positiveRoot(o: { a: number; beta: number; c: number }): number {
  return (o.beta + Math.sqrt(o.beta * o.beta + 4 * o.a * o.beta * o.c)) / (2 * o.a);
}

/** Largest absolute partial derivative of jointStationary's objective in (m, n, v, w). */
function jointGradient(o: { beta: number; clicks: Evidence; words: Evidence; x: Posterior1d; y: Posterior1d }): number {
  const { beta, clicks: ex, words: ey } = o;
  const [m, v, n, w] = [o.x.mean, o.x.variance, o.y.mean, o.y.variance];
  const d = m - n;
  const dm = ex.precision * (m - ex.location) + beta * m + beta * d * (1 / v + 1 / w);
  const dn = ey.precision * (n - ey.location) + beta * n - beta * d * (1 / v + 1 / w);
  const dv = 0.5 * ex.precision + 0.5 * beta * (1 + 1 / w - 1 / v - (w + d * d) / (v * v));
  const dw = 0.5 * ey.precision + 0.5 * beta * (1 + 1 / v - 1 / w - (v + d * d) / (w * w));
  return Math.max(Math.abs(dm), Math.abs(dn), Math.abs(dv), Math.abs(dw));
}

/** ĉu split into the part the means carry, ½ Σ μ², and the part the variances carry, ½ Σ (σ² − 1 − ln σ²), per row. */
export function capacityParts(options: { mu: Float32Array; logVar: Float32Array; latentDim: number }): { meanPart: Float64Array; variancePart: Float64Array } {
  const { mu, logVar, latentDim: k } = options;
  const rows = mu.length / k;
  const meanPart = new Float64Array(rows);
  const variancePart = new Float64Array(rows);
  for (let r = 0; r < rows; r += 1) {
    for (let j = r * k; j < (r + 1) * k; j += 1) {
      meanPart[r] += 0.5 * mu[j] * mu[j];
      variancePart[r] += 0.5 * (Math.exp(logVar[j]) - 1 - logVar[j]);
    }
  }
  return { meanPart, variancePart };
}

/** KL(qx ‖ qy) between two diagonal Gaussian posteriors of the same rows, per row: how far VCM's two sides still disagree. */
export function crossKl(options: { x: { mu: Float32Array; logVar: Float32Array }; y: { mu: Float32Array; logVar: Float32Array }; latentDim: number }): Float64Array {
  const { x, y, latentDim: k } = options;
  const out = new Float64Array(x.mu.length / k);
  for (let j = 0; j < x.mu.length; j += 1) {
    out[Math.floor(j / k)] += 0.5 * (y.logVar[j] - x.logVar[j] + (Math.exp(x.logVar[j]) + (x.mu[j] - y.mu[j]) ** 2) / Math.exp(y.logVar[j]) - 1);
  }
  return out;
}

/** Mean posterior precision 1/σ² over a row's dimensions, per row: how sharply the encoder pins the user. */
export function meanPrecision(options: { logVar: Float32Array; latentDim: number }): Float64Array {
  const { logVar, latentDim: k } = options;
  const out = new Float64Array(logVar.length / k);
  for (let j = 0; j < logVar.length; j += 1) out[Math.floor(j / k)] += Math.exp(-logVar[j]) / k;
  return out;
}
