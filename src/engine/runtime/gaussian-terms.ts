/**
 * The four Gaussian terms of VCM's objective per user in one kernel on the wasm heap, and their
 * gradient in a second: KL(q(z|x) ‖ N(0, I)), KL(q(z|y) ‖ N(0, I)), and the two cross terms,
 * KL(q(z|x) ‖ q(z|y)) and KL(q(z|y) ‖ q(z|x)) (docs/model.md §1; for VCM-NV both are ‖μx − μy‖², for
 * VCM-SE both are 0). Through tfjs's ops (losses.ts, which the other backends keep using) the same
 * terms were about 40 kernels on rows × K tensors forward and 80 back in every step, each costing more
 * in dispatch than in arithmetic. Sums are taken in double precision, one row at a time. The
 * reparameterisation z = μ + ε ⊙ σ is one kernel here too, for the same reason.
 */
import * as tf from "@tensorflow/tfjs";
import { floatOffset, registerOwnKernel, type KernelArgs, type WasmBackendInternals } from "./native-kernels.ts";

/** muX, logVarX, muY, logVarY (rows × K each), attrs.cross → 4 × rows: prior x, prior y, cross x, cross y. */
export const GAUSSIAN_TERMS_KERNEL = "VcmGaussianTerms";
/** The same four inputs and dy (4 × rows) → their four gradients. */
export const GAUSSIAN_TERMS_GRAD_KERNEL = "VcmGaussianTermsGrad";

/** The cross terms a variant uses: both KL directions (VCM, VCM-CD), squared distance of the means (VCM-NV), none (VCM-SE). */
export type CrossTerms = "kl" | "squared" | "none";

/** mu, logVar, eps (rows × K each) → z = μ + ε ⊙ e^{½ log σ²}. */
export const REPARAMETERISE_KERNEL = "VcmReparameterise";
/** mu, z, dz → the gradient for log σ², ½ · dz ⊙ (z − μ) (the one for μ is dz itself). */
export const REPARAMETERISE_GRAD_KERNEL = "VcmReparameteriseGrad";

/** Registers the kernels for the wasm backend (stock or native: they need only the heap). */
export function enableGaussianKernels(): void {
  registerOwnKernel(GAUSSIAN_TERMS_KERNEL, (args) => runTerms(args, false));
  registerOwnKernel(GAUSSIAN_TERMS_GRAD_KERNEL, (args) => runTerms(args, true));
  registerOwnKernel(REPARAMETERISE_KERNEL, (args) => runReparameterise(args, false));
  registerOwnKernel(REPARAMETERISE_GRAD_KERNEL, (args) => runReparameterise(args, true));
}

/** z = μ + ε ⊙ e^{½ log σ²} in one kernel, and its log σ² gradient in one (vae.ts reparameterise on wasm). */
export function fusedReparameterise(o: { mu: tf.Tensor2D; logVar: tf.Tensor2D; eps: tf.Tensor2D }): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | ((tensors: tf.Tensor[]) => void)>) => {
    const [mu, logVar] = args.slice(0, 2) as tf.Tensor[];
    const save = args[2] as (tensors: tf.Tensor[]) => void;
    const z = tf.engine().runKernel(REPARAMETERISE_KERNEL, { mu, logVar, eps: o.eps }, {}) as tf.Tensor2D;
    save([mu, z]);
    return {
      value: z,
      gradFunc: (dz: tf.Tensor, saved: tf.Tensor[]) => [tf.clone(dz), tf.engine().runKernel(REPARAMETERISE_GRAD_KERNEL, { mu: saved[0], z: saved[1], dz }, {}) as tf.Tensor],
    };
  });
  return op(o.mu, o.logVar) as tf.Tensor2D;
}

function runReparameterise(args: KernelArgs, gradient: boolean): tf.TensorInfo {
  const backend = args.backend as WasmBackendInternals;
  const { mu, logVar, eps, z, dz } = args.inputs as Record<string, tf.TensorInfo>;
  const n = mu.shape[0] * mu.shape[1];
  const out = backend.makeOutput([...mu.shape], "float32");
  const heap = backend.wasm.HEAPF32;
  const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
  const o = at(out), m = at(mu);
  if (!gradient) {
    const l = at(logVar), e = at(eps);
    for (let j = 0; j < n; j++) heap[o + j] = heap[m + j] + heap[e + j] * Math.exp(0.5 * heap[l + j]);
  } else {
    const zz = at(z), d = at(dz);
    for (let j = 0; j < n; j++) heap[o + j] = 0.5 * heap[d + j] * (heap[zz + j] - heap[m + j]);
  }
  return out;
}

/** True while the kernels are registered and wasm is the backend in use. */
export function gaussianKernelsEnabled(): boolean {
  return tf.getBackend() === "wasm" && tf.getKernel(GAUSSIAN_TERMS_KERNEL, "wasm") !== undefined;
}

