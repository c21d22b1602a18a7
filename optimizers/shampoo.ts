/**
 * Shampoo: Kronecker-factored preconditioning (Gupta, Koren & Singer, arXiv 1802.09568) in the
 * practical form of Meta's Distributed Shampoo (Shi et al., arXiv 2309.06497), with Shampoo²'s
 * exponent (Morwani et al., arXiv 2406.17748) as a per-order override. docs/optimizers/shampoo.md.
 *
 * Per block G of a parameter's [fan_in, fan_out] view (blocks of at most maxPreconditionerDim):
 *   L <- b2 L + w G G^T,  R <- b2 R + w G^T G         (w = 1 - b2, or 1 and a plain sum when b2 = 1)
 *   every f steps:  L_inv = (L^ + eps I)^{-e},  R_inv likewise (L^ = L / (1 - b2^t) when b2 < 1)
 *   F <- b1 F + (1 - b1) G,  F^ = F / (1 - b1^t)
 *   P = L_inv F^ R_inv,  grafted: P <- P ||P_graft||_F / (||P||_F + 1e-16)   (norms per block)
 *   P <- P + wd W  (decoupled);  M <- mu M + P, P <- M or P + mu M (nesterov);  W <- W - lr P
 * e = 1/(2 order) per factor: 1/4 for a 2-D block, 1/2 for a vector block; `exponentOverride` sets it
 * per order as Meta's `inverse_exponent_override` ({2: 0.5} is Shampoo² on 2-D blocks only).
 * Before startPreconditioningStep the roots are the identity (or the grafted method alone runs).
 *
 * Defaults are Meta's (facebookresearch/optimizers distributed_shampoo @ f606606, `DistributedShampoo`
 * with `DefaultShampooConfig`): absolute epsilon 1e-12, every parameter its own factors (1-D ones one
 * d x d factor), small dims merged (a tensor of at most maxPreconditionerDim elements is one 1-D block),
 * identity initial roots, no grafting, no momentum, and roots from a float32 symmetric eigendecomposition:
 * (L, Q) = eigh(A + eps I); if min(L) < eps then L <- L - min(L) + eps; X = Q L^{-e} Q^T. The
 * eigendecomposition runs on the host: LAPACK `ssyevd`/`dsyevd` through the native addon where it is
 * built (kernels/eigh.ts), else a float64 JavaScript Householder + QL solver (optimizers/eigh.ts).
 *
 * Failed roots: a root that cannot be computed (non-finite factor, eigh not converging, non-finite root,
 * or a Newton residual above `rootFailureThreshold`) keeps the previous root, as Meta does; it is
 * counted per factor, the first failure of each factor prints a warning naming the parameter and the
 * factor, and `shampooMonitor(def)` (or the route transform's `rootReport()`) reports the counts, the
 * factors on stale roots and the condition numbers from the eigenvalues.
 *
 * Differs from reference (each an option whose default is Meta's):
 * - `rootMethod: 'newton'`: coupled Newton in float32 on the backend instead of eigh (Meta's
 *   `CoupledNewtonConfig`), with `epsilonMode: 'relative'` (epsilon * lambda_max, Google's convention) as
 *   an option for that route only; Meta raises after 3 consecutive failures, optlab counts and warns.
 * - `rootPrecision: 'float64'` (Meta's `factor_matrix_dtype` float64); the JavaScript solver always
 *   computes in float64, so without the addon the float32 default is more accurate than Meta's.
 * - `oneDim: 'adamw' | 'graft'`; `exponent: 'half'` (kozistr's -1/order on every order);
 *   `mergeSmallDims: false` (Meta's target_parameter_dimensionality 2 on matrices).
 * - conv kernels are seen as their (kh*kw*in) x out matrix, not merged dim by dim as Meta merges the
 *   PyTorch [out, in, kh, kw] layout; no trace scaling, no eigenvalue correction (SOAP), no per-dimension
 *   exponent overrides (per order only), no beta3.
 * Options that reproduce kozistr/pytorch_optimizer (Shampoo, ScalableShampoo) for `optlab replay` (mapped
 * in parity/shampoo_kozistr.ts): `sequentialFactors`, `initialRoot: 'zero'`, `oneDim: 'graft'`,
 * `rootMethod: 'newton'` with `newtonMaxIter: 0`. That code's two momentum quirks are no options here:
 * they live in parity/shampoo_kozistr.ts.
 * Use on roles: matrix, embedding, head, conv (2-D view (kh*kw*in) x out); vector via `oneDim`.
 *
 * Warnings: roots are computed on the host. Every `preconditionFrequency` steps each factor is read back
 * from the backend (a synchronous `dataSync`, the one exception to "no reads in a step") and its root
 * uploaded; on the wasm and cpu backends that copy is negligible next to the eigendecomposition, on GPU
 * backends it stalls the queue once per recomputation. The Newton route reads its error every
 * `newtonCheckEvery` iterations and its residual once per root. Failure counters live on the host and
 * are not part of `Optimizer.state()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamwTransform, ema } from './adamw.js';
import { chain, defineOptimizer, route, scaleByLr, type OptimizerDef, type Parameter, type Role, type SlotMaker, type State, type StepContext, type Transform } from './core.js';
import type { DiagnosticsProbe } from './diagnostics.js';
import { momentumStep } from './momentum.js';
import { eigenvalueRange, inverseRootEigh, inverseRootNewton, inverseRootResidual, maxEigenvalue } from './linalg.js';

/** Options of Shampoo. Every default is Meta Distributed Shampoo's (docs/optimizers/shampoo.md). */
export interface ShampooOptions {
  /** Learning rate (times the schedule's lrScale); with grafting the step of each block has the grafted method's norm times lr. @default 0.01 */
  lr?: number;
  /** EMA of the gradient before preconditioning (Meta's filtered gradient); 0 disables. @default 0.9 */
  beta1?: number;
  /** EMA of the factors; 1 accumulates plain sums (AdaGrad). @default 1 */
  beta2?: number;
  /** Damping added to each factor's eigenvalues before the root (Meta's `epsilon`). @default 1e-12 */
  epsilon?: number;
  /** 'absolute': epsilon (Meta); 'relative': epsilon * lambda_max(factor) by power iteration (Google; rootMethod 'newton' only). @default 'absolute' */
  epsilonMode?: 'relative' | 'absolute';
  /** Weight decay: 'decoupled' adds wd*W to the direction after grafting (Meta DECOUPLED); 'l2' adds it to the gradient. @default 0 */
  weightDecay?: number;
  /** @default 'decoupled' */
  weightDecayType?: 'decoupled' | 'l2';
  /** Dimensions above this are split into blocks of at most this size, each its own Shampoo problem. @default 1024 */
  maxPreconditionerDim?: number;
  /** A matrix with fan_in * fan_out <= maxPreconditionerDim (or a 1 x n one) gets one full factor on its flattening (Meta merge_small_dims, target dimensionality 1). @default true */
  mergeSmallDims?: boolean;
  /** Recompute inverse roots every f steps. @default 1 */
  preconditionFrequency?: number;
  /** First preconditioned step; -1 means preconditionFrequency (Meta). @default -1 */
  startPreconditioningStep?: number;
  /** Bias-correct the filtered gradient and (when beta2 < 1) the factors. @default true */
  biasCorrection?: boolean;
  /** Method whose per-block step size the Shampoo direction takes. @default 'none' */
  grafting?: 'none' | 'sgd' | 'adagrad' | 'rmsprop' | 'adam';
  /** Second-moment decay of RMSprop/Adam grafting (Meta: 0.99 RMSprop, 0.999 Adam); also AdamW's beta2 for `oneDim: 'adamw'`. @default 0.999 */
  graftBeta2?: number;
  /** Denominator epsilon of AdaGrad/RMSprop/Adam grafting. @default 1e-10 */
  graftEps?: number;
  /** Root per factor of an order-k block: 'quarter' = 1/(2k) (Meta, classic), 'half' = 1/k on every order (kozistr). @default 'quarter' */
  exponent?: 'quarter' | 'half';
  /**
   * Per-order exponent overrides, Meta's `inverse_exponent_override`: `{2: 0.5}` gives 2-D blocks
   * L^{-1/2} F R^{-1/2} (Shampoo²) while vector blocks keep 1/2; 0 leaves that order unpreconditioned.
   * @default {}
   */
  exponentOverride?: Record<string, number>;
  /** Momentum on the preconditioned direction (Meta's classic momentum, dampening 0). @default 0 */
  momentum?: number;
  /** Step with P + mu M (Nesterov) instead of M. @default false */
  nesterov?: boolean;
  /**
   * 'off': both factors from the gradient. 'right-first': R from G, L from G R_inv (kozistr Shampoo, whose
   * PyTorch-side R is accumulated from the left-preconditioned gradient: sides swap with the [out, in] layout).
   * 'left-first': L from G, R from L_inv G. @default 'off'
   */
  sequentialFactors?: 'off' | 'right-first' | 'left-first';
  /** Inverse roots before the first computation: identity (Meta) or zero (kozistr Shampoo). @default 'identity' */
  initialRoot?: 'identity' | 'zero';
  /** 'eigh': symmetric eigendecomposition on the host (Meta's default); 'newton': coupled Newton in float32 on the backend. @default 'eigh' */
  rootMethod?: 'eigh' | 'newton';
  /** Precision of the eigendecomposition and root arithmetic (LAPACK `ssyevd` or `dsyevd`); the JavaScript solver is always float64. @default 'float32' */
  rootPrecision?: 'float32' | 'float64';
  /** 'auto': LAPACK when the native addon is built, else the JavaScript solver; 'lapack' throws without the addon. @default 'auto' */
  eighSolver?: 'auto' | 'lapack' | 'js';
  /** Coupled Newton iterations at most (Meta's CoupledNewtonConfig). 0 keeps the initial iterate z^{1/p} I. @default 100 */
  newtonMaxIter?: number;
  /** Coupled Newton converges when max|M - I| <= tol. @default 1e-6 */
  newtonTol?: number;
  /** Coupled Newton reads its error every this many iterations to stop early; 0 never stops early. @default 4 */
  newtonCheckEvery?: number;
  /** rootMethod 'newton': a new root is kept only when max|X^p (A + eps I) - I| is below this; else the previous root stays and the failure is counted. @default 0.1 */
  rootFailureThreshold?: number;
  /** Power-iteration matvecs for lambda_max (relative epsilon). @default 30 */
  powerIterations?: number;
  /** 1-D parameters (and role 'vector'): 'full' d x d factor (Meta), 'adamw' (lr, beta1, graftBeta2, eps 1e-8, weightDecay), 'graft' (the grafted method alone, never preconditioned). @default 'full' */
  oneDim?: 'full' | 'adamw' | 'graft';
}

