/**
 * The hand-written gradients (transpose-free matMul, sparse first layers, sparse multinomial
 * likelihood) agree with finite differences of the loss on a tiny model, on wasm, cpu and webgpu
 * (webgpu takes the gather-based sparse path, since its sparseSegmentSum cannot run in Node).
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { csrFromRows } from "../../../../src/data/csr.ts";
import { initBackend } from "../../../../src/engine/runtime/index.ts";
import { sparseBatch } from "../../../../src/engine/batch.ts";
import { resolveVcmConfig } from "../../../../src/engine/config.ts";
import { jointLoss, type ObjectivePart } from "../../../../src/engine/models/vcm/losses.ts";
import { disableNativeMatMul, enableNativeMatMul } from "../../../../src/engine/runtime/native-kernels.ts";
import { linear, sparseBatchTensors, sparseTarget } from "../../../../src/engine/runtime/ops.ts";
import { Rng } from "../../../../src/engine/random.ts";
import { lossTerms } from "../../../../src/engine/models/vcm/train.ts";
import { initialValues, type Params } from "../../../../src/engine/models/params.ts";
import { paramSpecs } from "../../../../src/engine/models/vcm/vae.ts";
import { WEBGPU_SKIP_REASON } from "../../webgpu-available.ts";

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

describe("linear on stock wasm kernels", () => {
  // 2 × 8 · 8 × 40: packing W would cost more than three transposes, so training takes (Wᵀ · xᵀ)ᵀ.
  const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
  const w = Float32Array.from({ length: 320 }, (_, i) => Math.cos(0.7 * i));
  const b = Float32Array.from({ length: 40 }, (_, i) => 0.01 * i);
  const weights = Float32Array.from({ length: 80 }, (_, i) => ((i * 7) % 11) - 5);

  async function run(): Promise<{ value: number[]; grads: number[][]; inference: number[]; kernels: { training: string[]; inference: string[] } }> {
    const [xt, wt, bt, c] = [tf.tensor2d(x, [2, 8]), tf.tensor2d(w, [8, 40]), tf.tensor1d(b), tf.tensor2d(weights, [2, 40])];
    const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(linear(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D), c));
    let out: { value: tf.Tensor; grads: tf.Tensor[] } | undefined;
    // tf.profile hands back one shared record, so each list is copied before the next profile.
    const training = [
      ...(
        await tf.profile(() => {
          const result = tf.valueAndGrads(f)([xt, wt, bt]);
          out = result;
          return [result.value, ...result.grads];
        })
      ).kernelNames,
    ];
    let plain: tf.Tensor | undefined;
    const inference = [...(await tf.profile(() => (plain = linear(xt, wt, bt)))).kernelNames];
    const result = {
      value: Array.from(await out!.value.data()),
      grads: await Promise.all(out!.grads.map(async (g) => Array.from(await g.data()))),
      inference: Array.from(await plain!.data()),
      kernels: { training, inference },
    };
    tf.dispose([xt, wt, bt, c, out!.value, ...out!.grads, plain!]);
    return result;
  }

  afterAll(async () => {
    await initBackend("wasm");
    enableNativeMatMul();
  });

  it("trains through the transposed product and gives the cpu backend's value and gradients", async () => {
    await initBackend("cpu");
    const reference = await run();
    await initBackend("wasm");
    disableNativeMatMul();
    const stock = await run();
    expect(stock.kernels.training).toContain("Transpose");
    expect(stock.kernels.training).not.toContain("_FusedMatMul");
    expect(stock.kernels.inference).toContain("_FusedMatMul");
    expect(stock.kernels.inference).not.toContain("Transpose");
    const close = (a: number[], e: number[]) => a.forEach((v, i) => expect(Math.abs(v - e[i])).toBeLessThan(1e-4 * (1 + Math.abs(e[i]))));
    close(stock.value, reference.value);
    stock.grads.forEach((g, i) => close(g, reference.grads[i]));
    close(stock.inference, reference.inference);
  });
});
