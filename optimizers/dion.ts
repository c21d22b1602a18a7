/**
 * Dion: distributed orthonormalized updates by low-rank power iteration with error feedback (Ahn, Xu,
 * Abreu & Langford, arXiv 2504.05295), in the single-device form of the authors' reference implementation
 * (microsoft/dion `dion/dion_reference.py`, class `Dion`, commit 0a059a4, with no device meshes).
 * docs/optimizers/dion.md.
 *
 * Per matrix X (PyTorch [out, in]; optlab's [in, out] kernel K = X^T) Dion works on the orientation the
 * reference picks, B = X unless out < in (then B = X^T), with momentum M in that orientation and a basis
 * Q (cols(B) x r), r = min(ceil(rankFraction min(m, n) / rankMultipleOf) rankMultipleOf, m, n), drawn
 * N(0, 1) once:
 *   M <- M + G
 *   P <- orthonormalize(B Q), R <- B^T P              (powerIters times, B = M)
 *   M <- M - (1 - mu) P R^T                           (error feedback: what the rank-r step leaves)
 *   Q <- R / (||R||_col + eps)                        (column-normalized; the next step's basis)
 *   X <- X (1 - lr wd) - lr sqrt(out / in) P Q^T
 * If M is all zero, P = 0 and Q keeps its initial value (then normalized); NaNs in P or R become 0.
 * orthonormalize: 'rcqr' (the default; randomized Cholesky QR: a Gaussian sketch S (k x m, k = ceil(1.25 r
 * / 128) 128, entries N(0, 1/k)), R from qr(S P), P R^-1, then one Cholesky QR pass; used when P is taller
 * than wide, else Householder QR), 'cqr' (Cholesky QR after `cqrWarmupSteps` steps of rcqr, falling back
 * to rcqr where the Cholesky factorization fails), 'qr' (Householder). Other parameters (embedding, head,
 * vector) take the reference's scalar algorithm: AdamW (M <- lerp(M, G, 1-b1), V <- b2 V + (1-b2) G^2,
 * X <- X (1 - lr wd) - lr / (1 - b1^t) M / (sqrt(V) / sqrt(1 - b2^t) + eps)) or Lion.
 *
 * The small factorizations (QR of the k x r sketch, Cholesky of r x r Gram matrices; Householder QR of
 * P for 'qr') run on the host in float64 (optimizers/qr.ts); each reads a matrix back from the backend.
 * Fallbacks are counted: a failed Cholesky in 'cqr' (rcqr used instead, as the reference does) and a
 * failed second Cholesky pass of rcqr (the reference would continue with NaNs and zero them; optlab uses
 * Householder QR instead) add to `dionMonitor(def)` and the run-log figure `dion_qr_fallbacks`.
 *
 * Differs from reference: float32 only (no DionMixedPrecisionConfig); the initial Q and the sketches come
 * from a keyed RandomSource (optimizers/random.ts, seeded by `seed`) instead of torch's global generator and
 * a generator seeded 0: the result does not depend on the sketch in exact arithmetic (P R^-1 R2^-1 is the
 * QR factor of P up to column signs, which Dion's update does not see), only its rounding does; conv
 * kernels are orthonormalized as their (kh kw in) x out view (the reference takes 2-D parameters only).
 * Use on roles: matrix, conv (Dion); embedding, head, vector (the scalar algorithm, as the reference's
 * train.py routes them).
 */
import * as tf from '@tensorflow/tfjs-core';
import { anyInteger, anyOf, checkDomains, integer, interval, nonNegative, oneOf, positive, unitInterval, type Domains } from './domains.js';
import { chain, defineOptimizer, exactSign, route, type OptimizerDef, type Parameter, type SlotMaker, type State, type StepContext, type Transform } from './core.js';
import { fans, matrixView } from './linalg.js';
import { lerp } from './momentum.js';
import { choleskyUpper, qrFactor, upperTriangularInverse } from './qr.js';
import { seededRandom, type RandomSource } from './random.js';

