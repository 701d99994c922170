/**
 * wasm's Identity kernel copies its input, and tfjs runs it for every tensor it keeps for the backward
 * pass (engine.clone): at the Yelp shape that copied the 600 × 10,000 decoder weights and the softmax
 * outputs at each step (≈ 118 copies, 7 ms). Tensors are immutable, so the cpu backend shares the
 * buffer instead; this does the same on wasm. The one writer in place, Adam (adam.ts), runs after the
 * gradients and the clones kept for them are disposed.
 */
import * as tf from "@tensorflow/tfjs";

interface WasmRefCounts {
  incRef(dataId: object): void;
}

/** Whether the sharing kernel is registered, kept process-wide like the kernel registry itself. */
const state: { shared: boolean } = { shared: false };

/** Registers the sharing Identity for wasm (idempotent). */
export function shareWasmIdentity(): void {
  if (state.shared) return;
  const kernel = tf.getKernel("Identity", "wasm");
  if (!kernel) return;
  state.shared = true;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ((args: { inputs: { x: tf.TensorInfo }; backend: unknown; attrs?: tf.NamedAttrMap }) => {
      const { x } = args.inputs;
      // Strings live outside the heap; the stock kernel copies them.
      if (x.dtype === "string") return kernel.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]);
      (args.backend as WasmRefCounts).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as unknown as tf.KernelFunc,
  });
}
