/**
 * The collaborative half that CDL and CVAE share: probabilistic matrix factorisation of the click
 * matrix with confidence weights c_ui = a for a click and b for an unobserved entry (CDL §3.2, after
 * Hu, Koren and Volinsky, ICDM 2008; CVAE §3.1), solved one side at a time in closed form (CDL §3.3's
 * coordinate ascent, CVAE §3.3's M-step). Runs on the host in float64: K × K systems, one per row.
 */
import type { CsrMatrix } from "../../../data/csr.ts";

/** What a closed-form solve needs besides the matrices. */
export interface Confidence {
  /** Confidence a of an observed click. */
  readonly a: number;
  /** Confidence b of an unobserved entry. */
  readonly b: number;
}

/**
 * For each row r of `clicks` (rows × n), the minimiser over f of
 * ½ Σ_j c_rj (x_rj − fᵀg_j)² + λ/2 ‖f − p_r‖², i.e.
 * f_r = (b GᵀG + (a − b) Σ_{j∈S_r} g_j g_jᵀ + λ I)⁻¹ (a Σ_{j∈S_r} g_j + λ p_r),
 * where g_j are the rows of `other` (n × k) and p_r the rows of `prior` (0 where absent): CDL's update
 * of u_i and v_j (§3.3), with the text-side prior f_e(y) (CDL) or E_q[z] (CVAE).
 */
export function solveFactors(o: {
  clicks: CsrMatrix;
  other: Float32Array;
  k: number;
  confidence: Confidence;
  reg: number;
  prior?: Float32Array;
  /** Rows to solve (default: all); the result has one k-vector per entry, in this order. */
  rows?: ArrayLike<number>;
}): Float32Array {
  const { clicks, other, k, reg } = o;
  const { a, b } = o.confidence;
  const gram = gramOf(other, k);
  const rows = o.rows ?? Int32Array.from({ length: clicks.rows }, (_, r) => r);
  const out = new Float32Array(rows.length * k);
  const m = new Float64Array(k * k);
  const rhs = new Float64Array(k);
  for (let q = 0; q < rows.length; q += 1) {
    const r = rows[q];
    for (let x = 0; x < k * k; x += 1) m[x] = b * gram[x];
    for (let x = 0; x < k; x += 1) {
      m[x * k + x] += reg;
      rhs[x] = o.prior ? reg * o.prior[r * k + x] : 0;
    }
    for (let e = clicks.indptr[r]; e < clicks.indptr[r + 1]; e += 1) {
      const g = clicks.indices[e] * k;
      for (let x = 0; x < k; x += 1) {
        const gx = other[g + x];
        rhs[x] += a * gx;
        const scaled = (a - b) * gx;
        for (let y = 0; y <= x; y += 1) m[x * k + y] += scaled * other[g + y];
      }
    }
    choleskySolve(m, rhs, k);
    for (let x = 0; x < k; x += 1) out[q * k + x] = rhs[x];
  }
  return out;
}

/**
 * ½ Σ_j c_rj (x_rj − f_rᵀg_j)² for each row r over all n columns, clicked or not, computed as
 * ½ (b f_rᵀ(GᵀG) f_r + Σ_{j∈S_r} (a (1 − s_rj)² − b s_rj²)) with s_rj = f_rᵀg_j.
 */
export function weightedSquaredLoss(o: { clicks: CsrMatrix; own: Float32Array; other: Float32Array; k: number; confidence: Confidence }): Float64Array {
  const { clicks, own, other, k } = o;
  const { a, b } = o.confidence;
  const gram = gramOf(other, k);
  const out = new Float64Array(clicks.rows);
  for (let r = 0; r < clicks.rows; r += 1) {
    let quad = 0;
    for (let x = 0; x < k; x += 1) {
      let row = 0;
      for (let y = 0; y < k; y += 1) row += gram[x * k + y] * own[r * k + y];
      quad += own[r * k + x] * row;
    }
    let observed = 0;
    for (let e = clicks.indptr[r]; e < clicks.indptr[r + 1]; e += 1) {
      const g = clicks.indices[e] * k;
      let s = 0;
      for (let x = 0; x < k; x += 1) s += own[r * k + x] * other[g + x];
      observed += a * (1 - s) * (1 - s) - b * s * s;
    }
    out[r] = 0.5 * (b * quad + observed);
  }
  return out;
}

