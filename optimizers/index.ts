/**
 * Registry: method name -> factory, the one place a method is registered. The runner, the CLI, replay,
 * the tf.Optimizer classes and factories (optimizers/tfjs.ts, optimizers/tfjs_classes.ts) and the package
 * exports all derive from it: a new method is its file, its test and one line here. Its file declares
 * `*_DEFAULTS` and `*_DOMAINS` (the allowed values of every option, optimizers/domains.ts) and passes
 * both to defineOptimizer; test/optimizers/domains.test.ts fails for a registered method without them.
 * Methods from outside (a user's folder) join the same registry through `registerOptimizer` (STYLE.md,
 * "Extending from outside").
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

/**
 * The live registry: the built-ins of REGISTRY plus every method registered from outside
 * (`registerOptimizer`, or an experiment file's `plugins`), for lookups by a name read at run time
 * (config files, fixtures, the CLI, the tf.Optimizer adapter). A built-in is a plugin that ships with
 * optlab: every consumer reads this one object.
 */
export const OPTIMIZERS: Readonly<Record<string, OptimizerFactory<any>>> = { ...REGISTRY };

/** Where each method registered from outside came from (a plugin file, or 'registerOptimizer'). */
const SOURCES = new Map<string, string>();
/** Called with each method registered from outside (optimizers/tfjs.ts makes its tf.Optimizer class). */
const LISTENERS: ((name: string, factory: OptimizerFactory<any>) => void)[] = [];

/** Registry names: lower case, digits and hyphens, starting with a letter (they appear verbatim in results paths and CSV). */
export const METHOD_NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Registers a method made with `defineOptimizer` under `name`, so that it works everywhere a
 * built-in does: the runner and experiment files, `optlab list`, replay, and (once optlab/optimizers
 * is loaded) a `<ClassName>` tf.Optimizer registered with tf.serialization, so `tfl.loadLayersModel`
 * restores a model saved with its state. Registering the same factory again under the same name is a
 * no-op (a plugin loaded twice). `source` names where it came from in error messages.
 *
 * Throws on: a name that is not lower case with hyphens, a built-in's name, a name registered by
 * another source or with another factory, a factory not made by `defineOptimizer` (no `defaults` or
 * `className`), a `methodName` other than `name`, and a tf.Optimizer class name another method uses.
 */
export function registerOptimizer<O extends object>(name: string, factory: OptimizerFactory<O>, opts: { source?: string } = {}): OptimizerFactory<O> {
  const source = opts.source ?? 'registerOptimizer';
  const where = `${source}: optimizer '${name}'`;
  if (typeof name !== 'string' || !METHOD_NAME.test(name)) throw new Error(`${source}: optimizer name ${JSON.stringify(name)} must be lower case letters, digits and hyphens, starting with a letter (e.g. 'lion')`);
  if (Object.hasOwn(REGISTRY, name)) throw new Error(`${where}: '${name}' is a built-in method; give yours another name`);
  const f = factory as unknown as ((...a: unknown[]) => unknown) & { defaults?: unknown; className?: unknown; methodName?: unknown };
  if (typeof f !== 'function' || !f.defaults || typeof f.defaults !== 'object' || typeof f.className !== 'string' || typeof f.methodName !== 'string') {
    throw new Error(`${where}: expected a factory made with defineOptimizer(name, defaults, build), got ${f === null ? 'null' : typeof f}`);
  }
  if (f.methodName !== name) throw new Error(`${where}: the factory was defined as '${f.methodName}' (defineOptimizer's first argument); register it under that name`);
  const existing = OPTIMIZERS[name];
  if (existing) {
    if (existing === factory) return factory;
    throw new Error(`${where}: already registered by ${SOURCES.get(name) ?? 'optlab'}`);
  }
  for (const [other, g] of Object.entries(OPTIMIZERS)) {
    if (g.className === f.className) throw new Error(`${where}: its tf.Optimizer class name '${f.className}' is taken by '${other}'; pass defineOptimizer another className`);
  }
  (OPTIMIZERS as Record<string, OptimizerFactory<any>>)[name] = factory;
  SOURCES.set(name, source);
  for (const l of LISTENERS) l(name, factory);
  return factory;
}

/** Where a method registered from outside came from; undefined for built-ins and unknown names. */
export function optimizerSource(name: string): string | undefined {
  return SOURCES.get(name);
}

/** Calls `listener` for every method registered from outside, those registered so far included. */
export function onOptimizerRegistered(listener: (name: string, factory: OptimizerFactory<any>) => void): void {
  LISTENERS.push(listener);
  for (const name of SOURCES.keys()) listener(name, OPTIMIZERS[name]);
}

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
export { lion, scaleByLion, LION_DEFAULTS, LION_DOMAINS, type LionOptions } from './lion.js';
export { normuon, scaleByNeuronSecondMoment, NORMUON_DEFAULTS, NORMUON_DOMAINS, type NorMuonOptions } from './normuon.js';
export { adamuon, scaleByElementwiseSecondMoment, ADAMUON_DEFAULTS, ADAMUON_DOMAINS, type AdaMuonOptions } from './adamuon.js';
export { scion, scaleByScion, scionLmo, resolveScionNorm, SCION_DEFAULTS, SCION_DOMAINS, SCION_NORMS, type ScionOptions, type ScionNorm } from './scion.js';
export { eighTridiagonalQL, inverseRootFromEigh, eighSolver, type Eigh, type EighRoot, type EighRootOptions, type EighSolver } from './eigh.js';
export { soap, scaleBySoap, soapDef, soapLayout, soapMergedShape, soapMonitor, SOAP_DEFAULTS, SOAP_DOMAINS, type SoapOptions, type SoapLayout, type SoapMonitor, type SoapTransform } from './soap.js';
export { psgdKron, scaleByPsgdKron, psgdKronDef, psgdKronLayout, normLowerBound, procrustesStep, PSGD_KRON_DEFAULTS, PSGD_KRON_DOMAINS, type PsgdKronOptions, type PsgdKronLayout } from './psgd_kron.js';
export { dion, scaleByDion, dionDef, dionLayout, dionMonitor, DION_DEFAULTS, DION_DOMAINS, type DionOptions, type DionLayout, type DionMonitor } from './dion.js';
export { seededRandom, type RandomSource } from './random.js';
export { householderQR, qrFactor, choleskyUpper, upperTriangularInverse, type QR } from './qr.js';
