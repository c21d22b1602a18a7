/**
 * AuON and Hybrid-AuON: Nesterov EMA momentum scaled by a cosh "brake" (arXiv 2509.24320;
 * ryyzn9/AuON `auon/optimizer.py`, classes `AuON` and `HybridAuON`, commit bba2e82), docs/optimizers/auon.md.
 *
 * mode 'code' (the current official code, default):
 *   W <- W (1 - lr wd);  M <- lerp(M, G, 1 - mu);  U = lerp(G, M, mu)        (Nesterov, always on)
 *   U <- NS5(U) with nsSteps iterations                                       (Hybrid-AuON only)
 *   r = sqrt(mean(cosh(gamma U / (||U||_F + 1e-7))^2));  W <- W - lr U / (r + 1e-8)
 * mode 'paper' (paper v1 and the first code version, `Auon_Adam_train.py` @ c87b862):
 *   X = U / (||U||_F + 1e-7);  r = sqrt(mean(cosh(X)^2));  W <- W - lr sqrt(max(1, fan_out/fan_in)) X / (r + 1e-8)
 *   (gamma unused; the paper's Hybrid runs one NS iteration: set nsSteps 1).
 *
 * Since sum X_ij^2 = 1, r^2 = 1 + mean(sinh^2(gamma X)) <= 1 + sinh^2(gamma)/N: for any tensor of more
 * than a few elements r ~ 1, so code-mode AuON is close to Nesterov SGD on the raw momentum and
 * code-mode Hybrid-AuON to Muon without shape scaling; the brake matters only for tiny tensors.
 *
 * Differs from reference: the reference has no routing (biases get the same update); optlab's default
 * `routing: 'split'` sends only matrix and conv roles to AuON and everything else to an AdamW with the
 * trainer's settings (lr 0.008, betas (0.8, 0.95), eps 1e-10, wd 0; `training/config.py`), as the
 * README recommends; `routing: 'all'` reproduces the reference. Hybrid-AuON orthogonalizes a conv
 * kernel as its (kh*kw*in) x out matrix; the reference would treat a 4-D tensor as a batch of kh x kw
 * slices. A zero update direction gives a zero step (the reference skips it; the result is the same).
 * Use on roles: matrix, conv (routing 'split'); all (routing 'all').
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedOps, type AuonKernelConstants, type FusedOps } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';
import { auxAdamW, type AuxAdamWOptions } from './adamw.js';
import { chain, decoupledWeightDecay, defineOptimizer, route, scaleByLr, type OptimizerDef, type Parameter, type Transform } from './core.js';
import { svMetrics, type DiagnosticsProbe } from './diagnostics.js';
import { orthogonalize, orthogonalizeMany, shapeScale } from './linalg.js';
import { batchesNewtonSchulz, checkBatchNewtonSchulz, type BatchNewtonSchulz } from './muon.js';

/**
 * Options of AuON (defaults of the reference class; the trainer uses lr 0.08, wd 0.01). AdamW of the
 * non-matrix roles (routing 'split', the trainer's settings): adamLr 0.008, adamBeta1 0.8, adamBeta2 0.95,
 * adamEps 1e-10, adamWeightDecay 0.
 */
export interface AuonOptions extends AuxAdamWOptions {
  /** Learning rate of the AuON path (times the schedule's lrScale); the AdamW of the other roles has adamLr. @default 0.24 */
  lr?: number;
  /** EMA momentum mu (Nesterov is always on). @default 0.95 */
  momentum?: number;
  /** Decoupled weight decay, applied before the update as W (1 - lr wd). @default 0 */
  weightDecay?: number;
  /** Scale inside the cosh brake (code mode only). @default 1.5 */
  gamma?: number;
  /** 'code': the current official implementation; 'paper': Frobenius-normalized step with shape factor. @default 'code' */
  mode?: 'code' | 'paper';
  /** 'split': matrix and conv roles to AuON, the rest to AdamW; 'all': AuON everywhere (the reference). @default 'split' */
  routing?: 'split' | 'all';
}

