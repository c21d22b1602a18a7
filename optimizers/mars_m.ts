/**
 * MARS-M: MARS variance reduction on Muon's matrix update (Liu et al., arXiv 2510.21800;
 * AGI-Arena/MARS MARS_M/optimizers/mars_m.py, class MARS_M). Registry name 'mars-m'.
 *
 *   c_t = g_t + gamma b/(1-b) (g_t - g_prev);  c_t <- c_t / max(1, ||c_t||_F)   (clipC)
 *   M <- b M + (1-b) c_t        (EMA, no Nesterov mix despite the reference's comment)
 *   W <- W (1 - lr wd) - lr 0.2 sqrt(max(fan_in, fan_out)) NS5(M)
 *
 * g_prev is the previous step's raw gradient ('approx', zeros before the first step) or the gradient
 * at the previous weights on the current batch ('exact', `StepContext.previousGrads`, which the training
 * loop computes with a second forward/backward). `efficient: true` is mars_m_efficient.py's one-buffer
 * form B <- b B + (1-gamma)(1-b)/b g_t, U = gamma g_t + b B, which equals the unclipped approximate M.
 *
 * Differs from reference: the reference stores `clip_c` but never reads it and always clips; optlab
 * clips by default and honours `clipC: false`. Newton-Schulz runs in float32 (the reference casts to
 * bfloat16; the `fp32` fixtures patch that cast away). Conv kernels are orthogonalized and scaled on
 * their (kh*kw*in) x out view (the reference feeds the 4-D tensor to a batched NS and scales by its
 * first two dims). A parameter without a gradient keeps its state, as in the reference.
 * Use on roles: matrix and conv (MARS-M); embedding, head, vector (AdamW with the same lr and wd, eps
 * added to the uncorrected sqrt(v), as the reference's "AdamW backup").
 *
 * Warnings: in approximate mode the reference keeps `last_grad` as a reference to `p.grad`; with
 * torch < 2's in-place `zero_grad()` that makes the correction vanish (see test/fixtures/README.md).
 * optlab stores a copy, which is the algorithm of the paper. The clip threshold 1 is absolute, so how
 * often it fires depends on loss scale and tensor size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AUX_ADAM_DOMAINS, auxAdamW, ema, type AuxAdamOptions } from './adamw.js';
import { bool, interval, nonNegative, oneOf, positive, type Domains } from './domains.js';
import { chain, decoupledWeightDecay, defineOptimizer, scaleByLr, type OptimizerDef, type Parameter, type State, type StepContext, type Transform } from './core.js';
import { svMetrics } from './diagnostics.js';
import { orthogonalize, orthogonalizeMany, shapeScale } from './linalg.js';
import { batchesNewtonSchulz, checkMuonOptions, muonRoutes, NS_DOMAINS, requireMatrix, type BatchNewtonSchulz } from './muon.js';

/** Options of MARS-M. Its AdamW shares lr and weightDecay: adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-8 (added to the uncorrected sqrt(v)). */
export interface MarsMOptions extends AuxAdamOptions {
  /** Learning rate of both paths; the matrix path is scaled by 0.2 sqrt(max(fan_in, fan_out)). @default 1e-3 */
  lr?: number;
  /** Decoupled weight decay of both paths, multiplied by the unscaled lr. @default 0.1 */
  weightDecay?: number;
  /** Momentum coefficient b (also the b of the correction factor gamma b/(1-b)). @default 0.95 */
  momentum?: number;
  /** Weight of the variance-reduction term; 0 gives Moonlight-scaled Muon on EMA momentum without Nesterov. @default 0.025 */
  gamma?: number;
  /** Newton-Schulz iterations. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
  /** One batched Newton-Schulz over same-shape matrices: 'auto' (where measured faster: the tensorflow backend), 'always', 'never' (muon.ts). @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
  /** Rescale c_t to Frobenius norm 1 when it is larger (ignored by `efficient`, which never clips). @default true */
  clipC?: boolean;
  /** g_prev: 'approx' = previous step's gradient; 'exact' = `StepContext.previousGrads` (needs a second gradient). @default 'approx' */
  mode?: 'approx' | 'exact';
  /** One-buffer form of mars_m_efficient.py: approximate mode, no clipping, slot `momentum` only. @default false */
  efficient?: boolean;
}

export const MARS_M_DEFAULTS: Required<MarsMOptions> = {
  lr: 1e-3, weightDecay: 0.1, momentum: 0.95, gamma: 0.025, nsSteps: 5, nsCoefficients: 'classic', batchNewtonSchulz: 'auto', clipC: true, mode: 'approx', efficient: false,
  adamBeta1: 0.9, adamBeta2: 0.95, adamEps: 1e-8,
};

/** The allowed values of each option (optimizers/domains.ts); momentum excludes 0, which the efficient form divides by. */
export const MARS_M_DOMAINS: Domains<MarsMOptions> = {
  lr: positive, weightDecay: nonNegative, momentum: interval(0, 1, { lowOpen: true, highOpen: true }), gamma: nonNegative, ...NS_DOMAINS, clipC: bool,
  mode: oneOf('approx', 'exact'), efficient: bool, adamBeta1: AUX_ADAM_DOMAINS.adamBeta1, adamBeta2: AUX_ADAM_DOMAINS.adamBeta2, adamEps: AUX_ADAM_DOMAINS.adamEps,
};

