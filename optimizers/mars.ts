/**
 * MARS: variance reduction by scaled stochastic recursive momentum (Yuan et al., arXiv 2411.10438),
 * the `MARS` class of AGI-Arena/MARS (`MARS/optimizers/mars.py`, commit 4831e28), docs/optimizers/mars.md.
 *
 *   c_t = g_t + gamma * (b1 / (1 - b1)) * (g_t - g_prev);  c_t <- c_t / ||c_t|| if ||c_t|| > 1
 *   m <- b1 m + (1 - b1) c_t;  v <- b2 v + (1 - b2) c_t^2                         (mars-adamw)
 *   D = m / ((sqrt(v) / sqrt(1 - b2^t) + eps) (1 - b1^t))   | sign(m) (mars-lion)
 *     | NS5(m / (1 - b1)) sqrt(max(1, fan_out / fan_in))                            (mars-shampoo)
 *   W <- W - lr (wd W + D)
 *
 * g_prev is the previous step's gradient (approximate mode, the default; zeros before the first step,
 * so step 1 uses c_1 = (1 + gamma b1 / (1 - b1)) g_1 = 1.475 g_1 with the defaults) or, with `mode: 'exact'`,
 * the gradient at the previous weights on the current batch, which the training loop passes as
 * `StepContext.previousGrads` (the transform sets `needsPreviousGrads`).
 * Tensors that are not exactly 2-D (biases, gains, 4-D conv kernels) take the reference's internal
 * AdamW: same denominator and weight-decay folding on the raw gradient, betas (0.9, 0.95), lr `lr1d`
 * times the schedule, weight decay `weightDecay1d` whatever `weightDecay` is.
 *
 * Differs from reference: mars-shampoo's Newton-Schulz runs in float32 with the classic quintic
 * (linalg.newtonSchulz), not bf16 with the reference's algebraically equal 4-matmul form. Exact mode
 * reads g_prev from the step context instead of a `last_grad` copy made between steps. `conv: 'mars'`
 * (not in the reference) sends 4-D kernels to MARS, as docs/optimizers/mars.md suggests for CNNs.
 * Use on roles: all; routing is by rank (exactly 2-D -> MARS, embeddings and head included), not role.
 *
 * Warnings: the clip threshold 1 is absolute, so how often it fires depends on tensor size and loss
 * scale. The reference training script also clips the global gradient norm at 1.0 (`clipNorm`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineOptimizer, exactSign, route, type OptimizerDef, type State, type Transform } from './core.js';
import { adamMoments, ema } from './adamw.js';
import { svMetrics } from './diagnostics.js';
import { orthogonalize, shapeScale } from './linalg.js';

/** The update rule MARS applies after the corrected-gradient momentum. */
export type MarsType = 'mars-adamw' | 'mars-lion' | 'mars-shampoo';

/** Options of MARS (defaults of the reference class). */
export interface MarsOptions {
  /** Learning rate (times the schedule's lrScale). @default 3e-3 */
  lr?: number;
  /** Momentum decay of m, also inside the correction scale gamma * b1 / (1 - b1). @default 0.95 */
  beta1?: number;
  /** Decay of the second moment v of the corrected gradient. @default 0.99 */
  beta2?: number;
  /** Added to sqrt(v) in the denominator. @default 1e-8 */
  eps?: number;
  /** Decoupled weight decay of the MARS tensors, folded as W <- W - lr (wd W + D). @default 0 */
  weightDecay?: number;
  /** Keep the running maximum of v (mars-adamw and the internal AdamW). @default false */
  amsgrad?: boolean;
  /** Scale of the gradient correction; 0 gives AdamW with per-tensor clipping of g. @default 0.025 */
  gamma?: number;
  /** g_prev: the previous step's gradient ('approx') or `StepContext.previousGrads`, the gradient at the previous weights on the current batch ('exact'). @default 'approx' */
  mode?: 'approx' | 'exact';
  /** @default 'mars-adamw' */
  marsType?: MarsType;
  /** Send every tensor to MARS, not only exactly-2-D ones; then they use `weightDecay`. @default false */
  optimize1d?: boolean;
  /** Route of 4-D conv kernels: the reference's internal AdamW, or MARS on the whole kernel. @default 'adamw' */
  conv?: 'adamw' | 'mars';
  /** Learning rate of the internal AdamW (times the schedule's lrScale). @default 3e-3 */
  lr1d?: number;
  /** First beta of the internal AdamW (betas_1d[0]). @default 0.9 */
  adamBeta1?: number;
  /** Second beta of the internal AdamW (betas_1d[1]). @default 0.95 */
  adamBeta2?: number;
  /** Weight decay of the internal AdamW, folded like MARS's. @default 0.1 */
  weightDecay1d?: number;
}

export const MARS_DEFAULTS: Required<MarsOptions> = {
  lr: 3e-3,
  beta1: 0.95,
  beta2: 0.99,
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  gamma: 0.025,
  mode: 'approx',
  marsType: 'mars-adamw',
  optimize1d: false,
  conv: 'adamw',
  lr1d: 3e-3,
  adamBeta1: 0.9,
  adamBeta2: 0.95,
  weightDecay1d: 0.1,
};

const MARS_TYPES: readonly MarsType[] = ['mars-adamw', 'mars-lion', 'mars-shampoo'];

/** Settings of one branch of the reference's `update_fn`. */
interface MarsBranch {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  /** Corrected, clipped gradient (the MARS branch) or the raw gradient (the internal AdamW). */
  correct: boolean;
  gamma: number;
  mode: 'approx' | 'exact';
  marsType: MarsType;
}

