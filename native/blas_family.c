/*
 * OpenBLAS kernel sets ("core types"): which one runs, switching to another inside the process, and
 * checking one against a double-precision reference on given product shapes (kernels/blas_family.ts
 * decides which set to run and records it).
 *
 * A DYNAMIC_ARCH OpenBLAS (Debian's) carries the kernels of every x86-64 core type and picks one when
 * it loads, from OPENBLAS_CORETYPE or its own CPU detection. `gotoblas_dynamic_quit` and
 * `gotoblas_dynamic_init` (exported by such builds; declared weak here, so the addon still loads with
 * a single-target OpenBLAS, where switching is then unavailable) repeat that choice: init reads
 * OPENBLAS_CORETYPE again and runs the new set's parameter set-up. OpenBLAS 0.3.21 does not check that
 * the CPU supports the set it is asked for (an AVX-512 set on an AVX2 CPU dies of SIGILL) and maps an
 * unknown name to its own detection, so the caller checks the CPU's flags first and compares the name
 * it got back. Switching is done before any kernel runs (nothing else calls OpenBLAS meanwhile).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "optlab_native.h"

extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  if (napi_create_string_utf8(env, s ? s : "", NAPI_AUTO_LENGTH, &v) != napi_ok) return NULL;
  return v;
}

static const char *corename(void) { return openblas_get_corename ? openblas_get_corename() : ""; }

/* Re-runs OpenBLAS's core choice with OPENBLAS_CORETYPE=name, then restores the variable as it was. */
static int switch_core(const char *name) {
  if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return 0;
  const char *prev = getenv("OPENBLAS_CORETYPE");
  char *saved = prev ? strdup(prev) : NULL;
  setenv("OPENBLAS_CORETYPE", name, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (saved) {
    setenv("OPENBLAS_CORETYPE", saved, 1);
    free(saved);
  } else {
    unsetenv("OPENBLAS_CORETYPE");
  }
  return 1;
}

/* blasCore(): the kernel set running now ('SkylakeX'), '' when the BLAS does not say. */
napi_value optlab_blas_core(napi_env env, napi_callback_info info) {
  (void)info;
  return str(env, corename());
}

/* blasSetCore(name): switches to that kernel set; returns the set running afterwards, or null when
   this OpenBLAS cannot switch (not a DYNAMIC_ARCH build). */
napi_value optlab_blas_set_core(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[64];
  size_t len = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0) {
    napi_throw_error(env, NULL, "optlab_native: blasSetCore: expected a kernel set name");
    return NULL;
  }
  if (!switch_core(name)) {
    napi_value nul;
    CHECK(napi_get_null(env, &nul));
    return nul;
  }
  return str(env, corename());
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
  int m, n, k, ta, tb;
  float *a, *b, *c;
  double *ref, *bound;
} Case;

/* Deterministic values in [-1, 1) from a 32-bit LCG. */
static void fill(float *x, int64_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 12345u;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((double)(s >> 8) / 8388608.0 - 1.0);
  }
}

/* The exact product in double and the worst-case float32 rounding bound of any summation order,
   gamma_k sum_l |a_il| |b_lj| with gamma_k = k u / (1 - k u), u = 2^-24 (Higham, Accuracy and
   Stability of Numerical Algorithms, 2nd ed., section 3.5): a correct kernel stays within it, a wrong
   one (another product, garbage, NaN) does not. */
static void reference(Case *c) {
  const double u = 1.0 / 16777216.0, gamma = c->k * u / (1.0 - c->k * u);
  for (int i = 0; i < c->m; i++)
    for (int j = 0; j < c->n; j++) {
      double s = 0, abs = 0;
      for (int l = 0; l < c->k; l++) {
        double x = c->ta ? c->a[(int64_t)l * c->m + i] : c->a[(int64_t)i * c->k + l];
        double y = c->tb ? c->b[(int64_t)j * c->k + l] : c->b[(int64_t)l * c->n + j];
        s += x * y;
        abs += fabs(x * y);
      }
      c->ref[(int64_t)i * c->n + j] = s;
      c->bound[(int64_t)i * c->n + j] = gamma * abs;
    }
}

static void run_case(const Case *c) {
  cblas_sgemm(101, c->ta ? 112 : 111, c->tb ? 112 : 111, c->m, c->n, c->k, 1.0f, c->a, c->ta ? c->m : c->k, c->b,
              c->tb ? c->k : c->n, 0.0f, c->c, c->n);
}

/* Largest |c - ref| / bound over the case (1 is the bound; NaN or infinity gives infinity). */
static double worst(const Case *c) {
  double w = 0;
  for (int64_t i = 0; i < (int64_t)c->m * c->n; i++) {
    double e = fabs((double)c->c[i] - c->ref[i]);
    double r = c->bound[i] > 0 ? e / c->bound[i] : (e > 0 ? INFINITY : 0);
    if (!(r <= w)) w = isnan(r) ? INFINITY : r;
  }
  return w;
}

