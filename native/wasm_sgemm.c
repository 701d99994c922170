/*
 * Optional native kernels for the tfjs wasm backend (DESIGN.md §5), working on tensors that live in
 * the WebAssembly heap, which Node exposes as an ArrayBuffer. Built by npm ci's postinstall when
 * OpenBLAS is installed (or `npm run build:native`); without it the engine runs the stock wasm kernels.
 *
 * sgemm(heap, transA, transB, M, N, K, aOff, bOff, cOff, biasOff, batch, strideA, strideB, strideC)
 *   C[b] = op(A[b]) · op(B[b]) (+ bias broadcast over rows when biasOff >= 0), row-major, float32;
 *   offsets are in floats, strides in floats between consecutive batch matrices (0 = broadcast).
 *   Always sgemm, one row too: sgemv sums in another order, and one user scored alone must get the
 *   same numbers as inside a batch (test/engine/train.test.ts).
 *
 * adam(heap, pIn, pOut, g, m, v, n, b1, b2, lr, eps)
 *   one fused pass over n floats (Kingma & Ba, bias corrections folded into lr and eps by the caller):
 *   m ← b1·m + (1−b1)·g; v ← b2·v + (1−b2)·g²; pOut ← pIn − lr·m / (√v + eps); pIn may equal pOut.
 *
 * sparseLinear(heap, rows, h, nnz, n, idx, seg, vals, rowScale, w, bias, out)
 *   the sparse first layer S · W + b for a batch S given by entries (seg[k], idx[k]) with value vals[k]
 *   (or rowScale[seg[k]] when vals < 0), seg ascending; W is n × h; int32 offsets for idx and seg.
 * sparseLinearGradByColumn(heap, rows, h, nnz, n, colptr, colRow, colVal, dy, dw)
 *   dW = Sᵀ · dY as a dense n × h matrix, with S's entries given in column order (CSC: column c's
 *   entries are colptr[c] .. colptr[c+1], each with its row colRow[q] and value colVal[q]), so each
 *   row of dW is written once and untouched rows are zeroed, instead of zeroing all of dW and then
 *   adding into random rows (words at the Yelp shape: 17 → 3.4 ms here).
 *
 * tanh(heap, x, y, n), exp(heap, x, y, n)
 *   y = tanh(x), y = exp(x) over n floats (wasm's own kernels are scalar, ≈ 20–30 ns a value).
 *
 * topk(heap, rows, cols, k, scores, exIndptr, exIdx, out)
 *   per row of scores (rows × cols): the k best columns, best first (ties: lower column first; NaN and
 *   the row's columns exIdx[exIndptr[r] .. exIndptr[r+1]) skipped), padded with −1; int32 out rows × k.
 *
 * amxBf16, packedBf16Bytes, packBf16, deltaLogSoftmax: the explanations' deletion products on AMX (bf16_logits.c).
 * softmaxMean: Σ_j softmax(h · W + b)_j W[:, j] in one read of W (softmax_mean.c).
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <omp.h>
#include "bf16_logits.h"
#include "vector_math.h"
#include "softmax_mean.h"
#ifdef __AVX2__
#include <immintrin.h>
#endif


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

/*
 * Reads the arguments (heap, nInts integers, then nDoubles numbers) of an exported function; returns 0,
 * with a JavaScript error thrown, when they are not that.
 */
static int read_args(napi_env env, napi_callback_info info, const char* name, size_t nInts, int64_t* ints, size_t nDoubles,
                     double* doubles, void** heap, int64_t* words) {
  napi_value argv[16];
  size_t argc = 16;
  size_t bytes = 0;
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 + nInts + nDoubles &&
           napi_get_arraybuffer_info(env, argv[0], heap, &bytes) == napi_ok;
  for (size_t i = 0; ok && i < nInts; i++) ok = napi_get_value_int64(env, argv[1 + i], &ints[i]) == napi_ok;
  for (size_t i = 0; ok && i < nDoubles; i++) ok = napi_get_value_double(env, argv[1 + nInts + i], &doubles[i]) == napi_ok;
  if (!ok) {
    char message[96];
    snprintf(message, sizeof message, "wasm_sgemm.%s: bad arguments", name);
    napi_throw_error(env, NULL, message);
  }
  *words = (int64_t)(bytes / 4);
  return ok;
}