/** The lower triangle of GᵀG (k × k, row-major) for the rows of g; only y ≤ x is read by the solver. */
function gramOf(g: Float32Array, k: number): Float64Array {
  const out = new Float64Array(k * k);
  const n = g.length / k;
  for (let j = 0; j < n; j += 1) {
    const o = j * k;
    for (let x = 0; x < k; x += 1) {
      const gx = g[o + x];
      for (let y = 0; y <= x; y += 1) out[x * k + y] += gx * g[o + y];
    }
  }
  for (let x = 0; x < k; x += 1) for (let y = x + 1; y < k; y += 1) out[x * k + y] = out[y * k + x];
  return out;
}

/** Solves M f = rhs in place (rhs ← f) for a symmetric positive definite M given by its lower triangle. */
function choleskySolve(m: Float64Array, rhs: Float64Array, k: number): void {
  for (let j = 0; j < k; j += 1) {
    let d = m[j * k + j];
    for (let p = 0; p < j; p += 1) d -= m[j * k + p] * m[j * k + p];
    const l = Math.sqrt(Math.max(d, 1e-300));
    m[j * k + j] = l;
    for (let i = j + 1; i < k; i += 1) {
      let s = m[i * k + j];
      for (let p = 0; p < j; p += 1) s -= m[i * k + p] * m[j * k + p];
      m[i * k + j] = s / l;
    }
  }
  for (let i = 0; i < k; i += 1) {
    let s = rhs[i];
    for (let p = 0; p < i; p += 1) s -= m[i * k + p] * rhs[p];
    rhs[i] = s / m[i * k + i];
  }
  for (let i = k - 1; i >= 0; i -= 1) {
    let s = rhs[i];
    for (let p = i + 1; p < k; p += 1) s -= m[p * k + i] * rhs[p];
    rhs[i] = s / m[i * k + i];
  }
}

/** The transpose of a CSR matrix (items × users for the item-side solves). */
export function transposeCsr(m: CsrMatrix): CsrMatrix {
  const nnz = m.indptr[m.rows];
  const indptr = new Int32Array(m.cols + 1);
  for (let e = 0; e < nnz; e += 1) indptr[m.indices[e] + 1] += 1;
  for (let c = 0; c < m.cols; c += 1) indptr[c + 1] += indptr[c];
  const fill = indptr.slice(0, m.cols);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  for (let r = 0; r < m.rows; r += 1) {
    for (let e = m.indptr[r]; e < m.indptr[r + 1]; e += 1) {
      const at = fill[m.indices[e]]++;
      indices[at] = r;
      values[at] = m.values[e];
    }
  }
  return { rows: m.cols, cols: m.rows, indptr, indices, values };
}

/**
 * A 24-bit fingerprint of row r's columns (exact in float32, so it can be stored as a weight): how a
 * baseline recognises a row of the training clicks it learned a user factor for.
 */
export function rowFingerprint(m: CsrMatrix, r: number): number {
  let h = 0x811c9dc5;
  for (let e = m.indptr[r]; e < m.indptr[r + 1]; e += 1) h = Math.imul(h ^ m.indices[e], 0x01000193);
  h = Math.imul(h ^ (m.indptr[r + 1] - m.indptr[r]), 0x01000193);
  return (h >>> 8) & 0xffffff;
}

/** The fingerprints of every row (engine/baselines ROW_FINGERPRINTS weight). */
export function rowFingerprints(m: CsrMatrix): Float32Array {
  return Float32Array.from({ length: m.rows }, (_, r) => rowFingerprint(m, r));
}