/** Options of Hybrid-AuON: AuON with Newton-Schulz before the brake. */
export interface HybridAuonOptions extends AuonOptions {
  /** Newton-Schulz iterations on tensors of rank >= 2 (the paper uses 1). @default 5 */
  nsSteps?: number;
  /** One batched Newton-Schulz over same-shape matrices, as Muon's option: 'auto' (the tensorflow backend only, where it measured faster), 'always', 'never'. @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
}

export const AUON_DEFAULTS: Required<AuonOptions> = {
  lr: 0.24,
  momentum: 0.95,
  weightDecay: 0,
  gamma: 1.5,
  mode: 'code',
  routing: 'split',
  adamLr: 0.008,
  adamBeta1: 0.8,
  adamBeta2: 0.95,
  adamEps: 1e-10,
  adamWeightDecay: 0,
};

export const HYBRID_AUON_DEFAULTS: Required<HybridAuonOptions> = { ...AUON_DEFAULTS, nsSteps: 5, batchNewtonSchulz: 'auto' };

/**
 * Constants of one AuON step: EMA momentum mu, brake scale gamma (mode 'code'; mode 'paper' uses 1),
 * and the paper's shape factor sqrt(max(1, fan_out/fan_in)) (1 in mode 'code', where it is not used).
 */
export interface AuonConstants {
  momentum: number;
  gamma: number;
  mode: 'code' | 'paper';
  factor: number;
}

/**
 * The cosh brake's scalars as tfjs ops: d = ||u||_F + 1e-7 and r = sqrt(mean(cosh(gamma u / d)^2)),
 * computed as sqrt((mean(cosh(u (2 gamma / d))) + 1) / 2) (cosh^2 x = (cosh 2x + 1) / 2): one scalar
 * factor and three full-size kernels (square, mul, cosh) besides the two reductions, where the
 * literal formula takes abs, pow, div, mul, cosh and square.
 */
export function coshBrakeScalars(u: tf.Tensor, gamma: number): { d: tf.Scalar; r: tf.Scalar } {
  const d = tf.add(tf.sqrt(tf.sum(tf.square(u))), 1e-7) as tf.Scalar;
  const meanCosh2x = tf.mean(tf.cosh(tf.mul(u, tf.div(2 * gamma, d))));
  return { d, r: tf.sqrt(tf.mul(tf.add(meanCosh2x, 1), 0.5)) as tf.Scalar };
}

/**
 * The cosh brake r = sqrt(mean(cosh(gamma U / (||U||_F + 1e-7))^2)) as a scalar tensor; r >= 1 and
 * r^2 <= 1 + sinh^2(gamma)/N for N elements. The tfjs-op form (coshBrakeScalars); the optimizer itself
 * computes r with the native kernel on wasm+native and with composedAuonBrake's JavaScript scalars on
 * cpu and wasm, equal to an ulp.
 */
export function coshBrake(u: tf.Tensor, gamma: number): tf.Scalar {
  return tf.tidy(() => coshBrakeScalars(u, gamma).r);
}

const f32 = Math.fround;

/** Bound on the dropped terms of the cosh series below which coshBrakeHost skips cosh: 1/16 of float32's ulp at 1. */
export const COSH_SERIES_TOLERANCE = 2 ** -27;

/**
 * coshBrakeScalars' d and r as numbers, the scalar arithmetic done in JavaScript on sums read back
 * (each +, *, /, sqrt of float32 operands computed in double and rounded once to float32 is the
 * float32 operation's result), without the scalar kernels, each of which costs about as much as a
 * full-size kernel on a 16k-element matrix on wasm. For backends whose tensors live in host memory
 * (a read is a copy, not a device sync).
 *
 * mean(cosh y), y = 2 gamma u / d, is the cosh kernel's mean unless the series 1 + mean(y^2)/2 +
 * mean(y^4)/24 provably matches it: the dropped terms (y^6/720 + ... <= y^6 cosh(y)/720) average at
 * most max|y|^4 mean(y^2) cosh(max|y|) / 720, and when that is <= COSH_SERIES_TOLERANCE the series is
 * used, from sum(u^2), max(u^2) and sum(u^4): three cheap kernels instead of mul, cosh (the step's
 * most expensive kernel on wasm) and mean. On the GPT's gradient matrices max|y| is 0.06-0.19 and
 * the bound 3e-12 to 1e-9 (measured); small or spiky tensors take cosh. r then equals the cosh
 * path's up to the rounding of cosh and of the sums (an ulp where sums run in double, as on cpu); on
 * wasm, which sums the cosh values near 1 in float32, the series is the more accurate of the two.
 */
function coshBrakeHost(u: tf.Tensor, gamma: number): { d: number; r: number } {
  const read = (t: tf.Tensor): number => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  };
  const sq = tf.square(u);
  const ss = read(tf.sum(sq));
  const d = f32(f32(Math.sqrt(ss)) + f32(1e-7));
  const s = f32(f32(2 * gamma) / d);
  const n = u.size;
  let mean = NaN;
  let useSeries = false;
  if (n > 0 && Number.isFinite(ss)) {
    const maxY = Math.sqrt(read(tf.max(sq))) * s;
    const meanY2 = (s * s * ss) / n;
    useSeries = (maxY ** 4 * meanY2 * Math.cosh(maxY)) / 720 <= COSH_SERIES_TOLERANCE;
    if (useSeries) mean = f32(1 + meanY2 / 2 + (s ** 4 * read(tf.sum(tf.square(sq)))) / n / 24);
  }
  sq.dispose();
  if (!useSeries) mean = read(tf.mean(tf.cosh(tf.mul(u, s))));
  return { d, r: f32(Math.sqrt(f32(f32(mean + 1) * 0.5))) };
}

