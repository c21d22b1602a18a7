/*
 * Elementwise and data-movement kernels: Sum/Mean over one contiguous block of axes, unary ops
 * (tanh on 16-float vectors), broadcast binary ops, row copies (SplitV, Concat), Transpose and Tile.
 */
#include <math.h>
#include <string.h>
#include "optlab_native.h"
#include "simd.h"

/*
 * sum(heap, xOff, outOff, outer, reduce, inner, scale): out[o, i] = scale * sum_r x[o, r, i], the
 * reduced axes being one contiguous block of x's shape (scale 1/reduce makes it Mean). Accumulates
 * in double so the result does not depend on how a long reduction is split.
 */
napi_value optlab_sum(napi_env env, napi_callback_info info) {
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

MULTIVERSION static void tanh_loop(const float *X, float *Out, int64_t n) {
  FOR_EACH_16(n, store16(Out + i0, tanh16(load16(X + i0, cnt)), cnt));
}

/* unary(heap, op, xOff, outOff, n) */
napi_value optlab_unary(napi_env env, napi_callback_info info) {
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
napi_value optlab_copy_rows(napi_env env, napi_callback_info info) {
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
napi_value optlab_transpose(napi_env env, napi_callback_info info) {
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
napi_value optlab_binary(napi_env env, napi_callback_info info) {
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
napi_value optlab_tile(napi_env env, napi_callback_info info) {
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