/** Options of Dion. Every default is microsoft/dion `dion_reference.Dion`'s. */
export interface DionOptions {
  /** Base learning rate; Dion's update is scaled by sqrt(fan_out / fan_in). @default 0.01 */
  lr?: number;
  /** Momentum mu: the fraction of the rank-r part kept in M (error feedback). @default 0.95 */
  mu?: number;
  /** beta1 of the scalar algorithm (AdamW, Lion). @default 0.9 */
  beta1?: number;
  /** beta2 of the scalar algorithm. @default 0.95 */
  beta2?: number;
  /** Decoupled weight decay X <- X (1 - lr wd), every parameter. @default 0.01 */
  weightDecay?: number;
  /** Column-normalization epsilon, and AdamW's. @default 1e-8 */
  epsilon?: number;
  /** r / min(m, n) of the low-rank approximation, in (0, 1]. @default 1 */
  rankFraction?: number;
  /** Round r up to a multiple of this. @default 1 */
  rankMultipleOf?: number;
  /** Power iterations per step. @default 1 */
  powerIters?: number;
  /** Orthonormalization of P: 'rcqr' (randomized Cholesky QR), 'cqr' (Cholesky QR after warm-up), 'qr' (Householder). @default 'rcqr' */
  qrMethod?: 'rcqr' | 'cqr' | 'qr';
  /** Steps of rcqr before 'cqr' starts. @default 150 */
  cqrWarmupSteps?: number;
  /** Sketch rows per rank in rcqr (rounded up to a multiple of 128). @default 1.25 */
  rcqrOversample?: number;
  /** Algorithm of the non-matrix parameters (embedding, head, vector). @default 'adamw' */
  scalarAlgorithm?: 'adamw' | 'lion';
  /** Learning rate of the scalar algorithm; -1 uses lr (the reference's one param group). @default -1 */
  scalarLr?: number;
  /** Weight decay of the scalar algorithm; -1 uses weightDecay. @default -1 */
  scalarWeightDecay?: number;
  /** Seed of the initial Q and the rcqr sketches. @default 0 */
  seed?: number;
}

export const DION_DEFAULTS: Required<DionOptions> = {
  lr: 0.01,
  mu: 0.95,
  beta1: 0.9,
  beta2: 0.95,
  weightDecay: 0.01,
  epsilon: 1e-8,
  rankFraction: 1,
  rankMultipleOf: 1,
  powerIters: 1,
  qrMethod: 'rcqr',
  cqrWarmupSteps: 150,
  rcqrOversample: 1.25,
  scalarAlgorithm: 'adamw',
  scalarLr: -1,
  scalarWeightDecay: -1,
  seed: 0,
};

/**
 * The allowed values of each option (optimizers/domains.ts). From the reference's checks: lr > 0 (it
 * takes 0), weight decay >= 0, rankFraction in (0, 1], rankMultipleOf and powerIters integers >= 1, qrMethod
 * one of its three. Tighter than the reference where its update needs it: mu in [0, 1] (the fraction of the
 * rank-r part kept; the reference only asks mu >= 0), betas in [0, 1) (the scalar AdamW divides by
 * 1 - beta1^t and sqrt(1 - beta2^t)), epsilon > 0 (it divides a zero column of R, and a zero AdamW moment).
 * cqrWarmupSteps an integer >= 0 (0: cqr from the first step), rcqrOversample >= 1, scalarLr -1 (= lr) or
 * > 0, scalarWeightDecay -1 (= weightDecay) or >= 0, seed any integer.
 */
export const DION_DOMAINS: Domains<DionOptions> = {
  lr: positive, mu: interval(0, 1), beta1: unitInterval, beta2: unitInterval, weightDecay: nonNegative, epsilon: positive,
  rankFraction: interval(0, 1, { lowOpen: true }), rankMultipleOf: integer(1), powerIters: integer(1), qrMethod: oneOf('rcqr', 'cqr', 'qr'),
  cqrWarmupSteps: integer(0), rcqrOversample: interval(1, Infinity), scalarAlgorithm: oneOf('adamw', 'lion'),
  scalarLr: anyOf(oneOf(-1), positive), scalarWeightDecay: anyOf(oneOf(-1), nonNegative), seed: anyInteger,
};

