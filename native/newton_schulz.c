/*
 * Quintic Newton-Schulz orthogonalization in one kernel call (optimizers/linalg.ts `newtonSchulz`,
 * docs/linalg.md "Newton-Schulz"), run as OptlabNewtonSchulz by kernels/fused.ts. For each matrix G
 * of a stack [batch, rows, cols]:
 *   X0 = Y / (s ||Y||_F + e),  Y = G / max|G|   (pre-scaled, so c G gives the same X0 for any finite c > 0)
 *   X <- a X + (b A + c A^2) X,  A = X X^T      (wide, rows <= cols)
 *   X <- a X + X (b A + c A^2),  A = X^T X      (tall: the same iteration on X^T, without transposing)
 * s, e: 1 and eps for the classic coefficients, 1.02 and 1e-6 for Polar Express (modded-nanogpt).
 * The norm is computed in double. A and A^2 are symmetric: both come from ssyrk (half the
 * multiply-adds of a general product; A^2 = A A^T), mirrored to full storage for the update product,
 * which threads.c splits over the native kernels' threads. A zero matrix gives zeros; a matrix with a
 * NaN or an infinity gives NaN everywhere, and the call returns how many such matrices it saw.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "optlab_native.h"

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112, CBLAS_UPPER = 121 };
extern void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda, float beta, float *c, int ldc);
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);

/* The upper triangle of an n x n row-major matrix copied onto its lower one. */
static void mirror(float *a, int n) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) a[(int64_t)i * n + j] = a[(int64_t)j * n + i];
}

/* One matrix: g [rows, cols] in, out [rows, cols]; work holds 2 rows*cols + 2 d*d floats, d = min(rows, cols). Returns 1 when g is not finite. */
static int ns_one(const float *g, float *out, int rows, int cols, int steps, const double *coef, double scale, double eps, float *work, int split) {
  const int64_t size = (int64_t)rows * cols;
  double big = 0;
  for (int64_t i = 0; i < size; i++) {
    double v = fabs((double)g[i]);
    if (!(v <= big)) big = v; /* NaN lands here too and stays NaN below */
  }
  if (!isfinite(big)) {
    for (int64_t i = 0; i < size; i++) out[i] = NAN;
    return 1;
  }
  if (big == 0) {
    memset(out, 0, (size_t)size * sizeof(float));
    return 0;
  }
  double ss = 0;
  for (int64_t i = 0; i < size; i++) {
    double y = (double)g[i] / big;
    ss += y * y;
  }
  const double f = 1.0 / (big * (scale * sqrt(ss) + eps));
  const int tall = rows > cols, d = tall ? cols : rows, len = tall ? rows : cols;
  float *x = work, *y = work + size, *A = y + size, *B = A + (int64_t)d * d;
  for (int64_t i = 0; i < size; i++) x[i] = (float)((double)g[i] * f);
  for (int s = 0; s < steps; s++) {
    const float a = (float)coef[3 * s], b = (float)coef[3 * s + 1], c = (float)coef[3 * s + 2];
    /* A = X X^T (wide) or X^T X (tall), d x d; X is [rows, cols] row-major. */
    cblas_ssyrk(CBLAS_ROW_MAJOR, CBLAS_UPPER, tall ? CBLAS_TRANS : CBLAS_NO_TRANS, d, len, 1.0f, x, cols, 0.0f, A, d);
    mirror(A, d);
    /* B = c A A^T + b A (A symmetric, so A A^T = A^2). */
    memcpy(B, A, (size_t)d * d * sizeof(float));
    cblas_ssyrk(CBLAS_ROW_MAJOR, CBLAS_UPPER, CBLAS_NO_TRANS, d, d, c, A, d, b, B, d);
    mirror(B, d);
    /* Y = a X + B X (wide) or a X + X B (tall). */
    memcpy(y, x, (size_t)size * sizeof(float));
    if (split && tall) optlab_sgemm_batch(1, 0, 0, rows, cols, cols, 1.0f, x, cols, 0, B, d, 0, a, y, cols, 0);
    else if (split) optlab_sgemm_batch(1, 0, 0, rows, cols, rows, 1.0f, B, d, 0, x, cols, 0, a, y, cols, 0);
    else if (tall) cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, rows, cols, cols, 1.0f, x, cols, B, d, a, y, cols);
    else cblas_sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, rows, cols, rows, 1.0f, B, d, x, cols, a, y, cols);
    float *t = x;
    x = y;
    y = t;
  }
  memcpy(out, x, (size_t)size * sizeof(float));
  return 0;
}

