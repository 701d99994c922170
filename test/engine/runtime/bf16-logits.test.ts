/**
 * The explanations' deletion products on AMX bfloat16 tiles (src/engine/runtime/bf16-logits.ts,
 * native/bf16_logits.c): whole rows as float32 gives them, each changed row's log-score change within
 * bfloat16's share of that change, and the exact deletion effects of a model with a large output layer
 * the same as float32's to that precision, across chunks. The addon is compiled into a temporary folder;
 * without a C compiler and OpenBLAS, or on a CPU without AMX bfloat16 tiles, the tests skip and say why.
 */
import * as tf from "@tensorflow/tfjs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNativeAddon } from "../../../scripts/build-native.ts";
import { csrFromRows } from "../../../src/data/csr.ts";
import type { Params } from "../../../src/engine/models/params.ts";
import { exactDeletionEffects } from "../../../src/engine/models/vcm/deletion.ts";
import { Rng } from "../../../src/engine/random.ts";
import { allowBf16Deletions, bf16DeletionsAvailable, BF16_MIN_LAYER_WEIGHTS, deltaLogSoftmax, initBackend, packLayer } from "../../../src/engine/runtime/index.ts";
import { disableNativeMatMul, enableNativeMatMul } from "../../../src/engine/runtime/native-kernels.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vcm-bf16-"));
const addon = path.join(dir, "wasm_sgemm.node");
const build = buildNativeAddon(addon);
if (!build.ok) console.warn(`bfloat16 deletion tests skipped: ${build.message}`);

function normals(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => scale * (rng.next() + rng.next() + rng.next() - 1.5));
}

/** log Σ exp and the logits of one row, in float64, from float32 inputs. */
function reference(h: Float32Array, w: Float32Array, bias: Float32Array, k: number, n: number): { logits: Float64Array; lse: number } {
  const logits = new Float64Array(n);
  for (let j = 0; j < n; j += 1) {
    let s = bias[j];
    for (let t = 0; t < k; t += 1) s += h[t] * w[t * n + j];
    logits[j] = s;
  }
  const top = Math.max(...logits);
  return { logits, lse: top + Math.log(logits.reduce((s, l) => s + Math.exp(l - top), 0)) };
}

