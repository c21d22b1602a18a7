/**
 * PSGD-Kron: preconditioned SGD with a Kronecker-factored whitening preconditioner P = Q^T Q fitted online
 * (Xi-Lin Li, arXiv 1512.04202 and arXiv 2402.11858), as the author's torch.optim wrapper `KWNS4`
 * (lixilinx/psgd_torch `wrapped_as_torch_optimizer_for_ddp.py`, commit a8616f1) computes it: Q fitted in the
 * Q^0.5 E Q^1.5 geometry (`psgd.update_precond_kron_whiten_q0p5eq1p5`, the default and recommended one,
 * an online Newton-Schulz iteration for the inverse 4th root of E[g g^T]). docs/optimizers/psgd_kron.md.
 *
 * Per parameter (singleton dimensions squeezed; each dimension k has a factor Q_k: dense d x d, or diagonal
 * when d > preconditionerMaxSize or d^2 > preconditionerMaxSkew * numel; Q_k = s^(1/order) I at the start):
 *   W <- W (1 - lr wd)                                 (decoupled; else g <- g + wd W)
 *   m <- beta m + (1 - beta) g,  beta = min((t-1)/t, momentum)
 *   with probability p (one coin per step for every parameter), before (or after) preconditioning:
 *     x = whitenGrad ? g : m;  V ~ N(0, I);  Pg = P (x + (damping + eps_f32 |x|) V)
 *     per factor k: T = Pg_(k) Pg_(k)^T (diagonal: its diagonal), c = numel / d_k,
 *       ell = ||T||_2 (a randomized lower bound; diagonal: max T) + c,  L_k <- max(betaL L_k + (1 - betaL) ell, ell)
 *       dense: Q_k <- Q_k - lrP / L_k (T Q_k - c Q_k), then one Procrustes rotation towards a symmetric Q_k;
 *       diagonal: Q_k <- Q_k (1 - lrP / L_k (T - c))
 *     with probability 0.01: the factors' max-abs norms rebalanced to their geometric mean
 *   h = P (momentum > 0 ? m : g);  h <- h * min(1, 2 / rms(h)) clamped to [-10, 10];  W <- W - lr h
 * (2 and 10 are gradClipMaxAmp and gradClipMaxElement.)
 *
 * Randomness: the preconditioner-update coin, the damping noise V, the subspace-iteration starts of the
 * two spectral-norm bounds per dense factor (32 x d each) and the balancing coin come from a RandomSource
 * (optimizers/random.ts) keyed by parameter (its position, `#i`, in the order the optimizer was built), purpose and step, seeded by `seed`: a run resumed from a
 * checkpoint draws what the uninterrupted run draws. Parity replay feeds the reference's own draws
 * (parity/psgd_kron.ts).
 *
 * Differs from reference: float32 preconditioner (KWNS4's default `preconditioner_dtype` is bfloat16,
 * which tfjs lacks; float32 is its other choice); `preconditionerMaxSize` -1 means unlimited (the
 * reference's float('inf')); `lrScale` (schedules, `optimizer.learningRate`) scales lr_params and the
 * decay with it, not lrPreconditioner or the update probability, which the reference leaves to the user
 * as well; torch's global random stream is replaced by keyed draws (above).
 * Use on roles: every role (the reference preconditions every parameter; 1-D ones get a diagonal factor).
 */
import * as tf from '@tensorflow/tfjs-core';
import { anyInteger, anyOf, bool, checkDomains, interval, nonNegative, oneOf, positive, unitInterval, type Domains } from './domains.js';
import { defineOptimizer, exactSign, type OptimizerDef, type Parameter, type SlotMaker, type State, type StepContext, type Transform } from './core.js';
import { ema } from './adamw.js';
import { seededRandom, type RandomSource } from './random.js';

