/*
 * optlab's native kernels for the tfjs wasm backend (experiments/native.ts registers them).
 *
 * Every kernel works in place on the wasm heap: JS passes the heap's current ArrayBuffer and byte
 * offsets taken from the backend's dataIdMap, so no tensor is copied in or out. Matrix products go to
 * OpenBLAS `cblas_sgemm`; the elementwise kernels are plain loops the compiler vectorizes.
 *
 * Offsets and sizes are checked against the buffer's length before any access: a wrong offset throws
 * a JS error instead of writing outside the heap.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Elementwise loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
   (GCC function multiversioning): the addon is built once per machine but node_modules may be copied. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(OPTLAB_NO_MULTIVERSION)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

/* OpenBLAS entry points, declared here so the build needs the library only, not a cblas.h that
   Debian's alternatives may point at another BLAS. Values of the enums are the CBLAS standard's. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
extern void openblas_set_num_threads(int n);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

#define CHECK(call)                                                              \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error(env, NULL, "optlab_native: N-API call failed: " #call);  \
      return NULL;                                                               \
    }                                                                            \
  } while (0)

#define MAX_ARGS 16

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  uint8_t *heap;
  size_t heap_len;
  int failed;
} Args;

static int fail(Args *a, const char *msg) {
  if (!a->failed) napi_throw_error(a->env, NULL, msg);
  a->failed = 1;
  return 0;
}

static int read_args(napi_env env, napi_callback_info info, Args *a, size_t want, int with_heap) {
  a->env = env;
  a->argc = MAX_ARGS;
  a->failed = 0;
  a->heap = NULL;
  a->heap_len = 0;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) return fail(a, "optlab_native: bad call");
  if (a->argc < want) return fail(a, "optlab_native: too few arguments");
  if (with_heap) {
    bool is_ab = false;
    void *data = NULL;
    napi_is_arraybuffer(env, a->argv[0], &is_ab);
    if (!is_ab) return fail(a, "optlab_native: first argument must be the wasm heap's ArrayBuffer");
    if (napi_get_arraybuffer_info(env, a->argv[0], &data, &a->heap_len) != napi_ok) return fail(a, "optlab_native: cannot read heap");
    a->heap = (uint8_t *)data;
  }
  return 1;
}

static int64_t arg_int(Args *a, size_t i) {
  int64_t v = 0;
  if (a->failed) return 0;
  if (napi_get_value_int64(a->env, a->argv[i], &v) != napi_ok) fail(a, "optlab_native: expected a number argument");
  return v;
}

/* A float32 view of `count` elements at byte offset `off`, or NULL (with a JS error) if it leaves the heap. */
static float *heap_f32(Args *a, int64_t off, int64_t count) {
  if (a->failed) return NULL;
  if (off < 0 || count < 0 || (off & 3) != 0) {
    fail(a, "optlab_native: bad offset");
    return NULL;
  }
  if ((uint64_t)off + (uint64_t)count * 4u > (uint64_t)a->heap_len) {
    fail(a, "optlab_native: tensor extends past the end of the wasm heap");
    return NULL;
  }
  return (float *)(a->heap + off);
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/*
 * gemm(heap, batch, transA, transB, m, n, k, aOff, aStride, bOff, bStride, cOff)
 * For each batch i: C_i[m,n] = op(A_i) op(B_i), row-major, contiguous. A_i is [m,k] (or [k,m] when
 * transA) at aOff + 4*i*aStride; aStride 0 broadcasts one A over the batch, likewise B.
 */
static napi_value Gemm(napi_env env, napi_callback_info info) {
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
  int tA = ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tB = tb ? CBLAS_TRANS : CBLAS_NO_TRANS;
  /* One shared B under untransposed, contiguous A_i: the batch is one taller product. */
  if (batch > 1 && b_stride == 0 && !ta && a_stride == m * k && batch * m <= INT32_MAX) {
    cblas_sgemm(CBLAS_ROW_MAJOR, tA, tB, (int)(batch * m), (int)n, (int)k, 1.0f, A, lda, B, ldb, 0.0f, C, (int)n);
    return undefined(env);
  }
  for (int64_t i = 0; i < batch; i++) {
    cblas_sgemm(CBLAS_ROW_MAJOR, tA, tB, (int)m, (int)n, (int)k, 1.0f, A + i * a_stride, lda, B + i * b_stride, ldb,
                0.0f, C + i * m * n, (int)n);
  }
  return undefined(env);
}

/* bias_act(heap, cOff, rows, cols, biasOff (-1: none), relu): C[r, :] += bias, then max(C, 0) if relu. */
static napi_value BiasAct(napi_env env, napi_callback_info info) {
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

/*
 * sum(heap, xOff, outOff, outer, reduce, inner, scale): out[o, i] = scale * sum_r x[o, r, i], the
 * reduced axes being one contiguous block of x's shape (scale 1/reduce makes it Mean). Accumulates
 * in double so the result does not depend on how a long reduction is split.
 */
static napi_value Sum(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 7, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), out_off = arg_int(&a, 2);
  int64_t outer = arg_int(&a, 3), reduce = arg_int(&a, 4), inner = arg_int(&a, 5);
  double scale = 1;
  if (!a.failed && napi_get_value_double(env, a.argv[6], &scale) != napi_ok) fail(&a, "optlab_native: sum: scale must be a number");
  if (a.failed) return NULL;
  if (outer < 0 || reduce < 0 || inner < 0) return fail(&a, "optlab_native: sum: bad dimensions"), NULL;
  const float *X = heap_f32(&a, x_off, outer * reduce * inner);
  float *Out = heap_f32(&a, out_off, outer * inner);
  if (a.failed) return NULL;
  if (inner == 1) {
    for (int64_t o = 0; o < outer; o++) {
      const float *x = X + o * reduce;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int64_t r = 0;
      for (; r + 4 <= reduce; r += 4) {
        s0 += x[r];
        s1 += x[r + 1];
        s2 += x[r + 2];
        s3 += x[r + 3];
      }
      for (; r < reduce; r++) s0 += x[r];
      Out[o] = (float)(((s0 + s1) + (s2 + s3)) * scale);
    }
    return undefined(env);
  }
  /* Rows of `inner` values summed lane by lane; a stack block of double accumulators keeps it
     vectorizable without a heap allocation. */
  enum { BLOCK = 256 };
  double acc[BLOCK];
  for (int64_t o = 0; o < outer; o++) {
    const float *x = X + o * reduce * inner;
    float *out = Out + o * inner;
    for (int64_t j0 = 0; j0 < inner; j0 += BLOCK) {
      int64_t len = inner - j0 < BLOCK ? inner - j0 : BLOCK;
      for (int64_t j = 0; j < len; j++) acc[j] = 0;
      for (int64_t r = 0; r < reduce; r++) {
        const float *row = x + r * inner + j0;
        for (int64_t j = 0; j < len; j++) acc[j] += row[j];
      }
      for (int64_t j = 0; j < len; j++) out[j0 + j] = (float)(acc[j] * scale);
    }
  }
  return undefined(env);
}

enum { UNARY_TANH = 0, UNARY_SQUARE = 1, UNARY_NEG = 2, UNARY_EXP = 3, UNARY_SQRT = 4, UNARY_RSQRT = 5 };

/*
 * tanh as Cephes' tanhf (about 2 ulp): an odd polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1)
 * above, exp as Cephes' expf (range reduction by ln 2, degree-6 polynomial). Written on 16-float GCC
 * vectors with bit-mask selects, so every clone of the loops below runs it 16 lanes at a time (one
 * zmm, two ymm or four xmm registers): libm's tanhf is 20x slower. Every element goes through the
 * same code, tail included, so a value does not depend on its position.
 */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define V16(c) ((v16f){(c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c), (c)})

static inline __attribute__((always_inline)) v16f select16(v16i mask, v16f a, v16f b) { return (v16f)((mask & (v16i)a) | (~mask & (v16i)b)); }

static inline __attribute__((always_inline)) v16f exp16_small(v16f y) {
  /* Cephes expf for 0 <= y < 80 (no overflow in the exponent bits); y >= 0, so truncation is floor. */
  v16i ni = __builtin_convertvector(y * V16(1.44269504088896341f) + V16(0.5f), v16i);
  v16f n = __builtin_convertvector(ni, v16f);
  v16f r = y - n * V16(0.693359375f) + n * V16(2.12194440e-4f);
  v16f p = V16(1.9875691500e-4f);
  p = p * r + V16(1.3981999507e-3f);
  p = p * r + V16(8.3334519073e-3f);
  p = p * r + V16(4.1665795894e-2f);
  p = p * r + V16(1.6666665459e-1f);
  p = p * r + V16(5.0000001201e-1f);
  p = p * r * r + r + V16(1.0f);
  return p * (v16f)((ni + 127) << 23);
}

static inline __attribute__((always_inline)) v16f tanh16(v16f x) {
  v16f ax = (v16f)((v16i)x & 0x7fffffff);
  /* tanh(9) rounds to 1 in float; exp(18) needs no overflow handling. */
  v16f y = V16(2.0f) * select16(ax < V16(9.0f), ax, V16(9.0f));
  v16f e = exp16_small(y);
  v16f big = V16(1.0f) - V16(2.0f) / (e + V16(1.0f));
  big = (v16f)((v16i)big | ((v16i)x & (int32_t)0x80000000));
  v16f z = x * x;
  v16f small = ((((V16(-5.70498872745e-3f) * z + V16(2.06390887954e-2f)) * z - V16(5.37397155531e-2f)) * z + V16(1.33314422036e-1f)) * z -
               V16(3.33332819422e-1f)) * z * x + x;
  v16f res = select16(ax < V16(0.625f), small, big);
  return select16(x != x, x, res);
}

/* Runs BODY on n floats 16 at a time; the tail goes through a zero-padded block. */
#define FOR_EACH_16(n, BODY)                                 \
  do {                                                      \
    int64_t i_ = 0;                                         \
    for (; i_ + 16 <= (n); i_ += 16) {                      \
      const int64_t i0 = i_, cnt = 16;                      \
      BODY;                                                 \
    }                                                       \
    if (i_ < (n)) {                                         \
      const int64_t i0 = i_, cnt = (n) - i_;                \
      BODY;                                                 \
    }                                                       \
  } while (0)

static inline __attribute__((always_inline)) v16f load16(const float *p, int64_t cnt) {
  float buf[16] = {0};
  memcpy(buf, p, (size_t)cnt * sizeof(float));
  v16f v;
  memcpy(&v, buf, sizeof v);
  return v;
}

static inline __attribute__((always_inline)) void store16(float *p, v16f v, int64_t cnt) {
  float buf[16];
  memcpy(buf, &v, sizeof v);
  memcpy(p, buf, (size_t)cnt * sizeof(float));
}

MULTIVERSION static void tanh_loop(const float *X, float *Out, int64_t n) {
  FOR_EACH_16(n, store16(Out + i0, tanh16(load16(X + i0, cnt)), cnt));
}

/* unary(heap, op, xOff, outOff, n) */
static napi_value Unary(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 5, 1)) return NULL;
  int64_t op = arg_int(&a, 1), x_off = arg_int(&a, 2), out_off = arg_int(&a, 3), n = arg_int(&a, 4);
  if (a.failed) return NULL;
  const float *X = heap_f32(&a, x_off, n);
  float *Out = heap_f32(&a, out_off, n);
  if (a.failed) return NULL;
  switch (op) {
    case UNARY_TANH:
      tanh_loop(X, Out, n);
      break;
    case UNARY_SQUARE:
      for (int64_t i = 0; i < n; i++) Out[i] = X[i] * X[i];
      break;
    case UNARY_NEG:
      for (int64_t i = 0; i < n; i++) Out[i] = -X[i];
      break;
    case UNARY_EXP:
      for (int64_t i = 0; i < n; i++) Out[i] = expf(X[i]);
      break;
    case UNARY_SQRT:
      for (int64_t i = 0; i < n; i++) Out[i] = sqrtf(X[i]);
      break;
    case UNARY_RSQRT:
      for (int64_t i = 0; i < n; i++) Out[i] = 1.0f / sqrtf(X[i]);
      break;
    default:
      return fail(&a, "optlab_native: unknown unary op"), NULL;
  }
  return undefined(env);
}

