/**
 * AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, arXiv 1711.05101), PyTorch semantics.
 *
 *   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
 *   W <- W (1 - lr wd) - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *
 * Differs from reference: none for `torch.optim.AdamW` (eps after the bias-corrected sqrt, per-parameter
 * step counter, amsgrad keeps the running maximum of v). `epsMode: 'uncorrected'` gives the variant used
 * as the auxiliary AdamW in Moonlight and MARS-M (eps added to the uncorrected sqrt(v)).
 * Use on roles: all.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedOps, type AdamConstants } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';
import { cautiousWeightDecay, chain, decoupledWeightDecay, defineOptimizer, scaleByLr, type Parameter, type State, type Transform } from './core.js';
import { bool, checkDomains, oneOf, positive, nonNegative, unitInterval, type Domains } from './domains.js';

/** Adam's moment estimates and bias correction, without learning rate or weight decay. */
export interface AdamOptions {
  /** Decay of the first moment m (EMA of the gradient). @default 0.9 */
  beta1?: number;
  /** Decay of the second moment v (EMA of the squared gradient). @default 0.999 */
  beta2?: number;
  /** Added to sqrt(v) in the denominator (where: epsMode). @default 1e-8 */
  eps?: number;
  /** Keep the running maximum of v (Reddi et al. 2018). @default false */
  amsgrad?: boolean;
  /** Where eps is added: after bias-correcting sqrt(v) (PyTorch) or to the raw sqrt(v) (Moonlight, MARS-M aux). @default 'corrected' */
  epsMode?: 'corrected' | 'uncorrected';
}

/** Options of the AdamW optimizer. */
export interface AdamWOptions extends AdamOptions {
  /** Learning rate (times the schedule's lrScale). @default 1e-3 */
  lr?: number;
  /** Decoupled weight decay, multiplied by the learning rate. @default 0.01 */
  weightDecay?: number;
  /**
   * Which parameters weight decay touches: 'all' (torch.optim.AdamW on one param group), 'rank2'
   * (every parameter of rank >= 2: matmul weights, embeddings, head, conv kernels; not biases or norm
   * gains: nanoGPT's configure_optimizers), 'matrix' (roles 'matrix' and 'conv' only). @default 'all'
   */
  decayOn?: 'all' | 'rank2' | 'matrix';
  /** Cautious weight decay (arXiv 2510.12402): decay only the coordinates where the Adam direction and the weight agree in sign (core.ts `cautiousWeightDecay`). @default false */
  cautiousWeightDecay?: boolean;
}

export const ADAMW_DEFAULTS: Required<AdamWOptions> = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: false, epsMode: 'corrected', decayOn: 'all', cautiousWeightDecay: false };

/** The allowed values of each option (optimizers/domains.ts). */
export const ADAMW_DOMAINS: Domains<AdamWOptions> = {
  lr: positive, beta1: unitInterval, beta2: unitInterval, eps: positive, weightDecay: nonNegative, amsgrad: bool,
  epsMode: oneOf('corrected', 'uncorrected'), decayOn: oneOf('all', 'rank2', 'matrix'), cautiousWeightDecay: bool,
};

/** Domains of the auxiliary AdamW options (AuxAdamOptions, AuxAdamWOptions) for the methods that have them. */
export const AUX_ADAM_DOMAINS: Domains<AuxAdamWOptions> = { adamLr: positive, adamBeta1: unitInterval, adamBeta2: unitInterval, adamEps: positive, adamWeightDecay: nonNegative };

const DECAY_ON: Record<AdamWOptions['decayOn'] & string, (p: Parameter) => boolean> = {
  all: () => true,
  rank2: (p) => p.variable.rank >= 2,
  matrix: (p) => p.role === 'matrix' || p.role === 'conv',
};

