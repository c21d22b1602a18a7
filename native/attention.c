/*
 * Multi-head self-attention in one kernel each way (kernels/fused.ts runs them as OptlabAttention
 * and OptlabAttentionGrad for models/layers.ts selfAttention), on the fused projection qkv [B, T, 3C]
 * (columns q | k | v, the H heads of width D = C / H contiguous inside each, as nanoGPT's c_attn):
 *
 *   forward   S = scale Q K^T (+ causal mask), P = softmax(S) by rows, Y = P V
 *             per (batch, head), heads merged into y [B, T, C]; P [B, H, T, T] is kept for backward.
 *   backward  dP = dY V^T, dV = P^T dY, dS = P (dP - rowsum(dP P)), dQ = scale dS K, dK = scale dS^T Q
 *             into dqkv [B, T, 3C].
 *
 * The products are OpenBLAS sgemm calls on strided views of qkv, y and dqkv (leading dimension 3C or
 * C), so no head is ever transposed or copied. With the causal mask, row i of P is zero beyond column
 * i, exactly as exp(-1e9 - max) is in the composed form. (batch, head) pairs are split over the pool's
 * threads (threads.c), each product at one OpenBLAS thread.
 */
#include <math.h>
#include <stdlib.h>
#include "optlab_native.h"
#include "simd.h"

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* exp(y) for y <= 0 (Cephes expf as simd.h's exp16_small, with floor for negative arguments); 0 below -87, where float32 leaves the normal range. */
static inline __attribute__((always_inline)) v16f exp16_nonpositive(v16f y) {
  v16i under = y < V16(-87.0f);
  y = select16(under, V16(-87.0f), y);
  v16f t = y * V16(1.44269504088896341f) + V16(0.5f);
  v16f n = __builtin_convertvector(__builtin_convertvector(t, v16i), v16f);
  n = select16(n > t, n - V16(1.0f), n); /* truncation rounded a negative value up: floor */
  v16i ni = __builtin_convertvector(n, v16i);
  v16f r = y - n * V16(0.693359375f) + n * V16(2.12194440e-4f);
  v16f p = V16(1.9875691500e-4f);
  p = p * r + V16(1.3981999507e-3f);
  p = p * r + V16(8.3334519073e-3f);
  p = p * r + V16(4.1665795894e-2f);
  p = p * r + V16(1.6666665459e-1f);
  p = p * r + V16(5.0000001201e-1f);
  p = p * r * r + r + V16(1.0f);
  return select16(under, V16(0.0f), p * (v16f)((ni + 127) << 23));
}

static inline __attribute__((always_inline)) float hsum16(v16f v) {
  float s = 0;
  for (int i = 0; i < 16; i++) s += v[i];
  return s;
}

/* Softmax of row[0..len) in place (max subtracted first), zeros in row[len..t). */
MULTIVERSION static void softmax_row(float *row, int64_t len, int64_t t) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < len; j++) mx = row[j] > mx ? row[j] : mx;
  v16f acc = V16(0.0f);
  FOR_EACH_16(len, {
    v16f e = exp16_nonpositive(load16(row + i0, cnt) - V16(mx));
    if (cnt < 16) for (int64_t l = cnt; l < 16; l++) e[l] = 0;
    store16(row + i0, e, cnt);
    acc += e;
  });
  float inv = 1.0f / hsum16(acc);
  FOR_EACH_16(len, store16(row + i0, load16(row + i0, cnt) * V16(inv), cnt));
  for (int64_t j = len; j < t; j++) row[j] = 0;
}

/* dS = scale P (dP - sum_j dP P) on row[0..len) in place over dP; zeros beyond. */
MULTIVERSION static void softmax_grad_row(const float *p, float *dp, int64_t len, int64_t t, float scale) {
  v16f acc = V16(0.0f);
  FOR_EACH_16(len, acc += load16(p + i0, cnt) * load16(dp + i0, cnt));
  float r = hsum16(acc);
  FOR_EACH_16(len, store16(dp + i0, V16(scale) * load16(p + i0, cnt) * (load16(dp + i0, cnt) - V16(r)), cnt));
  for (int64_t j = len; j < t; j++) dp[j] = 0;
}

typedef struct {
  const float *qkv, *dy;
  float *y, *p, *dqkv;
  int64_t t, c, h, causal;
  float scale;
} Attn;

static void forward_pairs(void *ctx, int64_t begin, int64_t end) {
  const Attn *s = ctx;
  const int64_t t = s->t, c = s->c, d = c / s->h;
  for (int64_t pair = begin; pair < end; pair++) {
    const int64_t b = pair / s->h, hh = pair % s->h;
    const float *q = s->qkv + b * t * 3 * c + hh * d, *k = q + c, *v = q + 2 * c;
    float *p = s->p + pair * t * t;
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)t, (int)t, (int)d, s->scale, q, (int)(3 * c), k, (int)(3 * c), 0.0f, p, (int)t);
    for (int64_t i = 0; i < t; i++) softmax_row(p + i * t, s->causal ? i + 1 : t, t);
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, (int)t, (int)d, (int)t, 1.0f, p, (int)t, v, (int)(3 * c), 0.0f, s->y + b * t * c + hh * d, (int)c);
  }
}