/**
 * One branch of the reference's `update_fn` as a transform, lr and weight decay included (the
 * reference folds them as -lr (wd W + D), so they cannot be split into scaleByLr without changing
 * the float32 op order). Slots: `m`, `v` (not for mars-lion), `v_max` (amsgrad), `last_grad`
 * (approximate mode of the MARS branch).
 */
export function marsTransform(b: MarsBranch): Transform {
  const usesV = (p: { variable: tf.Variable }) => !b.correct || b.marsType === 'mars-adamw' || (b.marsType === 'mars-shampoo' && p.variable.rank !== 2);
  const exact = b.mode === 'exact';
  const keepsLast = b.correct && !exact;
  const scale = b.gamma * (b.beta1 / (1 - b.beta1));
  return {
    name: b.correct ? 'mars' : 'adamw-1d',
    needsPreviousGrads: b.correct && exact,
    diagnostics: b.correct ? ['correction_norm', 'clip_fraction', ...(b.marsType === 'mars-shampoo' ? svMetrics('ns') : [])] : [],
    init(p, slot) {
      const s: State = { m: slot('m', 'zeros') };
      if (usesV(p)) {
        s.v = slot('v', 'zeros');
        if (b.amsgrad) s.v_max = slot('v_max', 'zeros');
      }
      if (keepsLast) s.last_grad = slot('last_grad', 'zeros');
      return s;
    },
    update(g, s, p, ctx) {
      let c = g;
      if (b.correct) {
        let prev: tf.Tensor | undefined = exact ? ctx.previousGrads?.get(p.name) : s.last_grad;
        if (prev === undefined) {
          // The reference's exact mode starts from last_grad = 0 as well; later steps need the loop's gradient.
          if (ctx.t > 1) throw new Error(`mars: exact mode needs StepContext.previousGrads for '${p.name}' (the gradient at the previous weights on the current batch)`);
          prev = tf.zerosLike(g);
        }
        c = tf.add(tf.mul(tf.sub(g, prev), scale), g);
        const norm = tf.norm(c) as tf.Scalar;
        if (ctx.probe) {
          ctx.probe.scalar(p, 'correction_norm', norm);
          ctx.probe.scalar(p, 'clip_fraction', tf.cast(tf.greater(norm, 1), 'float32') as tf.Scalar);
        }
        // ||c|| > 1 -> c / ||c||; dividing by max(||c||, 1) is the same without reading the norm back.
        c = tf.div(c, tf.maximum(norm, 1));
        if (keepsLast) s.last_grad.assign(g);
      }
      let d: tf.Tensor;
      if (usesV(p)) {
        const { m, v } = adamMoments(s, c, b.beta1, b.beta2, b.amsgrad);
        const bc1 = 1 - Math.pow(b.beta1, ctx.t);
        const bc2 = 1 - Math.pow(b.beta2, ctx.t);
        // The reference's exact denominator: (sqrt(v) * (1/sqrt(bc2)) + eps) * bc1.
        const denom = tf.mul(tf.add(tf.mul(tf.sqrt(v), 1 / Math.sqrt(bc2)), b.eps), bc1);
        d = tf.div(m, denom);
      } else {
        const m = ema(s.m, c, b.beta1);
        s.m.assign(m);
        if (b.marsType === 'mars-lion') d = exactSign(m);
        else {
          // PyTorch's sqrt(max(1, rows/cols)) on an [out, in] weight is the 'keller' fan_out/fan_in factor (docs/linalg.md, "Matrix views and the PyTorch layout").
          const o = orthogonalize(tf.mul(m, 1 / (1 - b.beta1)), { eps: b.eps });
          ctx.probe?.singularValues(p, 'ns', o);
          d = tf.mul(o, shapeScale(p.variable.shape, 'keller'));
        }
      }
      const dir = b.weightDecay === 0 ? d : tf.add(tf.mul(p.variable, b.weightDecay), d);
      return tf.mul(dir, -b.lr * ctx.lrScale);
    },
    describe() {
      const core = `b1=${b.beta1},b2=${b.beta2},eps=${b.eps}${b.amsgrad ? ',amsgrad' : ''}`;
      const head = b.correct ? `${b.marsType}(gamma=${b.gamma},${b.mode},${core})` : `adamw-1d(${core})`;
      return `${head} > wd=${b.weightDecay} > lr=${b.lr}`;
    },
  };
}

function build(o: Required<MarsOptions>): OptimizerDef {
  if (!MARS_TYPES.includes(o.marsType)) throw new Error(`mars: marsType must be one of ${MARS_TYPES.join(', ')}, got '${o.marsType}'`);
  if (o.mode !== 'approx' && o.mode !== 'exact') throw new Error(`mars: mode must be 'approx' or 'exact', got '${o.mode}'`);
  if (o.conv !== 'adamw' && o.conv !== 'mars') throw new Error(`mars: conv must be 'adamw' or 'mars', got '${o.conv}'`);
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1)) throw new Error(`mars: betas must lie in [0, 1), got (${o.beta1}, ${o.beta2})`);
  const main = marsTransform({ ...o, correct: true });
  if (o.optimize1d) return main;
  const inner = marsTransform({
    lr: o.lr1d, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.eps, weightDecay: o.weightDecay1d, amsgrad: o.amsgrad,
    correct: false, gamma: 0, mode: 'approx', marsType: 'mars-adamw',
  });
  const toMars = (rank: number) => rank === 2 || (o.conv === 'mars' && rank === 4);
  return route(
    { label: 'mars', when: (p) => toMars(p.variable.rank), transform: main },
    { label: 'adamw-1d', fallback: true, transform: inner },
  );
}

/** MARS (mars-adamw by default) with the reference's routing of non-2-D tensors to an internal AdamW. */
export const mars = defineOptimizer('mars', MARS_DEFAULTS, build);