/** Options of PSGD-Kron. Every default is KWNS4's (lixilinx/psgd_torch). */
export interface PsgdKronOptions {
  /** Learning rate of the parameters (lr_params). @default 2e-4 */
  lr?: number;
  /** Step size of the preconditioner fit, in (0, 1); the author anneals it to 0.01-0.1. @default 0.5 */
  lrPreconditioner?: number;
  /** EMA factor of the Lipschitz constant estimate L of each factor. @default 0.9 */
  betaL?: number;
  /** Damping noise scale added to the whitened vector (bounds P by I / damping). @default 1e-9 */
  damping?: number;
  /** EMA momentum of the gradient (beta1 of Adam's role); 0 preconditions the raw gradient. @default 0.9 */
  momentum?: number;
  /** Weight decay; decoupled: W <- W (1 - lr wd). @default 0.05 */
  weightDecay?: number;
  /** Decoupled weight decay (true) or L2 added to the gradient (false). @default true */
  decoupledWeightDecay?: boolean;
  /** Fit P to whiten the gradient (true) or the momentum (false). @default false */
  whitenGrad?: boolean;
  /** Clip the preconditioned gradient to this RMS (grad_clip_max_amps[0]). @default 2 */
  gradClipMaxAmp?: number;
  /** Then clamp each element to this magnitude (grad_clip_max_amps[1]). @default 10 */
  gradClipMaxElement?: number;
  /** Probability of updating the preconditioner at a step (one coin per step for every parameter). @default 1 */
  preconditionerUpdateProbability?: number;
  /** Update the preconditioner before preconditioning (biased) or after (unbiased). @default true */
  updatePreconditionerFirst?: boolean;
  /** Dimensions larger than this get a diagonal factor; -1 means no limit. @default -1 */
  preconditionerMaxSize?: number;
  /** Dimensions with d^2 > maxSkew * numel get a diagonal factor (0: all diagonal). @default 1 */
  preconditionerMaxSkew?: number;
  /** Initial Q = scale * I (P0 = scale^2 I), split over the factors as scale^(1/order). @default 1 */
  preconditionerInitScale?: number;
  /** Seed of the random draws (probe vectors, damping noise, coins). @default 0 */
  seed?: number;
}

export const PSGD_KRON_DEFAULTS: Required<PsgdKronOptions> = {
  lr: 2e-4,
  lrPreconditioner: 0.5,
  betaL: 0.9,
  damping: 1e-9,
  momentum: 0.9,
  weightDecay: 0.05,
  decoupledWeightDecay: true,
  whitenGrad: false,
  gradClipMaxAmp: 2,
  gradClipMaxElement: 10,
  preconditionerUpdateProbability: 1,
  updatePreconditionerFirst: true,
  preconditionerMaxSize: -1,
  preconditionerMaxSkew: 1,
  preconditionerInitScale: 1,
  seed: 0,
};

/**
 * The allowed values of each option (optimizers/domains.ts), KWNS4's own asserts: lr > 0,
 * lrPreconditioner in (0, 1), betaL in [0, 1] (1 keeps the running maximum of the Lipschitz estimates),
 * damping >= 0 (0 leaves the float32-eps noise term), momentum in [0, 1), weight decay >= 0, both clip
 * thresholds >= 1 (and gradClipMaxElement >= gradClipMaxAmp, checked by the builder), update probability
 * in (0, 1], preconditionerMaxSize -1 (the reference's inf) or >= 0, preconditionerMaxSkew >= 0,
 * preconditionerInitScale > 0; seed any integer.
 */
export const PSGD_KRON_DOMAINS: Domains<PsgdKronOptions> = {
  lr: positive, lrPreconditioner: interval(0, 1, { lowOpen: true, highOpen: true }), betaL: interval(0, 1), damping: nonNegative, momentum: unitInterval,
  weightDecay: nonNegative, decoupledWeightDecay: bool, whitenGrad: bool, gradClipMaxAmp: interval(1, Infinity), gradClipMaxElement: interval(1, Infinity),
  preconditionerUpdateProbability: interval(0, 1, { lowOpen: true }), updatePreconditionerFirst: bool, preconditionerMaxSize: anyOf(oneOf(-1), nonNegative),
  preconditionerMaxSkew: nonNegative, preconditionerInitScale: positive, seed: anyInteger,
};

/** float32's machine epsilon and smallest normal number (torch.finfo(torch.float32)). */
const EPS_F32 = 2 ** -23;
const SMALLEST_NORMAL = 2 ** -126;
/** Subspace dimension and half-iterations of the reference's spectral-norm lower bounds. */
const NORM_K = 32;
const NORM_HALF_ITERS = 2;

/** The squeezed work shape of a parameter (a scalar becomes [1]) and which factors are dense. */
export interface PsgdKronLayout {
  work: number[];
  dense: boolean[];
}

/** Work shape and factor kinds of a parameter shape (the reference's squeeze and `init_kron` rule). */
export function psgdKronLayout(shape: readonly number[], o: Pick<Required<PsgdKronOptions>, 'preconditionerMaxSize' | 'preconditionerMaxSkew'>): PsgdKronLayout {
  const squeezed = shape.filter((d) => d !== 1);
  const work = squeezed.length === 0 ? [1] : squeezed;
  const numel = work.reduce((a, b) => a * b, 1);
  const maxSize = o.preconditionerMaxSize < 0 ? Infinity : o.preconditionerMaxSize;
  const scalar = squeezed.length === 0;
  return { work, dense: work.map((d) => !(scalar || d <= 1 || d > maxSize || d * d > o.preconditionerMaxSkew * numel)) };
}

