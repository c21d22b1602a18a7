/*
 * Optimizer kernels: one pass of Adam (optimizers/adamw.ts adamStep) and AuON's momentum, brake and
 * scaling (optimizers/auon.ts COMPOSED_AUON), run as OptlabAdam and OptlabAuon by kernels/fused.ts.
 * The formulas live in those method files; these loops reproduce their float32 operations.
 */
#include <math.h>
#include "optlab_native.h"
#include "simd.h"

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
napi_value optlab_adam(napi_env env, napi_callback_info info) {
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
 * AuON (optimizers/auon.ts COMPOSED_AUON, docs/optimizers/auon.md) in three passes over the tensor. Stage bit 1, momentum:
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
napi_value optlab_auon(napi_env env, napi_callback_info info) {
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

MULTIVERSION static double sum_squares(const float *X, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)X[i] * X[i];
    s1 += (double)X[i + 1] * X[i + 1];
    s2 += (double)X[i + 2] * X[i + 2];
    s3 += (double)X[i + 3] * X[i + 3];
  }
  for (; i < n; i++) s0 += (double)X[i] * X[i];
  return (s0 + s2) + (s1 + s3);
}

/*
 * globalNorm(heap, offsets, sizes, outOff): out[0] = sqrt(sum over the tensors of sum x^2), accumulated
 * and square-rooted in double from the float32 values, rounded once (optimizers/core.ts globalNorm:
 * every gradient in one call, where the tfjs ops take a Square and a Sum per tensor, an AddN and a
 * Sqrt; a norm whose square overflows float32, entries near 1e20, stays finite here).
 */
napi_value optlab_global_norm(napi_env env, napi_callback_info info) {
  Args a;
  if (!read_args(env, info, &a, 4, 1)) return NULL;
  uint32_t n_off = 0, n_size = 0;
  if (napi_get_array_length(env, a.argv[1], &n_off) != napi_ok || napi_get_array_length(env, a.argv[2], &n_size) != napi_ok || n_off != n_size)
    return fail(&a, "optlab_native: globalNorm: offsets and sizes must be arrays of one length"), NULL;
  int64_t out_off = arg_int(&a, 3);
  float *OUT = heap_f32(&a, out_off, 1);
  double total = 0;
  for (uint32_t t = 0; t < n_off && !a.failed; t++) {
    napi_value e;
    int64_t off = 0, size = 0;
    if (napi_get_element(env, a.argv[1], t, &e) != napi_ok || napi_get_value_int64(env, e, &off) != napi_ok ||
        napi_get_element(env, a.argv[2], t, &e) != napi_ok || napi_get_value_int64(env, e, &size) != napi_ok) {
      fail(&a, "optlab_native: globalNorm: offsets and sizes must be numbers");
      break;
    }
    const float *X = heap_f32(&a, off, size);
    if (a.failed) break;
    total += sum_squares(X, size);
  }
  if (a.failed) return NULL;
  OUT[0] = (float)sqrt(total);
  return undefined(env);
}