/** How Dion sees a matrix: the working orientation B ([m, n], m >= n unless square) and the rank r. */
export interface DionLayout {
  /** True when B is the transpose of the [in, out] view (PyTorch's X itself). */
  transposed: boolean;
  m: number;
  n: number;
  r: number;
}

/** The reference's orientation and rank for an optlab [in, out] (or conv) parameter shape. */
export function dionLayout(shape: readonly number[], o: Pick<Required<DionOptions>, 'rankFraction' | 'rankMultipleOf'>): DionLayout {
  const [fanIn, fanOut] = fans(shape);
  // PyTorch X = [out, in]; the reference transposes X when out < in, i.e. works on [in, out] exactly then.
  const transposed = !(fanOut < fanIn);
  const [m, n] = transposed ? [fanOut, fanIn] : [fanIn, fanOut];
  let r = o.rankFraction * Math.min(m, n);
  r = o.rankMultipleOf * Math.ceil(r / o.rankMultipleOf - 1e-12);
  return { transposed, m, n, r: Math.max(1, Math.min(r, m, n)) };
}

/** Dion's fallback counters (host numbers). */
export interface DionMonitor {
  /** `dion_qr_fallbacks`: Cholesky factorizations that failed and were replaced (cqr -> rcqr, rcqr's second pass -> Householder QR). */
  diagnostics(): Record<string, number>;
}

const MONITOR = Symbol('dion.monitor');

function hostData(x: tf.Tensor): Float32Array {
  return x.dataSync() as Float32Array;
}