/*
 * copyRows(heap, srcOff, srcStride, dstOff, dstStride, rows, len): row r of `len` floats from
 * src + r*srcStride to dst + r*dstStride (strides in elements). SplitV, Concat and Slice are this.
 */
static napi_value CopyRows(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 7, 1)) return NULL;
  int64_t src_off = arg_int(&a, 1), src_stride = arg_int(&a, 2), dst_off = arg_int(&a, 3);
  int64_t dst_stride = arg_int(&a, 4), rows = arg_int(&a, 5), len = arg_int(&a, 6);
  if (a.failed) return NULL;
  if (rows < 0 || len < 0 || src_stride < len || dst_stride < len) return fail(&a, "optlab_native: copyRows: bad arguments"), NULL;
  if (rows == 0 || len == 0) return undefined(env);
  const float *S = heap_f32(&a, src_off, (rows - 1) * src_stride + len);
  float *D = heap_f32(&a, dst_off, (rows - 1) * dst_stride + len);
  if (a.failed) return NULL;
  for (int64_t r = 0; r < rows; r++) memcpy(D + r * dst_stride, S + r * src_stride, (size_t)len * sizeof(float));
  return undefined(env);
}

#define MAX_RANK 8

/*
 * transpose(heap, xOff, outOff, shape, perm): out = x permuted, shape and perm JS arrays of equal
 * length <= 8 (the caller merges axes that stay adjacent). The last output axis is the inner loop;
 * a 2-D transpose goes in 32x32 tiles so both sides stay in cache.
 */
static napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 5, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), out_off = arg_int(&a, 2);
  if (a.failed) return NULL;
  uint32_t rank = 0, rank2 = 0;
  if (napi_get_array_length(env, a.argv[3], &rank) != napi_ok || napi_get_array_length(env, a.argv[4], &rank2) != napi_ok ||
      rank != rank2 || rank < 1 || rank > MAX_RANK)
    return fail(&a, "optlab_native: transpose: shape and perm must be arrays of equal length 1..8"), NULL;
  int64_t shape[MAX_RANK], perm[MAX_RANK], stride[MAX_RANK], oshape[MAX_RANK], ostride_in[MAX_RANK];
  int64_t n = 1;
  for (uint32_t d = 0; d < rank; d++) {
    napi_value v;
    if (napi_get_element(env, a.argv[3], d, &v) != napi_ok || napi_get_value_int64(env, v, &shape[d]) != napi_ok ||
        napi_get_element(env, a.argv[4], d, &v) != napi_ok || napi_get_value_int64(env, v, &perm[d]) != napi_ok)
      return fail(&a, "optlab_native: transpose: bad shape or perm"), NULL;
    if (shape[d] < 0 || perm[d] < 0 || perm[d] >= rank) return fail(&a, "optlab_native: transpose: bad shape or perm"), NULL;
    n *= shape[d];
  }
  int seen[MAX_RANK] = {0};
  for (uint32_t d = 0; d < rank; d++) {
    if (seen[perm[d]]) return fail(&a, "optlab_native: transpose: perm is not a permutation"), NULL;
    seen[perm[d]] = 1;
  }
  const float *X = heap_f32(&a, x_off, n);
  float *Out = heap_f32(&a, out_off, n);
  if (a.failed) return NULL;
  if (n == 0) return undefined(env);
  stride[rank - 1] = 1;
  for (int d = (int)rank - 2; d >= 0; d--) stride[d] = stride[d + 1] * shape[d + 1];
  for (uint32_t d = 0; d < rank; d++) {
    oshape[d] = shape[perm[d]];
    ostride_in[d] = stride[perm[d]];
  }
  if (rank == 2 && perm[0] == 1) {
    const int64_t R = shape[0], C = shape[1], T = 32;
    for (int64_t r0 = 0; r0 < R; r0 += T)
      for (int64_t c0 = 0; c0 < C; c0 += T) {
        int64_t r1 = r0 + T < R ? r0 + T : R, c1 = c0 + T < C ? c0 + T : C;
        for (int64_t c = c0; c < c1; c++)
          for (int64_t r = r0; r < r1; r++) Out[c * R + r] = X[r * C + c];
      }
    return undefined(env);
  }
  int64_t idx[MAX_RANK] = {0};
  const int64_t inner = oshape[rank - 1], inner_stride = ostride_in[rank - 1];
  float *out = Out;
  for (int64_t done = 0; done < n; done += inner) {
    int64_t base = 0;
    for (uint32_t d = 0; d + 1 < rank; d++) base += idx[d] * ostride_in[d];
    const float *x = X + base;
    if (inner_stride == 1) memcpy(out, x, (size_t)inner * sizeof(float));
    else
      for (int64_t j = 0; j < inner; j++) out[j] = x[j * inner_stride];
    out += inner;
    for (int d = (int)rank - 2; d >= 0; d--) {
      if (++idx[d] < oshape[d]) break;
      idx[d] = 0;
    }
  }
  return undefined(env);
}

