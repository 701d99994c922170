/*
 * Log-softmax reads of many rows that differ a little from a few whole rows, through one output layer,
 * with Intel AMX's bfloat16 tile products (float32 sums). The exact deletion effects of explanations
 * (src/engine/models/vcm/deletion.ts) decode, per user, the whole row and the row minus each column
 * asked for: hundreds of rows through a 600 × items layer, where float32 sgemm reads ≈ 12 MFLOP a row.
 *
 * Precision. A row's logits are l' = l + Δ, with l its whole row's logits and Δ = (h' − h) · W the
 * change its hidden layer h' − h makes; only Δ goes through bfloat16 (8 bits of mantissa, rounded to
 * nearest even), so its error is relative to the change, not to the logits: a log-score log π_i(h') −
 * log π_i(h) carries ≈ 2⁻⁸ of its own size. The whole rows' logits l are split h = h_hi + h_lo,
 * W = W_hi + W_lo (each part bfloat16) and summed as h_hi·W_hi + h_lo·W_hi + h_hi·W_lo, ≈ 2⁻¹⁶ of
 * their size, like float32 sums over 600 terms.
 *
 * amxBf16()
 *   whether this CPU has AMX tiles with bfloat16 and the kernel lets this process use them (Linux asks
 *   each process to request the tile state once: arch_prctl ARCH_REQ_XCOMP_PERM).
 * packedBf16Bytes(k, n)
 *   bytes of one packed part of a k × n layer.
 * packBf16(heap, wOff, k, n, hi, lo)
 *   W (k × n float32 at float offset wOff of the heap) as the tiles read it: hi = bf16(W), lo =
 *   bf16(W − hi), each an ArrayBuffer of at least packedBf16Bytes(k, n) bytes, zero beyond k and n.
 * deltaLogSoftmax(heap, hi, lo, base, readRows, readItems, outPicked, outLse, m, k, n, hOff, biasOff)
 *   rows r < m of the hidden layer H (m × k float32 at hOff), base[r] the whole row whose logits row r
 *   differs from (base[base[r]] = base[r]; a whole row is its own base): outLse[r] = log Σ_j exp(l'_rj)
 *   with l'_rj = l_base,j + Δ_rj (a whole row: l_rj = H_r·W_j + bias_j), and outPicked[q] =
 *   l'_{readRows[q], readItems[q]}.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <omp.h>
#include "bf16_logits.h"

#include "vector_math.h"

/* Tile shapes: 16 rows of 64 bytes (32 bfloat16 of a row of H, or 16 column pairs of W); sums 16 × 16 floats. */
#define TILE 16
#define PAIR 32

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* Bytes of one packed part of a k × n layer: k rounded up to 32, n to 32, two bytes each. */
int64_t packed_bf16_bytes(int64_t k, int64_t n) { return round_up(k, PAIR) * round_up(n, 2 * TILE) * 2; }

static inline uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

static inline float from_bf16(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* Element (kk, j) of a packed layer: 16 columns a block, the k pairs of a block consecutive, each pair's two values side by side. */
static inline int64_t packed_at(int64_t kp, int64_t kk, int64_t j) { return ((j / TILE) * (kp / 2) + kk / 2) * PAIR + (j % TILE) * 2 + (kk & 1); }

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} __attribute__((packed)) TileConfig;

static int amx_state = -1;

int amx_bf16_ready(void) {
  if (amx_state < 0) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    /* CPUID.(7, 0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE. */
    const int has = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1) && (d >> 24 & 1);
    /* ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18). */
    amx_state = has && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }
  return amx_state;
}

static void configure_tiles(void) {
  TileConfig config;
  memset(&config, 0, sizeof config);
  config.palette = 1;
  for (int t = 0; t < 8; t++) {
    config.rows[t] = TILE;
    config.colsb[t] = 64;
  }
  _tile_loadconfig(&config);
}