/** The Dion matrix update with its learning rate and decay. `random` supplies Q's initial values and the sketches. */
export function scaleByDion(o: Required<DionOptions>, random: RandomSource, counts: { fallbacks: number }): Transform {
  const layouts = new Map<string, DionLayout>();
  // Draws are keyed by the parameter's position among Dion's parameters, not its name (a renamed or reloaded model draws the same).
  const streams = new Map<string, number>();
  const warned = new Set<string>();
  const fallback = (p: Parameter, why: string, t: number) => {
    counts.fallbacks += 1;
    if (warned.has(p.name)) return;
    warned.add(p.name);
    console.warn(`dion: ${why} for '${p.name}' at step ${t}; later fallbacks are counted, not printed (dionMonitor, dion_qr_fallbacks)`);
  };

  /** Householder QR of P on the host: Q (m x r). */
  function qr(pm: tf.Tensor2D): tf.Tensor2D {
    const [m, r] = pm.shape;
    const { q } = qrFactor(hostData(pm), m, r);
    return tf.tensor2d(Float32Array.from(q), [m, r]);
  }

  /** P R^-1 for R = chol(P^T P), or null when P^T P is not positive definite. */
  function choleskyQR(pm: tf.Tensor2D): tf.Tensor2D | null {
    const r = pm.shape[1];
    const rr = choleskyUpper(hostData(tf.matMul(pm, pm, true, false)), r);
    const inv = rr && upperTriangularInverse(rr, r);
    return inv ? tf.matMul(pm, tf.tensor2d(Float32Array.from(inv), [r, r])) : null;
  }

  function orthonormalize(pm: tf.Tensor2D, p: Parameter, t: number): tf.Tensor2D {
    const [m, r] = pm.shape;
    let method = o.qrMethod === 'cqr' && t <= o.cqrWarmupSteps ? 'rcqr' : o.qrMethod;
    if (method === 'cqr') {
      const q = choleskyQR(pm);
      if (q) return q;
      fallback(p, 'Cholesky QR failed (P^T P not positive definite); randomized Cholesky QR used', t);
      method = 'rcqr';
    }
    if (method === 'qr' || m <= r) return qr(pm);
    const k = Math.ceil((o.rcqrOversample * r) / 128) * 128;
    const sketch = tf.mul(random.normal(`#${streams.get(p.name)}/sketch@${t}`, [k, m]), Math.sqrt(1 / k)) as tf.Tensor2D;
    const { r: rs } = qrFactor(hostData(tf.matMul(sketch, pm)), k, r);
    const rsInv = upperTriangularInverse(rs, r);
    if (rsInv) {
      const q1 = tf.matMul(pm, tf.tensor2d(Float32Array.from(rsInv), [r, r]));
      const q2 = choleskyQR(q1 as tf.Tensor2D);
      if (q2) return q2;
    }
    fallback(p, 'randomized Cholesky QR failed (singular sketch or Gram matrix); Householder QR used', t);
    return qr(pm);
  }

  return {
    name: 'dion',
    init(p: Parameter, slot: SlotMaker): State {
      const lay = dionLayout(p.variable.shape, o);
      layouts.set(p.name, lay);
      if (!streams.has(p.name)) streams.set(p.name, streams.size);
      const q0 = tf.tidy(() => random.normal(`#${streams.get(p.name)}/Q@init`, [lay.n, lay.r]));
      const s: State = { momentum: slot('momentum', 'zeros'), Q: slot('Q', q0) };
      q0.dispose();
      return s;
    },
    update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor {
      const lay = layouts.get(p.name)!;
      const orient = (x: tf.Tensor): tf.Tensor2D => {
        const v = matrixView(x);
        return lay.transposed ? tf.transpose(v) : v;
      };
      const mNew = tf.add(s.momentum, u);
      const b = orient(mNew);
      let q = s.Q as tf.Tensor2D;
      let pm: tf.Tensor2D = q;
      for (let i = 0; i < o.powerIters; i++) {
        pm = orthonormalize(tf.matMul(b, q), p, ctx.t);
        q = tf.matMul(b, pm, true, false);
      }
      // fix_all_zero_or_nan: an all-zero M leaves P = 0 and Q at its previous value.
      const allZero = tf.equal(tf.max(tf.abs(b)), 0);
      const notZero = tf.cast(tf.logicalNot(allZero), 'float32');
      pm = tf.mul(tf.where(tf.isNaN(pm), tf.zerosLike(pm), pm), notZero) as tf.Tensor2D;
      const rmat = tf.add(tf.mul(tf.where(tf.isNaN(q), tf.zerosLike(q), q), notZero), tf.mul(s.Q, tf.cast(allZero, 'float32'))) as tf.Tensor2D;
      const bNext = tf.sub(b, tf.mul(tf.matMul(pm, rmat, false, true), 1 - o.mu));
      const back = (x: tf.Tensor2D) => tf.reshape(lay.transposed ? tf.transpose(x) : x, p.variable.shape);
      s.momentum.assign(back(bNext as tf.Tensor2D));
      // Column norms as sqrt(sum R^2) (tf.norm goes through Pow and Abs, slow on wasm).
      const qNew = tf.div(rmat, tf.add(tf.sqrt(tf.sum(tf.square(rmat), 0, true)), o.epsilon)) as tf.Tensor2D;
      s.Q.assign(qNew);
      const [fanIn, fanOut] = fans(p.variable.shape);
      const scaledLr = Math.sqrt(fanOut / fanIn) * o.lr * ctx.lrScale;
      return tf.mul(back(tf.matMul(pm, qNew, false, true)), -scaledLr);
    },
    decay: (_p, ctx) => 1 - o.lr * ctx.lrScale * o.weightDecay,
    describe: () => `dion(mu=${o.mu},rank_fraction=${o.rankFraction},qr=${o.qrMethod},power_iters=${o.powerIters},wd=${o.weightDecay}) lr=${o.lr}`,
    diagnostics: ['dion_qr_fallbacks'],
  };
}

