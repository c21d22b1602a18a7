/** The kernels layer: backend selection, the native addon, its wasm kernels and the fused ops (docs/backends.md). */
export { selectBackend, BACKENDS, type BackendName, type BackendChoice } from './backend.js';
export { TFJS_VERSION, blasKernels } from './addon.js';
export { BLAS_FAMILIES, BLAS_CHECK_SHAPES, type BlasKernels, type BlasCandidate, type BlasFamily } from './blas_family.js';
export { enableNativeKernels, disableNativeKernels, nativeStatus, withOriginals, type NativeOptions, type NativeStatus } from './wasm_kernels.js';
export { fusedOps, gelu, layerNorm, composedGelu, composedLayerNorm, type FusedOps, type AdamConstants, type AuonKernelConstants } from './fused.js';
export { addSelfTestCase, selfTestValues } from './self_test.js';
export { simplifyTranspose } from './wasm_replacements.js';
export { installNativeOnWasm } from './auto_native.js';