/** Decoupled weight decay restricted to the parameters `decayOn` names (no decay elsewhere). */
function weightDecayOn(o: Required<AdamWOptions>): Transform {
  if (o.cautiousWeightDecay) {
    const cwd = cautiousWeightDecay(o.weightDecay, o.decayOn === 'all' ? {} : { applies: DECAY_ON[o.decayOn] });
    return o.decayOn === 'all' ? cwd : { ...cwd, describe: (p) => (p && !DECAY_ON[o.decayOn](p) ? `no wd (decayOn ${o.decayOn})` : `cautious-wd=${o.weightDecay} on ${o.decayOn}`) };
  }
  const wd = decoupledWeightDecay(o.weightDecay, o.lr);
  if (o.decayOn === 'all') return wd;
  const applies = DECAY_ON[o.decayOn];
  return { ...wd, decay: (p, ctx) => (applies(p) ? wd.decay!(p, ctx) : 1), describe: (p) => (p && !applies(p) ? `no wd (decayOn ${o.decayOn})` : `wd=${o.weightDecay} on ${o.decayOn}`) };
}

/** Exponential moving average beta x + (1 - beta) g, in PyTorch's `x.mul_(beta).add_(g, alpha=1-beta)` order. Pure. */
export function ema(x: tf.Tensor, g: tf.Tensor, beta: number): tf.Tensor {
  return tf.add(tf.mul(x, beta), tf.mul(g, 1 - beta));
}

/**
 * Adam's moment updates, in place on the slots `m`, `v` (and `v_max` with amsgrad): m <- ema(m, g, b1),
 * v <- ema(v, g^2, b2), v_max <- max(v_max, v). Returns m and the second moment to divide by (v_max with
 * amsgrad). Each method then forms its reference's denominator. Call inside tf.tidy.
 */
export function adamMoments(s: State, g: tf.Tensor, beta1: number, beta2: number, amsgrad: boolean): { m: tf.Tensor; v: tf.Tensor } {
  const m = ema(s.m, g, beta1);
  const v = ema(s.v, tf.square(g), beta2);
  s.m.assign(m);
  s.v.assign(v);
  if (!amsgrad) return { m, v };
  const vMax = tf.maximum(s.v_max, v);
  s.v_max.assign(vMax);
  return { m, v: vMax };
}

/**
 * One Adam step as tfjs ops, for gradient g and moments m, v of any one shape: the new moments
 * m' = b1 m + (1-b1) g, v' = b2 v + (1-b2) g^2 and the direction m'/bc1 / (sqrt(v'/bc2) + eps)
 * ('corrected', PyTorch) or m' / (sqrt(v') + eps) sqrt(bc2)/bc1 ('uncorrected'), bc1 = 1 - b1^t,
 * bc2 = 1 - b2^t. With `vMax` (amsgrad) the direction uses max(vMax, v'), returned as `vMax`. The
 * native OptlabAdam kernel (kernels/fused.ts) runs these float32 operations in this order in one pass.
 */
export function adamStep(g: tf.Tensor, m0: tf.Tensor, v0: tf.Tensor, c: AdamConstants, vMax?: tf.Tensor): { m: tf.Tensor; v: tf.Tensor; vMax?: tf.Tensor; update: tf.Tensor } {
  const m = ema(m0, g, c.beta1);
  const v = ema(v0, tf.square(g), c.beta2);
  const vUse = vMax ? tf.maximum(vMax, v) : v;
  const update =
    c.epsMode === 'corrected'
      ? tf.div(tf.div(m, tf.add(tf.div(tf.sqrt(vUse), Math.sqrt(c.bc2)), c.eps)), c.bc1)
      : tf.mul(tf.div(m, tf.add(tf.sqrt(vUse), c.eps)), Math.sqrt(c.bc2) / c.bc1);
  return vMax ? { m, v, vMax: vUse, update } : { m, v, update };
}

// The fused kernel against adamStep at start-up (constants of step t = 2; kernels/self_test.ts).
addSelfTestCase('fused Adam', () => {
  const c: AdamConstants = { beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 0.19, bc2: 0.002, epsMode: 'corrected' };
  const [g, m, v] = [selfTestValues([4, 7], 1), selfTestValues([4, 7], 2), tf.abs(selfTestValues([4, 7], 3))];
  const r = fusedOps()?.adam(g, m, v, c) ?? adamStep(g, m, v, c);
  return tf.concat([r.m, r.v, r.update]);
});