enum { BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3 };
enum { MODE_FULL = 0, MODE_ROW = 1, MODE_COL = 2, MODE_SCALAR = 3 };

static int64_t mode_count(int64_t mode, int64_t outer, int64_t inner) {
  switch (mode) {
    case MODE_FULL: return outer * inner;
    case MODE_ROW: return inner;
    case MODE_COL: return outer;
    default: return 1;
  }
}

#define BINARY_LOOP(EXPR)                                                             \
  for (int64_t o = 0; o < outer; o++) {                                               \
    const float *ar = A + (am == MODE_FULL ? o * inner : am == MODE_COL ? o : 0);     \
    const float *br = B + (bm == MODE_FULL ? o * inner : bm == MODE_COL ? o : 0);     \
    float *out = Out + o * inner;                                                     \
    int as = (am == MODE_FULL || am == MODE_ROW), bs = (bm == MODE_FULL || bm == MODE_ROW); \
    if (as && bs) {                                                                   \
      for (int64_t j = 0; j < inner; j++) { float x = ar[j], y = br[j]; out[j] = (EXPR); } \
    } else if (as) {                                                                  \
      float y = br[0];                                                                \
      for (int64_t j = 0; j < inner; j++) { float x = ar[j]; out[j] = (EXPR); }       \
    } else if (bs) {                                                                  \
      float x = ar[0];                                                                \
      for (int64_t j = 0; j < inner; j++) { float y = br[j]; out[j] = (EXPR); }       \
    } else {                                                                          \
      float x = ar[0], y = br[0], v = (EXPR);                                         \
      for (int64_t j = 0; j < inner; j++) out[j] = v;                                 \
    }                                                                                 \
  }