static napi_value adam(napi_env env, napi_callback_info info) {
  void* data = NULL;
  int64_t floats = 0;
  int64_t o[6];
  double h[4];
  if (!read_args(env, info, "adam", 6, o, 4, h, &data, &floats)) return NULL;
  const int64_t pIn = o[0], pOut = o[1], gOff = o[2], mOff = o[3], vOff = o[4], n = o[5];
  if (n < 0 || pIn < 0 || pOut < 0 || gOff < 0 || mOff < 0 || vOff < 0 || pIn + n > floats || pOut + n > floats ||
      gOff + n > floats || mOff + n > floats || vOff + n > floats) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.adam: tensors outside the heap");
    return NULL;
  }
  float* heap = (float*)data;
  const float* pi = heap + pIn;
  float* po = heap + pOut;
  const float* g = heap + gOff;
  float* m = heap + mOff;
  float* v = heap + vOff;
  const float b1 = (float)h[0], b2 = (float)h[1], lr = (float)h[2], eps = (float)h[3];
  const float a1 = 1.0f - b1, a2 = 1.0f - b2;
  /*
   * Both cores for large tensors; small ones are not worth waking a thread for. Dynamic chunks, here
   * and in the other kernels: on a shared host one core is often taken away for a while, and a static
   * split would then wait for it at the end of every kernel.
   */
#pragma omp parallel for simd schedule(dynamic, 16384) if (n > 65536)
  for (int64_t j = 0; j < n; j++) {
    const float gj = g[j];
    const float mj = b1 * m[j] + a1 * gj;
    const float vj = b2 * v[j] + a2 * gj * gj;
    m[j] = mj;
    v[j] = vj;
    po[j] = pi[j] - lr * mj / (sqrtf(vj) + eps);
  }
  return NULL;
}

/* The arguments of sparseLinear, read and bounds-checked once: W (n × h) at a, bias (h) at b, out (rows × h) at c. */
typedef struct {
  float* f;
  const int32_t* i;
  int64_t rows, h, nnz, n, idx, seg, vals, rowScale, a, b, c;
} SparseArgs;

static int sparse_args(napi_env env, napi_callback_info info, SparseArgs* s) {
  void* data = NULL;
  int64_t words = 0;
  int64_t v[11] = {0};
  if (!read_args(env, info, "sparseLinear", 11, v, 0, NULL, &data, &words)) return 0;
  s->f = (float*)data;
  s->i = (const int32_t*)data;
  s->rows = v[0]; s->h = v[1]; s->nnz = v[2]; s->n = v[3]; s->idx = v[4]; s->seg = v[5]; s->vals = v[6]; s->rowScale = v[7];
  s->a = v[8]; s->b = v[9]; s->c = v[10];
  int ok = s->rows > 0 && s->h > 0 && s->nnz >= 0 && s->n > 0 && s->idx >= 0 && s->seg >= 0 &&
           s->idx + s->nnz <= words && s->seg + s->nnz <= words &&
           (s->vals < 0 ? (s->rowScale >= 0 && s->rowScale + s->rows <= words) : s->vals + s->nnz <= words) &&
           s->a >= 0 && s->b >= 0 && s->a + s->n * s->h <= words && s->b + s->h <= words && s->c >= 0 &&
           s->c + s->rows * s->h <= words;
  for (int64_t k = 0; ok && k < s->nnz; k++) {
    const int32_t r = s->i[s->seg + k], col = s->i[s->idx + k];
    ok = r >= 0 && r < s->rows && col >= 0 && col < s->n && (k == 0 || r >= s->i[s->seg + k - 1]);
  }
  if (!ok) napi_throw_range_error(env, NULL, "wasm_sgemm.sparseLinear: tensors outside the heap or indices out of range");
  return ok;
}

