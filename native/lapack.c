/*
 * Symmetric eigendecomposition and inverse p-th roots through LAPACK `ssyevd`/`dsyevd` (divide and
 * conquer), which the OpenBLAS the addon links exports with its BLAS. kernels/eigh.ts calls these on
 * host arrays (a factor read back from any tfjs backend), so Shampoo's roots can come from an
 * eigendecomposition as in Meta's Distributed Shampoo (`matrix_functions.py`,
 * `matrix_inverse_root_from_eigendecomposition`; docs/optimizers/shampoo.md).
 *
 * Layout: a symmetric matrix is the same array row-major or column-major, so row-major JS data goes in
 * as is. LAPACK returns eigenvector k in column k of the column-major result, which is row k of the
 * row-major array; eigenvalues come in ascending order.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (Fortran ABI: every argument by reference, hidden lengths of character arguments last). */
extern void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w, float *work,
                    const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len, size_t uplo_len);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
                    const int *lwork, int *iwork, const int *liwork, int *info, size_t jobz_len, size_t uplo_len);
enum { CBLAS_ROW_MAJOR_ = 101, CBLAS_TRANS_ = 112, CBLAS_UPPER_ = 121 };
extern void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda, float beta, float *c, int ldc);
extern void cblas_dsyrk(int order, int uplo, int trans, int n, int k, double alpha, const double *a, int lda, double beta, double *c, int ldc);

/* Result codes shared with kernels/eigh.ts (LAPACK's own info > 0 means the algorithm did not converge). */
#define RC_ALLOC (-1001)
#define RC_INPUT_NOT_FINITE (-1002)
#define RC_ROOT_NOT_FINITE (-1003)

typedef struct {
  void *data;
  size_t length; /* elements */
  int f64;       /* 1: Float64Array, 0: Float32Array */
} Array;

static int throw_(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return 0;
}

/* A Float32Array or Float64Array argument (no copy: LAPACK works on the JS memory). */
static int get_array(napi_env env, napi_value v, Array *out, const char *what) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return throw_(env, what);
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &offset) != napi_ok) return throw_(env, what);
  if (type != napi_float32_array && type != napi_float64_array) return throw_(env, what);
  out->data = data;
  out->length = length;
  out->f64 = type == napi_float64_array;
  return 1;
}

static int get_int(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) return throw_(env, "optlab_native: expected an integer argument");
  return 1;
}

static int get_double(napi_env env, napi_value v, double *out) {
  if (napi_get_value_double(env, v, out) != napi_ok) return throw_(env, "optlab_native: expected a number argument");
  return 1;
}