/*
 * binary(heap, op, aOff, aMode, bOff, bMode, outOff, outer, inner): out[o, j] = A(o, j) op B(o, j)
 * where an operand in MODE_FULL is indexed [o, j], MODE_ROW [j], MODE_COL [o], MODE_SCALAR [0]:
 * every broadcast that splits the output shape into an outer and an inner block.
 */
static napi_value Binary(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 9, 1)) return NULL;
  int64_t op = arg_int(&a, 1), a_off = arg_int(&a, 2), am = arg_int(&a, 3), b_off = arg_int(&a, 4);
  int64_t bm = arg_int(&a, 5), out_off = arg_int(&a, 6), outer = arg_int(&a, 7), inner = arg_int(&a, 8);
  if (a.failed) return NULL;
  if (outer < 0 || inner < 0 || am < 0 || am > 3 || bm < 0 || bm > 3)
    return fail(&a, "optlab_native: binary: bad arguments"), NULL;
  const float *A = heap_f32(&a, a_off, mode_count(am, outer, inner));
  const float *B = heap_f32(&a, b_off, mode_count(bm, outer, inner));
  float *Out = heap_f32(&a, out_off, outer * inner);
  if (a.failed) return NULL;
  switch (op) {
    case BIN_ADD: BINARY_LOOP(x + y); break;
    case BIN_SUB: BINARY_LOOP(x - y); break;
    case BIN_MUL: BINARY_LOOP(x * y); break;
    case BIN_DIV: BINARY_LOOP(x / y); break;
    default: return fail(&a, "optlab_native: unknown binary op"), NULL;
  }
  return undefined(env);
}

/* out[dim...] = x tiled: copy x's rows into place, then replicate each block reps[dim] - 1 times. */
static void tile_fill(const uint8_t *x, uint8_t *out, const int64_t *shape, const int64_t *reps, int rank, int dim, size_t es) {
  int64_t in_block = 1, out_block = 1;
  for (int d = dim + 1; d < rank; d++) {
    in_block *= shape[d];
    out_block *= shape[d] * reps[d];
  }
  if (dim == rank - 1) {
    for (int64_t i = 0; i < shape[dim]; i++) memcpy(out + (size_t)i * es, x + (size_t)i * es, es);
  } else {
    for (int64_t i = 0; i < shape[dim]; i++)
      tile_fill(x + (size_t)(i * in_block) * es, out + (size_t)(i * out_block) * es, shape, reps, rank, dim + 1, es);
  }
  size_t span = (size_t)(shape[dim] * out_block) * es;
  for (int64_t k = 1; k < reps[dim]; k++) memcpy(out + (size_t)k * span, out, span);
}

/* tile(heap, xOff, outOff, shape, reps, elementBytes): tfjs Tile for 1- and 4-byte dtypes, rank <= 8. */
static napi_value Tile(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 6, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), out_off = arg_int(&a, 2), es = arg_int(&a, 5);
  if (a.failed) return NULL;
  uint32_t rank = 0, rank2 = 0;
  if (napi_get_array_length(env, a.argv[3], &rank) != napi_ok || napi_get_array_length(env, a.argv[4], &rank2) != napi_ok ||
      rank != rank2 || rank < 1 || rank > MAX_RANK || (es != 1 && es != 4))
    return fail(&a, "optlab_native: tile: bad shape, reps or element size"), NULL;
  int64_t shape[MAX_RANK], reps[MAX_RANK], n_in = 1, n_out = 1;
  for (uint32_t d = 0; d < rank; d++) {
    napi_value v;
    if (napi_get_element(env, a.argv[3], d, &v) != napi_ok || napi_get_value_int64(env, v, &shape[d]) != napi_ok ||
        napi_get_element(env, a.argv[4], d, &v) != napi_ok || napi_get_value_int64(env, v, &reps[d]) != napi_ok ||
        shape[d] < 0 || reps[d] < 0)
      return fail(&a, "optlab_native: tile: bad shape or reps"), NULL;
    n_in *= shape[d];
    n_out *= shape[d] * reps[d];
  }
  if (x_off < 0 || out_off < 0 || (uint64_t)x_off + (uint64_t)(n_in * es) > a.heap_len || (uint64_t)out_off + (uint64_t)(n_out * es) > a.heap_len)
    return fail(&a, "optlab_native: tile: tensor extends past the end of the wasm heap"), NULL;
  if (n_out > 0) tile_fill(a.heap + x_off, a.heap + out_off, shape, reps, (int)rank, 0, (size_t)es);
  return undefined(env);
}

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

/* gelu(heap, xOff, yOff, n): y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's form. */
static napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 4, 1)) return NULL;
  int64_t x_off = arg_int(&a, 1), y_off = arg_int(&a, 2), n = arg_int(&a, 3);
  if (a.failed) return NULL;
  const float *X = heap_f32(&a, x_off, n);
  float *Y = heap_f32(&a, y_off, n);
  if (a.failed) return NULL;
  gelu_loop(X, Y, n);
  return undefined(env);
}