/** Backends whose tensor data a read copies from host memory: scalar arithmetic goes to JavaScript there. */
const HOST_BACKENDS: ReadonlySet<string> = new Set(['cpu', 'wasm']);

/**
 * The braked direction from tfjs ops: with d = ||u||_F + 1e-7 and r = sqrt(mean(cosh(gamma u / d)^2)),
 * code: u / (r + 1e-8); paper (gamma 1): factor u / (d (r + 1e-8)). `hostScalars` computes the scalar
 * factors in JavaScript (coshBrakeHost, the default on cpu and wasm), else as tfjs scalar ops; the two
 * agree to an ulp of r.
 */
export function composedAuonBrake(u: tf.Tensor, c: AuonConstants, hostScalars = HOST_BACKENDS.has(tf.getBackend())): tf.Tensor {
  const gamma = c.mode === 'paper' ? 1 : c.gamma;
  // One full-size op after the scalars: paper's (u / d) / (r + 1e-8) * factor as u * ((factor / (r + 1e-8)) / d).
  if (hostScalars) {
    const { d, r } = coshBrakeHost(u, gamma);
    const den = f32(r + f32(1e-8));
    return c.mode === 'paper' ? tf.mul(u, f32(f32(f32(c.factor) / den) / d)) : tf.div(u, den);
  }
  const { d, r } = coshBrakeScalars(u, gamma);
  return c.mode === 'paper' ? tf.mul(u, tf.div(tf.div(c.factor, tf.add(r, 1e-8)), d)) : tf.div(u, tf.add(r, 1e-8));
}

/** torch.lerp(start, end, weight) in float32 computes end - (end - start) (1 - weight) when weight >= 0.5, with 1 - weight of the float32 weight. */
const lerpHigh = (mu: number): boolean => mu >= 0.5;
const nesterovWeight = (mu: number): number => (lerpHigh(mu) ? 1 - Math.fround(mu) : mu);

/** AuON's stages: momentum and Nesterov direction, brake and scaling, and both. */
export interface AuonOps {
  /** m' = lerp(m, g, 1 - mu), u = lerp(g, m', mu), with torch.lerp's float32 formula. */
  auonMomentum(g: tf.Tensor, m: tf.Tensor, momentum: number): { m: tf.Tensor; u: tf.Tensor };
  /** The braked direction from an update direction u (Hybrid-AuON: after Newton-Schulz), see composedAuonBrake. */
  auonBrake(u: tf.Tensor, c: AuonConstants): tf.Tensor;
  /** auonMomentum then auonBrake: new momentum and the step direction (no lr, no wd). */
  auon(g: tf.Tensor, m: tf.Tensor, c: AuonConstants): { m: tf.Tensor; update: tf.Tensor };
}