static void backward_pairs(void *ctx, int64_t begin, int64_t end) {
  const Attn *s = ctx;
  const int64_t t = s->t, c = s->c, d = c / s->h;
  float *dp = malloc((size_t)(t * t) * sizeof(float));
  if (!dp) abort(); /* T x T floats per thread; the heap views were checked already */
  for (int64_t pair = begin; pair < end; pair++) {
    const int64_t b = pair / s->h, hh = pair % s->h;
    const float *q = s->qkv + b * t * 3 * c + hh * d, *k = q + c, *v = q + 2 * c;
    const float *p = s->p + pair * t * t, *dy = s->dy + b * t * c + hh * d;
    float *dq = s->dqkv + b * t * 3 * c + hh * d, *dk = dq + c, *dv = dq + 2 * c;
    const int ld = (int)(3 * c);
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, (int)t, (int)t, (int)d, 1.0f, dy, (int)c, v, ld, 0.0f, dp, (int)t);
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, (int)t, (int)d, (int)t, 1.0f, p, (int)t, dy, (int)c, 0.0f, dv, ld);
    for (int64_t i = 0; i < t; i++) softmax_grad_row(p + i * t, dp + i * t, s->causal ? i + 1 : t, t, s->scale);
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, (int)t, (int)d, (int)t, 1.0f, dp, (int)t, k, ld, 0.0f, dq, ld);
    cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, (int)t, (int)d, (int)t, 1.0f, dp, (int)t, q, ld, 0.0f, dk, ld);
  }
  free(dp);
}

/* Runs fn over the B H pairs on the pool (OpenBLAS itself runs at one thread: blas.c setThreads). */
static void over_pairs(Attn *s, int64_t pairs, optlab_task_fn fn) { optlab_parallel_for(pairs, 1, fn, s); }

static int read_dims(Args *a, int first, Attn *s, int64_t *bsz) {
  *bsz = arg_int(a, first);
  s->t = arg_int(a, first + 1);
  s->c = arg_int(a, first + 2);
  s->h = arg_int(a, first + 3);
  if (a->failed) return 0;
  if (*bsz < 0 || s->t < 1 || s->c < 1 || s->h < 1 || s->c % s->h != 0 || s->t > INT32_MAX / 3 || 3 * s->c > INT32_MAX)
    return fail(a, "optlab_native: attention: bad dimensions (B >= 0, T >= 1, C divisible by H)");
  return 1;
}

static float arg_float(Args *a, size_t i) {
  double v = 0;
  if (!a->failed && napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) fail(a, "optlab_native: attention: scale must be a number");
  return (float)v;
}

/* attention(heap, qkvOff, yOff, pOff, B, T, C, H, causal, scale): y [B, T, C] and P [B, H, T, T] from qkv [B, T, 3C]. */
napi_value optlab_attention(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 10, 1)) return NULL;
  Attn s = {0};
  int64_t bsz;
  int64_t qkv_off = arg_int(&a, 1), y_off = arg_int(&a, 2), p_off = arg_int(&a, 3);
  if (!read_dims(&a, 4, &s, &bsz)) return NULL;
  s.causal = arg_int(&a, 8);
  s.scale = arg_float(&a, 9);
  if (a.failed) return NULL;
  s.qkv = heap_f32(&a, qkv_off, bsz * s.t * 3 * s.c);
  s.y = heap_f32(&a, y_off, bsz * s.t * s.c);
  s.p = heap_f32(&a, p_off, bsz * s.h * s.t * s.t);
  if (a.failed) return NULL;
  over_pairs(&s, bsz * s.h, forward_pairs);
  return undefined(env);
}

/* attentionGrad(heap, dyOff, qkvOff, pOff, dqkvOff, B, T, C, H, causal, scale): dqkv [B, T, 3C] from dy [B, T, C], qkv and P. */
napi_value optlab_attention_grad(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 11, 1)) return NULL;
  Attn s = {0};
  int64_t bsz;
  int64_t dy_off = arg_int(&a, 1), qkv_off = arg_int(&a, 2), p_off = arg_int(&a, 3), dqkv_off = arg_int(&a, 4);
  if (!read_dims(&a, 5, &s, &bsz)) return NULL;
  s.causal = arg_int(&a, 9);
  s.scale = arg_float(&a, 10);
  if (a.failed) return NULL;
  s.dy = heap_f32(&a, dy_off, bsz * s.t * s.c);
  s.qkv = heap_f32(&a, qkv_off, bsz * s.t * 3 * s.c);
  s.p = heap_f32(&a, p_off, bsz * s.h * s.t * s.t);
  s.dqkv = heap_f32(&a, dqkv_off, bsz * s.t * 3 * s.c);
  if (a.failed) return NULL;
  over_pairs(&s, bsz * s.h, backward_pairs);
  return undefined(env);
}