/* Columns finished together: 8 tile panels of 32. Their logits of 640 rows (655 KB) and the layer's part (300 KB) stay in L2. */
#define WIDE 256

/*
 * out (rows × WIDE floats, row-major; the first `cols32` columns, a multiple of 32) = Σ over the `terms`
 * products of A[t] (rows × kp bfloat16, rows a multiple of 16) and the columns at B[t] (16-column blocks of
 * a packed part, `block` apart).
 */
static void wide_product(int terms, const uint16_t* const* a, const uint16_t* const* b, int64_t rows, int64_t kp, int64_t block, int64_t cols32,
                         float* out) {
  const int64_t stride = WIDE * 4;
  for (int64_t c0 = 0; c0 < cols32; c0 += 2 * TILE) {
    const int64_t b0 = (c0 / TILE) * block;
    int64_t m0 = 0;
    for (; m0 + 2 * TILE <= rows; m0 += 2 * TILE) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int t = 0; t < terms; t++) {
        for (int64_t k = 0; k < kp; k += PAIR) {
          _tile_loadd(4, a[t] + m0 * kp + k, kp * 2);
          _tile_loadd(5, a[t] + (m0 + TILE) * kp + k, kp * 2);
          _tile_loadd(6, b[t] + b0 + k * TILE, 64);
          _tile_loadd(7, b[t] + b0 + block + k * TILE, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      float* c = out + m0 * WIDE + c0;
      _tile_stored(0, c, stride);
      _tile_stored(1, c + TILE, stride);
      _tile_stored(2, c + TILE * WIDE, stride);
      _tile_stored(3, c + TILE * WIDE + TILE, stride);
    }
    if (m0 < rows) {
      /* The last 16 rows. */
      _tile_zero(0);
      _tile_zero(1);
      for (int t = 0; t < terms; t++) {
        for (int64_t k = 0; k < kp; k += PAIR) {
          _tile_loadd(4, a[t] + m0 * kp + k, kp * 2);
          _tile_loadd(6, b[t] + b0 + k * TILE, 64);
          _tile_loadd(7, b[t] + b0 + block + k * TILE, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
        }
      }
      float* c = out + m0 * WIDE + c0;
      _tile_stored(0, c, stride);
      _tile_stored(1, c + TILE, stride);
    }
  }
}

/*
 * The kernel behind deltaLogSoftmax. The layer is read once, WIDE columns at a time; each part's logits
 * of every row are finished there (whole rows: their three products and the bias; other rows: their
 * base's logits plus their change) and folded into per-row running maxima and sums of exponentials,
 * so no rows × items matrix is ever written.
 */
static void delta_log_softmax(const float* h, const int32_t* base, const float* bias, const uint16_t* hi, const uint16_t* lo, int64_t m,
                              int64_t k, int64_t n, const int32_t* read_rows, const int32_t* read_items, int64_t reads, float* picked,
                              float* lse) {
  const int64_t kp = round_up(k, PAIR);
  /* Whole rows: slot[r] their place among them, else −1. */
  int32_t* slot = malloc((size_t)m * sizeof(int32_t));
  int64_t wholes = 0;
  for (int64_t r = 0; r < m; r++) slot[r] = base[r] == r ? (int32_t)wholes++ : -1;
  const int64_t wp = round_up(wholes > 0 ? wholes : 1, TILE);
  /*
   * The rows of the layer's main product: each changed row's change, each whole row's h_hi at its own
   * place, and after the m rows each whole row's h_lo; the whole rows' h_hi · W_lo is a product of its own.
   */
  const int64_t mp = round_up(m + wholes, TILE);
  uint16_t* a = calloc((size_t)(mp * kp), 2);
  uint16_t* whole_hi = calloc((size_t)(wp * kp), 2);
  int32_t* whole_row = malloc((size_t)(wholes > 0 ? wholes : 1) * sizeof(int32_t));
  for (int64_t r = 0; r < m; r++) {
    const float* row = h + r * k;
    if (slot[r] >= 0) {
      whole_row[slot[r]] = (int32_t)r;
      for (int64_t j = 0; j < k; j++) {
        const uint16_t top = to_bf16(row[j]);
        a[r * kp + j] = top;
        whole_hi[slot[r] * kp + j] = top;
        a[(m + slot[r]) * kp + j] = to_bf16(row[j] - from_bf16(top));
      }
    } else {
      const float* of = h + (int64_t)base[r] * k;
      for (int64_t j = 0; j < k; j++) a[r * kp + j] = to_bf16(row[j] - of[j]);
    }
  }
  /* Reads by part (counting sort), so each part picks its own. */
  const int64_t parts = (n + WIDE - 1) / WIDE;
  int64_t* first = calloc((size_t)(parts + 1), sizeof(int64_t));
  int64_t* order = malloc((size_t)(reads > 0 ? reads : 1) * sizeof(int64_t));
  for (int64_t q = 0; q < reads; q++) first[read_items[q] / WIDE + 1]++;
  for (int64_t p = 0; p < parts; p++) first[p + 1] += first[p];
  {
    int64_t* next = malloc((size_t)(parts + 1) * sizeof(int64_t));
    memcpy(next, first, (size_t)(parts + 1) * sizeof(int64_t));
    for (int64_t q = 0; q < reads; q++) order[next[read_items[q] / WIDE]++] = q;
    free(next);
  }
  const int threads = omp_get_max_threads();
  float* maxima = malloc((size_t)(threads * m) * sizeof(float));
  float* sums = malloc((size_t)(threads * m) * sizeof(float));
  for (int64_t i = 0; i < threads * m; i++) {
    maxima[i] = -INFINITY;
    sums[i] = 0.0f;
  }
  const int64_t block = (kp / 2) * PAIR;
#pragma omp parallel if (m * n > 262144)
  {
    configure_tiles();
    float* logits = aligned_alloc(64, (size_t)(mp * WIDE) * sizeof(float));
    float* wholeLogits = aligned_alloc(64, (size_t)(wp * WIDE) * sizeof(float));
    float* mx = maxima + (int64_t)omp_get_thread_num() * m;
    float* sm = sums + (int64_t)omp_get_thread_num() * m;
#pragma omp for schedule(dynamic, 1)
    for (int64_t p = 0; p < parts; p++) {
      const int64_t n0 = p * WIDE;
      const int64_t cols = n - n0 < WIDE ? n - n0 : WIDE;
      const int64_t cols32 = round_up(cols, 2 * TILE);
      const uint16_t* h0 = hi + (n0 / TILE) * block;
      const uint16_t* l0 = lo + (n0 / TILE) * block;
      const uint16_t* changes[1] = {a};
      const uint16_t* layer[1] = {h0};
      wide_product(1, changes, layer, mp, kp, block, cols32, logits);
      if (wholes > 0) {
        /* h_hi·W_hi (the main product, at the row's place) + h_lo·W_hi (after the m rows) + h_hi·W_lo, then the bias. */
        const uint16_t* sides[1] = {whole_hi};
        const uint16_t* layers[1] = {l0};
        wide_product(1, sides, layers, wp, kp, block, cols32, wholeLogits);
        for (int64_t s = 0; s < wholes; s++) {
          float* out = logits + (int64_t)whole_row[s] * WIDE;
          const float* low = logits + (m + s) * WIDE;
          const float* from = wholeLogits + s * WIDE;
          const float* b = bias + n0;
#pragma omp simd
          for (int64_t j = 0; j < cols; j++) out[j] = ((out[j] + low[j]) + from[j]) + b[j];
        }
      }
      for (int64_t r = 0; r < m; r++) {
        if (slot[r] >= 0) continue;
        float* out = logits + r * WIDE;
        const float* of = logits + (int64_t)base[r] * WIDE;
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) out[j] = of[j] + out[j];
      }
      for (int64_t r = 0; r < m; r++) {
        const float* row = logits + r * WIDE;
        float top = -INFINITY;
#pragma omp simd reduction(max : top)
        for (int64_t j = 0; j < cols; j++) top = row[j] > top ? row[j] : top;
        if (top == -INFINITY) continue;
        float shift = mx[r];
        if (top > shift) {
          sm[r] = sm[r] == 0.0f ? 0.0f : sm[r] * expf(shift - top);
          mx[r] = shift = top;
        }
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; j++) s += expf(row[j] - shift);
        sm[r] += s;
      }
      for (int64_t t = first[p]; t < first[p + 1]; t++) {
        const int64_t q = order[t];
        picked[q] = logits[(int64_t)read_rows[q] * WIDE + (read_items[q] - n0)];
      }
    }
    free(logits);
    free(wholeLogits);
    _tile_release();
  }
  for (int64_t r = 0; r < m; r++) {
    float top = -INFINITY;
    for (int t = 0; t < threads; t++) top = maxima[t * m + r] > top ? maxima[t * m + r] : top;
    double s = 0.0;
    for (int t = 0; t < threads; t++) {
      if (maxima[t * m + r] > -INFINITY) s += (double)sums[t * m + r] * exp((double)maxima[t * m + r] - top);
    }
    lse[r] = (float)(top + log(s));
  }
  free(maxima);
  free(sums);
  free(first);
  free(order);
  free(slot);
  free(a);
  free(whole_hi);
  free(whole_row);
}
#else
int amx_bf16_ready(void) { return 0; }
#endif