static inline float entry_value(const SparseArgs* s, int64_t k) {
  return s->vals >= 0 ? s->f[s->vals + k] : s->f[s->rowScale + s->i[s->seg + k]];
}

static napi_value sparse_linear(napi_env env, napi_callback_info info) {
  SparseArgs s;
  if (!sparse_args(env, info, &s)) return NULL;
  float* out = s.f + s.c;
  const float* w = s.f + s.a;
  const float* bias = s.f + s.b;
  const int32_t* seg = s.i + s.seg;
  const int32_t* idx = s.i + s.idx;
  /* Entries are ordered by row (checked above): row r's are start[r] .. start[r+1], and each row is one thread's. */
  int64_t* start = malloc((size_t)(s.rows + 1) * sizeof(int64_t));
  if (!start) {
    napi_throw_error(env, NULL, "wasm_sgemm.sparseLinear: out of memory");
    return NULL;
  }
  for (int64_t r = 0, k = 0; r <= s.rows; r++) {
    while (k < s.nnz && seg[k] < r) k++;
    start[r] = k;
  }
#pragma omp parallel for schedule(dynamic, 4) if (s.nnz * s.h > 262144)
  for (int64_t r = 0; r < s.rows; r++) {
    float* o = out + r * s.h;
    memcpy(o, bias, (size_t)s.h * sizeof(float));
    for (int64_t k = start[r]; k < start[r + 1]; k++) {
      const float x = entry_value(&s, k);
      const float* wr = w + (int64_t)idx[k] * s.h;
#pragma omp simd
      for (int64_t j = 0; j < s.h; j++) o[j] += x * wr[j];
    }
  }
  free(start);
  return NULL;
}

static napi_value sparse_linear_grad_by_column(napi_env env, napi_callback_info info) {
  void* data = NULL;
  int64_t words = 0;
  int64_t v[9];
  if (!read_args(env, info, "sparseLinearGradByColumn", 9, v, 0, NULL, &data, &words)) return NULL;
  const int64_t rows = v[0], h = v[1], nnz = v[2], n = v[3], cp = v[4], cr = v[5], cv = v[6], dyOff = v[7], dwOff = v[8];
  const int32_t* colptr = (const int32_t*)data + cp;
  const int32_t* colRow = (const int32_t*)data + cr;
  int ok = rows > 0 && h > 0 && nnz >= 0 && n > 0 && cp >= 0 && cp + n + 1 <= words && cr >= 0 && cr + nnz <= words &&
           cv >= 0 && cv + nnz <= words && dyOff >= 0 && dyOff + rows * h <= words && dwOff >= 0 && dwOff + n * h <= words;
  ok = ok && colptr[0] == 0 && colptr[n] == nnz;
  for (int64_t c = 0; ok && c < n; c++) ok = colptr[c] <= colptr[c + 1];
  for (int64_t q = 0; ok && q < nnz; q++) ok = colRow[q] >= 0 && colRow[q] < rows;
  if (!ok) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.sparseLinearGradByColumn: tensors outside the heap or indices out of range");
    return NULL;
  }
  const float* colVal = (const float*)data + cv;
  const float* dy = (const float*)data + dyOff;
  float* dw = (float*)data + dwOff;
#pragma omp parallel for schedule(dynamic, 64) if (n * h > 262144)
  for (int64_t c = 0; c < n; c++) {
    float* g = dw + c * h;
    const int64_t b = colptr[c], e = colptr[c + 1];
    if (b == e) {
      memset(g, 0, (size_t)h * sizeof(float));
      continue;
    }
    const float x0 = colVal[b];
    const float* d0 = dy + (int64_t)colRow[b] * h;
#pragma omp simd
    for (int64_t j = 0; j < h; j++) g[j] = x0 * d0[j];
    for (int64_t q = b + 1; q < e; q++) {
      const float x = colVal[q];
      const float* d = dy + (int64_t)colRow[q] * h;
#pragma omp simd
      for (int64_t j = 0; j < h; j++) g[j] += x * d[j];
    }
  }
  return NULL;
}

