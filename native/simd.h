/*
 * 16-float GCC vectors for the elementwise loops (elementwise.c, norms.c, optimizer.c): every
 * MULTIVERSION clone runs them 16 lanes at a time (one zmm, two ymm or four xmm registers), and every
 * element, tail included, goes through the same code, so a value does not depend on its position.
 */
#ifndef OPTLAB_SIMD_H
#define OPTLAB_SIMD_H

#include <stdint.h>
#include <string.h>

/*
 * tanh as Cephes' tanhf (about 2 ulp): an odd polynomial for |x| < 0.625, 1 - 2 / (exp(2|x|) + 1)
 * above, exp as Cephes' expf (range reduction by ln 2, degree-6 polynomial), with bit-mask selects:
 * libm's tanhf is 20x slower.
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

#endif