/** y = A x along dimension k (y[.., a, ..] = sum_b A[a, b] x[.., b, ..]). Call inside tf.tidy. */
function alongDim(x: tf.Tensor, a: tf.Tensor2D, k: number, transposeA = false): tf.Tensor {
  if (x.rank === 1) return tf.reshape(tf.matMul(a, tf.reshape(x, [-1, 1]), transposeA, false), x.shape);
  if (x.rank === 2) return k === 0 ? tf.matMul(a, x as tf.Tensor2D, transposeA, false) : tf.matMul(x as tf.Tensor2D, a, false, !transposeA);
  const perm = [k, ...x.shape.map((_, i) => i).filter((i) => i !== k)];
  const moved = tf.transpose(x, perm);
  const y = tf.matMul(a, tf.reshape(moved, [x.shape[k], -1]) as tf.Tensor2D, transposeA, false);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return tf.transpose(tf.reshape(y, moved.shape), inv);
}

/** A vector q of length d_k broadcast along dimension k of a rank-r tensor. */
function broadcastAlong(q: tf.Tensor, k: number, rank: number): tf.Tensor {
  const shape = Array.from({ length: rank }, (_, i) => (i === k ? q.size : 1));
  return tf.reshape(q, shape);
}

/** Pg = (Q^T Q) x along every dimension (diagonal factors: q^2 x), the reference's `precond_grad_kron`. Call inside tf.tidy. */
function precondition(x: tf.Tensor, qs: tf.Tensor[], dense: boolean[]): tf.Tensor {
  let y = x;
  qs.forEach((q, k) => {
    if (dense[k]) y = alongDim(alongDim(y, q as tf.Tensor2D, k), q as tf.Tensor2D, k, true);
    else y = tf.mul(y, broadcastAlong(tf.square(q), k, x.rank));
  });
  return y;
}

/** Mode-k contraction of x with itself over every other dimension: dense, x_(k) x_(k)^T; diagonal, its diagonal. Call inside tf.tidy. */
function modeGram(x: tf.Tensor, k: number, dense: boolean): tf.Tensor {
  if (!dense) {
    const others = x.shape.map((_, i) => i).filter((i) => i !== k);
    return others.length ? tf.sum(tf.square(x), others) : tf.square(x);
  }
  if (x.rank === 1) return tf.outerProduct(x as tf.Tensor1D, x as tf.Tensor1D);
  if (x.rank === 2) return k === 0 ? tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D, false, true) : tf.matMul(x as tf.Tensor2D, x as tf.Tensor2D, true, false);
  const perm = [k, ...x.shape.map((_, i) => i).filter((i) => i !== k)];
  const m = tf.reshape(tf.transpose(x, perm), [x.shape[k], -1]) as tf.Tensor2D;
  return tf.matMul(m, m, false, true);
}

/** Euclidean norm of each row, sqrt(sum x^2) (tf.norm goes through Pow and Abs). */
function rowNorms(x: tf.Tensor2D, keepDims = false): tf.Tensor {
  return tf.sqrt(tf.sum(tf.square(x), 1, keepDims));
}

/**
 * The reference's cheap lower bound of the spectral norm (`norm_lower_bound_spd` with `normalizer`
 * 'diag', `norm_lower_bound_skh` with 'maxabs'): A scaled by its largest diagonal (absolute) entry, 32
 * random rows v (given, 32 x n) turned towards A's largest row, two half-iterations v <- normalize(v A) A,
 * the largest row norm times the scale. Call inside tf.tidy.
 */
export function normLowerBound(a: tf.Tensor2D, v: tf.Tensor2D, normalizer: 'diag' | 'maxabs'): tf.Scalar {
  const nf = tf.add(normalizer === 'diag' ? tf.max(diagonal(a)) : tf.max(tf.abs(a)), SMALLEST_NORMAL);
  const an = tf.div(a, nf) as tf.Tensor2D;
  const row = tf.gather(an, tf.reshape(tf.argMax(rowNorms(an)), [1]));
  const sgn = exactSign(tf.sum(tf.mul(row, v), 1, true));
  let x = tf.add(row, tf.mul(sgn, v)) as tf.Tensor2D;
  for (let i = 0; i < NORM_HALF_ITERS; i++) {
    x = tf.matMul(x, an);
    x = tf.div(x, tf.add(rowNorms(x, true), SMALLEST_NORMAL)) as tf.Tensor2D;
    x = tf.matMul(x, an);
  }
  return tf.mul(nf, tf.max(rowNorms(x))) as tf.Scalar;
}