export const SHAMPOO_DEFAULTS: Required<ShampooOptions> = {
  lr: 0.01,
  beta1: 0.9,
  beta2: 1,
  epsilon: 1e-12,
  epsilonMode: 'absolute',
  weightDecay: 0,
  weightDecayType: 'decoupled',
  maxPreconditionerDim: 1024,
  mergeSmallDims: true,
  preconditionFrequency: 1,
  startPreconditioningStep: -1,
  biasCorrection: true,
  grafting: 'none',
  graftBeta2: 0.999,
  graftEps: 1e-10,
  exponent: 'quarter',
  exponentOverride: {},
  momentum: 0,
  nesterov: false,
  sequentialFactors: 'off',
  initialRoot: 'identity',
  rootMethod: 'eigh',
  rootPrecision: 'float32',
  eighSolver: 'auto',
  newtonMaxIter: 100,
  newtonTol: 1e-6,
  newtonCheckEvery: 4,
  rootFailureThreshold: 0.1,
  powerIterations: 30,
  oneDim: 'full',
};

const CHOICES: Partial<Record<keyof ShampooOptions, readonly string[]>> = {
  epsilonMode: ['relative', 'absolute'],
  weightDecayType: ['decoupled', 'l2'],
  grafting: ['none', 'sgd', 'adagrad', 'rmsprop', 'adam'],
  exponent: ['quarter', 'half'],
  sequentialFactors: ['off', 'right-first', 'left-first'],
  initialRoot: ['identity', 'zero'],
  rootMethod: ['eigh', 'newton'],
  rootPrecision: ['float32', 'float64'],
  eighSolver: ['auto', 'lapack', 'js'],
  oneDim: ['full', 'adamw', 'graft'],
};