/*
 * blasVerify(shapes, names, reps): shapes is a flat array of (m, n, k, transA, transB) products. For
 * each kernel set in names (an empty name: the one running now), switches to it, runs every product
 * once and compares it with the reference, then times `reps` more runs of all of them. Returns one
 * [set running, worst error / bound, seconds of the timed runs] per name, and switches back to the set
 * that ran before. A name OpenBLAS cannot switch to comes back with the set that ran instead.
 */
napi_value optlab_blas_verify(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n_shape = 0, n_names = 0;
  int32_t reps = 0;
  if (argc < 3 || napi_get_array_length(env, argv[0], &n_shape) != napi_ok || n_shape % 5 != 0 ||
      napi_get_array_length(env, argv[1], &n_names) != napi_ok || napi_get_value_int32(env, argv[2], &reps) != napi_ok || reps < 0) {
    napi_throw_error(env, NULL, "optlab_native: blasVerify(shapes, names, reps): bad arguments");
    return NULL;
  }
  int n_cases = (int)(n_shape / 5);
  Case *cases = calloc((size_t)n_cases + 1, sizeof(Case));
  int ok = cases != NULL;
  for (int i = 0; ok && i < n_cases; i++) {
    int32_t v[5];
    for (int j = 0; j < 5; j++) {
      napi_value e;
      if (napi_get_element(env, argv[0], (uint32_t)(5 * i + j), &e) != napi_ok || napi_get_value_int32(env, e, &v[j]) != napi_ok) ok = 0;
    }
    if (!ok || v[0] < 1 || v[1] < 1 || v[2] < 1 || v[0] > 4096 || v[1] > 4096 || v[2] > 4096) {
      ok = 0;
      break;
    }
    Case *c = &cases[i];
    c->m = v[0], c->n = v[1], c->k = v[2], c->ta = v[3] != 0, c->tb = v[4] != 0;
    c->a = malloc(sizeof(float) * (size_t)c->m * c->k);
    c->b = malloc(sizeof(float) * (size_t)c->k * c->n);
    c->c = malloc(sizeof(float) * (size_t)c->m * c->n);
    c->ref = malloc(sizeof(double) * (size_t)c->m * c->n);
    c->bound = malloc(sizeof(double) * (size_t)c->m * c->n);
    if (!c->a || !c->b || !c->c || !c->ref || !c->bound) {
      ok = 0;
      break;
    }
    fill(c->a, (int64_t)c->m * c->k, 2 * i + 1);
    fill(c->b, (int64_t)c->k * c->n, 2 * i + 2);
    reference(c);
  }
  napi_value out = NULL;
  if (!ok) {
    napi_throw_error(env, NULL, "optlab_native: blasVerify: bad shape (m, n, k in 1..4096) or out of memory");
  } else if (napi_create_array_with_length(env, n_names, &out) == napi_ok) {
    char before[64];
    strncpy(before, corename(), sizeof before - 1);
    before[sizeof before - 1] = 0;
    for (uint32_t f = 0; f < n_names && out; f++) {
      char name[64] = "";
      size_t len = 0;
      napi_value e, row, x;
      if (napi_get_element(env, argv[1], f, &e) != napi_ok || napi_get_value_string_utf8(env, e, name, sizeof name, &len) != napi_ok) {
        napi_throw_error(env, NULL, "optlab_native: blasVerify: names must be strings");
        out = NULL;
        break;
      }
      if (len > 0) switch_core(name);
      double w = 0;
      for (int i = 0; i < n_cases; i++) {
        run_case(&cases[i]);
        double wi = worst(&cases[i]);
        if (!(wi <= w)) w = wi;
      }
      double t0 = seconds();
      for (int r = 0; r < reps; r++)
        for (int i = 0; i < n_cases; i++) run_case(&cases[i]);
      double t = seconds() - t0;
      napi_create_array_with_length(env, 3, &row);
      napi_set_element(env, row, 0, str(env, corename()));
      napi_create_double(env, w, &x);
      napi_set_element(env, row, 1, x);
      napi_create_double(env, t, &x);
      napi_set_element(env, row, 2, x);
      napi_set_element(env, out, f, row);
    }
    if (strcasecmp(before, corename()) != 0 && before[0]) switch_core(before);
  }
  for (int i = 0; cases && i < n_cases; i++) {
    free(cases[i].a), free(cases[i].b), free(cases[i].c), free(cases[i].ref), free(cases[i].bound);
  }
  free(cases);
  return out;
}