/* A stack split over the pool's threads, one matrix per item, each with its own work space and unsplit products. */
typedef struct {
  const float *g;
  float *out;
  int rows, cols, steps;
  const double *coef;
  double scale, eps;
  _Atomic int bad;
  _Atomic int oom;
} Stack;

static void ns_items(void *ctx, int64_t begin, int64_t end) {
  Stack *s = ctx;
  const int64_t size = (int64_t)s->rows * s->cols, d = s->rows < s->cols ? s->rows : s->cols;
  float *work = malloc(sizeof(float) * (size_t)(2 * size + 2 * d * d));
  if (!work) {
    s->oom = 1;
    return;
  }
  for (int64_t i = begin; i < end; i++) s->bad += ns_one(s->g + i * size, s->out + i * size, s->rows, s->cols, s->steps, s->coef, s->scale, s->eps, work, 0);
  free(work);
}

/*
 * newtonSchulz(heap, gOff, outOff, batch, rows, cols, coefficients, scale, eps): coefficients is an
 * array of 3 * steps numbers (a, b, c per iteration). Returns the number of non-finite matrices.
 */
napi_value optlab_newton_schulz(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 9, 1)) return NULL;
  int64_t g_off = arg_int(&a, 1), out_off = arg_int(&a, 2), batch = arg_int(&a, 3), rows = arg_int(&a, 4), cols = arg_int(&a, 5);
  double scale = 0, eps = 0;
  uint32_t n_coef = 0;
  if (!a.failed && (napi_get_value_double(env, a.argv[7], &scale) != napi_ok || napi_get_value_double(env, a.argv[8], &eps) != napi_ok ||
                    napi_get_array_length(env, a.argv[6], &n_coef) != napi_ok || n_coef % 3 != 0 || n_coef > 3 * 1000))
    fail(&a, "optlab_native: newtonSchulz: coefficients must be an array of 3 * steps numbers, scale and eps numbers");
  if (a.failed) return NULL;
  if (batch < 0 || rows < 1 || cols < 1 || rows > INT32_MAX || cols > INT32_MAX) return fail(&a, "optlab_native: newtonSchulz: bad dimensions"), NULL;
  const int64_t size = rows * cols;
  const float *G = heap_f32(&a, g_off, batch * size);
  float *OUT = heap_f32(&a, out_off, batch * size);
  if (a.failed) return NULL;
  double *coef = malloc(sizeof(double) * (n_coef ? n_coef : 1));
  const int64_t d = rows < cols ? rows : cols;
  float *work = malloc(sizeof(float) * (size_t)(2 * size + 2 * d * d));
  int bad = 0;
  if (!coef || !work) {
    free(coef), free(work);
    return fail(&a, "optlab_native: newtonSchulz: out of memory"), NULL;
  }
  for (uint32_t i = 0; i < n_coef && !a.failed; i++) {
    napi_value e;
    if (napi_get_element(env, a.argv[6], i, &e) != napi_ok || napi_get_value_double(env, e, &coef[i]) != napi_ok) fail(&a, "optlab_native: newtonSchulz: coefficients must be numbers");
  }
  if (!a.failed) {
    /* One matrix: its products are split over the threads; a stack: its matrices are. */
    if (batch > 1 && optlab_pool_threads() > 1) {
      Stack st = {G, OUT, (int)rows, (int)cols, (int)(n_coef / 3), coef, scale, eps, 0, 0};
      optlab_parallel_for(batch, 1, ns_items, &st);
      bad = st.bad;
      if (st.oom) fail(&a, "optlab_native: newtonSchulz: out of memory");
    } else {
      for (int64_t i = 0; i < batch; i++) bad += ns_one(G + i * size, OUT + i * size, (int)rows, (int)cols, (int)(n_coef / 3), coef, scale, eps, work, 1);
    }
  }
  free(coef);
  free(work);
  if (a.failed) return NULL;
  napi_value r;
  CHECK(napi_create_int32(env, bad, &r));
  return r;
}