/** The four terms per user as one 4 × rows tensor (rows in the order above), differentiable in all four inputs. */
export function gaussianTerms(o: { muX: tf.Tensor2D; logVarX: tf.Tensor2D; muY: tf.Tensor2D; logVarY: tf.Tensor2D; cross: CrossTerms }): tf.Tensor2D {
  const attrs = { cross: o.cross };
  const op = tf.customGrad((...args: Array<tf.Tensor | ((tensors: tf.Tensor[]) => void)>) => {
    const [muX, logVarX, muY, logVarY] = args.slice(0, 4) as tf.Tensor[];
    const save = args[4] as (tensors: tf.Tensor[]) => void;
    const inputs = { muX, logVarX, muY, logVarY };
    save([muX, logVarX, muY, logVarY]);
    return {
      value: tf.engine().runKernel(GAUSSIAN_TERMS_KERNEL, inputs, attrs) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [a, b, c, d] = saved;
        return tf.engine().runKernel(GAUSSIAN_TERMS_GRAD_KERNEL, { muX: a, logVarX: b, muY: c, logVarY: d, dy }, attrs) as tf.Tensor[];
      },
    };
  });
  return op(o.muX, o.logVarX, o.muY, o.logVarY) as tf.Tensor2D;
}

function runTerms(args: KernelArgs, gradient: boolean): tf.TensorInfo | tf.TensorInfo[] {
  const backend = args.backend as WasmBackendInternals;
  const { muX, logVarX, muY, logVarY, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const cross = (args.attrs as { cross: CrossTerms }).cross;
  const [rows, k] = muX.shape;
  // Outputs first: making one may grow the heap, which replaces the buffer every view reads.
  const outs = gradient ? [0, 1, 2, 3].map(() => backend.makeOutput([rows, k], "float32")) : [backend.makeOutput([4, rows], "float32")];
  const heap = backend.wasm.HEAPF32;
  const at = (t: tf.TensorInfo): number => floatOffset(backend, t);
  const m = { mx: at(muX), lx: at(logVarX), my: at(muY), ly: at(logVarY) };
  if (!gradient) {
    const out = at(outs[0]);
    for (let r = 0; r < rows; r++) {
      let priorX = 0, priorY = 0, crossX = 0, crossY = 0;
      for (let j = r * k, end = j + k; j < end; j++) {
        const mx = heap[m.mx + j], lx = heap[m.lx + j], my = heap[m.my + j], ly = heap[m.ly + j];
        const ex = Math.exp(lx), ey = Math.exp(ly), d = mx - my;
        priorX += ex + mx * mx - 1 - lx;
        priorY += ey + my * my - 1 - ly;
        if (cross === "kl") {
          crossX += ly - lx + (ex + d * d) / ey - 1;
          crossY += lx - ly + (ey + d * d) / ex - 1;
        } else if (cross === "squared") {
          crossX += d * d;
        }
      }
      heap[out + r] = 0.5 * priorX;
      heap[out + rows + r] = 0.5 * priorY;
      heap[out + 2 * rows + r] = cross === "kl" ? 0.5 * crossX : crossX;
      heap[out + 3 * rows + r] = cross === "kl" ? 0.5 * crossY : crossX;
    }
    return outs[0];
  }
  const g = at(dy);
  const [dmx, dlx, dmy, dly] = outs.map(at);
  for (let r = 0; r < rows; r++) {
    const gpx = heap[g + r], gpy = heap[g + rows + r], gcx = heap[g + 2 * rows + r], gcy = heap[g + 3 * rows + r];
    for (let j = r * k, end = j + k; j < end; j++) {
      const mx = heap[m.mx + j], lx = heap[m.lx + j], my = heap[m.my + j], ly = heap[m.ly + j];
      const ex = Math.exp(lx), ey = Math.exp(ly), d = mx - my;
      let gmx = gpx * mx, glx = 0.5 * gpx * (ex - 1), gmy = gpy * my, gly = 0.5 * gpy * (ey - 1);
      if (cross === "kl") {
        // KL(x ‖ y) = ½ Σ (ly − lx + (e^lx + d²) e^−ly − 1), and the same with x and y swapped.
        gmx += gcx * (d / ey) + gcy * (d / ex);
        gmy -= gcx * (d / ey) + gcy * (d / ex);
        glx += 0.5 * gcx * (ex / ey - 1) + 0.5 * gcy * (1 - (ey + d * d) / ex);
        gly += 0.5 * gcx * (1 - (ex + d * d) / ey) + 0.5 * gcy * (ey / ex - 1);
      } else if (cross === "squared") {
        gmx += 2 * (gcx + gcy) * d;
        gmy -= 2 * (gcx + gcy) * d;
      }
      heap[dmx + j] = gmx;
      heap[dlx + j] = glx;
      heap[dmy + j] = gmy;
      heap[dly + j] = gly;
    }
  }
  return outs;
}
