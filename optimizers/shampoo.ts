/**
 * Shampoo: Kronecker-factored preconditioning (Gupta, Koren & Singer, arXiv 1802.09568) in the
 * practical form of Meta's Distributed Shampoo (Shi et al., arXiv 2309.06497), with Shampoo²'s
 * exponent (Morwani et al., arXiv 2406.17748) as an option. Spec: ../shared/spec/optimizers.md §10-11.
 *
 * Per block G of a parameter's [fan_in, fan_out] view (blocks of at most maxPreconditionerDim):
 *   L <- b2 L + w G G^T,  R <- b2 R + w G^T G         (w = 1 - b2, or 1 and a plain sum when b2 = 1)
 *   every f steps:  L_inv = (L^ + eps I)^{-1/p},  R_inv likewise (L^ = L / (1 - b2^t) when b2 < 1)
 *   F <- b1 F + (1 - b1) G,  F^ = F / (1 - b1^t)
 *   P = L_inv F^ R_inv,  grafted: P <- P ||P_graft||_F / (||P||_F + 1e-16)   (norms per block)
 *   P <- P + wd W  (decoupled);  M <- mu M + P, P <- M or P + mu M (nesterov);  W <- W - lr P
 * p = 4 per side for matrices ('quarter', classic), 2 for vectors; exponent 'half' (Shampoo²) halves p.
 * Before startPreconditioningStep the grafted method alone runs (SGD on F^ without grafting).
 *
 * Inverse roots come from the coupled Newton iteration in float32 (linalg.inverseRootNewton): tfjs has
 * no eigh or SVD. A root is kept only when its residual max|X^p (A + eps I) - I| is below
 * `rootFailureThreshold` (Google's inverse_failure_threshold); otherwise the previous root stays. So a
 * rank-deficient or non-finite factor never turns the step into NaN.
 *
 * Differs from reference (Meta, facebookresearch/optimizers distributed_shampoo @ f606606):
 * - epsilon is relative to the factor's largest eigenvalue by default (1e-5 lambda_max, Google's
 *   convention), not Meta's absolute 1e-12: float32 coupled Newton diverges on rank-deficient factors
 *   with an absolute 1e-12 (spec §10.6, §11.2). `epsilonMode: 'absolute'` restores Meta's meaning.
 * - 1-D parameters go to AdamW by default (`oneDim: 'full'` gives Meta's single d x d factor).
 * - no trace scaling, no eigenvalue correction (SOAP), no per-dimension exponent overrides beyond
 *   `exponent`; failed roots are counted by nobody (Meta raises after 3).
 * Options that reproduce kozistr/pytorch_optimizer (Shampoo, ScalableShampoo) for `optlab replay` and
 * are not optlab defaults: `sequentialFactors`, `initialRoot: 'zero'`, `rootMethod: 'eigh'`,
 * `momentumStyle: 'kozistr-classic' | 'kozistr-scalable'`, `oneDim: 'graft'`, `newtonMaxIter: 0`.
 * Use on roles: matrix, embedding, head, conv (2-D view (kh*kw*in) x out); vector via `oneDim`.
 *
 * Warnings: `rootMethod: 'eigh'` downloads each factor to run a float64 Jacobi eigensolver in JS (a
 * synchronous read every root computation): a reference route for small blocks only. The coupled Newton
 * runs all `newtonMaxIter` iterations (its stopping rule freezes the iterate without reading data).
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamwTransform } from './adamw.js';
import { chain, defineOptimizer, referenceGroupOf, route, scaleByLr, type OptimizerDef, type Parameter, type ReferenceCase, type Role, type SlotMaker, type State, type StepContext, type Transform } from './core.js';
import type { DiagnosticsProbe } from './diagnostics.js';
import { conditionNumber, inverseRootEigh, inverseRootNewton, inverseRootResidual, maxEigenvalue } from './linalg.js';

/** Options of Shampoo. Defaults are Meta Distributed Shampoo's class defaults except `epsilon`/`epsilonMode`. */
export interface ShampooOptions {
  /** @default 0.01 */
  lr?: number;
  /** EMA of the gradient before preconditioning (Meta's filtered gradient); 0 disables. @default 0.9 */
  beta1?: number;
  /** EMA of the factors; 1 accumulates plain sums (AdaGrad). @default 1 */
  beta2?: number;
  /** Damping added to each factor's eigenvalues before the root. @default 1e-5 */
  epsilon?: number;
  /** 'relative': epsilon * lambda_max(factor) by power iteration (Google); 'absolute': epsilon (Meta). @default 'relative' */
  epsilonMode?: 'relative' | 'absolute';
  /** Weight decay: 'decoupled' adds wd*W to the direction after grafting (Meta DECOUPLED); 'l2' adds it to the gradient. @default 0 */
  weightDecay?: number;
  /** @default 'decoupled' */
  weightDecayType?: 'decoupled' | 'l2';
  /** Dimensions above this are split into blocks of at most this size, each its own Shampoo problem. @default 1024 */
  maxPreconditionerDim?: number;
  /** A matrix with fan_in * fan_out <= maxPreconditionerDim (or a 1 x n one) gets one full factor on its flattening (Meta merge_dims). @default true */
  mergeSmallDims?: boolean;
  /** Recompute inverse roots every f steps. @default 1 */
  preconditionFrequency?: number;
  /** First preconditioned step; -1 means preconditionFrequency (Meta). @default -1 */
  startPreconditioningStep?: number;
  /** Bias-correct the filtered gradient and (when beta2 < 1) the factors. @default true */
  biasCorrection?: boolean;
  /** Method whose per-block step size the Shampoo direction takes. @default 'none' */
  grafting?: 'none' | 'sgd' | 'adagrad' | 'rmsprop' | 'adam';
  /** Second-moment decay of RMSprop/Adam grafting (Meta: 0.99 RMSprop, 0.999 Adam); also AdamW's beta2 for 1-D. @default 0.999 */
  graftBeta2?: number;
  /** Denominator epsilon of AdaGrad/RMSprop/Adam grafting. @default 1e-10 */
  graftEps?: number;
  /** Root per side: 'quarter' = -1/(2 order) (classic; -1/4 for matrices), 'half' = -1/order (Shampoo²). @default 'quarter' */
  exponent?: 'quarter' | 'half';
  /** Momentum on the preconditioned direction (Meta's classic momentum, dampening 0). @default 0 */
  momentum?: number;
  /** @default false */
  nesterov?: boolean;
  /**
   * 'standard': M <- mu M + P. 'kozistr-scalable': ScalableShampoo's Nesterov, which updates the stored
   * buffer twice (M <- mu M + P; M <- mu M + P; step M). 'kozistr-classic': Shampoo's, which mixes the
   * raw gradient with the previous direction before preconditioning (G <- (1-mu) G + mu P_prev; P_prev = G
   * at step 1). @default 'standard'
   */
  momentumStyle?: 'standard' | 'kozistr-scalable' | 'kozistr-classic';
  /**
   * 'off': both factors from the gradient. 'right-first': R from G, L from G R_inv (kozistr Shampoo, whose
   * PyTorch-side R is accumulated from the left-preconditioned gradient: sides swap with the [out, in] layout).
   * 'left-first': L from G, R from L_inv G. @default 'off'
   */
  sequentialFactors?: 'off' | 'right-first' | 'left-first';
  /** Inverse roots before the first computation: identity (Meta) or zero (kozistr Shampoo). @default 'identity' */
  initialRoot?: 'identity' | 'zero';
  /** 'newton': coupled Newton in float32 on the backend; 'eigh': float64 Jacobi in JS (synchronous read; reference route). @default 'newton' */
  rootMethod?: 'newton' | 'eigh';
  /** Coupled Newton iterations. 0 keeps the initial iterate z^{1/p} I. @default 30 */
  newtonMaxIter?: number;
  /** Coupled Newton stops when max|M - I| <= tol. @default 1e-6 */
  newtonTol?: number;
  /** A new root is kept only when max|X^p (A + eps I) - I| is below this; else the previous root stays. @default 0.1 */
  rootFailureThreshold?: number;
  /** Power-iteration matvecs for lambda_max (relative epsilon). @default 30 */
  powerIterations?: number;
  /** 1-D parameters (and role 'vector'): 'adamw' (lr, beta1, graftBeta2, eps 1e-8, weightDecay), 'full' d x d factor, 'graft' (the grafted method alone, never preconditioned). @default 'adamw' */
  oneDim?: 'adamw' | 'full' | 'graft';
}

