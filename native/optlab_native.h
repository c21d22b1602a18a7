/*
 * Shared by optlab's native kernel files (addon.c lists them): argument reading and bounds checks for
 * kernels that work in place on the wasm heap, the multiversioning attribute, and every kernel's entry
 * point. JS passes the heap's current ArrayBuffer and byte offsets taken from the wasm backend's
 * dataIdMap (kernels/addon.ts), so no tensor is copied in or out. Offsets and sizes are checked
 * against the buffer's length before any access: a wrong offset throws a JS error instead of writing
 * outside the heap.
 *
 * Adding a kernel: write it in the file of its concern (or a new file listed in binding.gyp), declare
 * it below, and add its line to the table in addon.c.
 */
#ifndef OPTLAB_NATIVE_H
#define OPTLAB_NATIVE_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>

/* Elementwise loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time
   (GCC function multiversioning): the addon is built once per machine but node_modules may be copied. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(OPTLAB_NO_MULTIVERSION)
#define MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTIVERSION
#endif

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

static inline int fail(Args *a, const char *msg) {
  if (!a->failed) napi_throw_error(a->env, NULL, msg);
  a->failed = 1;
  return 0;
}

static inline int read_args(napi_env env, napi_callback_info info, Args *a, size_t want, int with_heap) {
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

static inline int64_t arg_int(Args *a, size_t i) {
  int64_t v = 0;
  if (a->failed) return 0;
  if (napi_get_value_int64(a->env, a->argv[i], &v) != napi_ok) fail(a, "optlab_native: expected a number argument");
  return v;
}

/* A float32 view of `count` elements at byte offset `off`, or NULL (with a JS error) if it leaves the heap. */
static inline float *heap_f32(Args *a, int64_t off, int64_t count) {
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

static inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* The kernels: each takes (heap, ...) as its comment in the defining file says. */
/* blas.c */
napi_value optlab_gemm(napi_env env, napi_callback_info info);
napi_value optlab_bias_act(napi_env env, napi_callback_info info);
napi_value optlab_set_threads(napi_env env, napi_callback_info info);
napi_value optlab_get_threads(napi_env env, napi_callback_info info);
napi_value optlab_blas_config(napi_env env, napi_callback_info info);
/* blas_family.c */
napi_value optlab_blas_core(napi_env env, napi_callback_info info);
napi_value optlab_blas_set_core(napi_env env, napi_callback_info info);
napi_value optlab_blas_verify(napi_env env, napi_callback_info info);
/* elementwise.c */
napi_value optlab_sum(napi_env env, napi_callback_info info);
napi_value optlab_unary(napi_env env, napi_callback_info info);
napi_value optlab_binary(napi_env env, napi_callback_info info);
napi_value optlab_copy_rows(napi_env env, napi_callback_info info);
napi_value optlab_transpose(napi_env env, napi_callback_info info);
napi_value optlab_tile(napi_env env, napi_callback_info info);
/* norms.c */
napi_value optlab_gelu(napi_env env, napi_callback_info info);
napi_value optlab_gelu_grad(napi_env env, napi_callback_info info);
napi_value optlab_layer_norm(napi_env env, napi_callback_info info);
napi_value optlab_layer_norm_grad(napi_env env, napi_callback_info info);
/* optimizer.c */
napi_value optlab_adam(napi_env env, napi_callback_info info);
napi_value optlab_auon(napi_env env, napi_callback_info info);
napi_value optlab_global_norm(napi_env env, napi_callback_info info);
/* lapack.c */
napi_value LapackEigh(napi_env env, napi_callback_info info);
napi_value LapackInverseRoot(napi_env env, napi_callback_info info);
napi_value LapackQR(napi_env env, napi_callback_info info);
/* stdio.c */
napi_value optlab_stderr_mute(napi_env env, napi_callback_info info);
napi_value optlab_stderr_restore(napi_env env, napi_callback_info info);
/* newton_schulz.c */
napi_value optlab_newton_schulz(napi_env env, napi_callback_info info);
/* attention.c */
napi_value optlab_attention(napi_env env, napi_callback_info info);
napi_value optlab_attention_grad(napi_env env, napi_callback_info info);

/* threads.c: fn(ctx, begin, end) runs items [begin, end); parallel_for splits [0, n) into at most one
   share per thread, each of at least min_per_share items, and returns when all are done. */
typedef void (*optlab_task_fn)(void *ctx, int64_t begin, int64_t end);
void optlab_parallel_for(int64_t n, int64_t min_per_share, optlab_task_fn fn, void *ctx);
int optlab_pool_set_threads(int n);
int optlab_pool_threads(void);
/* C_i = alpha op(A_i) op(B_i) + beta C_i for i < batch, row-major, A_i at a + i a_stride (likewise B, C),
   split over the pool's threads (OpenBLAS itself runs at one thread). */
void optlab_sgemm_batch(int64_t batch, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, int64_t a_stride,
                        const float *b, int ldb, int64_t b_stride, float beta, float *c, int ldc, int64_t c_stride);

#endif
