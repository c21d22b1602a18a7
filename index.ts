/**
 * optlab's package root: every method as a drop-in `tf.Optimizer` (`adamw()`, `AdamWOptimizer`, ...),
 * and the research API underneath (`methods`, `buildOptimizer`, transforms, models, runner).
 */
import type { AdapterOptions } from './optimizers/tfjs.js';
import { AdamWOptimizer, MarsMOptimizer, MuonMoonlightOptimizer, MuonOptimizer, SGDOptimizer } from './optimizers/tfjs.js';
import { AuonOptimizer, HybridAuonOptimizer, MarsOptimizer, RegOptimizer } from './optimizers/tfjs.js';
import type { AdamWOptions, MarsMOptions, MuonMoonlightOptions, MuonOptions, SGDOptions } from './optimizers/index.js';
import type { AuonOptions, HybridAuonOptions, MarsOptions, RegOptions } from './optimizers/index.js';
import { ShampooOptimizer } from './optimizers/tfjs.js';
import type { ShampooOptions } from './optimizers/index.js';

export * as methods from './optimizers/index.js';
export { buildOptimizer, chain, route, scaleByLr, decoupledWeightDecay, clipByGlobalNorm, OPTIMIZERS } from './optimizers/index.js';
export type { Parameter, Role, Transform, Optimizer, OptimizerDef, StepContext } from './optimizers/index.js';
export * from './optimizers/tfjs.js';
export { selectBackend, type BackendName } from './experiments/backend.js';
export { enableNativeKernels, disableNativeKernels, nativeStatus, type NativeStatus } from './experiments/native.js';
export { loadExperiment, applyOverrides, expandRuns, ConfigError, type Experiment, type RunSpec } from './experiments/config.js';
export { runSweep, type SweepOptions } from './experiments/sweep.js';
export { trainRun, readCurve, type RunRecord, type CurveRow } from './experiments/runner.js';
export { writeReport, mergeResults, summarize } from './experiments/report.js';
export * as statistics from './experiments/statistics.js';
export { compare, type Comparison, type OptimizerComparison } from './experiments/comparison.js';
export { planExperiment, type Plan } from './experiments/tuning.js';

/** AdamW as a tf.Optimizer for `model.compile({optimizer: adamw({lr: 1e-3})})`. */
export const adamw = (config: AdamWOptions & AdapterOptions = {}) => new AdamWOptimizer(config);
/** SGD with momentum as a tf.Optimizer. */
export const sgd = (config: SGDOptions & AdapterOptions = {}) => new SGDOptimizer(config);
/** Keller's Muon (aux AdamW for embeddings, head and vectors) as a tf.Optimizer. */
export const muon = (config: MuonOptions & AdapterOptions = {}) => new MuonOptimizer(config);
/** Moonlight's Muon as a tf.Optimizer. */
export const muonMoonlight = (config: MuonMoonlightOptions & AdapterOptions = {}) => new MuonMoonlightOptimizer(config);
/** MARS-M (approximate mode) as a tf.Optimizer. */
export const marsM = (config: MarsMOptions & AdapterOptions = {}) => new MarsMOptimizer(config);
/** MARS (mars-adamw, approximate mode) as a tf.Optimizer. */
export const mars = (config: MarsOptions & AdapterOptions = {}) => new MarsOptimizer(config);
/** AuON as a tf.Optimizer. */
export const auon = (config: AuonOptions & AdapterOptions = {}) => new AuonOptimizer(config);
/** Hybrid-AuON as a tf.Optimizer. */
export const hybridAuon = (config: HybridAuonOptions & AdapterOptions = {}) => new HybridAuonOptimizer(config);
/** REG (derived; no public reference code) as a tf.Optimizer. */
export const reg = (config: RegOptions & AdapterOptions = {}) => new RegOptimizer(config);
/** Shampoo (Meta Distributed Shampoo defaults; AdamW for 1-D parameters) as a tf.Optimizer. */
export const shampoo = (config: ShampooOptions & AdapterOptions = {}) => new ShampooOptimizer(config);