/* geluGrad(heap, dyOff, xOff, dxOff, n): dx = dy (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)). */
static napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 5, 1)) return NULL;
  int64_t dy_off = arg_int(&a, 1), x_off = arg_int(&a, 2), dx_off = arg_int(&a, 3), n = arg_int(&a, 4);
  if (a.failed) return NULL;
  const float *DY = heap_f32(&a, dy_off, n);
  const float *X = heap_f32(&a, x_off, n);
  float *DX = heap_f32(&a, dx_off, n);
  if (a.failed) return NULL;
  gelu_grad_loop(DY, X, DX, n);
  return undefined(env);
}

/*
 * layerNorm(heap, xOff, gOff, bOff, yOff, meanOff, rstdOff, rows, cols, eps): per row of x [rows, cols],
 * y = (x - mean) * rstd * g + b with rstd = 1 / sqrt(var + eps) (biased variance, as torch); gOff or
 * bOff -1 for none. Statistics in double, two passes; mean and rstd are kept for the gradient.
 */
static napi_value LayerNorm(napi_env env, napi_callback_info info) {
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
  for (int64_t r = 0; r < rows; r++) {
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
static napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
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

/*
 * adam(heap, gOff, mOff, vOff, mOutOff, vOutOff, uOff, n, b1, 1-b1, b2, 1-b2, eps, sqrt(bc2), bc1,
 * corrected): one pass of optimizers/adamw.ts scaleByAdam, every constant rounded to float32 and
 * every operation in the order of its tfjs ops, so the result is the plain wasm one bit for bit:
 *   m' = m b1 + g (1-b1);  v' = v b2 + g^2 (1-b2)
 *   corrected:   u = (m' / (sqrt(v') / sqrt(bc2) + eps)) / bc1
 *   uncorrected: u = (m' / (sqrt(v') + eps)) * s, the caller passing s = sqrt(bc2) / bc1 as bc1
 * Unlike the other kernels this one keeps denormals: the moments of a rarely used weight decay
 * through them, and bit-for-bit equality with plain wasm matters more than speed there.
 */
static napi_value Adam(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 16, 1)) return NULL;
  int64_t g_off = arg_int(&a, 1), m_off = arg_int(&a, 2), v_off = arg_int(&a, 3), mo_off = arg_int(&a, 4);
  int64_t vo_off = arg_int(&a, 5), u_off = arg_int(&a, 6), n = arg_int(&a, 7), corrected = arg_int(&a, 15);
  double c[7];
  for (int i = 0; i < 7; i++)
    if (!a.failed && napi_get_value_double(env, a.argv[8 + i], &c[i]) != napi_ok) fail(&a, "optlab_native: adam: constants must be numbers");
  if (a.failed) return NULL;
  const float *G = heap_f32(&a, g_off, n), *M = heap_f32(&a, m_off, n), *Vv = heap_f32(&a, v_off, n);
  float *MO = heap_f32(&a, mo_off, n), *VO = heap_f32(&a, vo_off, n), *U = heap_f32(&a, u_off, n);
  if (a.failed) return NULL;
  const float b1 = (float)c[0], omb1 = (float)c[1], b2 = (float)c[2], omb2 = (float)c[3], eps = (float)c[4];
  const float sbc2 = (float)c[5], bc1 = (float)c[6];
  if (corrected) {
    for (int64_t i = 0; i < n; i++) {
      float g = G[i];
      float m = M[i] * b1 + g * omb1;
      float v = Vv[i] * b2 + (g * g) * omb2;
      MO[i] = m;
      VO[i] = v;
      U[i] = (m / (sqrtf(v) / sbc2 + eps)) / bc1;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      float g = G[i];
      float m = M[i] * b1 + g * omb1;
      float v = Vv[i] * b2 + (g * g) * omb2;
      MO[i] = m;
      VO[i] = v;
      U[i] = (m / (sqrtf(v) + eps)) * bc1;
    }
  }
  return undefined(env);
}

/*
 * AuON (optimizers/auon.ts, spec section 8) in three passes over the tensor. Stage bit 1, momentum:
 *   m' = m + (g - m) * omm                                  (torch.lerp(m, g, 1 - mu), omm = 1 - mu)
 *   u  = high ? m' - (m' - g) * w : g + (m' - g) * w        (torch.lerp(g, m', mu), w as auon.ts passes it)
 * elementwise in float32 in the order of the tfjs ops, so m' and u are plain wasm's bit for bit
 * (denormals kept, as in Adam). Stage bit 2, brake, on u (from stage 1, else the input itself):
 *   d = sqrt(sum u^2) + 1e-7;  s = 2 gamma / d;  r = sqrt((mean(cosh(u s)) + 1) / 2)
 *   code:  out = u / (r + 1e-8);   paper: out = u * ((factor / (r + 1e-8)) / d)
 * (cosh^2(x) = (cosh(2x) + 1) / 2). Sums run in double over 16 fixed lanes, so they do not depend on
 * the clone picked at load time; cosh is (e + 1/e) / 2 with the Cephes expf of tanh16, a block with an
 * argument past 80 (or NaN) uses libm's coshf instead. Both differ from plain wasm in the last bits
 * only, and only through the scalars d and r.
 */