/** The Adam direction m_hat / (sqrt(v_hat) + eps), with state slots `m`, `v` (and `v_max`). */
export function scaleByAdam(opts: AdamOptions = {}): Transform {
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const amsgrad = opts.amsgrad ?? false;
  const epsMode = opts.epsMode ?? 'corrected';
  return {
    name: 'adam',
    init(_p, slot) {
      const s: Record<string, tf.Variable> = { m: slot('m', 'zeros'), v: slot('v', 'zeros') };
      if (amsgrad) s.v_max = slot('v_max', 'zeros');
      return s;
    },
    update(g, s, _p, ctx) {
      const c: AdamConstants = { beta1, beta2, eps, bc1: 1 - Math.pow(beta1, ctx.t), bc2: 1 - Math.pow(beta2, ctx.t), epsMode };
      // wasm with native kernels: the same float32 operations in one pass (kernels/fused.ts).
      const fused = amsgrad ? null : fusedOps();
      const r: ReturnType<typeof adamStep> = fused ? fused.adam(g, s.m, s.v, c) : adamStep(g, s.m, s.v, c, amsgrad ? s.v_max : undefined);
      s.m.assign(r.m);
      s.v.assign(r.v);
      if (r.vMax) s.v_max.assign(r.vMax);
      return r.update;
    },
    describe: () => `adam(b1=${beta1},b2=${beta2},eps=${eps}${amsgrad ? ',amsgrad' : ''}${epsMode === 'uncorrected' ? ',eps-uncorrected' : ''})`,
  };
}

/** AdamW as a transform, for use inside other methods' routing tables. */
export function adamwTransform(opts: AdamWOptions = {}): Transform {
  // Also the auxiliary AdamW of the matrix methods, whose factories checked these values already; a direct call is checked here.
  checkDomains('adamw', ADAMW_DOMAINS, opts as Record<string, unknown>);
  const o = { ...ADAMW_DEFAULTS, ...opts };
  return chain(scaleByAdam(o), weightDecayOn(o), scaleByLr(o.lr));
}

/**
 * The auxiliary AdamW a matrix method gives its other roles (embedding, head, vector), as
 * MuonWithAuxAdam does: betas and eps. Each method sets its own defaults (MUON_DEFAULTS,
 * MUON_MOONLIGHT_DEFAULTS, MARS_M_DEFAULTS, AUON_DEFAULTS, REG_DEFAULTS) and says in its header where
 * eps goes; methods whose AdamW shares the matrix path's lr and weight decay stop here.
 */
export interface AuxAdamOptions {
  /** First beta of the auxiliary AdamW. */
  adamBeta1?: number;
  /** Second beta of the auxiliary AdamW. */
  adamBeta2?: number;
  /** eps of the auxiliary AdamW. */
  adamEps?: number;
}

/** AuxAdamOptions plus the auxiliary AdamW's own learning rate and weight decay (Keller's Muon, AuON). */
export interface AuxAdamWOptions extends AuxAdamOptions {
  /** Learning rate of the auxiliary AdamW (times the schedule's lrScale). */
  adamLr?: number;
  /** Decoupled weight decay of the auxiliary AdamW, multiplied by its unscaled lr. */
  adamWeightDecay?: number;
}

/** The auxiliary AdamW transform from a method's AuxAdamOptions and the lr, weight decay and eps placement it uses. */
export function auxAdamW(o: Required<AuxAdamOptions>, lr: number, weightDecay: number, epsMode: 'corrected' | 'uncorrected' = 'corrected'): Transform {
  return adamwTransform({ lr, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEps, weightDecay, epsMode });
}

/** AdamW for every parameter it is given. (cautiousWeightDecay came after recorded results: at its default it stays out of run ids.) */
export const adamw = defineOptimizer('adamw', ADAMW_DEFAULTS, adamwTransform, { className: 'AdamWOptimizer', unhashedDefaults: ['cautiousWeightDecay'], domains: ADAMW_DOMAINS });