/** AuON's stages as tfjs ops: the formula the fused OptlabAuon kernel must reproduce. */
export const COMPOSED_AUON: AuonOps = {
  auonMomentum: (g, m0, mu) => {
    const m = tf.add(m0, tf.mul(tf.sub(g, m0), 1 - mu));
    const w = nesterovWeight(mu);
    const u = lerpHigh(mu) ? tf.sub(m, tf.mul(tf.sub(m, g), w)) : tf.add(g, tf.mul(tf.sub(m, g), w));
    return { m, u };
  },
  auonBrake: (u, c) => composedAuonBrake(u, c),
  auon: (g, m0, c) => {
    const { m, u } = COMPOSED_AUON.auonMomentum(g, m0, c.momentum);
    return { m, update: COMPOSED_AUON.auonBrake(u, c) };
  },
};

/** The OptlabAuon kernel's constants for these (native/optimizer.c `auon`): the weights above, gamma 1 in paper mode. */
function kernelConstants(momentum: number, c?: AuonConstants): AuonKernelConstants {
  const paper = c?.mode === 'paper';
  return { omm: 1 - momentum, w: nesterovWeight(momentum), high: lerpHigh(momentum) ? 1 : 0, gamma: paper ? 1 : c?.gamma ?? 1, paper: paper ? 1 : 0, factor: paper ? c!.factor : 1 };
}

/** AuON's stages run by the fused kernel: m' and u bit for bit COMPOSED_AUON's on plain wasm, the brake to the rounding of its sums. */
function nativeAuon(f: FusedOps): AuonOps {
  return {
    auonMomentum: (g, m, mu) => f.auonMomentum(g, m, kernelConstants(mu)),
    auonBrake: (u, c) => f.auonBrake(u, kernelConstants(c.momentum, c)),
    auon: (g, m, c) => f.auon(g, m, kernelConstants(c.momentum, c)),
  };
}

/** AuON's stages: the fused kernel on wasm with native kernels (`fusedOps()`), else COMPOSED_AUON. */
export function auonOps(): AuonOps {
  const f = fusedOps();
  return f ? nativeAuon(f) : COMPOSED_AUON;
}

// The fused kernel against COMPOSED_AUON at start-up (kernels/self_test.ts).
addSelfTestCase('fused AuON', () => {
  const r = auonOps().auon(selfTestValues([4, 7], 1), selfTestValues([4, 7], 2), { momentum: 0.95, gamma: 1.5, mode: 'code', factor: 1 });
  return tf.concat([r.m, r.update]);
});
addSelfTestCase('fused AuON brake, paper mode', () => auonOps().auonBrake(selfTestValues([5, 3], 3), { momentum: 0.95, gamma: 1.5, mode: 'paper', factor: 2 }));

/**
 * The AuON direction (without lr and wd) after Nesterov momentum; slot `momentum`. On wasm with
 * native kernels (`fusedOps()`) the momentum, Nesterov direction, brake and scaling are one kernel
 * (Hybrid-AuON: momentum and direction one kernel, Newton-Schulz, then brake and scaling one kernel);
 * elsewhere the same steps as tfjs ops (COMPOSED_AUON; on cpu and wasm with the brake's scalar
 * arithmetic in JavaScript and, where its error bound is under a sixteenth of an ulp, a cosh series
 * instead of the cosh kernel). The momentum and Nesterov direction are the same float32 values
 * everywhere; the brake r differs between paths in the last bits only.
 */