describe.skipIf(!build.ok)("deletion products on AMX bfloat16 tiles", () => {
  let available = false;
  beforeAll(async () => {
    await initBackend("wasm");
    expect(enableNativeMatMul(addon)).toBe(true);
    available = bf16DeletionsAvailable();
    if (!available) console.warn("bfloat16 deletion tests skipped: this CPU or kernel offers no AMX bfloat16 tiles");
  });
  afterAll(() => {
    allowBf16Deletions(true);
    disableNativeMatMul();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reads whole rows as float32 does and changed rows within bfloat16's share of their change, on sizes that fill no tile exactly", (ctx) => {
    if (!available) ctx.skip();
    const rng = new Rng(7);
    // k, n and the rows are none of them multiples of 32: every padding path is taken; the last item is read.
    const k = 70;
    const n = 15013;
    const wholes = 5;
    const changes = 32;
    const m = wholes + changes;
    const w = normals(rng, k * n, 0.4);
    const maxWeight = w.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    const bias = normals(rng, n, 0.5);
    const h = new Float32Array(m * k);
    const base = new Int32Array(m);
    for (let r = 0; r < m; r += 1) {
      if (r < wholes) {
        h.set(normals(rng, k, 1), r * k);
        base[r] = r;
      } else {
        // A row's change from its whole row is small, as a deleted word's or click's is.
        base[r] = r % wholes;
        const nudge = normals(rng, k, 0.05);
        for (let t = 0; t < k; t += 1) h[r * k + t] = h[base[r] * k + t] + nudge[t];
      }
    }
    const readRows = Int32Array.from({ length: 3 * m }, (_, q) => q % m);
    const readItems = Int32Array.from({ length: 3 * m }, (_, q) => (q < m ? n - 1 : Math.floor(rng.next() * n)));
    const weight = tf.tensor2d(w, [k, n]);
    const biasT = tf.tensor1d(bias);
    const hidden = tf.tensor2d(h, [m, k]);
    const layer = packLayer(weight)!;
    expect(layer).toBeDefined();
    const { picked, lse } = deltaLogSoftmax({ hidden, layer, bias: biasT, base, readRows, readItems });
    const refs = Array.from({ length: m }, (_, r) => reference(h.subarray(r * k, (r + 1) * k), w, bias, k, n));
    for (let r = 0; r < wholes; r += 1) expect(Math.abs(lse[r] - refs[r].lse)).toBeLessThan(1e-4 * (1 + Math.abs(refs[r].lse)));
    let worst = 0;
    readRows.forEach((r, q) => {
      const item = readItems[q];
      const score = picked[q] - lse[r];
      const exact = refs[r].logits[item] - refs[r].lse;
      if (r < wholes) {
        expect(Math.abs(score - exact)).toBeLessThan(1e-4 * (1 + Math.abs(exact)));
        return;
      }
      // bfloat16 rounds each term h_t·W_tj of a change by at most 2⁻⁸ of it, so a read and the log Σ exp each
      // move by at most 2⁻⁸ Σ_t |Δh_t| · max |W|: 2⁻⁷ of that for their difference, beside float32's rounding of the whole row.
      const b = base[r];
      let spread = 0;
      for (let t = 0; t < k; t += 1) spread += Math.abs(h[r * k + t] - h[b * k + t]);
      const allowed = (spread * maxWeight) / 128 + 1e-4 * (1 + Math.abs(exact));
      const error = Math.abs(score - exact);
      worst = Math.max(worst, error / allowed);
      expect(error).toBeLessThan(allowed);
    });
    // The bound is a worst case; rounding errors of random sign fall far inside it (≈ 3 % of it here).
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.25);
    tf.dispose([weight, biasT, hidden]);
  });

  it("packs no layer under the threshold, and refuses a row whose base is not a whole row, with a sentence", (ctx) => {
    if (!available) ctx.skip();
    const small = tf.ones([4, 40]) as tf.Tensor2D;
    expect(packLayer(small)).toBeUndefined();
    const weight = tf.ones([4, BF16_MIN_LAYER_WEIGHTS / 4]) as tf.Tensor2D;
    const layer = packLayer(weight)!;
    const bias = tf.zeros([weight.shape[1]]) as tf.Tensor1D;
    const hidden = tf.ones([3, 4]) as tf.Tensor2D;
    // Row 2's base is row 1, itself a change from row 0.
    expect(() => deltaLogSoftmax({ hidden, layer, bias, base: Int32Array.from([0, 0, 1]), readRows: Int32Array.from([0]), readItems: Int32Array.from([3]) })).toThrow(
      /base is not a whole row/,
    );
    // Off by configuration: nothing is packed.
    allowBf16Deletions(false);
    expect(packLayer(weight)).toBeUndefined();
    allowBf16Deletions(true);
    tf.dispose([small, weight, bias, hidden]);
  });

  it("gives a large layer's exact click deletion effects as float32 does, to bfloat16's share, across chunks; switched off, float32's own", async (ctx) => {
    if (!available) ctx.skip();
    const rng = new Rng(11);
    const hiddenUnits = 64;
    const latent = 8;
    const items = Math.ceil(BF16_MIN_LAYER_WEIGHTS / hiddenUnits) + 5;
    const t2 = (rows: number, cols: number, scale: number) => tf.tensor2d(normals(rng, rows * cols, scale), [rows, cols]);
    const params: Params = new Map<string, tf.Tensor>([
      ["x.enc.W", t2(items, hiddenUnits, 0.5)],
      ["x.enc.b", tf.tensor1d(normals(rng, hiddenUnits, 0.1))],
      ["x.mu.W", t2(hiddenUnits, latent, 0.5)],
      ["x.mu.b", tf.tensor1d(normals(rng, latent, 0.1))],
      ["x.dec.W", t2(latent, hiddenUnits, 0.5)],
      ["x.dec.b", tf.tensor1d(normals(rng, hiddenUnits, 0.1))],
      ["x.out.W", t2(hiddenUnits, items, 0.5)],
      ["x.out.b", tf.tensor1d(normals(rng, items, 0.5))],
    ]);
    const packed = packLayer(params.get("x.out.W") as tf.Tensor2D);
    expect(packed).toBeDefined();
    // Three users of 300 clicks, every click asked for: 903 rows, two chunks, the second holding deletions of a user whose whole row is in the first.
    const rows = Array.from({ length: 3 }, (_, u) => Array.from({ length: 300 }, (_, c) => [u * 1000 + c * 7, 1] as [number, number]));
    const matrix = csrFromRows({ cols: items, rows });
    const requests = [0, 1, 2].flatMap((u) => [5, 9000].map((item) => ({ row: u, item, columns: matrix.indices.subarray(matrix.indptr[u], matrix.indptr[u + 1]) })));
    const exact = await exactDeletionEffects({ params, side: "x", matrix, requests });
    const fast = await exactDeletionEffects({ params, side: "x", matrix, requests, packed });
    // Switched off after packing, the packed layer is not used.
    allowBf16Deletions(false);
    expect(await exactDeletionEffects({ params, side: "x", matrix, requests, packed })).toEqual(exact);
    allowBf16Deletions(true);
    // Random weights spread logits more than a trained model's; the effects still agree to 10⁻³ (≈ 10⁻⁴ on
    // average), and every effect larger than 0.01 keeps its sign (BENCHMARKS.md has a trained model's figures).
    let moved = 0;
    let total = 0;
    let count = 0;
    exact.forEach((effects, j) =>
      effects.forEach((d, c) => {
        const gap = Math.abs(fast[j][c] - d);
        expect(gap).toBeLessThan(1e-3);
        if (Math.abs(d) > 0.01) expect(Math.sign(fast[j][c])).toBe(Math.sign(d));
        if (gap > 0) moved += 1;
        total += gap;
        count += 1;
      }),
    );
    expect(moved).toBeGreaterThan(0);
    expect(total / count).toBeLessThan(2e-4);
    for (const t of params.values()) t.dispose();
  });
});
