/**
 * Registry: method name -> factory, the one place a method is registered. The runner, the CLI, replay,
 * the tf.Optimizer classes and factories (optimizers/tfjs.ts, optimizers/tfjs_classes.ts) and the package
 * exports all derive from it: a new method is its file, its test and one line here.
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
import { lion } from './lion.js';
import { normuon } from './normuon.js';
import { adamuon } from './adamuon.js';
import { scion } from './scion.js';
import { soap } from './soap.js';
import { psgdKron } from './psgd_kron.js';
import { dion } from './dion.js';

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
  lion,
  normuon,
  adamuon,
  scion,
  soap,
  'psgd-kron': psgdKron,
  dion,
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
export { DiagnosticsRecorder, METRICS, UPDATE_METRICS, lanczosExtremes, singularValueRange, type DiagnosticsProbe } from './diagnostics.js';
export { adamw, scaleByAdam, adamwTransform, adamMoments, ema, auxAdamW, ADAMW_DEFAULTS, type AdamWOptions, type AdamOptions, type AuxAdamOptions, type AuxAdamWOptions } from './adamw.js';
export { lerp, accumulateMomentum, nesterovDirection, momentumStep, type MomentumForm } from './momentum.js';
export { sgd, traceMomentum, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
export { muon, muonMoonlight, scaleByMuon, MUON_DEFAULTS, MUON_MOONLIGHT_DEFAULTS, type MuonOptions, type MuonMoonlightOptions, type BatchNewtonSchulz } from './muon.js';
export { marsM, scaleByMarsM, correctedGradient, clipToUnitNorm, MARS_M_DEFAULTS, type MarsMOptions } from './mars_m.js';
export { mars, marsTransform, MARS_DEFAULTS, type MarsOptions, type MarsType } from './mars.js';
export { auon, hybridAuon, coshBrake, AUON_DEFAULTS, HYBRID_AUON_DEFAULTS, type AuonOptions, type HybridAuonOptions } from './auon.js';
export { reg, racs, REG_DEFAULTS, type RegOptions } from './reg.js';
export { shampoo, scaleByShampoo, shampooDef, shampooLayout, shampooDiagnostics, shampooMonitor, shampooRootExponent, SHAMPOO_DEFAULTS, type ShampooOptions, type FactorDiagnostics, type ShampooFactorReport, type ShampooMonitor, type ShampooTransform } from './shampoo.js';
export { lion, scaleByLion, LION_DEFAULTS, type LionOptions } from './lion.js';
export { normuon, scaleByNeuronSecondMoment, NORMUON_DEFAULTS, type NorMuonOptions } from './normuon.js';
export { adamuon, scaleByElementwiseSecondMoment, ADAMUON_DEFAULTS, type AdaMuonOptions } from './adamuon.js';
export { scion, scaleByScion, scionLmo, resolveScionNorm, SCION_DEFAULTS, SCION_NORMS, type ScionOptions, type ScionNorm } from './scion.js';
export { eighTridiagonalQL, inverseRootFromEigh, eighSolver, type Eigh, type EighRoot, type EighRootOptions, type EighSolver } from './eigh.js';
export { soap, scaleBySoap, soapDef, soapLayout, soapMergedShape, soapMonitor, SOAP_DEFAULTS, type SoapOptions, type SoapLayout, type SoapMonitor, type SoapTransform } from './soap.js';
export { psgdKron, scaleByPsgdKron, psgdKronDef, psgdKronLayout, normLowerBound, procrustesStep, PSGD_KRON_DEFAULTS, type PsgdKronOptions, type PsgdKronLayout } from './psgd_kron.js';
export { dion, scaleByDion, dionDef, dionLayout, dionMonitor, DION_DEFAULTS, type DionOptions, type DionLayout, type DionMonitor } from './dion.js';
export { seededRandom, type RandomSource } from './random.js';
export { householderQR, qrFactor, choleskyUpper, upperTriangularInverse, type QR } from './qr.js';