/* y = f(x) over n floats at float offsets of the heap, for the elementwise kernels below. */
static int unary_args(napi_env env, napi_callback_info info, const char* name, const float** in, float** out, int64_t* n) {
  void* data = NULL;
  int64_t floats = 0;
  int64_t v[3];
  if (!read_args(env, info, name, 3, v, 0, NULL, &data, &floats)) return 0;
  const int64_t x = v[0], y = v[1];
  *n = v[2];
  if (*n < 0 || x < 0 || y < 0 || x + *n > floats || y + *n > floats) {
    napi_throw_range_error(env, NULL, "wasm_sgemm: tensors outside the heap");
    return 0;
  }
  *in = (const float*)data + x;
  *out = (float*)data + y;
  return 1;
}

static napi_value tanh_kernel(napi_env env, napi_callback_info info) {
  const float* in;
  float* out;
  int64_t n;
  if (!unary_args(env, info, "tanh", &in, &out, &n)) return NULL;
#pragma omp parallel for simd schedule(dynamic, 16384) if (n > 65536)
  for (int64_t j = 0; j < n; j++) out[j] = tanhf(in[j]);
  return NULL;
}

/* wasm's Exp is scalar too (≈ 29 ns a value: 18 ms for the 63 × 10,003 logits of one explanation's check). */
static napi_value exp_kernel(napi_env env, napi_callback_info info) {
  const float* in;
  float* out;
  int64_t n;
  if (!unary_args(env, info, "exp", &in, &out, &n)) return NULL;
#pragma omp parallel for simd schedule(dynamic, 16384) if (n > 65536)
  for (int64_t j = 0; j < n; j++) out[j] = expf(in[j]);
  return NULL;
}

/* a ranks below b: a lower score, or the same score at a higher column. */
static inline int worse(const float* sc, int32_t a, int32_t b) {
  return sc[a] < sc[b] || (sc[a] == sc[b] && a > b);
}

static void sift_down(int32_t* heap, int64_t size, const float* sc) {
  int64_t i = 0;
  for (;;) {
    const int64_t l = 2 * i + 1, r = l + 1;
    int64_t m = i;
    if (l < size && worse(sc, heap[l], heap[m])) m = l;
    if (r < size && worse(sc, heap[r], heap[m])) m = r;
    if (m == i) return;
    const int32_t t = heap[i]; heap[i] = heap[m]; heap[m] = t;
    i = m;
  }
}

/*
 * The k best of columns 0..n, skipping excluded and NaN ones, into a min-heap (heap[0] the worst kept);
 * returns how many were kept (≤ k). Used on a row's first columns, for the candidates' threshold.
 */
static int64_t heap_topk(const float* sc, int64_t n, const unsigned char* skip, int64_t k, int32_t* heap) {
  int64_t size = 0;
  float th = 0.0f;
  int32_t thIdx = 0;
  for (int64_t q = 0; q < n; q++) {
    const int32_t c = (int32_t)q;
    const float x = sc[c];
    /* Once the heap is full, most columns lose against its worst entry: test that first. */
    if (size == k && (x < th || (x == th && c > thIdx))) continue;
    if (skip[c] || x != x) continue;
    if (size < k) {
      int64_t i = size++;
      heap[i] = c;
      while (i > 0) {
        const int64_t p = (i - 1) / 2;
        if (!worse(sc, heap[i], heap[p])) break;
        const int32_t t = heap[i]; heap[i] = heap[p]; heap[p] = t;
        i = p;
      }
    } else {
      heap[0] = c;
      sift_down(heap, size, sc);
    }
    if (size == k) {
      thIdx = heap[0];
      th = sc[thIdx];
    }
  }
  return size;
}

