/**
 * The hand-written gradients (transpose-free matMul, sparse first layers, sparse multinomial
 * likelihood) agree with finite differences of the loss on a tiny model, on wasm, cpu and webgpu
 * (webgpu takes the gather-based sparse path, since its sparseSegmentSum cannot run in Node).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../src/data/csr.ts";
import { initBackend } from "../../src/engine/backend.ts";
import { sparseBatch } from "../../src/engine/batch.ts";
import { resolveVcmConfig } from "../../src/engine/config.ts";
import { jointLoss, type ObjectivePart } from "../../src/engine/losses.ts";
import { sparseBatchTensors, sparseTarget } from "../../src/engine/ops.ts";
import { Rng } from "../../src/engine/random.ts";
import { lossTerms } from "../../src/engine/train.ts";
import { initialValues, paramSpecs, type Params } from "../../src/engine/vae.ts";
import { WEBGPU_SKIP_REASON } from "./webgpu-available.ts";

const config = resolveVcmConfig({ latentDim: 3, hiddenX: 5, hiddenY: 4 });
// Users share items 1 and 4, so the scatter of dW must add duplicate rows; user 2 has no words.
const clicks = csrFromRows({ cols: 7, rows: [[[1, 1], [4, 1]], [[1, 1], [2, 1], [4, 1], [6, 1]], [[0, 1]], [[4, 1], [5, 1]]] });
const words = csrFromRows({ cols: 9, rows: [[[0, 3], [8, 1]], [[2, 1], [3, 5], [8, 2]], [], [[1, 1], [3, 2], [7, 4]]] });
const rows = [0, 1, 2, 3];

/** Loss of the batch for the given parameter values (fixed ε, no dropout, so it is a plain function). */
async function loss(values: Float32Array[], part: ObjectivePart): Promise<{ value: number; grads: Float32Array[] }> {
  const specs = paramSpecs({ numItems: 7, numWords: 9, config });
  const rng = new Rng(3);
  const out = tf.tidy(() => {
    const params: Params = new Map(specs.map((s, i) => [s.name, tf.tensor(values[i], [...s.shape])]));
    const inputs = {
      xIn: sparseBatchTensors(sparseBatch({ matrix: clicks, rows })),
      xTarget: sparseTarget(sparseBatch({ matrix: clicks, rows, normalise: false })),
      yIn: sparseBatchTensors(sparseBatch({ matrix: words, rows })),
      yTarget: sparseTarget(sparseBatch({ matrix: words, rows, normalise: false })),
      epsX: tf.tensor2d(rng.normals(12), [4, 3]),
      epsY: tf.tensor2d(rng.normals(12), [4, 3]),
    };
    const f = () => jointLoss({ terms: lossTerms({ params, part, ...inputs }), beta: 0.7, part });
    // vcm-od's phases differentiate one VAE only; the other one is a constant there.
    const side = part === "vcm-od-x" ? "x." : part === "vcm-od-y" ? "y." : "";
    const { value, grads } = tf.valueAndGrads(f)(specs.filter((s) => s.name.startsWith(side)).map((s) => params.get(s.name)!));
    return [value, ...grads];
  });
  const [value, ...grads] = await Promise.all(out.map(async (t) => Float32Array.from((await t.data()) as Float32Array)));
  tf.dispose(out);
  return { value: value[0], grads };
}

describe.each(["wasm", "cpu", "webgpu"] as const)("gradients on %s", (backend) => {
  afterAll(async () => {
    await initBackend("wasm");
  });

  it.skipIf(backend === "webgpu" && WEBGPU_SKIP_REASON !== undefined).each(["vcm", "vcm-nv", "vcm-se", "vcm-od-y", "vcm-od-x"] as const)("match central finite differences for %s", async (part) => {
    await initBackend(backend);
    const specs = paramSpecs({ numItems: 7, numWords: 9, config });
    // Larger-than-default weights make every term matter; float64 would allow a smaller step.
    const base = initialValues(specs, 11).map((v, i) => (specs[i].shape.length === 1 ? v.map((_, j) => 0.1 * Math.sin(j + i)) : v.map((x) => 2 * x)));
    const { grads } = await loss(base, part);
    const h = 1e-2;
    let checked = 0;
    const side = part === "vcm-od-x" ? "x." : part === "vcm-od-y" ? "y." : "";
    const trainable = specs.map((s, i) => [s, i] as const).filter(([s]) => s.name.startsWith(side));
    for (const [gi, [spec, i]] of trainable.entries()) {
      // Three entries per tensor, including untouched rows of the sparse layers (gradient 0).
      for (const j of [0, Math.floor(base[i].length / 2), base[i].length - 1]) {
        const plus = base.map((v) => v.slice());
        const minus = base.map((v) => v.slice());
        plus[i][j] += h;
        minus[i][j] -= h;
        const numeric = ((await loss(plus, part)).value - (await loss(minus, part)).value) / (2 * h);
        expect(Math.abs(grads[gi][j] - numeric), `${spec.name}[${j}]: analytic ${grads[gi][j]} vs numeric ${numeric}`).toBeLessThan(
          2e-3 + 2e-2 * Math.abs(numeric),
        );
        checked += 1;
      }
    }
    expect(checked).toBe(trainable.length * 3);
    // Some sparse-layer entries are non-zero, so the check is not vacuous for them.
    const enc = grads[trainable.findIndex(([s]) => s.name.endsWith("enc.W"))];
    expect(enc.some((g) => Math.abs(g) > 1e-4)).toBe(true);
  });
});
