/*
 * Norms and activations: GELU (tanh form, GPT-2) and layer norm, forward and backward, one pass each
 * (kernels/fused.ts runs them as OptlabGelu, OptlabGeluGrad, OptlabLayerNorm, OptlabLayerNormGrad).
 */
#include <math.h>
#include <stdlib.h>
#include "optlab_native.h"
#include "simd.h"

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

static inline __attribute__((always_inline)) v16f gelu16(v16f x) {
  v16f t = tanh16(V16(GELU_C) * (x + V16(GELU_A) * x * x * x));
  return V16(0.5f) * x * (V16(1.0f) + t);
}

static inline __attribute__((always_inline)) v16f gelu_grad16(v16f dy, v16f x) {
  v16f x2 = x * x;
  v16f t = tanh16(V16(GELU_C) * (x + V16(GELU_A) * x2 * x));
  v16f d = V16(0.5f) * (V16(1.0f) + t) + V16(0.5f) * x * (V16(1.0f) - t * t) * V16(GELU_C) * (V16(1.0f) + V16(3.0f * GELU_A) * x2);
  return dy * d;
}

MULTIVERSION static void gelu_loop(const float *X, float *Y, int64_t n) {
  FOR_EACH_16(n, store16(Y + i0, gelu16(load16(X + i0, cnt)), cnt));
}

MULTIVERSION static void gelu_grad_loop(const float *DY, const float *X, float *DX, int64_t n) {
  FOR_EACH_16(n, store16(DX + i0, gelu_grad16(load16(DY + i0, cnt), load16(X + i0, cnt)), cnt));
}

/* Elementwise work split over the native kernels' threads (threads.c) in blocks of at least this many
   elements; each element's value does not depend on the split. */
enum { PAR_ELEMENTS = 16384, PAR_ROWS = 64 };

typedef struct {
  const float *x, *dy;
  float *y;
} Ew;

static void gelu_task(void *ctx, int64_t begin, int64_t end) {
  const Ew *e = ctx;
  gelu_loop(e->x + begin, e->y + begin, end - begin);
}

static void gelu_grad_task(void *ctx, int64_t begin, int64_t end) {
  const Ew *e = ctx;
  gelu_grad_loop(e->dy + begin, e->x + begin, e->y + begin, end - begin);
}

/* gelu(heap, xOff, yOff, n): y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's form. */
napi_value optlab_gelu(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 4, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), y_off = arg_int(&a, 2), n = arg_int(&a, 3);
  if (a.failed) return NULL;
  const float *X = heap_f32(&a, x_off, n);
  float *Y = heap_f32(&a, y_off, n);
  if (a.failed) return NULL;
  Ew e = {X, NULL, Y};
  optlab_parallel_for(n, PAR_ELEMENTS, gelu_task, &e);
  return undefined(env);
}

/* geluGrad(heap, dyOff, xOff, dxOff, n): dx = dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)). */
napi_value optlab_gelu_grad(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 5, 1)) return NULL;
  int64_t dy_off = arg_int(&a, 1), x_off = arg_int(&a, 2), dx_off = arg_int(&a, 3), n = arg_int(&a, 4);
  if (a.failed) return NULL;
  const float *DY = heap_f32(&a, dy_off, n);
  const float *X = heap_f32(&a, x_off, n);
  float *DX = heap_f32(&a, dx_off, n);
  if (a.failed) return NULL;
  Ew e = {X, DY, DX};
  optlab_parallel_for(n, PAR_ELEMENTS, gelu_grad_task, &e);
  return undefined(env);
}

typedef struct {
  const float *X, *G, *Bv;
  float *Y, *M, *R;
  int64_t cols;
  double eps;
} Ln;

/* Rows [begin, end) of the layer norm (rows are independent: the split does not change a value). */
static void layer_norm_rows(void *ctx, int64_t begin, int64_t end) {
  const Ln *l = ctx;
  const float *X = l->X, *G = l->G, *Bv = l->Bv;
  float *Y = l->Y, *M = l->M, *R = l->R;
  const int64_t cols = l->cols;
  const double eps = l->eps;
  for (int64_t r = begin; r < end; r++) {
    const float *x = X + r * cols;
    float *y = Y + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; j++) s += x[j];
    double mu = s / (double)cols, v = 0;
    for (int64_t j = 0; j < cols; j++) v += ((double)x[j] - mu) * ((double)x[j] - mu);
    float rstd = (float)(1.0 / sqrt(v / (double)cols + eps));
    float m = (float)mu;
    M[r] = m;
    R[r] = rstd;
    for (int64_t j = 0; j < cols; j++) {
      float h = (x[j] - m) * rstd;
      if (G) h *= G[j];
      if (Bv) h += Bv[j];
      y[j] = h;
    }
  }
}

/*
 * layerNorm(heap, xOff, gOff, bOff, yOff, meanOff, rstdOff, rows, cols, eps): per row of x [rows, cols],
 * y = (x - mean) * rstd * g + b with rstd = 1 / sqrt(var + eps) (biased variance, as torch); gOff or
 * bOff -1 for none. Statistics in double, two passes; mean and rstd are kept for the gradient.
 */
