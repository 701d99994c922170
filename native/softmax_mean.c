/*
 * softmaxMean(heap, m, k, n, hOff, wOff, bOff, outOff)
 *   out_r = Σ_j π_rj W[:, j] with π_r = softmax(h_r · W + b) over the n columns (h: m × k, W: k × n,
 *   b: n, out: m × k; float offsets on the heap): the softmax's mean of the output layer's columns, which
 *   the first-order word effects need (src/engine/models/vcm/word-effects.ts). W is read once for every
 *   row, 64 columns at a time, with a running maximum and sum per row (the mean's partial sums rescaled
 *   when the maximum grows), where the logits, the softmax and the product would read it twice and
 *   write rows × n numbers: for a few rows both are bound by reading W, 24 MB at the Yelp shape.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "softmax_mean.h"
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "vector_math.h"

/* Columns of one step, and the lanes each row's mean is summed in before the final sum. */
#define STEP 64
#define LANES 16

/* Rows taken together: their logits (4 registers each) and weights stay in registers while W's columns stream by once. */
#define BLOCK 6

/* Logits of columns [j0, j0 + cols) of the BLOCK rows `hr` (b plus h_r · W's columns, in t order) into l (BLOCK × STEP). */
static void step_logits(const float* const* hr, const float* w, const float* b, int64_t k, int64_t n, int64_t j0, int64_t cols, float* l) {
#ifdef __AVX512F__
  if (cols == STEP) {
    __m512 a[BLOCK][4];
    for (int i = 0; i < BLOCK; i++)
      for (int q = 0; q < 4; q++) a[i][q] = _mm512_loadu_ps(b + j0 + 16 * q);
    for (int64_t t = 0; t < k; t++) {
      const float* wt = w + t * n + j0;
      const __m512 w0 = _mm512_loadu_ps(wt), w1 = _mm512_loadu_ps(wt + 16), w2 = _mm512_loadu_ps(wt + 32), w3 = _mm512_loadu_ps(wt + 48);
      for (int i = 0; i < BLOCK; i++) {
        const __m512 hv = _mm512_set1_ps(hr[i][t]);
        a[i][0] = _mm512_fmadd_ps(hv, w0, a[i][0]);
        a[i][1] = _mm512_fmadd_ps(hv, w1, a[i][1]);
        a[i][2] = _mm512_fmadd_ps(hv, w2, a[i][2]);
        a[i][3] = _mm512_fmadd_ps(hv, w3, a[i][3]);
      }
    }
    for (int i = 0; i < BLOCK; i++)
      for (int q = 0; q < 4; q++) _mm512_storeu_ps(l + i * STEP + 16 * q, a[i][q]);
    return;
  }
#endif
  for (int i = 0; i < BLOCK; i++) memcpy(l + i * STEP, b + j0, (size_t)cols * sizeof(float));
  for (int64_t t = 0; t < k; t++) {
    const float* wt = w + t * n + j0;
    for (int i = 0; i < BLOCK; i++)
      for (int64_t j = 0; j < cols; j++) l[i * STEP + j] += hr[i][t] * wt[j];
  }
}

/* The BLOCK rows' lane partials of Σ_j e_j W[t, j] over columns [j0, j0 + cols), for every t (partial: row i at p[i]). */
static void step_mean(const float* e, const float* w, int64_t k, int64_t n, int64_t j0, int64_t cols, float* const* p) {
#ifdef __AVX512F__
  if (cols == STEP) {
    __m512 ev[BLOCK][4];
    for (int i = 0; i < BLOCK; i++)
      for (int q = 0; q < 4; q++) ev[i][q] = _mm512_loadu_ps(e + i * STEP + 16 * q);
    for (int64_t t = 0; t < k; t++) {
      const float* wt = w + t * n + j0;
      const __m512 w0 = _mm512_loadu_ps(wt), w1 = _mm512_loadu_ps(wt + 16), w2 = _mm512_loadu_ps(wt + 32), w3 = _mm512_loadu_ps(wt + 48);
      for (int i = 0; i < BLOCK; i++) {
        __m512 acc = _mm512_loadu_ps(p[i] + t * LANES);
        acc = _mm512_fmadd_ps(ev[i][0], w0, acc);
        acc = _mm512_fmadd_ps(ev[i][1], w1, acc);
        acc = _mm512_fmadd_ps(ev[i][2], w2, acc);
        acc = _mm512_fmadd_ps(ev[i][3], w3, acc);
        _mm512_storeu_ps(p[i] + t * LANES, acc);
      }
    }
    return;
  }
#endif
  for (int64_t t = 0; t < k; t++) {
    const float* wt = w + t * n + j0;
    for (int i = 0; i < BLOCK; i++)
      for (int64_t j = 0; j < cols; j++) p[i][t * LANES + j % LANES] += e[i * STEP + j] * wt[j];
  }
}