/** One preconditioned block: rows [r0, r0+rows) x cols [c0, c0+cols) of the work matrix; `cols` side is absent for vectors. */
interface Block {
  r0: number;
  rows: number;
  c0: number;
  cols: number;
  /** Slot-name suffix: '' for a single block, '.i.j' otherwise. */
  suffix: string;
}

/** How a parameter is seen: a work matrix [m, n] (n = 1 and `right` false for vectors) cut into blocks. */
interface Layout {
  m: number;
  n: number;
  right: boolean;
  blocks: Block[];
}

function chunks(d: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < d; s += size) out.push([s, Math.min(size, d - s)]);
  return out;
}

/**
 * Work shape and blocks of a parameter (docs/optimizers/shampoo.md): 2-D view, merged or squeezed to a
 * vector when small, blocked when large. A zero-size parameter has no blocks.
 */
export function shampooLayout(shape: readonly number[], o: Pick<Required<ShampooOptions>, 'maxPreconditionerDim' | 'mergeSmallDims'>, asVector = false): Layout {
  const size = shape.reduce((a, b) => a * b, 1);
  let m: number;
  let n: number;
  let right: boolean;
  if (asVector || shape.length < 2) [m, n, right] = [size, 1, false];
  else {
    const v = [size === 0 ? 0 : size / shape[shape.length - 1], shape[shape.length - 1]];
    const squeeze = v[0] === 1 || v[1] === 1;
    const merge = o.mergeSmallDims && size <= o.maxPreconditionerDim;
    [m, n, right] = squeeze || merge ? [size, 1, false] : [v[0], v[1], true];
  }
  const B = Math.max(1, Math.floor(o.maxPreconditionerDim));
  const rs = chunks(m, B);
  const cs = right ? chunks(n, B) : [[0, 1] as [number, number]];
  const blocks: Block[] = [];
  rs.forEach(([r0, rows], i) => cs.forEach(([c0, cols], j) => blocks.push({ r0, rows, c0, cols, suffix: rs.length * cs.length === 1 ? '' : right ? `.${i}.${j}` : `.${i}` })));
  return { m, n, right, blocks };
}

/** Frobenius-norm ratio used by grafting, per block. */
function graftScale(p: tf.Tensor, pg: tf.Tensor): tf.Tensor {
  return tf.div(tf.norm(pg), tf.add(tf.norm(p), 1e-16));
}

/** Root exponent e of each factor of an order-`order` block (X = A^{-e}); 0 means that order is not preconditioned. */
export function shampooRootExponent(o: Pick<Required<ShampooOptions>, 'exponent' | 'exponentOverride'>, order: number): number {
  const override = o.exponentOverride[String(order)];
  if (override !== undefined) return override;
  return o.exponent === 'quarter' ? 1 / (2 * order) : 1 / order;
}