static napi_value int_value(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

/* syevd with the workspace it asks for (a workspace query first). */
static int syevd(int f64, int n, void *a, void *w) {
  const char jobz = 'V', uplo = 'U';
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  if (f64) {
    double work_size = 0;
    dsyevd_(&jobz, &uplo, &n, (double *)a, &n, (double *)w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
    if (info != 0) return info;
    lwork = (int)work_size;
  } else {
    float work_size = 0;
    ssyevd_(&jobz, &uplo, &n, (float *)a, &n, (float *)w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
    if (info != 0) return info;
    /* The float32 query can round the size down by an ulp: ask for one more. */
    lwork = (int)work_size + 1;
  }
  liwork = iwork_size;
  void *work = malloc((size_t)lwork * (f64 ? sizeof(double) : sizeof(float)));
  int *iwork = (int *)malloc((size_t)liwork * sizeof(int));
  if (!work || !iwork) {
    free(work);
    free(iwork);
    return RC_ALLOC;
  }
  if (f64)
    dsyevd_(&jobz, &uplo, &n, (double *)a, &n, (double *)w, (double *)work, &lwork, iwork, &liwork, &info, 1, 1);
  else
    ssyevd_(&jobz, &uplo, &n, (float *)a, &n, (float *)w, (float *)work, &lwork, iwork, &liwork, &info, 1, 1);
  free(work);
  free(iwork);
  return info;
}

static int all_finite(int f64, const void *x, size_t count) {
  if (f64) {
    const double *d = (const double *)x;
    for (size_t i = 0; i < count; i++)
      if (!isfinite(d[i])) return 0;
  } else {
    const float *f = (const float *)x;
    for (size_t i = 0; i < count; i++)
      if (!isfinite(f[i])) return 0;
  }
  return 1;
}

/*
 * eigh(a, n, w) -> code. a: n*n symmetric (Float32Array -> ssyevd, Float64Array -> dsyevd), replaced by
 * the eigenvectors (row k of the row-major array = eigenvector k); w: n eigenvalues, ascending, same
 * type. Returns 0, LAPACK's info (> 0: no convergence) or a negative code above.
 */
napi_value LapackEigh(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) return throw_(env, "optlab_native: eigh(a, n, w)"), NULL;
  Array a, w;
  int64_t n;
  if (!get_array(env, argv[0], &a, "optlab_native: eigh: a must be a Float32Array or Float64Array")) return NULL;
  if (!get_int(env, argv[1], &n)) return NULL;
  if (!get_array(env, argv[2], &w, "optlab_native: eigh: w must be a Float32Array or Float64Array")) return NULL;
  if (n < 0 || n > 46340 || a.length != (size_t)(n * n) || w.length != (size_t)n) return throw_(env, "optlab_native: eigh: a must hold n*n values and w n"), NULL;
  if (a.f64 != w.f64) return throw_(env, "optlab_native: eigh: a and w must have the same type"), NULL;
  if (n == 0) return int_value(env, 0);
  if (!all_finite(a.f64, a.data, a.length)) return int_value(env, RC_INPUT_NOT_FINITE);
  return int_value(env, syevd(a.f64, (int)n, a.data, w.data));
}

/*
 * inverseRoot(a, n, exponent, eps, x, values) -> code: X = (A + eps I)^(-exponent) as Meta's eigh route
 * computes it, in a's precision (Float32Array: ssyevd, float32 arithmetic as Meta's default float32 factors;
 * Float64Array: dsyevd and double). Steps: A <- A + eps I; (L, Q) = eigh(A); if min(L) < eps then
 * L <- L - min(L) and L <- L + eps (two roundings, as Meta's two perturbations); X = Q diag(L^-exponent) Q^T,
 * formed as B^T B with B = diag(L^(-exponent/2)) Q^T (syrk: half the flops of Meta's Q * f @ Q^T, same value
 * up to rounding; the root is exactly symmetric).
 * a (n*n) is overwritten; x (Float32Array n*n) receives X; values (Float64Array n) receives the
 * eigenvalues of A + eps I before the shift. Returns 0, LAPACK's info (> 0), or a negative code: -1001
 * allocation, -1002 non-finite input, -1003 non-finite root (x then holds it, the caller discards it).
 */
napi_value LapackInverseRoot(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6) return throw_(env, "optlab_native: inverseRoot(a, n, exponent, eps, x, values)"), NULL;
  Array a, x, values;
  int64_t n;
  double exponent, eps;
  if (!get_array(env, argv[0], &a, "optlab_native: inverseRoot: a must be a Float32Array or Float64Array")) return NULL;
  if (!get_int(env, argv[1], &n) || !get_double(env, argv[2], &exponent) || !get_double(env, argv[3], &eps)) return NULL;
  if (!get_array(env, argv[4], &x, "optlab_native: inverseRoot: x must be a Float32Array")) return NULL;
  if (!get_array(env, argv[5], &values, "optlab_native: inverseRoot: values must be a Float64Array")) return NULL;
  if (n < 0 || n > 46340 || a.length != (size_t)(n * n) || x.length != a.length || values.length != (size_t)n || x.f64 || !values.f64)
    return throw_(env, "optlab_native: inverseRoot: a and x (Float32Array) must hold n*n values, values (Float64Array) n"), NULL;
  if (n == 0) return int_value(env, 0);
  if (!all_finite(a.f64, a.data, a.length)) return int_value(env, RC_INPUT_NOT_FINITE);
  const size_t nn = (size_t)(n * n);
  int code = 0;
  if (a.f64) {
    double *A = (double *)a.data;
    double *L = (double *)values.data;
    for (int64_t i = 0; i < n; i++) A[i * n + i] += eps;
    code = syevd(1, (int)n, A, L);
    if (code != 0) return int_value(env, code);
    double *f = (double *)malloc((size_t)n * sizeof(double));
    double *B = (double *)malloc(nn * sizeof(double));
    double *X = (double *)malloc(nn * sizeof(double));
    if (!f || !B || !X) {
      free(f), free(B), free(X);
      return int_value(env, RC_ALLOC);
    }
    double lmin = L[0];
    for (int64_t k = 0; k < n; k++) {
      double l = L[k];
      if (lmin < eps) l = (l - lmin) + eps;
      f[k] = pow(l, -exponent);
    }
    /* B = diag(sqrt f) V with V's rows the eigenvectors; X = B^T B = Q diag(f) Q^T, one triangle (syrk). */
    for (int64_t k = 0; k < n; k++) {
      const double sk = sqrt(f[k]);
      for (int64_t i = 0; i < n; i++) B[k * n + i] = sk * A[k * n + i];
    }
    cblas_dsyrk(CBLAS_ROW_MAJOR_, CBLAS_UPPER_, CBLAS_TRANS_, (int)n, (int)n, 1.0, B, (int)n, 0.0, X, (int)n);
    float *out = (float *)x.data;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i; j < n; j++) out[i * n + j] = out[j * n + i] = (float)X[i * n + j];
    free(f), free(B), free(X);
  } else {
    float *A = (float *)a.data;
    const float epsf = (float)eps;
    for (int64_t i = 0; i < n; i++) A[i * n + i] += epsf;
    float *Lf = (float *)malloc((size_t)n * sizeof(float));
    float *B = (float *)malloc(nn * sizeof(float));
    if (!Lf || !B) {
      free(Lf), free(B);
      return int_value(env, RC_ALLOC);
    }
    code = syevd(0, (int)n, A, Lf);
    if (code != 0) {
      free(Lf), free(B);
      return int_value(env, code);
    }
    double *L = (double *)values.data;
    const float lmin = Lf[0];
    const float e = (float)-exponent;
    for (int64_t k = 0; k < n; k++) {
      L[k] = Lf[k];
      float l = Lf[k];
      if (lmin < epsf) {
        l = l - lmin;
        l = l + epsf;
      }
      const float sk = sqrtf(powf(l, e));
      for (int64_t i = 0; i < n; i++) B[k * n + i] = sk * A[k * n + i];
    }
    float *out = (float *)x.data;
    cblas_ssyrk(CBLAS_ROW_MAJOR_, CBLAS_UPPER_, CBLAS_TRANS_, (int)n, (int)n, 1.0f, B, (int)n, 0.0f, out, (int)n);
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) out[j * n + i] = out[i * n + j];
    free(Lf), free(B);
  }
  if (!all_finite(0, x.data, nn)) return int_value(env, RC_ROOT_NOT_FINITE);
  return int_value(env, 0);
}

