/**
 * optlab's package root, the full API: every method as a drop-in `tf.Optimizer` (`adamw()`,
 * `AdamWOptimizer`, ...) and the research API underneath (`methods`, `buildOptimizer`, transforms),
 * backend selection, and the runner. Narrower entry points load less: `optlab/optimizers`,
 * `optlab/models`, `optlab/parity`, `optlab/experiments`.
 */
export * from './optimizers/api.js';
export { selectBackend, type BackendName } from './kernels/backend.js';
export { enableNativeKernels, disableNativeKernels, nativeStatus, type NativeStatus } from './kernels/wasm_kernels.js';
export * from './experiments/index.js';
export { scheduleCallback, type Schedulable, type FitCallback } from './experiments/runner/fit_callbacks.js';
export { warmupCosine, wsd, linearDecay, constant, makeSchedule, type Schedule, type ScheduleConfig } from './experiments/runner/schedule.js';
export * as statistics from './experiments/analysis/statistics.js';
export { compare, type Comparison, type OptimizerComparison } from './experiments/analysis/comparison.js';
export { planExperiment, type Plan } from './experiments/sweep/tuning.js';