/** What Shampoo knows about one factor's roots (host numbers, no tensor reads). */
export interface ShampooFactorReport {
  /** State key of the factor, e.g. 'blocks.0.attn.qkv/L' or 'wte/R.0.1'. */
  key: string;
  /** Parameter name. */
  param: string;
  /** Factor size n (n x n). */
  size: number;
  /** Root exponent e (X = A^{-e}). */
  exponent: number;
  /** Root computations attempted. */
  computations: number;
  /** Attempts that failed (the previous root stayed). */
  failures: number;
  /** Failures since the last successful root. */
  consecutiveFailures: number;
  /** True when the last attempt failed: the root in use is older than the factor it preconditions. */
  stale: boolean;
  /** Step of the last successful root (0: never, the initial root is in use). */
  lastComputedStep: number;
  /** Why the last failed attempt failed ('' if none). */
  lastFailure: string;
  /**
   * lambda_max / lambda_min of the damped factor the last root was computed from (after Meta's shift
   * on the eigh route; NaN on the Newton route, which computes no eigenvalues).
   */
  conditionNumber: number;
  /** Smallest and largest eigenvalue of A + eps I before the shift (NaN on the Newton route). */
  minEigenvalue: number;
  maxEigenvalue: number;
  /**
   * Residual of the last root: eigh route, max_i |lambda_i / lambda'_i - 1| from the eigenvalues before
   * and after Meta's shift (what the shift changed; 0 without it); Newton route, max|X^p A_e - I|.
   */
  rootResidual: number;
  /** Who computed the last root: 'lapack', 'js' or 'newton'. */
  solver: string;
}

/** Root bookkeeping of a Shampoo transform (or of all Shampoo routes of one optimizer definition). */
export interface ShampooMonitor {
  /** One report per factor, in creation order. */
  factors(): ShampooFactorReport[];
  /**
   * Run-log figures: `shampoo_root_failures` (failed root computations, all factors),
   * `shampoo_stale_factors` (factors whose last attempt failed), `cond_max` (largest condition number
   * among factors with eigenvalues; NaN when none is known).
   */
  diagnostics(): Record<string, number>;
}

function summarize(reports: readonly ShampooFactorReport[]): Record<string, number> {
  let failures = 0;
  let stale = 0;
  let cond = NaN;
  for (const r of reports) {
    failures += r.failures;
    if (r.stale) stale += 1;
    if (!Number.isNaN(r.conditionNumber) && !(r.conditionNumber <= cond)) cond = r.conditionNumber;
  }
  return { shampoo_root_failures: failures, shampoo_stale_factors: stale, cond_max: cond };
}

/** A Shampoo transform with its root bookkeeping. */
export type ShampooTransform = Transform & { factors: ShampooMonitor['factors']; rootReport: ShampooMonitor['diagnostics'] };

/**
 * The Shampoo direction as a transform (no learning rate). With `precondition` false it is the grafted
 * method alone (the `oneDim: 'graft'` route).
 */
