/**
 * What the models (src/engine/models/) and the services may use of the runtime: starting and naming
 * the backend, the layers with hand-written gradients, the fused Gaussian kernels, Adam and the top-k
 * placement. Kernel registration, the native addon, the heap and wasm assembly, Dawn and the GPU probe
 * stay behind this file (eslint.config.js refuses a model's import of them).
 */
export { Adam, type AdamOptions } from "./adam.ts";
export { currentBackend, currentDevice, initBackend, trainingMemoryLimit, WASM_HEAP_BYTES, webgpuRefusal, type TrainingMemoryLimit } from "./backend.ts";
export { allowBf16Deletions, bf16DeletionsAvailable, deltaLogSoftmax, packLayer, BF16_MIN_LAYER_WEIGHTS, type PackedLayer } from "./bf16-logits.ts";
export { fusedReparameterise, gaussianKernelsEnabled, gaussianTerms, type CrossTerms } from "./gaussian-terms.ts";
export { columnSums, linear, logSumExpRows, matMulNT, matMulTN, multinomialNll, softmaxMean, sparseBatchTensors, sparseLinear, sparseTarget, takeColumns, takeRows, type SparseBatchTensors, type SparseTarget } from "./ops.ts";
export { topKOnBackend, topKPlace, type TopKPlace } from "./top-k.ts";
export { sliceColumns } from "./heap-slice.ts";