static void softmax_mean_rows(const float* h, const float* w, const float* b, int64_t m, int64_t k, int64_t n, float* out) {
  float l[BLOCK * STEP];
  /* Rows past m in the last block read zeros and sum into a spare partial, never read. */
  float* zeros = calloc((size_t)k, sizeof(float));
  float* partial = calloc((size_t)((m + 1) * k * LANES), sizeof(float));
  float* spare = partial + m * k * LANES;
  float* top = malloc((size_t)(m + 1) * sizeof(float));
  float* total = calloc((size_t)(m + 1), sizeof(float));
  for (int64_t r = 0; r <= m; r++) top[r] = -INFINITY;
  for (int64_t r0 = 0; r0 < m; r0 += BLOCK) {
    const float* hr[BLOCK];
    float* p[BLOCK];
    int64_t row[BLOCK];
    for (int i = 0; i < BLOCK; i++) {
      row[i] = r0 + i < m ? r0 + i : m;
      hr[i] = r0 + i < m ? h + (r0 + i) * k : zeros;
      p[i] = r0 + i < m ? partial + (r0 + i) * k * LANES : spare;
    }
    for (int64_t j0 = 0; j0 < n; j0 += STEP) {
      const int64_t cols = n - j0 < STEP ? n - j0 : STEP;
      step_logits(hr, w, b, k, n, j0, cols, l);
      for (int i = 0; i < BLOCK; i++) {
        float* li = l + i * STEP;
        const int64_t r = row[i];
        float most = -INFINITY;
        for (int64_t j = 0; j < cols; j++) most = li[j] > most ? li[j] : most;
        if (most > top[r]) {
          if (top[r] > -INFINITY) {
            const float scale = expf(top[r] - most);
            total[r] *= scale;
            float* pi = p[i];
#pragma omp simd
            for (int64_t q = 0; q < k * LANES; q++) pi[q] *= scale;
          }
          top[r] = most;
        }
        const float shift = top[r];
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; j++) {
          li[j] = expf(li[j] - shift);
          s += li[j];
        }
        total[r] += s;
      }
      step_mean(l, w, k, n, j0, cols, p);
    }
  }
  for (int64_t r = 0; r < m; r++) {
    for (int64_t t = 0; t < k; t++) {
      const float* pt = partial + (r * k + t) * LANES;
      float s = 0.0f;
      for (int64_t q = 0; q < LANES; q++) s += pt[q];
      out[r * k + t] = s / total[r];
    }
  }
  free(zeros);
  free(partial);
  free(top);
  free(total);
}

napi_value softmax_mean_export(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t argc = 8;
  void* heap = NULL;
  size_t bytes = 0;
  int64_t v[7] = {0, 0, 0, 0, 0, 0, 0};
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 8 && napi_get_arraybuffer_info(env, argv[0], &heap, &bytes) == napi_ok;
  for (int i = 0; ok && i < 7; i++) ok = napi_get_value_int64(env, argv[1 + i], &v[i]) == napi_ok;
  const int64_t m = v[0], k = v[1], n = v[2], hOff = v[3], wOff = v[4], bOff = v[5], outOff = v[6], words = (int64_t)(bytes / 4);
  ok = ok && m > 0 && k > 0 && n > 0 && hOff >= 0 && wOff >= 0 && bOff >= 0 && outOff >= 0 && hOff + m * k <= words && wOff + k * n <= words &&
       bOff + n <= words && outOff + m * k <= words;
  if (!ok) {
    napi_throw_range_error(env, NULL, "wasm_sgemm.softmaxMean: bad arguments or tensors outside the heap");
    return NULL;
  }
  const float* f = heap;
  softmax_mean_rows(f + hOff, f + wOff, f + bOff, m, k, n, (float*)heap + outOff);
  return NULL;
}