/* Data pointer and size of an ArrayBuffer or a typed array argument. */
static int buffer_of(napi_env env, napi_value value, void** data, size_t* bytes) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok) return 0;
  if (!is_typed) return napi_get_arraybuffer_info(env, value, data, bytes) == napi_ok;
  napi_typedarray_type type;
  size_t length = 0;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, value, &type, &length, data, &buffer, &offset) != napi_ok) return 0;
  *bytes = length * (type == napi_uint16_array || type == napi_int16_array ? 2 : type == napi_uint8_array || type == napi_int8_array ? 1 : 4);
  return 1;
}

napi_value packed_bf16_bytes_export(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = 2;
  int64_t k = 0, n = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_get_value_int64(env, argv[0], &k) != napi_ok ||
      napi_get_value_int64(env, argv[1], &n) != napi_ok || k <= 0 || n <= 0) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.packedBf16Bytes: expected two positive sizes");
    return NULL;
  }
  return napi_create_int64(env, packed_bf16_bytes(k, n), &result) == napi_ok ? result : NULL;
}

napi_value amx_bf16_export(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  return napi_get_boolean(env, amx_bf16_ready() != 0, &result) == napi_ok ? result : NULL;
}

napi_value pack_bf16_export(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = 6;
  void *heap = NULL, *hi = NULL, *lo = NULL;
  size_t heapBytes = 0, hiBytes = 0, loBytes = 0;
  int64_t wOff = 0, k = 0, n = 0;
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 6 && buffer_of(env, argv[0], &heap, &heapBytes) &&
           napi_get_value_int64(env, argv[1], &wOff) == napi_ok && napi_get_value_int64(env, argv[2], &k) == napi_ok &&
           napi_get_value_int64(env, argv[3], &n) == napi_ok && buffer_of(env, argv[4], &hi, &hiBytes) && buffer_of(env, argv[5], &lo, &loBytes);
  ok = ok && k > 0 && n > 0 && wOff >= 0 && (wOff + k * n) * 4 <= (int64_t)heapBytes && (int64_t)hiBytes >= packed_bf16_bytes(k, n) &&
       (int64_t)loBytes >= packed_bf16_bytes(k, n);
  if (!ok) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.packBf16: bad arguments or buffers too small");
    return NULL;
  }
  const float* w = (const float*)heap + wOff;
  uint16_t* top = hi;
  uint16_t* rest = lo;
  const int64_t kp = round_up(k, PAIR);
  memset(top, 0, (size_t)packed_bf16_bytes(k, n));
  memset(rest, 0, (size_t)packed_bf16_bytes(k, n));
  for (int64_t kk = 0; kk < k; kk++) {
    for (int64_t j = 0; j < n; j++) {
      const float v = w[kk * n + j];
      const uint16_t t = to_bf16(v);
      top[packed_at(kp, kk, j)] = t;
      rest[packed_at(kp, kk, j)] = to_bf16(v - from_bf16(t));
    }
  }
  return NULL;
}

