/*
 * Optional native matMul for the tfjs wasm backend (DESIGN.md §5): calls OpenBLAS's cblas_sgemm on
 * matrices that live in the WebAssembly heap, which Node exposes as an ArrayBuffer. Built only by
 * `npm run build:native`; the engine falls back to the stock wasm kernels when this file is absent.
 *
 * sgemm(heap, transA, transB, M, N, K, aOff, bOff, cOff, biasOff, batch, strideA, strideB, strideC)
 *   C[b] = op(A[b]) · op(B[b]) (+ bias broadcast over rows when biasOff >= 0), row-major, float32;
 *   offsets are in floats, strides in floats between consecutive batch matrices (0 = broadcast).
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <string.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "wasm_sgemm: bad argument"); return NULL; } } while (0)

static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 14) {
    napi_throw_error(env, NULL, "wasm_sgemm: expected 14 arguments");
    return NULL;
  }
  void* data = NULL;
  size_t bytes = 0;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &data, &bytes));
  bool ta = false, tb = false;
  CHECK(napi_get_value_bool(env, argv[1], &ta));
  CHECK(napi_get_value_bool(env, argv[2], &tb));
  int64_t v[11];
  for (int i = 0; i < 11; i++) CHECK(napi_get_value_int64(env, argv[3 + i], &v[i]));
  const int64_t m = v[0], n = v[1], k = v[2], aOff = v[3], bOff = v[4], cOff = v[5], biasOff = v[6];
  const int64_t batch = v[7], sA = v[8], sB = v[9], sC = v[10];
  const int64_t floats = (int64_t)(bytes / sizeof(float));
  /* Every matrix must lie inside the heap: a wrong offset must not write outside it. */
  if (m <= 0 || n <= 0 || k <= 0 || batch <= 0 || aOff < 0 || bOff < 0 || cOff < 0 || sA < 0 || sB < 0 || sC < 0 ||
      aOff + (batch - 1) * sA + m * k > floats || bOff + (batch - 1) * sB + k * n > floats ||
      cOff + (batch - 1) * sC + m * n > floats || (biasOff >= 0 && biasOff + n > floats)) {
    napi_throw_range_error(env, NULL, "wasm_sgemm: matrices outside the heap");
    return NULL;
  }
  float* heap = (float*)data;
  for (int64_t b = 0; b < batch; b++) {
    float* c = heap + cOff + b * sC;
    float beta = 0.0f;
    if (biasOff >= 0) {
      for (int64_t r = 0; r < m; r++) memcpy(c + r * n, heap + biasOff, (size_t)n * sizeof(float));
      beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                heap + aOff + b * sA, ta ? (int)m : (int)k, heap + bOff + b * sB, tb ? (int)k : (int)n, beta, c, (int)n);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, sgemm, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sgemm", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