export const SHAMPOO_DEFAULTS: Required<ShampooOptions> = {
  lr: 0.01,
  beta1: 0.9,
  beta2: 1,
  epsilon: 1e-5,
  epsilonMode: 'relative',
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
  momentum: 0,
  nesterov: false,
  momentumStyle: 'standard',
  sequentialFactors: 'off',
  initialRoot: 'identity',
  rootMethod: 'newton',
  newtonMaxIter: 30,
  newtonTol: 1e-6,
  rootFailureThreshold: 0.1,
  powerIterations: 30,
  oneDim: 'adamw',
};

const CHOICES: Partial<Record<keyof ShampooOptions, readonly string[]>> = {
  epsilonMode: ['relative', 'absolute'],
  weightDecayType: ['decoupled', 'l2'],
  grafting: ['none', 'sgd', 'adagrad', 'rmsprop', 'adam'],
  exponent: ['quarter', 'half'],
  momentumStyle: ['standard', 'kozistr-scalable', 'kozistr-classic'],
  sequentialFactors: ['off', 'right-first', 'left-first'],
  initialRoot: ['identity', 'zero'],
  rootMethod: ['newton', 'eigh'],
  oneDim: ['adamw', 'full', 'graft'],
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

/** Work shape and blocks of a parameter (spec §10.4): 2-D view, merged or squeezed to a vector when small, blocked when large. */
export function shampooLayout(shape: readonly number[], o: Pick<Required<ShampooOptions>, 'maxPreconditionerDim' | 'mergeSmallDims'>, asVector = false): Layout {
  const size = shape.reduce((a, b) => a * b, 1);
  let m: number;
  let n: number;
  let right: boolean;
  if (asVector || shape.length < 2) [m, n, right] = [size, 1, false];
  else {
    const v = [size / shape[shape.length - 1], shape[shape.length - 1]];
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

/**
 * The Shampoo direction as a transform (no learning rate). With `precondition` false it is the grafted
 * method alone (the `oneDim: 'graft'` route).
 */
export function scaleByShampoo(o: Required<ShampooOptions>, precondition = true): Transform {
  const layouts = new Map<string, Layout>();
  const start = o.startPreconditioningStep < 0 ? o.preconditionFrequency : o.startPreconditioningStep;
  const w2 = o.beta2 === 1 ? 1 : 1 - o.beta2;

  function rootOf(factor: tf.Tensor2D, prev: tf.Tensor2D, p: number, t: number): tf.Tensor2D {
    const a = o.beta2 < 1 && o.biasCorrection ? (tf.div(factor, 1 - Math.pow(o.beta2, t)) as tf.Tensor2D) : factor;
    if (o.rootMethod === 'eigh') return inverseRootEigh(a, p, o.epsilon, o.epsilonMode);
    const ridge = o.epsilonMode === 'relative' ? (tf.maximum(tf.mul(maxEigenvalue(a, o.powerIterations), o.epsilon), 1e-30) as tf.Scalar) : o.epsilon;
    const { root, residual } = inverseRootNewton(a, p, { ridge, maxIter: o.newtonMaxIter, tol: o.newtonTol });
    return tf.where(tf.less(residual, o.rootFailureThreshold), root, prev) as tf.Tensor2D;
  }

  return {
    name: precondition ? 'shampoo' : 'shampoo-graft',
    init(p: Parameter, slot: SlotMaker): State {
      const lay = shampooLayout(p.variable.shape, o, !precondition || p.variable.rank < 2 || p.role === 'vector');
      layouts.set(p.name, lay);
      const s: State = {};
      const work = [lay.m, lay.n];
      if (o.beta1 > 0) s.filtered_grad = slot('filtered_grad', 'zeros', work);
      if (o.grafting === 'adagrad' || o.grafting === 'rmsprop' || o.grafting === 'adam') s.graft_v = slot('graft_v', 'zeros', work);
      if (o.momentum > 0) s.momentum = slot('momentum', 'zeros', work);
      if (!precondition) return s;
      const rootSlot = (name: string, d: number) => {
        if (o.initialRoot === 'zero') return slot(name, 'zeros', [d, d]);
        const eye = tf.eye(d);
        const v = slot(name, eye);
        eye.dispose();
        return v;
      };
      for (const b of lay.blocks) {
        s[`L${b.suffix}`] = slot(`L${b.suffix}`, 'zeros', [b.rows, b.rows]);
        s[`L_inv${b.suffix}`] = rootSlot(`L_inv${b.suffix}`, b.rows);
        if (lay.right) {
          s[`R${b.suffix}`] = slot(`R${b.suffix}`, 'zeros', [b.cols, b.cols]);
          s[`R_inv${b.suffix}`] = rootSlot(`R_inv${b.suffix}`, b.cols);
        }
      }
      return s;
    },
    update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor {
      const lay = layouts.get(p.name)!;
      const t = ctx.t;
      const w = tf.reshape(p.variable, [lay.m, lay.n]) as tf.Tensor2D;
      let g = tf.reshape(u, [lay.m, lay.n]) as tf.Tensor2D;
      if (o.momentumStyle === 'kozistr-classic' && o.momentum > 0) {
        g = tf.add(tf.mul(g, 1 - o.momentum), tf.mul(t === 1 ? g : s.momentum, o.momentum)) as tf.Tensor2D;
      }
      if (o.weightDecayType === 'l2' && o.weightDecay > 0) g = tf.add(g, tf.mul(w, o.weightDecay)) as tf.Tensor2D;

      let f: tf.Tensor2D = g;
      if (o.beta1 > 0) {
        const fNew = tf.add(tf.mul(s.filtered_grad, o.beta1), tf.mul(g, 1 - o.beta1));
        s.filtered_grad.assign(fNew);
        f = (o.biasCorrection ? tf.div(fNew, 1 - Math.pow(o.beta1, t)) : fNew) as tf.Tensor2D;
      }

      let pg: tf.Tensor2D = f;
      if (s.graft_v) {
        const g2 = tf.square(g);
        const v = o.grafting === 'adagrad' ? tf.add(s.graft_v, g2) : tf.add(tf.mul(s.graft_v, o.graftBeta2), tf.mul(g2, 1 - o.graftBeta2));
        s.graft_v.assign(v);
        const vHat = o.grafting === 'adam' ? tf.div(v, 1 - Math.pow(o.graftBeta2, t)) : v;
        pg = tf.div(f, tf.add(tf.sqrt(vHat), o.graftEps)) as tf.Tensor2D;
      }

      const active = precondition && t >= start;
      let dir: tf.Tensor2D;
      if (!active) {
        // Factors still accumulate before the start step, so the first roots see every gradient.
        if (precondition) for (const b of lay.blocks) accumulate(s, lay, b, g, t, false);
        dir = pg;
      } else {
        const compute = t === start || (t > start && t % o.preconditionFrequency === 0);
        const parts = lay.blocks.map((b) => {
          const fb = lay.blocks.length === 1 ? f : (tf.slice(f, [b.r0, b.c0], [b.rows, b.cols]) as tf.Tensor2D);
          const { lInv, rInv } = accumulate(s, lay, b, g, t, compute);
          let pb: tf.Tensor2D = tf.matMul(lInv, fb);
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
        if (o.momentumStyle === 'kozistr-classic') s.momentum.assign(dir);
        else {
          let mNew = tf.add(tf.mul(s.momentum, o.momentum), dir) as tf.Tensor2D;
          if (o.momentumStyle === 'kozistr-scalable') mNew = tf.add(tf.mul(mNew, o.momentum), dir) as tf.Tensor2D;
          s.momentum.assign(mNew);
          dir = o.momentumStyle === 'standard' && o.nesterov ? (tf.add(dir, tf.mul(mNew, o.momentum)) as tf.Tensor2D) : mNew;
        }
      }
      if (ctx.probe && precondition) probeFactors(ctx.probe, p, s, lay, t);
      return tf.reshape(dir, p.variable.shape);
    },
    diagnostics: precondition ? ['cond_max'] : [],
    describe: () =>
      precondition
        ? `shampoo(exp=${o.exponent},b1=${o.beta1},b2=${o.beta2},eps=${o.epsilon}${o.epsilonMode === 'relative' ? '*lmax' : ''},f=${o.preconditionFrequency},start=${start},graft=${o.grafting},maxdim=${o.maxPreconditionerDim}${o.rootMethod === 'eigh' ? ',eigh' : ''})`
        : `graft(${o.grafting},b1=${o.beta1})`,
  };

  /** Diagnostics: condition number of every damped factor (as the root sees it) of a parameter, by power iteration. */
  function probeFactors(probe: DiagnosticsProbe, p: Parameter, s: State, lay: Layout, t: number): void {
    for (const b of lay.blocks) {
      for (const side of lay.right ? ['L', 'R'] : ['L']) {
        const fac = s[`${side}${b.suffix}`] as tf.Tensor2D;
        const a = o.beta2 < 1 && o.biasCorrection ? (tf.div(fac, 1 - Math.pow(o.beta2, t)) as tf.Tensor2D) : fac;
        const ridge = o.epsilonMode === 'relative' ? (tf.maximum(tf.mul(maxEigenvalue(a, o.powerIterations), o.epsilon), 1e-30) as tf.Scalar) : o.epsilon;
        probe.scalar(p, 'cond_max', conditionNumber(a, ridge));
      }
    }
  }

  /**
   * Updates the factors of one block with the gradient block and, when `compute`, their inverse roots;
   * returns the roots to apply. With `sequentialFactors`, the second factor sees the gradient already
   * preconditioned on the first side by its (possibly just recomputed) root.
   */
  function accumulate(s: State, lay: Layout, b: Block, g: tf.Tensor2D, t: number, compute: boolean): { lInv: tf.Tensor2D; rInv?: tf.Tensor2D } {
    const gb = lay.blocks.length === 1 ? g : (tf.slice(g, [b.r0, b.c0], [b.rows, b.cols]) as tf.Tensor2D);
    const order = lay.right ? 2 : 1;
    const pRoot = o.exponent === 'quarter' ? 2 * order : order;
    const side = (name: 'L' | 'R', x: tf.Tensor2D): tf.Tensor2D => {
      const fac = s[`${name}${b.suffix}`];
      const inv = s[`${name}_inv${b.suffix}`];
      const gram = name === 'L' ? tf.matMul(x, tf.transpose(x)) : tf.matMul(tf.transpose(x), x);
      const next = (o.beta2 === 1 ? tf.add(fac, gram) : tf.add(tf.mul(fac, o.beta2), tf.mul(gram, w2))) as tf.Tensor2D;
      fac.assign(next);
      if (!compute) return inv as tf.Tensor2D;
      const root = rootOf(next, inv as tf.Tensor2D, pRoot, t);
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
}

/** Shampoo on every parameter of rank >= 2; 1-D ones (and role 'vector') per `oneDim`. */
export function shampooDef(o: Required<ShampooOptions>): OptimizerDef {
  validate(o);
  const main = chain(scaleByShampoo(o), scaleByLr(o.lr));
  const isVector = (p: Parameter) => p.variable.rank < 2 || p.role === 'vector';
  const vec: Transform =
    o.oneDim === 'adamw'
      ? adamwTransform({ lr: o.lr, beta1: o.beta1, beta2: o.graftBeta2, eps: 1e-8, weightDecay: o.weightDecay })
      : chain(scaleByShampoo(o, o.oneDim === 'full'), scaleByLr(o.lr));
  return route(
    { label: 'shampoo', when: (p) => !isVector(p), transform: main },
    { label: o.oneDim === 'adamw' ? 'adamw' : o.oneDim === 'full' ? 'shampoo-1d' : 'graft', when: isVector, transform: vec },
  );
}


/**
 * Maps kozistr/pytorch_optimizer Shampoo (variant 'classic') and ScalableShampoo ('scalable') onto
 * options. The reference's choices are reproduced here, not made defaults:
 * classic: exponent -1/order ('half'), SVD roots ('eigh', float64 here), factors starting at
 * matrix_eps*I (an absolute epsilon: the same sum), zero initial roots, PyTorch's R accumulated from
 * the left-preconditioned gradient (optlab's L from the right-preconditioned one, since replay hands
 * optlab the transposed [in, out] matrix: 'right-first'), its momentum mixing, L2 weight decay, no
 * blocking, full-matrix H^{-1} g on 1-D parameters.
 * scalable: SGD grafting, momentum betas[0] with its doubled Nesterov buffer update, start step and
 * frequency as given, block_size blocking, 1-D and merged-to-[1] tensors never preconditioned ('graft').
 * Its roots are scalar in the fixtures: the preconditioned lsq trajectory matches the unpreconditioned
 * (grafted SGD) path to 2.4e-7, against 0.36 with a working coupled Newton (float64 re-run of the update
 * rule). A version of its `compute_power_schur_newton` writes `matmul(..., out=mat_m)` into its own
 * input; the 1.2x error guard then stops before the first update and z^{1/p} I comes back.
 * `newtonMaxIter: 0` reproduces that scalar root, which grafting turns into the gradient's direction.
 */
function fromReference(fx: ReferenceCase): { options: Partial<ShampooOptions>; roles: Record<string, Role> } {
  const names = Object.keys(fx.params);
  const groups = new Set(names.map((n) => referenceGroupOf(fx, n)));
  if (groups.size !== 1) throw new Error(`expected one param group, found ${groups.size}`);
  const g = [...groups][0];
  const a = fx.resolved_attributes ?? {};
  if (a.maximize || g.maximize) throw new Error('maximize=True is not supported');
  const roles: Record<string, Role> = {};
  if (fx.variant === 'classic') {
    if (g.weight_decouple && g.weight_decay > 0) throw new Error('classic Shampoo with weight_decouple=True is not mapped');
    for (const n of names) roles[n] = fx.params[n].shape.length >= 2 ? 'matrix' : 'vector';
    return {
      roles,
      options: {
        lr: g.lr,
        beta1: 0,
        beta2: 1,
        epsilon: g.matrix_eps,
        epsilonMode: 'absolute',
        weightDecay: g.weight_decay,
        weightDecayType: 'l2',
        maxPreconditionerDim: 1e9,
        mergeSmallDims: false,
        preconditionFrequency: a.preconditioning_compute_steps ?? 1,
        startPreconditioningStep: 1,
        biasCorrection: false,
        grafting: 'none',
        exponent: 'half',
        momentum: g.momentum,
        momentumStyle: 'kozistr-classic',
        sequentialFactors: 'right-first',
        initialRoot: 'zero',
        rootMethod: 'eigh',
        oneDim: 'full',
      },
    };
  }
  if (fx.variant !== 'scalable') throw new Error(`unknown shampoo variant '${fx.variant}' (expected 'classic' or 'scalable')`);
  if (g.weight_decay > 0) throw new Error('ScalableShampoo with weight_decay > 0 is not mapped');
  if (g.moving_average_for_momentum) throw new Error('moving_average_for_momentum=True is not mapped');
  if (g.decoupled_learning_rate === false) throw new Error('decoupled_learning_rate=False is not mapped');
  if ((a.pre_conditioner_type ?? 0) !== 0) throw new Error('only pre_conditioner_type=ALL is mapped');
  if (a.inverse_exponent_override) throw new Error('inverse_exponent_override is not mapped');
  if (a.use_svd) throw new Error('use_svd=True is not mapped');
  if ((a.statistics_compute_steps ?? 1) !== 1) throw new Error('statistics_compute_steps != 1 is not mapped');
  const grafts = ['none', 'sgd', 'adagrad', 'rmsprop'] as const;
  const graft = grafts[a.graft_type ?? 1];
  if (!graft) throw new Error(`graft_type ${a.graft_type} is not mapped (SQRT_N)`);
  const blockSize = a.block_size ?? 512;
  for (const n of names) {
    const shape = fx.params[n].shape;
    const size = shape.reduce((x: number, y: number) => x * y, 1);
    const collapsed = a.shape_interpretation !== false && size <= blockSize;
    const tooLarge = shape.some((d: number) => d > (a.no_preconditioning_for_layers_with_dim_gt ?? 8192));
    roles[n] = shape.length >= 2 && !collapsed && !tooLarge ? 'matrix' : 'vector';
  }
  const [b1, b2] = g.betas;
  return {
    roles,
    options: {
      lr: g.lr,
      beta1: 0,
      beta2: b2,
      epsilon: a.matrix_eps ?? 1e-6,
      epsilonMode: 'relative',
      maxPreconditionerDim: blockSize,
      mergeSmallDims: false,
      preconditionFrequency: a.preconditioning_compute_steps ?? 1000,
      startPreconditioningStep: a.start_preconditioning_step ?? 25,
      biasCorrection: false,
      grafting: graft,
      graftBeta2: b2,
      graftEps: a.diagonal_eps ?? 1e-10,
      exponent: 'quarter',
      momentum: b1,
      nesterov: !!g.nesterov,
      momentumStyle: g.nesterov ? 'kozistr-scalable' : 'standard',
      newtonMaxIter: 0,
      oneDim: 'graft',
    },
  };
}

/** Shampoo (registry name 'shampoo'). */
export const shampoo = defineOptimizer('shampoo', SHAMPOO_DEFAULTS, shampooDef, { fromReference });

/** One factor's diagnostics. */
export interface FactorDiagnostics {
  /** State key of the factor, e.g. 'blocks.0.attn.qkv/L'. */
  key: string;
  /** lambda_max / lambda_min of the damped factor (float32 estimate; ~1e7 and above are unresolved). */
  conditionNumber: number;
  /** max|X^p (A + eps I) - I| of the stored inverse root X. */
  rootResidual: number;
}

/**
 * Condition-number estimates and inverse-root residuals of every Shampoo factor in an optimizer's state
 * (`Optimizer.state()`), for the runner's logs (spec §10.6). `options` must be the ones the optimizer was
 * built with (root order and damping). Reads data: call at log intervals, not in the step.
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
    const p = o.exponent === 'quarter' ? 2 * order : order;
    const step = state.get(`${m[1]}/step`)?.dataSync()[0] ?? 1;
    const [cond, res] = tf.tidy(() => {
      const fac = o.beta2 < 1 && o.biasCorrection ? (tf.div(a, 1 - Math.pow(o.beta2, step)) as tf.Tensor2D) : (a as tf.Tensor2D);
      const ridge = o.epsilonMode === 'relative' ? (tf.mul(maxEigenvalue(fac, o.powerIterations), o.epsilon) as tf.Scalar) : o.epsilon;
      return [conditionNumber(fac, ridge).dataSync()[0], inverseRootResidual(fac, x as tf.Tensor2D, p, ridge).dataSync()[0]];
    });
    out.push({ key, conditionNumber: cond, rootResidual: res });
  }
  return out;
}