/*
 * A column's rank as one integer: larger is better, ties broken towards the lower column, as `worse` ranks
 * them (−0 counts as 0). Ranking the candidates by these keys has no indirection and no float compares.
 */
static inline uint64_t rank_key(float x, int32_t c) {
  uint32_t b;
  if (x == 0.0f) x = 0.0f;
  memcpy(&b, &x, sizeof b);
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ((uint64_t)b << 32) | (uint32_t)(0x7FFFFFFF - c);
}

static inline int32_t key_column(uint64_t key) {
  return 0x7FFFFFFF - (int32_t)(uint32_t)key;
}

/* Moves the k largest of a[0..n) to a[0..k), in no order (Hoare's quickselect); k ≤ n. */
static void select_largest(uint64_t* a, int64_t n, int64_t k) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const uint64_t pivot = a[lo + (hi - lo) / 2];
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const uint64_t t = a[i]; a[i] = a[j]; a[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else break;
  }
}

static int larger_first(const void* x, const void* y) {
  const uint64_t a = *(const uint64_t*)x, b = *(const uint64_t*)y;
  return a < b ? 1 : a > b ? -1 : 0;
}

static napi_value topk(napi_env env, napi_callback_info info) {
  void* data = NULL;
  int64_t words = 0;
  int64_t v[7];
  if (!read_args(env, info, "topk", 7, v, 0, NULL, &data, &words)) return NULL;
  const int64_t rows = v[0], cols = v[1], k = v[2], scOff = v[3], ipOff = v[4], exOff = v[5], outOff = v[6];
  const int32_t* ints = (const int32_t*)data;
  int ok = rows > 0 && cols > 0 && k > 0 && k <= cols && scOff >= 0 && scOff + rows * cols <= words && ipOff >= 0 &&
           ipOff + rows + 1 <= words && exOff >= 0 && outOff >= 0 && outOff + rows * k <= words;
  if (ok) {
    const int32_t* ip = ints + ipOff;
    ok = ip[0] == 0 && exOff + ip[rows] <= words;
    for (int64_t r = 0; ok && r < rows; r++) ok = ip[r + 1] >= ip[r];
    for (int64_t j = 0; ok && j < ip[rows]; j++) ok = ints[exOff + j] >= 0 && ints[exOff + j] < cols;
  }
  if (!ok) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.topk: tensors outside the heap or columns out of range");
    return NULL;
  }
  const float* scores = (const float*)data + scOff;
  const int32_t* ip = ints + ipOff;
  const int32_t* ex = ints + exOff;
  int32_t* out = (int32_t*)data + outOff;
