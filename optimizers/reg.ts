/**
 * REG: Muon's structure with the matrix sign replaced by Row-and-Column Scaling (RACS) (Liu et al.,
 * arXiv 2510.03691). Derived; paper code unavailable: this is the reconstruction of docs/optimizers/reg.md, to be
 * checked against the paper's method text or code when either becomes available.
 *
 *   M <- mu M + G;  U = G + mu M                                 (sum form, Nesterov; the defaults)
 *   repeat racsIters times, r and c from the current R (R = U at first):
 *     r_i = ||R[i,:]||_2, c_j = ||R[:,j]||_2, eps = 1e-8 max(max r, max c)
 *     R <- Diag(r + eps)^(-1/2) R Diag(c + eps)^(-1/2)
 *   D = R / (RMS(R) + 1e-8);  W <- W (1 - lr wd) - lr rmsTarget D
 *
 * One RACS step keeps a rank-1 U = u v^T rank-1 as (sign(u) sqrt|u|)(sign(v) sqrt|v|)^T; many steps
 * give sign(u) sign(v)^T. Unlike Newton-Schulz it does not whiten the spectrum; it costs O(N).
 * RACS is symmetric in rows and columns, so optlab's [fan_in, fan_out] layout gives the same update
 * as PyTorch's [out, in]. Non-matrix roles take AdamW (PyTorch semantics) with the same lr and wd,
 * betas (0.9, 0.95) and eps 1e-8 (choices of the fixture generator, README-reg-moonlight.md).
 *
 * Differs from reference: there is no reference. The RACS eps is floored at 1e-30, so an all-zero U
 * gives a zero update (the formula of docs/optimizers/reg.md would give 0/0); for any U whose largest row or column
 * norm exceeds 1e-22 nothing changes.
 * Use on roles: matrix, conv (as its (kh*kw*in) x out matrix); the rest go to AdamW.
 */
import * as tf from '@tensorflow/tfjs-core';
import { auxAdamW, type AuxAdamOptions } from './adamw.js';
import { decoupledWeightDecay, defineOptimizer, route, type OptimizerDef, type Transform } from './core.js';
import { matrixView } from './linalg.js';
import { momentumStep } from './momentum.js';

/** Options of REG (docs/optimizers/reg.md). Its AdamW shares lr and weightDecay: adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-8. */
export interface RegOptions extends AuxAdamOptions {
  /** Shared with the AdamW of non-matrix roles, so AdamW's tuned lr carries over. @default 1e-3 */
  lr?: number;
  /** Momentum coefficient mu of the matrix path (its form: momentumForm). @default 0.95 */
  momentum?: number;
  /** Decoupled weight decay W (1 - lr wd), also for the AdamW roles. @default 0.1 */
  weightDecay?: number;
  /** RACS balancing steps; more steps equalize row and column norms further. @default 1 */
  racsIters?: number;
  /** RMS of the update before lr (0.2 matches AdamW's typical update RMS, as in Moonlight). @default 0.2 */
  rmsTarget?: number;
  /** 'sum': M <- mu M + G (Moonlight); 'ema': M <- lerp(M, G, 1 - mu) = mu M + (1 - mu) G (optimizers/momentum.ts). Equivalent up to scale after RMS normalization. @default 'sum' */
  momentumForm?: 'sum' | 'ema';
  /** U = G + mu M ('sum') or lerp(G, M, mu) ('ema'); otherwise U = M. @default true */
  nesterov?: boolean;
}

export const REG_DEFAULTS: Required<RegOptions> = {
  lr: 1e-3,
  momentum: 0.95,
  weightDecay: 0.1,
  racsIters: 1,
  rmsTarget: 0.2,
  momentumForm: 'sum',
  nesterov: true,
  adamBeta1: 0.9,
  adamBeta2: 0.95,
  adamEps: 1e-8,
};

/**
 * Row-and-column scaling of a 2-D matrix, `iters` times: R <- R / sqrt(r + eps)[:, None] / sqrt(c + eps)[None, :]
 * with row norms r, column norms c and eps = 1e-8 times the largest of them (floored at 1e-30).
 */
export function racs(u: tf.Tensor2D, iters = 1): tf.Tensor2D {
  return tf.tidy(() => {
    let r = u;
    for (let i = 0; i < iters; i++) {
      const rows = tf.sqrt(tf.sum(tf.square(r), 1, true));
      const cols = tf.sqrt(tf.sum(tf.square(r), 0, true));
      const eps = tf.maximum(tf.mul(tf.maximum(tf.max(rows), tf.max(cols)), 1e-8), 1e-30);
      r = tf.div(tf.div(r, tf.sqrt(tf.add(rows, eps))), tf.sqrt(tf.add(cols, eps)));
    }
    return r;
  });
}

/** The REG direction rmsTarget * RACS(U) / (RMS + 1e-8) before -lr; slot `momentum`. */
function scaleByReg(o: Required<RegOptions>): Transform {
  const mu = o.momentum;
  return {
    name: 'reg',
    init: (_p, slot) => ({ momentum: slot('momentum', 'zeros') }),
    diagnostics: ['reg_row_spread', 'reg_col_spread'],
    update(g, s, p, ctx) {
      const { buffer, direction: u } = momentumStep(s.momentum, g, mu, o.momentumForm, o.nesterov);
      s.momentum.assign(buffer);
      const r = racs(matrixView(u), o.racsIters);
      if (ctx.probe) {
        const spread = (norms: tf.Tensor) => tf.div(tf.max(norms), tf.min(norms)) as tf.Scalar;
        ctx.probe.scalar(p, 'reg_row_spread', spread(tf.norm(r, 'euclidean', 1)));
        ctx.probe.scalar(p, 'reg_col_spread', spread(tf.norm(r, 'euclidean', 0)));
      }
      const rms = tf.sqrt(tf.div(tf.sum(tf.square(r)), r.size));
      return tf.reshape(tf.div(r, tf.add(rms, 1e-8)), u.shape);
    },
    describe: () => `reg(mu=${mu},${o.momentumForm}${o.nesterov ? ',nesterov' : ''},racsIters=${o.racsIters})`,
  };
}

function build(o: Required<RegOptions>): OptimizerDef {
  if (o.momentumForm !== 'sum' && o.momentumForm !== 'ema') throw new Error(`reg: momentumForm must be 'sum' or 'ema', got '${o.momentumForm}'`);
  if (!Number.isInteger(o.racsIters) || o.racsIters < 1) throw new Error(`reg: racsIters must be a positive integer, got ${o.racsIters}`);
  const core = scaleByReg(o);
  const wd = decoupledWeightDecay(o.weightDecay, o.lr);
  const transform: Transform = {
    name: 'reg',
    init: core.init,
    diagnostics: core.diagnostics,
    // The fixture generator forms lr * rmsTarget first, then scales D: W -= (lr rho) D.
    update: (u, s, p, ctx) => tf.mul(core.update(u, s, p, ctx), -(o.lr * o.rmsTarget) * ctx.lrScale),
    decay: wd.decay,
    describe: () => `${core.describe!()} > rms=${o.rmsTarget} > wd=${o.weightDecay} > lr=${o.lr}`,
  };
  const adam = auxAdamW(o, o.lr, o.weightDecay);
  return route({ label: 'reg', roles: ['matrix', 'conv'], transform }, { label: 'adamw', fallback: true, transform: adam });
}

/** REG (derived from docs/optimizers/reg.md; no public reference code). */
export const reg = defineOptimizer('reg', REG_DEFAULTS, build);