napi_value delta_log_softmax_export(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  size_t argc = 13;
  void *heap = NULL, *hi = NULL, *lo = NULL, *base = NULL, *rows = NULL, *items = NULL, *picked = NULL, *lse = NULL;
  size_t heapBytes = 0, hiBytes = 0, loBytes = 0, baseBytes = 0, rowsBytes = 0, itemsBytes = 0, pickedBytes = 0, lseBytes = 0;
  int64_t v[5] = {0, 0, 0, 0, 0};
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 13 && buffer_of(env, argv[0], &heap, &heapBytes) &&
           buffer_of(env, argv[1], &hi, &hiBytes) && buffer_of(env, argv[2], &lo, &loBytes) && buffer_of(env, argv[3], &base, &baseBytes) &&
           buffer_of(env, argv[4], &rows, &rowsBytes) && buffer_of(env, argv[5], &items, &itemsBytes) &&
           buffer_of(env, argv[6], &picked, &pickedBytes) && buffer_of(env, argv[7], &lse, &lseBytes);
  for (int i = 0; ok && i < 5; i++) ok = napi_get_value_int64(env, argv[8 + i], &v[i]) == napi_ok;
  const int64_t m = v[0], k = v[1], n = v[2], hOff = v[3], biasOff = v[4];
  const int64_t reads = (int64_t)(rowsBytes / 4);
  ok = ok && m > 0 && k > 0 && n > 0 && hOff >= 0 && biasOff >= 0 && (hOff + m * k) * 4 <= (int64_t)heapBytes &&
       (biasOff + n) * 4 <= (int64_t)heapBytes && (int64_t)hiBytes >= packed_bf16_bytes(k, n) && (int64_t)loBytes >= packed_bf16_bytes(k, n) &&
       (int64_t)baseBytes >= m * 4 && (int64_t)itemsBytes == reads * 4 && (int64_t)pickedBytes >= reads * 4 && (int64_t)lseBytes >= m * 4;
  const int32_t* baseOf = base;
  for (int64_t r = 0; ok && r < m; r++) ok = baseOf[r] >= 0 && baseOf[r] < m && baseOf[baseOf[r]] == baseOf[r];
  for (int64_t q = 0; ok && q < reads; q++) ok = ((int32_t*)rows)[q] >= 0 && ((int32_t*)rows)[q] < m && ((int32_t*)items)[q] >= 0 && ((int32_t*)items)[q] < n;
  if (!ok) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.deltaLogSoftmax: bad arguments, rows whose base is not a whole row, or reads out of range");
    return NULL;
  }
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__x86_64__)
  if (!amx_bf16_ready()) {
    napi_throw_error(env, NULL, "wasm_sgemm.deltaLogSoftmax: this CPU or kernel does not offer AMX bfloat16 tiles");
    return NULL;
  }
  delta_log_softmax((const float*)heap + hOff, baseOf, (const float*)heap + biasOff, hi, lo, m, k, n, rows, items, reads, picked, lse);
#else
  (void)hi;
  (void)lo;
  (void)picked;
  (void)lse;
  napi_throw_error(env, NULL, "wasm_sgemm.deltaLogSoftmax: built without AMX bfloat16 tiles");
#endif
  return NULL;
}
