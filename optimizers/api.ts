/**
 * The `optlab/optimizers` entry point: every method as a drop-in `tf.Optimizer` (`adamw()`,
 * `AdamWOptimizer`, ... generated from the registry), the adapter, and the research API underneath
 * (`methods`, `buildOptimizer`, transforms, `defineOptimizer` and `registerOptimizer` for a method of
 * one's own). Loads tfjs-core and optimizers/ only: no runner, CLI, configuration or plotting code.
 * Importing it installs `installNativeOnWasm` (kernels/auto_native.ts): the first
 * `tf.setBackend('wasm')` of the process then runs on optlab's native kernels, or one line says why not.
 */
import { installNativeOnWasm } from '../kernels/auto_native.js';

installNativeOnWasm();
export * as methods from './index.js';
export { buildOptimizer, chain, route, scaleByLr, decoupledWeightDecay, cautiousWeightDecay, clipByGlobalNorm, defineOptimizer, registerOptimizer, getOptimizerFactory, optimizerSource, OPTIMIZERS, REGISTRY, type MethodName } from './index.js';
export type { Parameter, Role, Transform, Optimizer, OptimizerDef, OptimizerFactory, StepContext } from './index.js';
export * from './tfjs.js';
export * from './tfjs_classes.js';
export { installNativeOnWasm } from '../kernels/auto_native.js';
export { blasKernels } from '../kernels/addon.js';
export type { BlasKernels } from '../kernels/blas_family.js';
