/**
 * A block of columns of a 2-D float32 tensor, copied row by row on the wasm heap. tfjs-wasm's own
 * Slice kernel first reads the whole input out of the heap (readSync copies it), so one block of the
 * output layer at 200,000 items cost a 480 MB copy (≈ 2.3 s and ≈ 210 MB of RSS growth on a busy
 * 2-core host); item blocks (running-top-k.ts) take one such block per pass.
 */
import * as tf from "@tensorflow/tfjs";
import { registerOwnKernel, type WasmBackendInternals } from "./native-kernels.ts";

const SLICE_COLUMNS_KERNEL = "VcmSliceColumns";

/** Registers the kernel on wasm (initBackend calls it once wasm has started). */
export function enableHeapSliceColumns(): void {
  registerOwnKernel(SLICE_COLUMNS_KERNEL, (args) => {
    const x = args.inputs.x!;
    const { start, width } = args.attrs as { start: number; width: number };
    const backend = args.backend as WasmBackendInternals;
    const [rows, cols] = x.shape;
    const out = backend.makeOutput([rows, width], "float32");
    // The heap's view is taken after makeOutput, which may grow (and so replace) the heap.
    const heap = backend.wasm.HEAPF32;
    const from = backend.dataIdMap.get(x.dataId)!.memoryOffset / 4 + start;
    const to = backend.dataIdMap.get(out.dataId)!.memoryOffset / 4;
    for (let r = 0; r < rows; r += 1) heap.copyWithin(to + r * width, from + r * cols, from + r * cols + width);
    return out;
  });
}

/** Columns [start, start + width) of a float32 matrix: on the heap on wasm, tf.slice elsewhere. */
export function sliceColumns(x: tf.Tensor2D, start: number, width: number): tf.Tensor2D {
  if (x.dtype === "float32" && tf.getBackend() === "wasm" && tf.getKernel(SLICE_COLUMNS_KERNEL, "wasm") !== undefined) {
    return tf.engine().runKernel(SLICE_COLUMNS_KERNEL, { x }, { start, width }) as tf.Tensor2D;
  }
  return tf.slice(x, [0, start], [x.shape[0], width]);
}