typedef double v16d __attribute__((vector_size(128)));

static inline double lanes_sum(v16d a) {
  double s8[8], s4[4];
  for (int k = 0; k < 8; k++) s8[k] = a[k] + a[k + 8];
  for (int k = 0; k < 4; k++) s4[k] = s8[k] + s8[k + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* Stage 1: m' and u into MO and U; returns sum of (float) u^2 in double. */
MULTIVERSION static double auon_momentum(const float *G, const float *M, float *MO, float *U, int64_t n, float omm, float w, int high) {
  v16d acc = {0};
  FOR_EACH_16(n, {
    v16f g = load16(G + i0, cnt);
    v16f m = load16(M + i0, cnt);
    v16f mn = m + (g - m) * V16(omm);
    v16f u = high ? mn - (mn - g) * V16(w) : g + (mn - g) * V16(w);
    store16(MO + i0, mn, cnt);
    store16(U + i0, u, cnt);
    acc += __builtin_convertvector(u * u, v16d); /* zero padding adds 0 */
  });
  return lanes_sum(acc);
}

MULTIVERSION static double auon_sumsq(const float *U, int64_t n) {
  v16d acc = {0};
  FOR_EACH_16(n, {
    v16f u = load16(U + i0, cnt);
    acc += __builtin_convertvector(u * u, v16d);
  });
  return lanes_sum(acc);
}

/* Sum of cosh(u s) in double. */
MULTIVERSION static double auon_cosh_sum(const float *U, int64_t n, float s) {
  static const v16i lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  v16d acc = {0};
  FOR_EACH_16(n, {
    v16f y = load16(U + i0, cnt) * V16(s);
    v16f ay = (v16f)((v16i)y & 0x7fffffff);
    v16i ok = ay < V16(80.0f);
    int all_ok = 1;
    for (int k = 0; k < 16; k++) all_ok &= ok[k] != 0;
    v16f c;
    if (all_ok) {
      v16f e = exp16_small(ay);
      c = V16(0.5f) * (e + V16(1.0f) / e);
    } else {
      for (int k = 0; k < 16; k++) c[k] = coshf(y[k]);
    }
    c = select16(lane < (int32_t)cnt, c, V16(0.0f)); /* the tail's zero padding would add cosh(0) = 1 */
    acc += __builtin_convertvector(c, v16d);
  });
  return lanes_sum(acc);
}

MULTIVERSION static void auon_scale_div(const float *U, float *OUT, int64_t n, float den) {
  for (int64_t i = 0; i < n; i++) OUT[i] = U[i] / den;
}

MULTIVERSION static void auon_scale_mul(const float *U, float *OUT, int64_t n, float t) {
  for (int64_t i = 0; i < n; i++) OUT[i] = U[i] * t;
}

/*
 * auon(heap, gOff, mOff, mOutOff, outOff, n, stage, omm, w, high, gamma, paper, factor): stage 1
 * reads g (gradient) and m, writes m' at mOutOff and u at outOff; stage 2 reads u from gOff and
 * writes the scaled direction at outOff; stage 3 does both, u living in the output until pass 3
 * overwrites it. mOff and mOutOff are ignored without stage 1. Paper mode uses gamma 1.
 */
static napi_value Auon(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 13, 1)) return NULL;
  int64_t g_off = arg_int(&a, 1), m_off = arg_int(&a, 2), mo_off = arg_int(&a, 3), out_off = arg_int(&a, 4);
  int64_t n = arg_int(&a, 5), stage = arg_int(&a, 6), high = arg_int(&a, 9), paper = arg_int(&a, 11);
  double c[4];
  const int at[4] = {7, 8, 10, 12};
  for (int i = 0; i < 4; i++)
    if (!a.failed && napi_get_value_double(env, a.argv[at[i]], &c[i]) != napi_ok) fail(&a, "optlab_native: auon: constants must be numbers");
  if (a.failed) return NULL;
  if (stage < 1 || stage > 3 || n < 0) return fail(&a, "optlab_native: auon: bad stage or size"), NULL;
  const float *G = heap_f32(&a, g_off, n);
  float *OUT = heap_f32(&a, out_off, n);
  const float *M = (stage & 1) ? heap_f32(&a, m_off, n) : NULL;
  float *MO = (stage & 1) ? heap_f32(&a, mo_off, n) : NULL;
  if (a.failed) return NULL;
  if (n == 0) return undefined(env);
  const float omm = (float)c[0], w = (float)c[1], factor = (float)c[3];
  const float gamma2 = (float)(2.0 * (paper ? 1.0 : c[2]));
  double ss;
  const float *src = G;
  if (stage & 1) {
    ss = auon_momentum(G, M, MO, OUT, n, omm, w, high != 0);
    src = OUT;
  }
  if (!(stage & 2)) return undefined(env);
  if (!(stage & 1)) ss = auon_sumsq(G, n);
  /* The tfjs ops' order: Sum and Mean round to float32, then scalar float32 arithmetic. */
  const float d = sqrtf((float)ss) + 1e-7f;
  const float s = gamma2 / d;
  const float mean = (float)(auon_cosh_sum(src, n, s) * (1.0 / (double)n));
  const float r = sqrtf((mean + 1.0f) * 0.5f);
  if (paper)
    auon_scale_mul(src, OUT, n, (factor / (r + 1e-8f)) / d);
  else
    auon_scale_div(src, OUT, n, r + 1e-8f);
  return undefined(env);
}

