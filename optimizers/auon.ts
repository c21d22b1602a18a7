/**
 * AuON and Hybrid-AuON: Nesterov EMA momentum scaled by a cosh "brake" (arXiv 2509.24320;
 * ryyzn9/AuON `auon/optimizer.py`, classes `AuON` and `HybridAuON`, commit bba2e82), spec §8.
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
import { COMPOSED_OPS, coshBrakeScalars, fusedOps, type AuonConstants } from '../experiments/native.js';
import { adamwTransform } from './adamw.js';
import { chain, decoupledWeightDecay, defineOptimizer, route, scaleByLr, type OptimizerDef, type Parameter, type ReferenceCase, type Role, type Transform } from './core.js';
import { svMetrics, type DiagnosticsProbe } from './diagnostics.js';
import { orthogonalize, orthogonalizeMany, shapeScale } from './linalg.js';
import { rolesByRank } from './mars.js';
import { batchesNewtonSchulz, checkBatchNewtonSchulz, type BatchNewtonSchulz } from './muon.js';

/** Options of AuON (defaults of the reference class; the trainer uses lr 0.08, wd 0.01). */
export interface AuonOptions {
  /** @default 0.24 */
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
  /** Learning rate of the AdamW for non-matrix roles (times the schedule's lrScale). @default 0.008 */
  adamLr?: number;
  /** @default 0.8 */
  adamBeta1?: number;
  /** @default 0.95 */
  adamBeta2?: number;
  /** @default 1e-10 */
  adamEps?: number;
  /** @default 0 */
  adamWeightDecay?: number;
}

/** Options of Hybrid-AuON: AuON with Newton-Schulz before the brake. */
export interface HybridAuonOptions extends AuonOptions {
  /** Newton-Schulz iterations on tensors of rank >= 2 (the paper uses 1). @default 5 */
  nsSteps?: number;
  /** One batched Newton-Schulz over same-shape matrices, as Muon's option: 'auto' (native kernels only, where it measured faster), 'always', 'never'. @default 'auto' */
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
 * The cosh brake r = sqrt(mean(cosh(gamma U / (||U||_F + 1e-7))^2)) as a scalar tensor; r >= 1 and
 * r^2 <= 1 + sinh^2(gamma)/N for N elements. The tfjs-op form (experiments/native.ts coshBrakeScalars,
 * mean(cosh^2 x) as (mean(cosh 2x) + 1) / 2); the optimizer itself computes r with the native kernel
 * on wasm+native and with composedAuonBrake's JavaScript scalars on cpu and wasm, equal to an ulp.
 */
export function coshBrake(u: tf.Tensor, gamma: number): tf.Scalar {
  return tf.tidy(() => coshBrakeScalars(u, gamma).r);
}

/**
 * The AuON direction (without lr and wd) after Nesterov momentum; slot `momentum`. On wasm with
 * native kernels (`fusedOps()`) the momentum, Nesterov direction, brake and scaling are one kernel
 * (Hybrid-AuON: momentum and direction one kernel, Newton-Schulz, then brake and scaling one kernel);
 * elsewhere the same steps as tfjs ops (COMPOSED_OPS; on cpu and wasm with the brake's scalar
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
      const ops = fusedOps() ?? COMPOSED_OPS;
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
    const ops = fusedOps() ?? COMPOSED_OPS;
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
  const adam = adamwTransform({ lr: o.adamLr, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEps, weightDecay: o.adamWeightDecay });
  return route({ label: method, roles: ['matrix', 'conv'], transform }, { label: 'adamw', fallback: true, transform: adam });
}

function auonFromReference(fx: ReferenceCase): { options: Partial<HybridAuonOptions>; roles: Record<string, Role> } {
  if (fx.resolved_param_groups.length !== 1) throw new Error(`${fx.optimizer}: fixture '${fx.name}' has ${fx.resolved_param_groups.length} param groups; only one is supported`);
  const g = fx.resolved_param_groups[0];
  const options: Partial<HybridAuonOptions> = { lr: g.lr, momentum: g.momentum, weightDecay: g.weight_decay, gamma: g.gamma, mode: 'code', routing: 'all' };
  if (g.ns_steps !== undefined) options.nsSteps = g.ns_steps;
  return { options, roles: rolesByRank(fx) };
}

/** AuON (no Newton-Schulz). */
export const auon = defineOptimizer<Required<AuonOptions>>('auon', AUON_DEFAULTS, (o) => buildAuon(o, 0, 'auon'), {
  fromReference: (fx) => {
    const { options, roles } = auonFromReference(fx);
    if (options.nsSteps !== undefined) throw new Error(`auon: fixture '${fx.name}' sets ns_steps; it is a Hybrid-AuON fixture`);
    return { options, roles };
  },
});

/** Hybrid-AuON: Newton-Schulz orthogonalization of the momentum, then the cosh brake. */
export const hybridAuon = defineOptimizer<Required<HybridAuonOptions>>('hybrid-auon', HYBRID_AUON_DEFAULTS, (o) => buildAuon(o, o.nsSteps, 'hybrid-auon'), { fromReference: auonFromReference });
