/** Registry: method name -> factory. The runner, the CLI and replay find methods by name only. */
import type { OptimizerFactory } from './core.js';
import { adamw } from './adamw.js';
import { sgd } from './sgd.js';
import { muon, muonMoonlight } from './muon.js';
import { marsM } from './mars_m.js';
import { mars } from './mars.js';
import { auon, hybridAuon } from './auon.js';
import { reg } from './reg.js';
import { shampoo } from './shampoo.js';

export const OPTIMIZERS: Record<string, OptimizerFactory<any>> = {
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
};

/** Looks a method up by registry name, with a message listing the known ones. */
export function getOptimizerFactory(name: string): OptimizerFactory<any> {
  const f = OPTIMIZERS[name];
  if (!f) throw new Error(`unknown optimizer '${name}'; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
  return f;
}

export * from './core.js';
export { DiagnosticsRecorder, METRICS, UPDATE_METRICS, lanczosExtremes, singularValueRange, type DiagnosticsProbe } from './diagnostics.js';
export { adamw, scaleByAdam, adamwTransform, ADAMW_DEFAULTS, type AdamWOptions, type AdamOptions } from './adamw.js';
export { sgd, traceMomentum, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
export { muon, muonMoonlight, scaleByMuon, muonMomentum, MUON_DEFAULTS, MUON_MOONLIGHT_DEFAULTS, type MuonOptions, type MuonMoonlightOptions, type BatchNewtonSchulz } from './muon.js';
export { marsM, scaleByMarsM, correctedGradient, clipToUnitNorm, MARS_M_DEFAULTS, type MarsMOptions } from './mars_m.js';
export { mars, marsTransform, MARS_DEFAULTS, type MarsOptions, type MarsType } from './mars.js';
export { auon, hybridAuon, coshBrake, AUON_DEFAULTS, HYBRID_AUON_DEFAULTS, type AuonOptions, type HybridAuonOptions } from './auon.js';
export { reg, racs, REG_DEFAULTS, type RegOptions } from './reg.js';
export { shampoo, scaleByShampoo, shampooDef, shampooLayout, shampooDiagnostics, SHAMPOO_DEFAULTS, type ShampooOptions, type FactorDiagnostics } from './shampoo.js';