/*
 * Every kernel runs with denormals flushed to zero (FTZ and DAZ in MXCSR), restored on return so
 * JavaScript keeps IEEE semantics: TensorFlow's CPU kernels do the same (ScopedFlushDenormal).
 * Denormal operands make x86 arithmetic 10-100x slower; a Newton iteration converging to the
 * identity (Shampoo's inverse roots) fills its off-diagonals with them.
 */
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
static inline unsigned ftz_enter(void) {
  unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u);
  return csr;
}
static inline void ftz_leave(unsigned csr) { _mm_setcsr(csr); }
#else
static inline unsigned ftz_enter(void) { return 0; }
static inline void ftz_leave(unsigned csr) { (void)csr; }
#endif

#define FTZ(name)                                                              \
  static napi_value name##Ftz(napi_env env, napi_callback_info info) {         \
    unsigned csr = ftz_enter();                                                \
    napi_value r = name(env, info);                                            \
    ftz_leave(csr);                                                            \
    return r;                                                                  \
  }
FTZ(Gemm)
FTZ(BiasAct)
FTZ(Sum)
FTZ(Unary)
FTZ(Binary)
FTZ(Gelu)
FTZ(GeluGrad)
FTZ(LayerNorm)
FTZ(LayerNormGrad)

/* setThreads(n): OpenBLAS threads for later calls. */
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 1, 0)) return NULL;
  int64_t n = arg_int(&a, 0);
  if (a.failed) return NULL;
  if (n < 1 || n > 1024) return fail(&a, "optlab_native: thread count must be in 1..1024"), NULL;
  openblas_set_num_threads((int)n);
  return undefined(env);
}

/* Worker threads OpenBLAS starts inside this call inherit the caller's MXCSR, so they flush denormals too. */
FTZ(SetThreads)

static napi_value GetThreads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &v));
  return v;
}

static napi_value BlasConfig(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  const char *cfg = openblas_get_config();
  CHECK(napi_create_string_utf8(env, cfg ? cfg : "OpenBLAS", NAPI_AUTO_LENGTH, &v));
  return v;
}

/* native/lapack.c */
napi_value LapackEigh(napi_env env, napi_callback_info info);
napi_value LapackInverseRoot(napi_env env, napi_callback_info info);

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemm", NULL, GemmFtz, NULL, NULL, NULL, napi_default, NULL},
      {"biasAct", NULL, BiasActFtz, NULL, NULL, NULL, napi_default, NULL},
      {"sum", NULL, SumFtz, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, UnaryFtz, NULL, NULL, NULL, napi_default, NULL},
      {"binary", NULL, BinaryFtz, NULL, NULL, NULL, napi_default, NULL},
      {"copyRows", NULL, CopyRows, NULL, NULL, NULL, napi_default, NULL},
      {"transpose", NULL, Transpose, NULL, NULL, NULL, napi_default, NULL},
      {"tile", NULL, Tile, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, Adam, NULL, NULL, NULL, napi_default, NULL},
      {"auon", NULL, Auon, NULL, NULL, NULL, napi_default, NULL},
      {"gelu", NULL, GeluFtz, NULL, NULL, NULL, napi_default, NULL},
      {"geluGrad", NULL, GeluGradFtz, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, LayerNormFtz, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, LayerNormGradFtz, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, SetThreadsFtz, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, GetThreads, NULL, NULL, NULL, napi_default, NULL},
      {"blasConfig", NULL, BlasConfig, NULL, NULL, NULL, napi_default, NULL},
      {"eigh", NULL, LapackEigh, NULL, NULL, NULL, napi_default, NULL},
      {"inverseRoot", NULL, LapackInverseRoot, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