/** The reference's scalar AdamW (`scalar_opts.adamw_update`), in its float32 operation order. */
function dionAdamW(lr: number, beta1: number, beta2: number, wd: number, eps: number): Transform {
  return {
    name: 'adamw',
    init: (_p, slot) => ({ m: slot('m', 'zeros'), v: slot('v', 'zeros') }),
    update(g, s, _p, ctx) {
      const m = lerp(s.m, g, 1 - beta1);
      const v = tf.add(tf.mul(s.v, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
      s.m.assign(m);
      s.v.assign(v);
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - Math.pow(beta2, ctx.t))), eps);
      return tf.mul(tf.div(m, denom), -(lr * ctx.lrScale) / (1 - Math.pow(beta1, ctx.t)));
    },
    decay: (_p, ctx) => 1 - lr * ctx.lrScale * wd,
    describe: () => `adamw(b1=${beta1},b2=${beta2},eps=${eps},wd=${wd}) lr=${lr}`,
  };
}

/** The reference's scalar Lion (`scalar_opts.lion_update`): U = sign(lerp(M, G, 1-b1)), M <- lerp(M, G, 1-b2), X <- X (1 - lr wd) - lr U. */
function dionLion(lr: number, beta1: number, beta2: number, wd: number): Transform {
  return {
    name: 'lion',
    init: (_p, slot) => ({ m: slot('m', 'zeros') }),
    update(g, s, _p, ctx) {
      const dir = exactSign(lerp(s.m, g, 1 - beta1));
      s.m.assign(lerp(s.m, g, 1 - beta2));
      return tf.mul(dir, -lr * ctx.lrScale);
    },
    decay: (_p, ctx) => 1 - lr * ctx.lrScale * wd,
    describe: () => `lion(b1=${beta1},b2=${beta2},wd=${wd}) lr=${lr}`,
  };
}

/** Dion on matrix and conv parameters, the scalar algorithm on the others; `random` replaces the seeded draws (parity replay). */
export function dionDef(o: Required<DionOptions>, random: RandomSource = seededRandom(o.seed)): OptimizerDef {
  checkDomains('dion', DION_DOMAINS, o as unknown as Record<string, unknown>);
  const counts = { fallbacks: 0 };
  const main = scaleByDion(o, random, counts);
  const probe: Transform = {
    name: 'dion-report',
    update: (u, _s, p, ctx) => {
      if (ctx.probe) ctx.probe.scalar(p, 'dion_qr_fallbacks', tf.scalar(counts.fallbacks));
      return u;
    },
  };
  const lr = o.scalarLr === -1 ? o.lr : o.scalarLr;
  const wd = o.scalarWeightDecay === -1 ? o.weightDecay : o.scalarWeightDecay;
  const scalar = o.scalarAlgorithm === 'adamw' ? dionAdamW(lr, o.beta1, o.beta2, wd, o.epsilon) : dionLion(lr, o.beta1, o.beta2, wd);
  const def = route(
    { label: 'dion', roles: ['matrix', 'conv'], when: (p) => p.variable.rank >= 2, transform: chain(main, probe) },
    { label: o.scalarAlgorithm, fallback: true, transform: scalar },
  );
  return Object.assign(def, { [MONITOR]: { diagnostics: () => ({ dion_qr_fallbacks: counts.fallbacks }) } as DionMonitor });
}

/** Dion's fallback counters for a definition built by `dion(...)`, or null for another method's. Reads no tensor. */
export function dionMonitor(def: OptimizerDef): DionMonitor | null {
  return ((def as unknown as Record<symbol, DionMonitor | undefined>)[MONITOR]) ?? null;
}

/** Dion, low-rank orthonormalized updates with error feedback, as microsoft/dion's dion_reference.Dion computes them on one device (registry name 'dion'). */
export const dion = defineOptimizer('dion', DION_DEFAULTS, (o) => dionDef(o), { domains: DION_DOMAINS });