/** The diagonal of a square matrix, by one gather (tf.linalg.bandPart is a dozen broadcast kernels). */
function diagonal(a: tf.Tensor2D): tf.Tensor1D {
  const n = a.shape[0];
  return tf.gather(tf.reshape(a, [n * n]), tf.range(0, n * n, n + 1, 'int32')) as tf.Tensor1D;
}

/** Sum of the diagonal of a square matrix. */
function trace(a: tf.Tensor2D): tf.Scalar {
  return tf.sum(diagonal(a)) as tf.Scalar;
}

/** The reference's `procrustes_step2`: Q rotated by exp(a R) to second order, R = (Q^T - Q) / ||Q^T - Q||, a <= 1/8. Call inside tf.tidy. */
export function procrustesStep(q: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
  const r0 = tf.sub(tf.transpose(q), q) as tf.Tensor2D;
  const r = tf.div(r0, tf.add(normLowerBound(r0, v, 'maxabs'), SMALLEST_NORMAL)) as tf.Tensor2D;
  const rq = tf.matMul(r, q) as tf.Tensor2D;
  const rrq = tf.matMul(r, rq) as tf.Tensor2D;
  const trRq = trace(rq);
  const trRrq = trace(rrq);
  const maxStep = 1 / 8;
  const a = tf.where(tf.less(trRrq, 0), tf.minimum(tf.div(tf.neg(trRq), trRrq), maxStep), tf.scalar(maxStep));
  return tf.add(q, tf.mul(a, tf.add(rq, tf.mul(tf.mul(a, 0.5), rrq)))) as tf.Tensor2D;
}

