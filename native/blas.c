/*
 * BLAS: matrix products through OpenBLAS `cblas_sgemm` (BatchMatMul, _FusedMatMul with its bias and
 * relu epilogue), split over the native kernels' threads by threads.c, and the thread setting.
 */
#include <string.h>
#include "optlab_native.h"

/* OpenBLAS entry points, declared here so the build needs the library only, not a cblas.h that
   Debian's alternatives may point at another BLAS. Values of the enums are the CBLAS standard's. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
extern void openblas_set_num_threads(int n);
extern char *openblas_get_config(void);

/*
 * gemm(heap, batch, transA, transB, m, n, k, aOff, aStride, bOff, bStride, cOff)
 * For each batch i: C_i[m,n] = op(A_i) op(B_i), row-major, contiguous. A_i is [m,k] (or [k,m] when
 * transA) at aOff + 4*i*aStride; aStride 0 broadcasts one A over the batch, likewise B.
 */
napi_value optlab_gemm(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 12, 1)) return NULL;
  int64_t batch = arg_int(&a, 1), ta = arg_int(&a, 2), tb = arg_int(&a, 3);
  int64_t m = arg_int(&a, 4), n = arg_int(&a, 5), k = arg_int(&a, 6);
  int64_t a_off = arg_int(&a, 7), a_stride = arg_int(&a, 8);
  int64_t b_off = arg_int(&a, 9), b_stride = arg_int(&a, 10), c_off = arg_int(&a, 11);
  if (a.failed) return NULL;
  if (batch < 0 || m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX ||
      a_stride < 0 || b_stride < 0)
    return fail(&a, "optlab_native: gemm: bad dimensions"), NULL;
  if (batch == 0 || m == 0 || n == 0) return undefined(env);
  float *A = heap_f32(&a, a_off, a_stride * (batch - 1) + m * k);
  float *B = heap_f32(&a, b_off, b_stride * (batch - 1) + k * n);
  float *C = heap_f32(&a, c_off, batch * m * n);
  if (a.failed) return NULL;
  if (k == 0) {
    memset(C, 0, (size_t)(batch * m * n) * sizeof(float));
    return undefined(env);
  }
  int lda = ta ? (int)m : (int)k, ldb = tb ? (int)k : (int)n;
  /* One shared B under untransposed, contiguous A_i: the batch is one taller product. */
  if (batch > 1 && b_stride == 0 && !ta && a_stride == m * k && batch * m <= INT32_MAX) {
    optlab_sgemm_batch(1, 0, (int)tb, (int)(batch * m), (int)n, (int)k, 1.0f, A, lda, 0, B, ldb, 0, 0.0f, C, (int)n, 0);
    return undefined(env);
  }
  /* threads.c splits the products over the native kernels' threads. */
  optlab_sgemm_batch(batch, (int)ta, (int)tb, (int)m, (int)n, (int)k, 1.0f, A, lda, a_stride, B, ldb, b_stride, 0.0f, C, (int)n, m * n);
  return undefined(env);
}

/* bias_act(heap, cOff, rows, cols, biasOff (-1: none), relu): C[r, :] += bias, then max(C, 0) if relu. */
napi_value optlab_bias_act(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 6, 1)) return NULL;
  int64_t c_off = arg_int(&a, 1), rows = arg_int(&a, 2), cols = arg_int(&a, 3), bias_off = arg_int(&a, 4);
  int64_t relu = arg_int(&a, 5);
  if (a.failed) return NULL;
  if (rows < 0 || cols < 0) return fail(&a, "optlab_native: bias_act: bad dimensions"), NULL;
  float *C = heap_f32(&a, c_off, rows * cols);
  const float *bias = bias_off >= 0 ? heap_f32(&a, bias_off, cols) : NULL;
  if (a.failed) return NULL;
  for (int64_t r = 0; r < rows; r++) {
    float *row = C + r * cols;
    if (bias)
      for (int64_t j = 0; j < cols; j++) row[j] += bias[j];
    if (relu)
      for (int64_t j = 0; j < cols; j++) row[j] = row[j] < 0.0f ? 0.0f : row[j]; /* NaN stays NaN, as in tfjs relu */
  }
  return undefined(env);
}

/* setThreads(n): threads of later calls: the pool's of threads.c, which splits products itself; OpenBLAS stays at one. */
napi_value optlab_set_threads(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 1, 0)) return NULL;
  int64_t n = arg_int(&a, 0);
  if (a.failed) return NULL;
  if (n < 1 || n > 1024) return fail(&a, "optlab_native: thread count must be in 1..1024"), NULL;
  openblas_set_num_threads(1);
  optlab_pool_set_threads((int)n);
  return undefined(env);
}

napi_value optlab_get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(napi_create_int32(env, optlab_pool_threads(), &v));
  return v;
}

napi_value optlab_blas_config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  const char *cfg = openblas_get_config();
  CHECK(napi_create_string_utf8(env, cfg ? cfg : "OpenBLAS", NAPI_AUTO_LENGTH, &v));
  return v;
}