/** MARS's corrected gradient c_t = g + gamma b/(1-b) (g - gPrev), in the reference's op order. Pure. */
export function correctedGradient(g: tf.Tensor, gPrev: tf.Tensor, gamma: number, beta: number): tf.Tensor {
  return tf.add(tf.mul(tf.sub(g, gPrev), (gamma * beta) / (1 - beta)), g);
}

/** x / max(1, ||x||_F): unchanged when the norm is at most 1, unit norm otherwise. Pure. */
export function clipToUnitNorm(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.maximum(tf.norm(x), 1));
}

/** MARS-M's matrix direction 0.2 sqrt(max(m, n)) NS5(M), slots `momentum` (and `last_grad` in approximate mode). */
export function scaleByMarsM(o: Required<MarsMOptions>): Transform {
  const b = o.momentum;
  const ns = { steps: o.nsSteps, coefficients: o.nsCoefficients };
  const exact = o.mode === 'exact';
  /** The momentum update; returns the matrix to orthogonalize. */
  const direction = (g: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor => {
    if (o.efficient) {
      const buf = tf.add(tf.mul(s.momentum, b), tf.mul(g, ((1 - o.gamma) * (1 - b)) / b));
      s.momentum.assign(buf);
      return tf.add(tf.mul(g, o.gamma), tf.mul(buf, b));
    }
    const prev = exact ? previousGrad(p.name, p.variable.shape, ctx) : s.last_grad;
    let c = correctedGradient(g, prev ?? tf.zerosLike(g), o.gamma, b);
    if (ctx.probe) {
      const norm = tf.norm(c) as tf.Scalar;
      ctx.probe.scalar(p, 'correction_norm', norm);
      ctx.probe.scalar(p, 'clip_fraction', o.clipC ? (tf.cast(tf.greater(norm, 1), 'float32') as tf.Scalar) : tf.scalar(0));
    }
    if (o.clipC) c = clipToUnitNorm(c);
    const dir = ema(s.momentum, c, b);
    s.momentum.assign(dir);
    if (!exact) s.last_grad.assign(g);
    return dir;
  };
  const update: Transform['update'] = (g, s, p, ctx) => {
    const u = orthogonalize(direction(g, s, p, ctx), ns);
    ctx.probe?.singularValues(p, 'ns', u);
    return tf.mul(u, shapeScale(p.variable.shape, 'moonlight'));
  };
  return {
    name: 'mars-m',
    diagnostics: [...svMetrics('ns'), ...(o.efficient ? [] : ['correction_norm', 'clip_fraction'])],
    needsPreviousGrads: exact,
    init(p, slot) {
      requireMatrix('mars-m', p);
      const s: Record<string, tf.Variable> = { momentum: slot('momentum', 'zeros') };
      if (!exact && !o.efficient) s.last_grad = slot('last_grad', 'zeros');
      return s;
    },
    update,
    updateMany(items, ctx) {
      if (!batchesNewtonSchulz(o.batchNewtonSchulz)) return items.map((i) => update(i.u, i.s, i.p, ctx));
      const scale = shapeScale(items[0].p.variable.shape, 'moonlight'); // one shape per group
      return orthogonalizeMany(items.map((i) => direction(i.u, i.s, i.p, ctx)), ns).map((u, k) => {
        ctx.probe?.singularValues(items[k].p, 'ns', u);
        return tf.mul(u, scale);
      });
    },
    describe: () => `mars-m(b=${b},gamma=${o.gamma},${o.efficient ? 'efficient' : `${o.mode}${o.clipC ? ',clip' : ''}`},ns=${o.nsSteps})`,
  };
}

/** The exact-mode g_prev of one parameter; none before the first step (the reference starts from zeros). */
function previousGrad(name: string, shape: number[], ctx: { t: number; previousGrads?: ReadonlyMap<string, tf.Tensor> }): tf.Tensor | undefined {
  const g = ctx.previousGrads?.get(name);
  if (!g) {
    if (ctx.t === 1) return undefined;
    throw new Error(`mars-m: mode 'exact' needs StepContext.previousGrads for '${name}' (the gradient at the previous weights on the current batch); none was given at step ${ctx.t}`);
  }
  if (!tf.util.arraysEqual(g.shape, shape)) throw new Error(`mars-m: previous gradient of '${name}' has shape [${g.shape}], parameter has [${shape}]`);
  return g;
}

function buildMarsM(o: Required<MarsMOptions>): OptimizerDef {
  checkMuonOptions('mars-m', o);
  if (o.mode !== 'approx' && o.mode !== 'exact') throw new Error(`mars-m: mode must be 'approx' or 'exact', got '${o.mode}'`);
  if (o.efficient && o.mode === 'exact') throw new Error("mars-m: the efficient form exists only for mode 'approx'");
  if (o.momentum === 0) throw new Error('mars-m: momentum must be > 0 (the efficient form divides by it)');
  const matrix = chain(scaleByMarsM(o), decoupledWeightDecay(o.weightDecay, o.lr), scaleByLr(o.lr));
  const aux = auxAdamW(o, o.lr, o.weightDecay, 'uncorrected');
  return muonRoutes('mars-m', matrix, aux);
}

/** MARS-M with an AdamW (same lr and wd) for non-matrix parameters. */
export const marsM = defineOptimizer('mars-m', MARS_M_DEFAULTS, buildMarsM, { domains: MARS_M_DOMAINS });