/** The PSGD-Kron step with its learning rate (the whole method as one transform). `random` supplies every draw. */
export function scaleByPsgdKron(o: Required<PsgdKronOptions>, random: RandomSource = seededRandom(o.seed)): Transform {
  const layouts = new Map<string, PsgdKronLayout>();
  const streams = new Map<string, number>();

  /** One fit of the factors to whiten x (update_precond_kron_whiten_q0p5eq1p5), in place on the state. */
  function fit(x: tf.Tensor, s: State, p: Parameter, lay: PsgdKronLayout, t: number): void {
    const qs = lay.work.map((_, k) => s[`Q.${k}`] as tf.Tensor);
    // Draws are keyed by the parameter's position (the order `init` saw it in), not its name: a model
    // rebuilt under other layer names, or reloaded, draws the same numbers.
    const name = `#${streams.get(p.name)}`;
    const damping = tf.add(o.damping, tf.mul(tf.abs(x), EPS_F32));
    const noise = random.normal(`${name}/damping@${t}`, lay.work);
    const pg = precondition(tf.add(x, tf.mul(damping, noise)), qs, lay.dense);
    const numel = x.size;
    lay.work.forEach((d, k) => {
      const term1 = modeGram(pg, k, lay.dense[k]);
      const term2 = numel / d;
      const L = s[`L.${k}`];
      const bound = lay.dense[k] ? normLowerBound(term1 as tf.Tensor2D, random.normal(`${name}/Q${k}.norm@${t}`, [NORM_K, d]) as tf.Tensor2D, 'diag') : tf.max(term1);
      const ell = tf.add(bound, term2);
      const lNew = tf.maximum(tf.add(tf.mul(L, o.betaL), tf.mul(ell, 1 - o.betaL)), ell);
      L.assign(tf.reshape(lNew, L.shape));
      const step = tf.div(o.lrPreconditioner, lNew);
      const q = qs[k];
      if (lay.dense[k]) {
        const next = tf.sub(q, tf.mul(step, tf.sub(tf.matMul(term1 as tf.Tensor2D, q as tf.Tensor2D), tf.mul(q, term2)))) as tf.Tensor2D;
        qs[k] = procrustesStep(next, random.normal(`${name}/Q${k}.procrustes@${t}`, [NORM_K, d]) as tf.Tensor2D);
      } else {
        qs[k] = tf.mul(q, tf.sub(1, tf.mul(step, tf.sub(term1, term2))));
      }
    });
    if (qs.length > 1 && random.uniform(`${name}/balance@${t}`) < 0.01) {
      const norms = qs.map((q) => tf.max(tf.abs(q)));
      const gmean = tf.pow(tf.prod(tf.stack(norms)), 1 / qs.length);
      qs.forEach((q, k) => (qs[k] = tf.mul(q, tf.div(gmean, norms[k]))));
    }
    qs.forEach((q, k) => s[`Q.${k}`].assign(q));
  }

  return {
    name: 'psgd-kron',
    init(p: Parameter, slot: SlotMaker): State {
      const lay = psgdKronLayout(p.variable.shape, o);
      layouts.set(p.name, lay);
      if (!streams.has(p.name)) streams.set(p.name, streams.size);
      const s: State = {};
      if (o.momentum > 0) s.momentum = slot('momentum', 'zeros', lay.work);
      const scale = Math.pow(o.preconditionerInitScale, 1 / lay.work.length);
      lay.work.forEach((d, k) => {
        const q = tf.tidy(() => (lay.dense[k] ? tf.mul(tf.eye(d), scale) : tf.fill([d], scale)));
        s[`Q.${k}`] = slot(`Q.${k}`, q);
        q.dispose();
        s[`L.${k}`] = slot(`L.${k}`, 'zeros', []);
      });
      return s;
    },
    update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor {
      const lay = layouts.get(p.name)!;
      const t = ctx.t;
      let g = tf.reshape(u, lay.work);
      if (!o.decoupledWeightDecay && o.weightDecay > 0) g = tf.add(g, tf.mul(tf.reshape(p.variable, lay.work), o.weightDecay));
      let m: tf.Tensor | null = null;
      if (o.momentum > 0) {
        const beta = Math.min((t - 1) / t, o.momentum);
        m = ema(s.momentum, g, beta);
        s.momentum.assign(m);
      }
      const fitNow = random.uniform(`psgd-kron/update@${t}`) < o.preconditionerUpdateProbability;
      const target = o.whitenGrad || !m ? g : m;
      if (fitNow && o.updatePreconditionerFirst) fit(target, s, p, lay, t);
      const qs = lay.work.map((_, k) => s[`Q.${k}`] as tf.Tensor);
      let h = precondition(m ?? g, qs, lay.dense);
      const rms = tf.sqrt(tf.mean(tf.square(h)));
      h = tf.where(tf.greater(rms, o.gradClipMaxAmp), tf.mul(h, tf.div(o.gradClipMaxAmp, rms)), h);
      h = tf.clipByValue(h, -o.gradClipMaxElement, o.gradClipMaxElement);
      const update = tf.mul(tf.reshape(h, p.variable.shape), -o.lr * ctx.lrScale);
      if (fitNow && !o.updatePreconditionerFirst) fit(target, s, p, lay, t);
      return update;
    },
    decay: (_p, ctx) => (o.decoupledWeightDecay && o.weightDecay > 0 ? 1 - o.weightDecay * o.lr * ctx.lrScale : 1),
    describe: () =>
      `psgd-kron(Q0.5EQ1.5,lr_precond=${o.lrPreconditioner},betaL=${o.betaL},damping=${o.damping},momentum=${o.momentum},whiten=${o.whitenGrad ? 'grad' : 'momentum'},wd=${o.weightDecay}${o.decoupledWeightDecay ? '' : '(l2)'},p=${o.preconditionerUpdateProbability},max_skew=${o.preconditionerMaxSkew}) lr=${o.lr}`,
  };
}

function validate(o: Required<PsgdKronOptions>): void {
  checkDomains('psgd-kron', PSGD_KRON_DOMAINS, o as unknown as Record<string, unknown>);
  // Rules between two options (KWNS4's asserts grad_clip_max_amps[1] >= grad_clip_max_amps[0] and momentum > 0 when whitening the momentum).
  if (o.gradClipMaxElement < o.gradClipMaxAmp) throw new Error(`psgd-kron: option 'gradClipMaxElement' must be >= gradClipMaxAmp (${o.gradClipMaxAmp}), got ${o.gradClipMaxElement}`);
  if (!o.whitenGrad && o.momentum === 0) throw new Error('psgd-kron: whitenGrad false (whiten the momentum) needs momentum > 0, got momentum 0');
}

/** PSGD-Kron on every parameter; `random` replaces the seeded draws (parity replay feeds the reference's). */
export function psgdKronDef(o: Required<PsgdKronOptions>, random?: RandomSource): OptimizerDef {
  validate(o);
  return scaleByPsgdKron(o, random);
}

/** PSGD-Kron, a Kronecker whitening preconditioner fitted online, as lixilinx/psgd_torch's KWNS4 computes it (registry name 'psgd-kron'). */
export const psgdKron = defineOptimizer('psgd-kron', PSGD_KRON_DEFAULTS, (o) => psgdKronDef(o), { domains: PSGD_KRON_DOMAINS });