function scaleByAuon(o: Required<AuonOptions>, nsSteps: number, batch: BatchNewtonSchulz = 'auto'): Transform {
  const mu = o.momentum;
  // Paper mode: W <- W - lr sqrt(max(1, fan_out/fan_in)) X / (r + 1e-8); code mode has no shape factor.
  const constants = (p: Parameter): AuonConstants => ({
    momentum: mu, gamma: o.gamma, mode: o.mode, factor: o.mode === 'paper' && p.variable.rank >= 2 ? shapeScale(p.variable.shape, 'keller') : 1,
  });
  const t: Transform = {
    name: nsSteps > 0 ? 'hybrid-auon' : 'auon',
    init: (_p, slot) => ({ momentum: slot('momentum', 'zeros') }),
    diagnostics: nsSteps > 0 ? ['auon_scale', ...svMetrics('ns')] : ['auon_scale'],
    update(g, s, p, ctx) {
      const ops = auonOps();
      const c = constants(p);
      if (nsSteps > 0 && g.rank >= 2) {
        const { m, u } = ops.auonMomentum(g, s.momentum, mu);
        s.momentum.assign(m);
        const x = orthogonalize(u, { steps: nsSteps });
        if (ctx.probe) probeAuon(ctx.probe, p, x, o, true);
        return ops.auonBrake(x, c);
      }
      // The fused kernel does not return the direction; on a diagnosed step it is recomputed from the old momentum.
      if (ctx.probe) probeAuon(ctx.probe, p, ops.auonMomentum(g, s.momentum, mu).u, o, false);
      const { m, update } = ops.auon(g, s.momentum, c);
      s.momentum.assign(m);
      return update;
    },
    describe: () => `${nsSteps > 0 ? `ns(${nsSteps}) > ` : ''}auon(${o.mode},mu=${mu}${o.mode === 'code' ? `,gamma=${o.gamma}` : ''})`,
  };
  if (nsSteps === 0) return t;
  // Hybrid-AuON: same-shape matrices of a step share one batched Newton-Schulz where that measured faster (as Muon).
  t.updateMany = (items, ctx) => {
    if (!batchesNewtonSchulz(batch) || items[0].u.rank < 2) return items.map((i) => t.update(i.u, i.s, i.p, ctx));
    const ops = auonOps();
    const us = items.map((i) => {
      const { m, u } = ops.auonMomentum(i.u, i.s.momentum, mu);
      i.s.momentum.assign(m);
      return u;
    });
    return orthogonalizeMany(us, { steps: nsSteps }).map((x, k) => {
      if (ctx.probe) probeAuon(ctx.probe, items[k].p, x, o, true);
      return ops.auonBrake(x, constants(items[k].p));
    });
  };
  return t;
}

/** Diagnostics of one AuON direction u: the brake's factor 1 / (r + 1e-8) (paper mode: gamma 1) and, after Newton-Schulz, u's singular values. */
function probeAuon(probe: DiagnosticsProbe, p: Parameter, u: tf.Tensor, o: Required<AuonOptions>, orthogonalized: boolean): void {
  probe.scalar(p, 'auon_scale', tf.div(1, tf.add(coshBrake(u, o.mode === 'paper' ? 1 : o.gamma), 1e-8)) as tf.Scalar);
  if (orthogonalized) probe.singularValues(p, 'ns', u);
}

function buildAuon(o: Required<AuonOptions>, nsSteps: number, method: string): OptimizerDef {
  if (o.mode !== 'code' && o.mode !== 'paper') throw new Error(`${method}: mode must be 'code' or 'paper', got '${o.mode}'`);
  if (o.routing !== 'split' && o.routing !== 'all') throw new Error(`${method}: routing must be 'split' or 'all', got '${o.routing}'`);
  if (!(o.momentum >= 0 && o.momentum <= 1)) throw new Error(`${method}: momentum must lie in [0, 1], got ${o.momentum}`);
  if (!Number.isInteger(nsSteps) || nsSteps < 0) throw new Error(`${method}: nsSteps must be a non-negative integer, got ${nsSteps}`);
  // W (1 - lr wd) first, then p.add_(U / (r + 1e-8), alpha=-lr): scaleByLr multiplies by -lr, as alpha does.
  const batch = (o as Required<HybridAuonOptions>).batchNewtonSchulz ?? 'auto';
  checkBatchNewtonSchulz(method, batch);
  const transform = chain(scaleByAuon(o, nsSteps, batch), decoupledWeightDecay(o.weightDecay, o.lr), scaleByLr(o.lr));
  if (o.routing === 'all') return transform;
  const adam = auxAdamW(o, o.adamLr, o.adamWeightDecay);
  return route({ label: method, roles: ['matrix', 'conv'], transform }, { label: 'adamw', fallback: true, transform: adam });
}

/** AuON (no Newton-Schulz). */
export const auon = defineOptimizer<Required<AuonOptions>>('auon', AUON_DEFAULTS, (o) => buildAuon(o, 0, 'auon'));

/** Hybrid-AuON: Newton-Schulz orthogonalization of the momentum, then the cosh brake. */
export const hybridAuon = defineOptimizer<Required<HybridAuonOptions>>('hybrid-auon', HYBRID_AUON_DEFAULTS, (o) => buildAuon(o, o.nsSteps, 'hybrid-auon'));