/* Householder QR (LAPACK dgeqrf + dorgqr), for SOAP's basis refresh and Dion's orthonormalization (optimizers/qr.ts). */
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work, const int *lwork,
                    int *info);

/*
 * qr(a, m, n, r) -> code. a: m*n row-major Float64Array (m >= n), replaced by Q (m*n row-major, orthonormal
 * columns); r: n*n Float64Array, R row-major (upper triangular). Signs as LAPACK leaves them (the caller
 * normalizes). Returns 0, LAPACK's info, or a negative code above.
 */
napi_value LapackQR(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throw_(env, "optlab_native: qr(a, m, n, r)"), NULL;
  Array a, r;
  int64_t m64, n64;
  if (!get_array(env, argv[0], &a, "optlab_native: qr: a must be a Float64Array")) return NULL;
  if (!get_int(env, argv[1], &m64) || !get_int(env, argv[2], &n64)) return NULL;
  if (!get_array(env, argv[3], &r, "optlab_native: qr: r must be a Float64Array")) return NULL;
  if (!a.f64 || !r.f64) return throw_(env, "optlab_native: qr: a and r must be Float64Arrays"), NULL;
  if (m64 < n64 || n64 < 0 || m64 > 46340 || a.length != (size_t)(m64 * n64) || r.length != (size_t)(n64 * n64))
    return throw_(env, "optlab_native: qr: a must hold m*n values (m >= n) and r n*n"), NULL;
  const int m = (int)m64, n = (int)n64;
  if (n == 0) return int_value(env, 0);
  if (!all_finite(1, a.data, a.length)) return int_value(env, RC_INPUT_NOT_FINITE);
  double *x = (double *)a.data, *rr = (double *)r.data;
  double *c = (double *)malloc((size_t)m * n * sizeof(double)), *tau = (double *)malloc((size_t)n * sizeof(double));
  if (!c || !tau) {
    free(c);
    free(tau);
    return int_value(env, RC_ALLOC);
  }
  /* Column-major copy: column j of A is c[j*m .. j*m+m). */
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) c[(size_t)j * m + i] = x[(size_t)i * n + j];
  int info_ = 0, lwork = -1;
  double ws = 0;
  dgeqrf_(&m, &n, c, &m, tau, &ws, &lwork, &info_);
  double ws2 = 0;
  if (info_ == 0) dorgqr_(&m, &n, &n, c, &m, tau, &ws2, &lwork, &info_);
  lwork = (int)(ws > ws2 ? ws : ws2) + 1;
  double *work = info_ == 0 ? (double *)malloc((size_t)lwork * sizeof(double)) : NULL;
  if (info_ == 0 && !work) info_ = RC_ALLOC;
  if (info_ == 0) dgeqrf_(&m, &n, c, &m, tau, work, &lwork, &info_);
  if (info_ == 0) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) rr[(size_t)i * n + j] = j >= i ? c[(size_t)j * m + i] : 0.0;
    dorgqr_(&m, &n, &n, c, &m, tau, work, &lwork, &info_);
  }
  if (info_ == 0)
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) x[(size_t)i * n + j] = c[(size_t)j * m + i];
  free(work);
  free(c);
  free(tau);
  return int_value(env, info_);
}