export function scaleByShampoo(o: Required<ShampooOptions>, precondition = true): ShampooTransform {
  const layouts = new Map<string, Layout | null>();
  const records = new Map<string, ShampooFactorReport>();
  const start = o.startPreconditioningStep < 0 ? o.preconditionFrequency : o.startPreconditioningStep;
  const w2 = o.beta2 === 1 ? 1 : 1 - o.beta2;

  function fail(rec: ShampooFactorReport, t: number, why: string): void {
    rec.failures += 1;
    rec.consecutiveFailures += 1;
    rec.stale = true;
    rec.lastFailure = why;
    if (rec.failures === 1) {
      console.warn(
        `shampoo: the inverse root of '${rec.param}' factor ${rec.key.slice(rec.param.length + 1)} (${rec.size}x${rec.size}) failed at step ${t}: ${why}. ` +
          `It keeps its previous root (${rec.lastComputedStep === 0 ? 'the initial one' : `from step ${rec.lastComputedStep}`}); later failures of this factor are counted, not printed (shampooMonitor).`,
      );
    }
  }

  /** A new inverse root of `factor` (the accumulated statistics), or null when it failed (counted). */
  function computeRoot(rec: ShampooFactorReport, factor: tf.Tensor2D, t: number): tf.Tensor2D | null {
    rec.computations += 1;
    const a = o.beta2 < 1 && o.biasCorrection ? (tf.div(factor, 1 - Math.pow(o.beta2, t)) as tf.Tensor2D) : factor;
    const e = rec.exponent;
    if (o.rootMethod === 'eigh') {
      const r = inverseRootEigh(a, e, o.epsilon, { precision: o.rootPrecision, solver: o.eighSolver });
      rec.solver = r.solver;
      if (!r.root) {
        fail(rec, t, r.failure ?? 'eigendecomposition failed');
        return null;
      }
      const v = r.values;
      const lmin = v[0];
      const shift = lmin < o.epsilon ? (x: number) => x - lmin + o.epsilon : (x: number) => x;
      let residual = 0;
      for (const x of v) residual = Math.max(residual, Math.abs(x / shift(x) - 1));
      rec.minEigenvalue = lmin;
      rec.maxEigenvalue = v[v.length - 1];
      rec.conditionNumber = shift(v[v.length - 1]) / shift(lmin);
      rec.rootResidual = residual;
      succeed(rec, t);
      return r.root;
    }
    const p = Math.round(1 / e);
    const ridge = o.epsilonMode === 'relative' ? (tf.maximum(tf.mul(maxEigenvalue(a, o.powerIterations), o.epsilon), 1e-30) as tf.Scalar) : o.epsilon;
    const { root, residual } = inverseRootNewton(a, p, { ridge, maxIter: o.newtonMaxIter, tol: o.newtonTol, checkEvery: o.newtonCheckEvery });
    const res = residual.dataSync()[0];
    rec.solver = 'newton';
    rec.rootResidual = res;
    if (!(res < o.rootFailureThreshold)) {
      fail(rec, t, `coupled Newton residual max|X^p A - I| = ${Number.isFinite(res) ? res.toPrecision(3) : String(res)} is not below rootFailureThreshold ${o.rootFailureThreshold}`);
      return null;
    }
    succeed(rec, t);
    return root;
  }

  function succeed(rec: ShampooFactorReport, t: number): void {
    rec.consecutiveFailures = 0;
    rec.stale = false;
    rec.lastComputedStep = t;
  }

  const transform: ShampooTransform = {
    name: precondition ? 'shampoo' : 'shampoo-graft',
    init(p: Parameter, slot: SlotMaker): State {
      if (p.variable.size === 0) {
        layouts.set(p.name, null);
        return {};
      }
      const lay = shampooLayout(p.variable.shape, o, !precondition || p.variable.rank < 2 || p.role === 'vector');
      layouts.set(p.name, lay);
      const s: State = {};
      const work = [lay.m, lay.n];
      if (o.beta1 > 0) s.filtered_grad = slot('filtered_grad', 'zeros', work);
      if (o.grafting === 'adagrad' || o.grafting === 'rmsprop' || o.grafting === 'adam') s.graft_v = slot('graft_v', 'zeros', work);
      if (o.momentum > 0) s.momentum = slot('momentum', 'zeros', work);
      if (!precondition) return s;
      const e = shampooRootExponent(o, lay.right ? 2 : 1);
      if (e === 0) return s;
      const rootSlot = (name: string, d: number) => {
        if (o.initialRoot === 'zero') return slot(name, 'zeros', [d, d]);
        const eye = tf.eye(d);
        const v = slot(name, eye);
        eye.dispose();
        return v;
      };
      const factor = (name: string, d: number) => {
        s[name] = slot(name, 'zeros', [d, d]);
        s[`${name.slice(0, 1)}_inv${name.slice(1)}`] = rootSlot(`${name.slice(0, 1)}_inv${name.slice(1)}`, d);
        records.set(`${p.name}/${name}`, {
          key: `${p.name}/${name}`,
          param: p.name,
          size: d,
          exponent: e,
          computations: 0,
          failures: 0,
          consecutiveFailures: 0,
          stale: false,
          lastComputedStep: 0,
          lastFailure: '',
          conditionNumber: NaN,
          minEigenvalue: NaN,
          maxEigenvalue: NaN,
          rootResidual: NaN,
          solver: '',
        });
      };
      for (const b of lay.blocks) {
        factor(`L${b.suffix}`, b.rows);
        if (lay.right) factor(`R${b.suffix}`, b.cols);
      }
      return s;
    },
    update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor {
      const lay = layouts.get(p.name)!;
      if (lay === null) return tf.zerosLike(u);
      const t = ctx.t;
      const w = tf.reshape(p.variable, [lay.m, lay.n]) as tf.Tensor2D;
      let g = tf.reshape(u, [lay.m, lay.n]) as tf.Tensor2D;
      if (o.weightDecayType === 'l2' && o.weightDecay > 0) g = tf.add(g, tf.mul(w, o.weightDecay)) as tf.Tensor2D;

      let f: tf.Tensor2D = g;
      if (o.beta1 > 0) {
        const fNew = ema(s.filtered_grad, g, o.beta1);
        s.filtered_grad.assign(fNew);
        f = (o.biasCorrection ? tf.div(fNew, 1 - Math.pow(o.beta1, t)) : fNew) as tf.Tensor2D;
      }

      let pg: tf.Tensor2D = f;
      if (s.graft_v) {
        const g2 = tf.square(g);
        const v = o.grafting === 'adagrad' ? tf.add(s.graft_v, g2) : ema(s.graft_v, g2, o.graftBeta2);
        s.graft_v.assign(v);
        const vHat = o.grafting === 'adam' ? tf.div(v, 1 - Math.pow(o.graftBeta2, t)) : v;
        pg = tf.div(f, tf.add(tf.sqrt(vHat), o.graftEps)) as tf.Tensor2D;
      }

      const active = precondition && t >= start;
      let dir: tf.Tensor2D;
      if (!active) {
        // Factors still accumulate before the start step, so the first roots see every gradient.
        if (precondition) for (const b of lay.blocks) accumulate(s, p, lay, b, g, t, false);
        dir = pg;
      } else {
        const compute = t === start || (t > start && t % o.preconditionFrequency === 0);
        const parts = lay.blocks.map((b) => {
          const fb = lay.blocks.length === 1 ? f : (tf.slice(f, [b.r0, b.c0], [b.rows, b.cols]) as tf.Tensor2D);
          const { lInv, rInv } = accumulate(s, p, lay, b, g, t, compute);
          let pb: tf.Tensor2D = lInv ? tf.matMul(lInv, fb) : fb;
          if (rInv) pb = tf.matMul(pb, rInv);
          if (o.grafting !== 'none') {
            const pgb = lay.blocks.length === 1 ? pg : tf.slice(pg, [b.r0, b.c0], [b.rows, b.cols]);
            pb = tf.mul(pb, graftScale(pb, pgb)) as tf.Tensor2D;
          }
          return pb;
        });
        dir = assemble(lay, parts);
      }

      if (o.weightDecayType === 'decoupled' && o.weightDecay > 0) dir = tf.add(dir, tf.mul(w, o.weightDecay)) as tf.Tensor2D;
      if (o.momentum > 0) {
        const m = momentumStep(s.momentum, dir, o.momentum, 'sum', o.nesterov);
        s.momentum.assign(m.buffer);
        dir = m.direction as tf.Tensor2D;
      }
      if (ctx.probe && precondition) probeFactors(ctx.probe, p);
      return tf.reshape(dir, p.variable.shape);
    },
    describe: () => {
      if (!precondition) return `graft(${o.grafting},b1=${o.beta1})`;
      const ov = Object.entries(o.exponentOverride).map(([k, v]) => `${k}:${v}`).join(';');
      const root = o.rootMethod === 'eigh' ? `eigh-${o.rootPrecision}` : `newton`;
      return `shampoo(exp=${o.exponent}${ov ? `,override=${ov}` : ''},b1=${o.beta1},b2=${o.beta2},eps=${o.epsilon}${o.epsilonMode === 'relative' ? '*lmax' : ''},f=${o.preconditionFrequency},start=${start},graft=${o.grafting},maxdim=${o.maxPreconditionerDim},${root})`;
    },
    factors: () => [...records.values()].map((r) => ({ ...r })),
    rootReport: () => summarize([...records.values()]),
    diagnostics: precondition ? ['cond_max', 'shampoo_root_failures'] : [],
  };
  return transform;

  /**
   * Diagnostics of a parameter's factors from the root bookkeeping (host numbers, no tensor read):
   * `cond_max`, the condition number of each factor's last root from its eigenvalues (NaN, and so not
   * reported, on the Newton route), and `shampoo_root_failures`, its failed root computations so far.
   */
  function probeFactors(probe: DiagnosticsProbe, p: Parameter): void {
    for (const r of records.values()) {
      if (r.param !== p.name) continue;
      if (Number.isFinite(r.conditionNumber)) probe.scalar(p, 'cond_max', tf.scalar(r.conditionNumber));
      probe.scalar(p, 'shampoo_root_failures', tf.scalar(r.failures));
    }
  }

  /**
   * Updates the factors of one block with the gradient block and, when `compute`, their inverse roots;
   * returns the roots to apply (absent for an order whose exponent is 0). With `sequentialFactors`, the
   * second factor sees the gradient already preconditioned on the first side by its (possibly just
   * recomputed) root.
   */
  function accumulate(s: State, p: Parameter, lay: Layout, b: Block, g: tf.Tensor2D, t: number, compute: boolean): { lInv?: tf.Tensor2D; rInv?: tf.Tensor2D } {
    if (!s[`L${b.suffix}`]) return {};
    const gb = lay.blocks.length === 1 ? g : (tf.slice(g, [b.r0, b.c0], [b.rows, b.cols]) as tf.Tensor2D);
    const side = (name: 'L' | 'R', x: tf.Tensor2D): tf.Tensor2D => {
      const fac = s[`${name}${b.suffix}`];
      const inv = s[`${name}_inv${b.suffix}`];
      const gram = name === 'L' ? tf.matMul(x, tf.transpose(x)) : tf.matMul(tf.transpose(x), x);
      const next = (o.beta2 === 1 ? tf.add(fac, gram) : tf.add(tf.mul(fac, o.beta2), tf.mul(gram, w2))) as tf.Tensor2D;
      fac.assign(next);
      if (!compute) return inv as tf.Tensor2D;
      const root = computeRoot(records.get(`${p.name}/${name}${b.suffix}`)!, next, t);
      if (!root) return inv as tf.Tensor2D;
      inv.assign(root);
      return root;
    };
    if (!lay.right) return { lInv: side('L', gb) };
    if (o.sequentialFactors === 'right-first') {
      const rInv = side('R', gb);
      return { rInv, lInv: side('L', tf.matMul(gb, rInv)) };
    }
    if (o.sequentialFactors === 'left-first') {
      const lInv = side('L', gb);
      return { lInv, rInv: side('R', tf.matMul(lInv, gb)) };
    }
    return { lInv: side('L', gb), rInv: side('R', gb) };
  }
}