#pragma omp parallel if (rows * cols > 262144)
  {
    unsigned char* skip = calloc((size_t)cols, 1);
    uint64_t* cand = malloc((size_t)cols * sizeof(uint64_t));
    int32_t* small = malloc((size_t)(k + 64) * sizeof(int32_t));
#pragma omp for schedule(dynamic, 8)
    for (int64_t r = 0; r < rows; r++) {
      const float* sc = scores + r * cols;
      for (int32_t j = ip[r]; j < ip[r + 1]; j++) skip[ex[j]] = 1;
      /*
       * A threshold from the first columns (an eighth of the row, at most 1,000; their m-th best, m sized so that about 2k columns of
       * the row pass it) leaves a short list of candidates, and only those are ranked. Every
       * column at or above the threshold is a candidate, so when k of them pass, the top k is among
       * them; otherwise (few columns, skewed rows) all columns are candidates.
       */
      int64_t ncand = 0;
      int use_all = 1;
      const int64_t sample = cols / 8 < 1000 ? cols / 8 : 1000;
      if (sample >= 2 * k) {
        const int64_t m = (2 * k * sample + cols - 1) / cols + 8;
        const int64_t found = heap_topk(sc, sample, skip, m, small);
        if (found == m) {
          const float t = sc[small[0]];
          int32_t c = 0;
#ifdef __AVX2__
          /* Eight columns per compare; the mask's set bits are the candidates (most blocks have none). */
          const __m256 tv = _mm256_set1_ps(t);
          for (; c + 8 <= cols; c += 8) {
            unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(sc + c), tv, _CMP_GE_OQ));
            while (mask) {
              const int u = __builtin_ctz(mask);
              mask &= mask - 1;
              if (!skip[c + u]) cand[ncand++] = rank_key(sc[c + u], c + u);
            }
          }
#else
          /* Eight columns per test (vectorised): most blocks have no candidate at all. */
          for (; c + 8 <= cols; c += 8) {
            int any = 0;
            for (int u = 0; u < 8; u++) any |= sc[c + u] >= t;
            if (!any) continue;
            for (int u = 0; u < 8; u++) if (sc[c + u] >= t && !skip[c + u]) cand[ncand++] = rank_key(sc[c + u], c + u);
          }
#endif
          for (; c < cols; c++) if (sc[c] >= t && !skip[c]) cand[ncand++] = rank_key(sc[c], c);
          use_all = ncand < k;
        }
      }
      if (use_all) {
        ncand = 0;
        for (int32_t c = 0; c < cols; c++) if (!skip[c] && sc[c] == sc[c]) cand[ncand++] = rank_key(sc[c], c);
      }
      for (int32_t j = ip[r]; j < ip[r + 1]; j++) skip[ex[j]] = 0;
      /* The k best keys, then those sorted: best first, padded with −1 when fewer are left. */
      const int64_t size = ncand < k ? ncand : k;
      if (ncand > k) select_largest(cand, ncand, k);
      qsort(cand, (size_t)size, sizeof(uint64_t), larger_first);
      int32_t* o = out + r * k;
      for (int64_t i = 0; i < size; i++) o[i] = key_column(cand[i]);
      for (int64_t i = size; i < k; i++) o[i] = -1;
    }
    free(skip);
    free(cand);
    free(small);
  }
  return NULL;
}

/*
 * The multinomial likelihood of a batch (ops.ts multinomialNll) in one pass per row: p = softmax(logits)
 * and loss_r = rowSum_r · logsumexp(logits_r) − Σ_k vals_k · logits[pos_k] over the target entries
 * (pos: int32 (row, column) pairs). Arguments: rows, cols, nnz, then float offsets of logits, pos,
 * vals, rowSum, p (out), loss (out). The gradient kernel takes p, pos, vals, rowSum, dy (rows) and
 * writes grad = p · rowSum · dy − the entries' vals · dy, the same sums ops.ts spells out in tfjs ops.
 */
static int nll_args(napi_env env, napi_callback_info info, const char* name, int64_t* v, float** f, const int32_t** pos) {
  void* data = NULL;
  int64_t words = 0;
  if (!read_args(env, info, name, 9, v, 0, NULL, &data, &words)) return 0;
  const int64_t rows = v[0], cols = v[1], nnz = v[2];
  /* v[3..8]: two rows × cols matrices (3, 7), the positions (4), vals (5, nnz), rowSum (6, rows), and rows numbers (8). */
  int ok = rows > 0 && cols > 0 && nnz >= 0;
  for (int i = 3; ok && i <= 8; i++) ok = v[i] >= 0;
  ok = ok && v[3] + rows * cols <= words && v[7] + rows * cols <= words && v[4] + 2 * nnz <= words && v[5] + nnz <= words &&
       v[6] + rows <= words && v[8] + rows <= words;
  *f = (float*)data;
  *pos = (const int32_t*)data + v[4];
  for (int64_t k = 0; ok && k < nnz; k++) ok = (*pos)[2 * k] >= 0 && (*pos)[2 * k] < rows && (*pos)[2 * k + 1] >= 0 && (*pos)[2 * k + 1] < cols;
  if (!ok) napi_throw_range_error(env, NULL, "wasm_sgemm.multinomialNll: tensors outside the heap or entries out of range");
  return ok;
}

