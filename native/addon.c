/*
 * optlab's native addon for the tfjs wasm backend: the N-API module and its table of kernels
 * (kernels/addon.ts loads it, kernels/wasm_kernels.ts registers the kernels). The kernels live in
 * blas.c, blas_family.c, elementwise.c, norms.c, optimizer.c, attention.c, newton_schulz.c and threads.c, declared in optlab_native.h; adding one is a line
 * in the table below.
 */
#include "optlab_native.h"

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

/* Worker threads OpenBLAS starts inside setThreads inherit the caller's MXCSR, so they flush denormals too. */
FTZ(optlab_gemm)
FTZ(optlab_bias_act)
FTZ(optlab_sum)
FTZ(optlab_unary)
FTZ(optlab_binary)
FTZ(optlab_gelu)
FTZ(optlab_gelu_grad)
FTZ(optlab_layer_norm)
FTZ(optlab_layer_norm_grad)
FTZ(optlab_set_threads)
FTZ(optlab_attention)
FTZ(optlab_attention_grad)
FTZ(optlab_newton_schulz)

/* Adam and AuON keep denormals (optimizer.c says why); copies, transposes and tiles do no arithmetic. */
static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemm", NULL, optlab_gemmFtz, NULL, NULL, NULL, napi_default, NULL},
      {"biasAct", NULL, optlab_bias_actFtz, NULL, NULL, NULL, napi_default, NULL},
      {"sum", NULL, optlab_sumFtz, NULL, NULL, NULL, napi_default, NULL},
      {"unary", NULL, optlab_unaryFtz, NULL, NULL, NULL, napi_default, NULL},
      {"binary", NULL, optlab_binaryFtz, NULL, NULL, NULL, napi_default, NULL},
      {"copyRows", NULL, optlab_copy_rows, NULL, NULL, NULL, napi_default, NULL},
      {"transpose", NULL, optlab_transpose, NULL, NULL, NULL, napi_default, NULL},
      {"tile", NULL, optlab_tile, NULL, NULL, NULL, napi_default, NULL},
      {"adam", NULL, optlab_adam, NULL, NULL, NULL, napi_default, NULL},
      {"auon", NULL, optlab_auon, NULL, NULL, NULL, napi_default, NULL},
      {"globalNorm", NULL, optlab_global_norm, NULL, NULL, NULL, napi_default, NULL},
      {"gelu", NULL, optlab_geluFtz, NULL, NULL, NULL, napi_default, NULL},
      {"geluGrad", NULL, optlab_gelu_gradFtz, NULL, NULL, NULL, napi_default, NULL},
      {"layerNorm", NULL, optlab_layer_normFtz, NULL, NULL, NULL, napi_default, NULL},
      {"layerNormGrad", NULL, optlab_layer_norm_gradFtz, NULL, NULL, NULL, napi_default, NULL},
      {"attention", NULL, optlab_attentionFtz, NULL, NULL, NULL, napi_default, NULL},
      {"attentionGrad", NULL, optlab_attention_gradFtz, NULL, NULL, NULL, napi_default, NULL},
      {"newtonSchulz", NULL, optlab_newton_schulzFtz, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, optlab_set_threadsFtz, NULL, NULL, NULL, napi_default, NULL},
      {"getThreads", NULL, optlab_get_threads, NULL, NULL, NULL, napi_default, NULL},
      {"blasConfig", NULL, optlab_blas_config, NULL, NULL, NULL, napi_default, NULL},
      {"blasCore", NULL, optlab_blas_core, NULL, NULL, NULL, napi_default, NULL},
      {"blasSetCore", NULL, optlab_blas_set_core, NULL, NULL, NULL, napi_default, NULL},
      {"blasVerify", NULL, optlab_blas_verify, NULL, NULL, NULL, napi_default, NULL},
      {"eigh", NULL, LapackEigh, NULL, NULL, NULL, napi_default, NULL},
      {"inverseRoot", NULL, LapackInverseRoot, NULL, NULL, NULL, napi_default, NULL},
      {"qr", NULL, LapackQR, NULL, NULL, NULL, napi_default, NULL},
      {"stderrMute", NULL, optlab_stderr_mute, NULL, NULL, NULL, napi_default, NULL},
      {"stderrRestore", NULL, optlab_stderr_restore, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