napi_value optlab_layer_norm(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 10, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), g_off = arg_int(&a, 2), b_off = arg_int(&a, 3), y_off = arg_int(&a, 4);
  int64_t mean_off = arg_int(&a, 5), rstd_off = arg_int(&a, 6), rows = arg_int(&a, 7), cols = arg_int(&a, 8);
  double eps = 0;
  if (!a.failed && napi_get_value_double(env, a.argv[9], &eps) != napi_ok) fail(&a, "optlab_native: layerNorm: eps must be a number");
  if (a.failed) return NULL;
  if (rows < 0 || cols < 1) return fail(&a, "optlab_native: layerNorm: bad dimensions"), NULL;
  const float *X = heap_f32(&a, x_off, rows * cols);
  const float *G = g_off >= 0 ? heap_f32(&a, g_off, cols) : NULL;
  const float *Bv = b_off >= 0 ? heap_f32(&a, b_off, cols) : NULL;
  float *Y = heap_f32(&a, y_off, rows * cols);
  float *M = heap_f32(&a, mean_off, rows);
  float *R = heap_f32(&a, rstd_off, rows);
  if (a.failed) return NULL;
  Ln ln = {X, G, Bv, Y, M, R, cols, eps};
  optlab_parallel_for(rows, PAR_ROWS, layer_norm_rows, &ln);
  return undefined(env);
}

/* One row of the layer-norm gradient; u and xh are scratch rows, acc gathers dg (first cols) and db. */
MULTIVERSION static void layer_norm_grad_row(const float *dy, const float *x, const float *G, float m, float rstd, float *dx,
                                             double *acc, float *u, float *xh, int64_t cols) {
  for (int64_t j = 0; j < cols; j++) xh[j] = (x[j] - m) * rstd;
  if (G)
    for (int64_t j = 0; j < cols; j++) u[j] = dy[j] * G[j];
  else
    for (int64_t j = 0; j < cols; j++) u[j] = dy[j];
  /* Four fixed partial sums: a deterministic order that pipelines. */
  double su[4] = {0, 0, 0, 0}, sux[4] = {0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 4 <= cols; j += 4)
    for (int k = 0; k < 4; k++) {
      su[k] += u[j + k];
      sux[k] += (double)u[j + k] * xh[j + k];
    }
  for (; j < cols; j++) {
    su[0] += u[j];
    sux[0] += (double)u[j] * xh[j];
  }
  float mu_u = (float)(((su[0] + su[1]) + (su[2] + su[3])) / (double)cols);
  float mu_ux = (float)(((sux[0] + sux[1]) + (sux[2] + sux[3])) / (double)cols);
  for (j = 0; j < cols; j++) dx[j] = rstd * (u[j] - mu_u - xh[j] * mu_ux);
  for (j = 0; j < cols; j++) {
    acc[j] += (double)dy[j] * xh[j];
    acc[cols + j] += dy[j];
  }
}

/*
 * layerNormGrad(heap, dyOff, xOff, gOff, meanOff, rstdOff, dxOff, dgOff, dbOff, rows, cols): with
 * xhat = (x - mean) rstd and u = dy g: dx = rstd (u - mean(u) - xhat mean(u xhat)) per row,
 * dg = sum_rows dy xhat, db = sum_rows dy (gOff, dgOff, dbOff -1 for none; sums in double).
 */
napi_value optlab_layer_norm_grad(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 11, 1)) return NULL;
  int64_t dy_off = arg_int(&a, 1), x_off = arg_int(&a, 2), g_off = arg_int(&a, 3), mean_off = arg_int(&a, 4);
  int64_t rstd_off = arg_int(&a, 5), dx_off = arg_int(&a, 6), dg_off = arg_int(&a, 7), db_off = arg_int(&a, 8);
  int64_t rows = arg_int(&a, 9), cols = arg_int(&a, 10);
  if (a.failed) return NULL;
  if (rows < 0 || cols < 1 || cols > 65536) return fail(&a, "optlab_native: layerNormGrad: bad dimensions"), NULL;
  const float *DY = heap_f32(&a, dy_off, rows * cols);
  const float *X = heap_f32(&a, x_off, rows * cols);
  const float *G = g_off >= 0 ? heap_f32(&a, g_off, cols) : NULL;
  const float *M = heap_f32(&a, mean_off, rows);
  const float *R = heap_f32(&a, rstd_off, rows);
  float *DX = heap_f32(&a, dx_off, rows * cols);
  float *DG = dg_off >= 0 ? heap_f32(&a, dg_off, cols) : NULL;
  float *DB = db_off >= 0 ? heap_f32(&a, db_off, cols) : NULL;
  if (a.failed) return NULL;
  double *acc = calloc((size_t)(2 * cols), sizeof(double));
  float *u = malloc((size_t)(2 * cols) * sizeof(float));
  if (!acc || !u) {
    free(acc);
    free(u);
    return fail(&a, "optlab_native: layerNormGrad: out of memory"), NULL;
  }
  float *xh = u + cols;
  for (int64_t r = 0; r < rows; r++) {
    const float *dy = DY + r * cols, *x = X + r * cols;
    float *dx = DX + r * cols;
    layer_norm_grad_row(dy, x, G, M[r], R[r], dx, acc, u, xh, cols);
  }
  for (int64_t j = 0; j < cols; j++) {
    if (DG) DG[j] = (float)acc[j];
    if (DB) DB[j] = (float)acc[cols + j];
  }
  free(acc);
  free(u);
  return undefined(env);
}