static napi_value multinomial_nll(napi_env env, napi_callback_info info) {
  int64_t v[9];
  float* f = NULL;
  const int32_t* pos = NULL;
  if (!nll_args(env, info, "multinomialNll", v, &f, &pos)) return NULL;
  const int64_t rows = v[0], cols = v[1], nnz = v[2];
  const float* logits = f + v[3];
  const float* vals = f + v[5];
  const float* rowSum = f + v[6];
  float* p = f + v[7];
  float* loss = f + v[8];
#pragma omp parallel for schedule(dynamic, 8) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const float* l = logits + r * cols;
    float* pr = p + r * cols;
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < cols; j++) m = l[j] > m ? l[j] : m;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; j++) {
      const float e = expf(l[j] - m);
      pr[j] = e;
      sum += e;
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) pr[j] *= inv;
    loss[r] = rowSum[r] * (m + logf(sum));
  }
  for (int64_t k = 0; k < nnz; k++) loss[pos[2 * k]] -= vals[k] * logits[(int64_t)pos[2 * k] * cols + pos[2 * k + 1]];
  return NULL;
}

static napi_value multinomial_nll_grad(napi_env env, napi_callback_info info) {
  int64_t v[9];
  float* f = NULL;
  const int32_t* pos = NULL;
  if (!nll_args(env, info, "multinomialNllGrad", v, &f, &pos)) return NULL;
  const int64_t rows = v[0], cols = v[1], nnz = v[2];
  const float* p = f + v[3];
  const float* vals = f + v[5];
  const float* rowSum = f + v[6];
  float* grad = f + v[7];
  const float* dy = f + v[8];
#pragma omp parallel for schedule(dynamic, 8) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const float c = rowSum[r] * dy[r];
    const float* pr = p + r * cols;
    float* g = grad + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; j++) g[j] = pr[j] * c;
  }
  for (int64_t k = 0; k < nnz; k++) grad[(int64_t)pos[2 * k] * cols + pos[2 * k + 1]] -= vals[k] * dy[pos[2 * k]];
  return NULL;
}