/** Puts per-block results back into the work matrix. */
function assemble(lay: Layout, parts: tf.Tensor2D[]): tf.Tensor2D {
  if (parts.length === 1) return parts[0];
  const rowsOfBlocks: tf.Tensor2D[] = [];
  const perRow = lay.right ? new Set(lay.blocks.map((b) => b.c0)).size : 1;
  for (let i = 0; i < parts.length; i += perRow) rowsOfBlocks.push(perRow === 1 ? parts[i] : tf.concat(parts.slice(i, i + perRow), 1));
  return tf.concat(rowsOfBlocks, 0);
}

function validate(o: Required<ShampooOptions>): void {
  for (const [k, allowed] of Object.entries(CHOICES)) {
    const v = o[k as keyof ShampooOptions] as string;
    if (!allowed!.includes(v)) throw new Error(`shampoo: option '${k}' must be one of ${allowed!.map((x) => `'${x}'`).join(', ')}, got '${v}'`);
  }
  if (!(o.preconditionFrequency >= 1) || !Number.isInteger(o.preconditionFrequency)) throw new Error(`shampoo: preconditionFrequency must be a positive integer, got ${o.preconditionFrequency}`);
  if (!Number.isInteger(o.startPreconditioningStep) || (o.startPreconditioningStep < 1 && o.startPreconditioningStep !== -1)) throw new Error(`shampoo: startPreconditioningStep must be -1 or a positive integer, got ${o.startPreconditioningStep}`);
  if (!(o.maxPreconditionerDim >= 1)) throw new Error(`shampoo: maxPreconditionerDim must be >= 1, got ${o.maxPreconditionerDim}`);
  if (!(o.beta2 > 0 && o.beta2 <= 1)) throw new Error(`shampoo: beta2 must be in (0, 1], got ${o.beta2}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw new Error(`shampoo: beta1 must be in [0, 1), got ${o.beta1}`);
  if (!(o.epsilon >= 0)) throw new Error(`shampoo: epsilon must be >= 0, got ${o.epsilon}`);
  if (!Number.isInteger(o.newtonMaxIter) || o.newtonMaxIter < 0) throw new Error(`shampoo: newtonMaxIter must be a non-negative integer, got ${o.newtonMaxIter}`);
  if (!Number.isInteger(o.newtonCheckEvery) || o.newtonCheckEvery < 0) throw new Error(`shampoo: newtonCheckEvery must be a non-negative integer, got ${o.newtonCheckEvery}`);
  if (o.rootMethod === 'eigh' && o.epsilonMode === 'relative') {
    throw new Error("shampoo: epsilonMode 'relative' (epsilon * lambda_max, Google's ridge for the coupled Newton iteration) needs rootMethod 'newton'; the eigh route uses Meta's absolute epsilon");
  }
  const ov = o.exponentOverride;
  if (ov === null || typeof ov !== 'object' || Array.isArray(ov)) throw new Error(`shampoo: exponentOverride must be an object {order: exponent}, e.g. {2: 0.5}, got ${JSON.stringify(ov)}`);
  for (const [k, v] of Object.entries(ov)) {
    if (!/^[1-9]\d*$/.test(k)) throw new Error(`shampoo: exponentOverride key '${k}' must be a tensor order (a positive integer)`);
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) {
      throw new Error(`shampoo: exponentOverride[${k}] must be a finite number >= 0 (per-dimension overrides are not supported), got ${JSON.stringify(v)}`);
    }
    if (o.rootMethod === 'newton' && v > 0 && Math.abs(1 / v - Math.round(1 / v)) > 1e-9) {
      throw new Error(`shampoo: exponentOverride[${k}] = ${v} needs an integer root 1/${v} for rootMethod 'newton'; use rootMethod 'eigh'`);
    }
  }
}

/** The monitors of a definition's Shampoo routes (see `shampooMonitor`). */
const MONITOR = Symbol('shampoo.monitor');

/** Shampoo on every parameter of rank >= 2; 1-D ones (and role 'vector') per `oneDim`. */
export function shampooDef(o: Required<ShampooOptions>): OptimizerDef {
  validate(o);
  const core = scaleByShampoo(o);
  const withMonitor = (t: Transform, m: ShampooTransform) => Object.assign(t, { factors: m.factors, rootReport: m.rootReport });
  const main = withMonitor(chain(core, scaleByLr(o.lr)), core);
  const isVector = (p: Parameter) => p.variable.rank < 2 || p.role === 'vector';
  const vecCore = o.oneDim === 'adamw' ? null : scaleByShampoo(o, o.oneDim === 'full');
  const vec: Transform = vecCore
    ? withMonitor(chain(vecCore, scaleByLr(o.lr)), vecCore)
    : adamwTransform({ lr: o.lr, beta1: o.beta1, beta2: o.graftBeta2, eps: 1e-8, weightDecay: o.weightDecay });
  const cores = vecCore ? [core, vecCore] : [core];
  const monitor: ShampooMonitor = {
    factors: () => cores.flatMap((c) => c.factors()),
    diagnostics: () => summarize(cores.flatMap((c) => c.factors())),
  };
  return Object.assign(
    route(
      { label: 'shampoo', when: (p) => !isVector(p), transform: main },
      { label: o.oneDim === 'adamw' ? 'adamw' : o.oneDim === 'full' ? 'shampoo-1d' : 'graft', when: isVector, transform: vec },
    ),
    { [MONITOR]: monitor },
  );
}

/**
 * The root bookkeeping of an optimizer definition built by `shampoo(...)`: per-factor failure counts,
 * stale factors and condition numbers, and the run-log figures `shampoo_root_failures`,
 * `shampoo_stale_factors` and `cond_max`. Null for a definition that is not Shampoo's. Host numbers only:
 * calling it reads no tensor.
 */
export function shampooMonitor(def: OptimizerDef): ShampooMonitor | null {
  return ((def as unknown as Record<symbol, ShampooMonitor | undefined>)[MONITOR]) ?? null;
}

/**
 * What a tfjs user constructing ShampooOptimizer without `grafting` is told once: the default is Meta's
 * (`grafting: 'none'`, DistributedShampoo.__init__), faithful for research but a poor drop-in for Adam;
 * Meta's README recipe for replacing AdamW uses Adam grafting (docs/optimizers/shampoo.md, Drop-in).
 */
export const SHAMPOO_DROP_IN_NOTE =
  "grafting defaults to 'none' (Meta Distributed Shampoo's default): the step then has Shampoo's own scale, which shrinks as the factors grow (beta2 = 1), so with lr tuned for Adam it barely learns. To replace Adam, set grafting: 'adam' (Meta's README recipe; graftBeta2 and graftEps as your Adam's beta2 and eps); set grafting explicitly to silence this note (docs/optimizers/shampoo.md, Drop-in).";

/** Meta's Distributed Shampoo: a Kronecker-factored preconditioner per block, with grafting and Shampoo²; Meta's defaults, so grafting is 'none' (set grafting: 'adam' to replace Adam). */
export const shampoo = defineOptimizer('shampoo', SHAMPOO_DEFAULTS, shampooDef, { dropInNote: (given) => (given.grafting === undefined ? SHAMPOO_DROP_IN_NOTE : null) });

/** One factor's diagnostics from the optimizer state. */
export interface FactorDiagnostics {
  /** State key of the factor, e.g. 'blocks.0.attn.qkv/L'. */
  key: string;
  /** lambda_max / lambda_min of the damped factor from its float64 eigenvalues (Meta's shift applied on the eigh route). */
  conditionNumber: number;
  /** Smallest and largest eigenvalue of the bias-corrected factor plus eps I. */
  minEigenvalue: number;
  maxEigenvalue: number;
  /** max|X^p (A + eps I) - I| of the stored inverse root X (p = 1/e; computed on the backend in float32). */
  rootResidual: number;
}

/**
 * Condition numbers (from the eigenvalues, float64) and inverse-root residuals of every Shampoo factor in
 * an optimizer's state (`Optimizer.state()`), for logs (docs/optimizers/shampoo.md). `options` must be the
 * ones the optimizer was built with (root exponents and damping). Reads data: call at log intervals, not
 * in the step. For failure counts and stale factors, which the state does not hold, use `shampooMonitor`.
 */
export function shampooDiagnostics(state: ReadonlyMap<string, tf.Tensor>, options: Partial<ShampooOptions> = {}): FactorDiagnostics[] {
  const o = { ...SHAMPOO_DEFAULTS, ...options };
  const out: FactorDiagnostics[] = [];
  for (const [key, a] of state) {
    const m = /^(.*)\/(L|R)((?:\.\d+)*)$/.exec(key);
    if (!m) continue;
    const x = state.get(`${m[1]}/${m[2]}_inv${m[3]}`);
    if (!x) continue;
    const order = state.has(`${m[1]}/R${m[3]}`) ? 2 : 1;
    const e = shampooRootExponent(o, order);
    const p = e > 0 && Number.isInteger(Math.round(1 / e)) ? Math.round(1 / e) : 0;
    const step = state.get(`${m[1]}/step`)?.dataSync()[0] ?? 1;
    const n = a.shape[0];
    const fac = tf.tidy(() => (o.beta2 < 1 && o.biasCorrection ? tf.div(a, 1 - Math.pow(o.beta2, step)) : a.clone()));
    const data = fac.dataSync();
    const ridge = o.epsilonMode === 'relative' ? o.epsilon * eigenvalueRange(data, n).max : o.epsilon;
    const damped = Float64Array.from(data);
    for (let i = 0; i < n; i++) damped[i * n + i] += ridge;
    const range = eigenvalueRange(damped, n);
    const shift = o.rootMethod === 'eigh' && range.min < ridge ? ridge - range.min : 0;
    const cond = range.min + shift > 0 ? (range.max + shift) / (range.min + shift) : Infinity;
    const res = p > 0 && n > 0 ? tf.tidy(() => inverseRootResidual(fac as tf.Tensor2D, x as tf.Tensor2D, p, ridge).dataSync()[0]) : NaN;
    fac.dispose();
    out.push({ key, conditionNumber: cond, minEigenvalue: range.min, maxEigenvalue: range.max, rootResidual: res });
  }
  return out;
}
