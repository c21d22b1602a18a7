/**
 * Registry: method name -> factory, the one place a method is registered. The runner, the CLI, replay,
 * the tf.Optimizer classes and factories (optimizers/tfjs.ts, optimizers/tfjs_classes.ts) and the package
 * exports all derive from it: a new method is its file, its test and one line here. Its file declares
 * `*_DEFAULTS` and `*_DOMAINS` (the allowed values of every option, optimizers/domains.ts) and passes
 * both to defineOptimizer; test/optimizers/domains.test.ts fails for a registered method without them.
 */
import type { OptimizerFactory } from './core.js';
import { adamw } from './adamw.js';
import { sgd } from './sgd.js';
import { muon, muonMoonlight } from './muon.js';
import { marsM } from './mars_m.js';
import { mars } from './mars.js';
import { auon, hybridAuon } from './auon.js';
import { reg } from './reg.js';
import { shampoo } from './shampoo.js';

/** Every method by registry name (lower case with hyphens; appears verbatim in results paths and CSV). */
export const REGISTRY = {
  adamw,
  sgd,
  muon,
  'muon-moonlight': muonMoonlight,
  'mars-m': marsM,
  mars,
  auon,
  'hybrid-auon': hybridAuon,
  reg,
  shampoo,
} as const satisfies Record<string, OptimizerFactory<any>>;

/** A registry name. */
export type MethodName = keyof typeof REGISTRY;

/** The registry for lookups by a name read at run time (config files, fixtures, the CLI). */
export const OPTIMIZERS: Readonly<Record<string, OptimizerFactory<any>>> = REGISTRY;

/** Looks a method up by registry name, with a message listing the known ones. */
export function getOptimizerFactory(name: string): OptimizerFactory<any> {
  const f = Object.hasOwn(OPTIMIZERS, name) ? OPTIMIZERS[name] : undefined;
  if (!f) throw new Error(`unknown optimizer '${name}'; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
  return f;
}

export * from './core.js';
export * from './domains.js';
export { DiagnosticsRecorder, METRICS, UPDATE_METRICS, lanczosExtremes, singularValueRange, type DiagnosticsProbe } from './diagnostics.js';
export { adamw, scaleByAdam, adamwTransform, adamMoments, ema, auxAdamW, ADAMW_DEFAULTS, ADAMW_DOMAINS, AUX_ADAM_DOMAINS, type AdamWOptions, type AdamOptions, type AuxAdamOptions, type AuxAdamWOptions } from './adamw.js';
export { lerp, accumulateMomentum, nesterovDirection, momentumStep, type MomentumForm } from './momentum.js';
export { sgd, traceMomentum, SGD_DEFAULTS, SGD_DOMAINS, type SGDOptions } from './sgd.js';
export { muon, muonMoonlight, scaleByMuon, MUON_DEFAULTS, MUON_MOONLIGHT_DEFAULTS, MUON_DOMAINS, MUON_MOONLIGHT_DOMAINS, NS_DOMAINS, type MuonOptions, type MuonMoonlightOptions, type BatchNewtonSchulz } from './muon.js';
export { marsM, scaleByMarsM, correctedGradient, clipToUnitNorm, MARS_M_DEFAULTS, MARS_M_DOMAINS, type MarsMOptions } from './mars_m.js';
export { mars, marsTransform, MARS_DEFAULTS, MARS_DOMAINS, type MarsOptions, type MarsType } from './mars.js';
export { auon, hybridAuon, coshBrake, AUON_DEFAULTS, HYBRID_AUON_DEFAULTS, AUON_DOMAINS, HYBRID_AUON_DOMAINS, type AuonOptions, type HybridAuonOptions } from './auon.js';
export { reg, racs, REG_DEFAULTS, REG_DOMAINS, type RegOptions } from './reg.js';
export { shampoo, scaleByShampoo, shampooDef, shampooLayout, shampooDiagnostics, shampooMonitor, shampooRootExponent, SHAMPOO_DEFAULTS, SHAMPOO_DOMAINS, type ShampooOptions, type FactorDiagnostics, type ShampooFactorReport, type ShampooMonitor, type ShampooTransform } from './shampoo.js';
export { eighTridiagonalQL, inverseRootFromEigh, eighSolver, type Eigh, type EighRoot, type EighRootOptions, type EighSolver } from './eigh.js';