/*
 * -march=native lets the compiler use every instruction set of the CPU the addon is built on. Loaded on a
 * CPU without one of them (a checkout or image moved to an older machine), the first kernel would die of
 * SIGILL with no word said. So init, compiled for the x86-64 baseline, first asks the CPU for each
 * extension the compiler was given and, when one is missing, exports only its name (native-kernels.ts
 * then keeps the stock kernels and says why). compiledFor lists them either way.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define VCM_BASELINE __attribute__((target("arch=x86-64")))
VCM_BASELINE static const char* missing_cpu_feature(char* compiled, size_t size) {
  const char* missing = NULL;
  __builtin_cpu_init();
#define FEATURE(name)                                                   \
  do {                                                                  \
    strncat(compiled, compiled[0] ? " " name : name, size - strlen(compiled) - 1); \
    if (!missing && !__builtin_cpu_supports(name)) missing = name;      \
  } while (0)
#ifdef __SSE4_1__
  FEATURE("sse4.1");
#endif
#ifdef __SSE4_2__
  FEATURE("sse4.2");
#endif
#ifdef __POPCNT__
  FEATURE("popcnt");
#endif
#ifdef __AVX__
  FEATURE("avx");
#endif
#ifdef __AVX2__
  FEATURE("avx2");
#endif
#ifdef __FMA__
  FEATURE("fma");
#endif
#ifdef __BMI__
  FEATURE("bmi");
#endif
#ifdef __BMI2__
  FEATURE("bmi2");
#endif
#ifdef __SSE4A__
  FEATURE("sse4a");
#endif
#ifdef __FMA4__
  FEATURE("fma4");
#endif
#ifdef __XOP__
  FEATURE("xop");
#endif
#ifdef __AVX512F__
  FEATURE("avx512f");
#endif
#ifdef __AVX512VL__
  FEATURE("avx512vl");
#endif
#ifdef __AVX512BW__
  FEATURE("avx512bw");
#endif
#ifdef __AVX512DQ__
  FEATURE("avx512dq");
#endif
#ifdef __AVX512CD__
  FEATURE("avx512cd");
#endif
#ifdef __AVX512ER__
  FEATURE("avx512er");
#endif
#ifdef __AVX512PF__
  FEATURE("avx512pf");
#endif
#ifdef __AVX512VBMI__
  FEATURE("avx512vbmi");
#endif
#ifdef __AVX512IFMA__
  FEATURE("avx512ifma");
#endif
#ifdef __AVX512VPOPCNTDQ__
  FEATURE("avx512vpopcntdq");
#endif
#ifdef __AVX512VBMI2__
  FEATURE("avx512vbmi2");
#endif
#ifdef __AVX512VNNI__
  FEATURE("avx512vnni");
#endif
#ifdef __AVX512BITALG__
  FEATURE("avx512bitalg");
#endif
#ifdef __AVX512BF16__
  FEATURE("avx512bf16");
#endif
#ifdef __GFNI__
  FEATURE("gfni");
#endif
#ifdef __VPCLMULQDQ__
  FEATURE("vpclmulqdq");
#endif
#ifndef __clang__
#ifdef __F16C__
  FEATURE("f16c");
#endif
#ifdef __LZCNT__
  FEATURE("lzcnt");
#endif
#ifdef __MOVBE__
  FEATURE("movbe");
#endif
#ifdef __ADX__
  FEATURE("adx");
#endif
#ifdef __SHA__
  FEATURE("sha");
#endif
#ifdef __VAES__
  FEATURE("vaes");
#endif
#ifdef __AVXVNNI__
  FEATURE("avxvnni");
#endif
#ifdef __AVX512FP16__
  FEATURE("avx512fp16");
#endif
#endif
#undef FEATURE
  return missing;
}
#else
#define VCM_BASELINE
static const char* missing_cpu_feature(char* compiled, size_t size) {
  (void)compiled;
  (void)size;
  return NULL;
}
#endif

/* Sets exports[name] to a string; 0 when N-API refuses. */
VCM_BASELINE static int set_string(napi_env env, napi_value exports, const char* name, const char* text) {
  napi_value value;
  return napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value) == napi_ok && napi_set_named_property(env, exports, name, value) == napi_ok;
}

VCM_BASELINE static napi_value init(napi_env env, napi_value exports) {
  char compiled[512] = "";
  const char* missing = missing_cpu_feature(compiled, sizeof compiled);
  if (!set_string(env, exports, "compiledFor", compiled)) return NULL;
  if (missing) return set_string(env, exports, "missingCpuFeature", missing) ? exports : NULL;
  static const struct {
    const char* name;
    napi_callback fn;
  } exported[] = {
      {"sgemm", sgemm}, {"adam", adam}, {"sparseLinear", sparse_linear}, {"sparseLinearGradByColumn", sparse_linear_grad_by_column},
      {"tanh", tanh_kernel}, {"exp", exp_kernel}, {"topk", topk}, {"multinomialNll", multinomial_nll}, {"multinomialNllGrad", multinomial_nll_grad},
      {"amxBf16", amx_bf16_export}, {"packedBf16Bytes", packed_bf16_bytes_export}, {"packBf16", pack_bf16_export}, {"deltaLogSoftmax", delta_log_softmax_export},
      {"softmaxMean", softmax_mean_export},
  };
  for (size_t i = 0; i < sizeof exported / sizeof exported[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, exported[i].name, NAPI_AUTO_LENGTH, exported[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, exported[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
