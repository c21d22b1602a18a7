/**
 * SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener,
 * Janson & Kakade, arXiv 2409.11321), as the authors' nikhilvyas/SOAP `soap.py` (commit a1e5535) computes
 * it. docs/optimizers/soap.md.
 *
 * Per parameter G (each dimension k of size <= maxPrecondDim has a factor GG_k and a basis Q_k; larger
 * dimensions, and 1-D parameters unless precondition1d, keep the identity):
 *   step 1:  GG_k <- lerp(GG_k, G_(k) G_(k)^T, 1 - shampooBeta);  Q_k <- eigenvectors of GG_k, eigenvalues
 *            descending; no parameter update (so the basis never sees the gradient it rotates).
 *   step s+1 (s = 1, 2, ...):
 *     G' = G x_k Q_k^T                  (project: Q_k^T along every dimension k)
 *     m <- b1 m + (1 - b1) G';  v <- b2 v + (1 - b2) G'^2        (both live in the rotated basis)
 *     N = (m / (sqrt(v) + eps)) x_k Q_k (project back);  N <- N / (1e-30 + rms(N)) if normalizeGrads
 *     W <- W - lr sqrt(1 - b2^s) / (1 - b1^s) N;   W <- W (1 - lr wd)   (decay after the step)
 *     m <- m x_k Q_k, GG_k <- lerp(GG_k, G_(k) G_(k)^T, 1 - shampooBeta), and when s % f == 0 a new basis
 *     by one power iteration: order Q_k's columns by diag(Q_k^T GG_k Q_k) descending (v's entries along
 *     k follow), Q_k <- qr(GG_k Q_k).Q;  then m <- m x_k Q_k^T.
 * shampooBeta -1 means beta2. G_(k) is the mode-k matricization (for a matrix: G G^T and G^T G).
 *
 * Bases are computed on the host: the eigendecomposition by LAPACK `dsyevd` through the native addon
 * (`eighPrecision` 'float32': `ssyevd`, as torch.linalg.eigh on float32 factors) or, without it, the
 * float64 JavaScript solver
 * (optimizers/eigh.ts); the QR in float64 by LAPACK `dgeqrf` + `dorgqr`, or Householder reflections in
 * JavaScript without the addon (optimizers/qr.ts `qrFactor`). Failures: an
 * eigendecomposition that fails in float32 is retried in float64 (as the reference's `except` branch);
 * one that still fails, or a QR of a non-finite product, keeps the previous basis (the identity before
 * the first). Every such failure is counted (`soapMonitor(def)`, the run-log figure
 * `soap_basis_failures`), and the first of each parameter prints a warning naming it.
 *
 * Differs from reference: the eigendecomposition and QR run in float64 on float32 factors (the reference's
 * run in float32; `eighPrecision: 'float32'` gives its eigh precision), everything else in float32; `data_format` is not an option (tfjs stores conv kernels [kh, kw, in, out], and each
 * of those dimensions is preconditioned as the reference would a PyTorch [out, in, kh, kw] kernel's;
 * `mergeDims` merges the tfjs order); QR column signs may differ from LAPACK's (the update does not
 * depend on them: a flipped column flips the matching rows of m and N alike).
 * Use on roles: every role (the reference preconditions every parameter it is given; 1-D ones run Adam).
 *
 * Warnings: every preconditionFrequency steps each factor and its power-iteration product are read back
 * from the backend (a synchronous download) and the new basis is uploaded; at step 1 the eigenbases.
 * Failure counters live on the host and are not part of `Optimizer.state()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineOptimizer, type OptimizerDef, type Parameter, type SlotMaker, type State, type StepContext, type Transform } from './core.js';
import { ema } from './adamw.js';
import { anyOf, bool, checkDomains, integer, nonNegative, oneOf, positive, unitInterval, type Domains } from './domains.js';
import { eighTridiagonalQL } from './eigh.js';
import { lerp } from './momentum.js';
import { qrFactor } from './qr.js';
import { lapackAvailable, lapackEigh, lapackStatus } from '../kernels/eigh.js';

/** Options of SOAP. Every default is nikhilvyas/SOAP's. */
export interface SoapOptions {
  /** Learning rate η (times the schedule's lrScale). @default 0.003 */
  lr?: number;
  /** Adam's first-moment decay (in the rotated basis). @default 0.95 */
  beta1?: number;
  /** Adam's second-moment decay (in the rotated basis). @default 0.95 */
  beta2?: number;
  /** Decay of the Shampoo factors GG_k; -1 uses beta2. @default -1 */
  shampooBeta?: number;
  /** Adam's epsilon, added to sqrt(v). @default 1e-8 */
  eps?: number;
  /** Decoupled weight decay W <- W (1 - lr wd), applied after the step. @default 0.01 */
  weightDecay?: number;
  /** Refresh the eigenbases (one power iteration + QR) every this many steps. @default 10 */
  preconditionFrequency?: number;
  /** Dimensions larger than this keep the identity basis (vocabularies, in the authors' setting). @default 10000 */
  maxPrecondDim?: number;
  /** Merge adjacent dimensions while their product stays <= maxPrecondDim (the reference's merge_dims, applied to the tfjs layout). @default false */
  mergeDims?: boolean;
  /** Give 1-D parameters a d x d factor (d <= maxPrecondDim) instead of plain Adam. @default false */
  precondition1d?: boolean;
  /** Divide the projected-back direction by its RMS (1e-30 + rms). @default false */
  normalizeGrads?: boolean;
  /** Adam's bias corrections, folded into the step size lr sqrt(1 - b2^s) / (1 - b1^s). @default true */
  correctBias?: boolean;
  /** Eigensolver: 'auto' (LAPACK when the native addon is built, else JavaScript), 'lapack' (throws without the addon), 'js' (float64 Householder + QL). @default 'auto' */
  eighSolver?: 'auto' | 'lapack' | 'js';
  /**
   * Precision of the initial eigendecomposition on the LAPACK route: 'float64' (`dsyevd`) or 'float32'
   * (`ssyevd`, the reference's torch.linalg.eigh on float32 factors); the JavaScript solver is always
   * float64. float64 is the default because float32 eigenvectors of a factor with close eigenvalues differ
   * between LAPACK builds by more than float32 rounding of the rest of the step (docs/optimizers/soap.md).
   * @default 'float64'
   */
  eighPrecision?: 'float64' | 'float32';
}

export const SOAP_DEFAULTS: Required<SoapOptions> = {
  lr: 3e-3,
  beta1: 0.95,
  beta2: 0.95,
  shampooBeta: -1,
  eps: 1e-8,
  weightDecay: 0.01,
  preconditionFrequency: 10,
  maxPrecondDim: 10000,
  mergeDims: false,
  precondition1d: false,
  normalizeGrads: false,
  correctBias: true,
  eighSolver: 'auto',
  eighPrecision: 'float64',
};

/**
 * The allowed values of each option (optimizers/domains.ts). The reference checks none; these are the
 * ranges its update is defined on: betas in [0, 1) (beta1 = 1 divides the step by 1 - b1^s = 0, beta2 = 1
 * never lets the gradient into v), shampooBeta -1 (= beta2) or in [0, 1), eps > 0 (as ADAMW_DOMAINS: with eps 0 a
 * coordinate whose rotated gradient has been 0 gives 0 / 0), weight decay >= 0, counts integers >= 1.
 */
export const SOAP_DOMAINS: Domains<SoapOptions> = {
  lr: positive, beta1: unitInterval, beta2: unitInterval, shampooBeta: anyOf(oneOf(-1), unitInterval), eps: positive, weightDecay: nonNegative,
  preconditionFrequency: integer(1), maxPrecondDim: integer(1), mergeDims: bool, precondition1d: bool, normalizeGrads: bool, correctBias: bool,
  eighSolver: oneOf('auto', 'lapack', 'js'), eighPrecision: oneOf('float64', 'float32'),
};

/** The reference's `merge_dims`: adjacent dimensions merged while the product stays <= maxDim. */
export function soapMergedShape(shape: readonly number[], maxDim: number): number[] {
  const out: number[] = [];
  let curr = 1;
  for (const sh of shape) {
    const temp = curr * sh;
    if (temp > maxDim) {
      if (curr > 1) {
        out.push(curr);
        curr = sh;
      } else {
        out.push(sh);
        curr = 1;
      }
    } else curr = temp;
  }
  if (curr > 1 || out.length === 0) out.push(curr);
  return out;
}

/** How SOAP sees one parameter: the (merged) work shape and which of its dimensions have a basis. */
export interface SoapLayout {
  work: number[];
  preconditioned: boolean[];
}

/** The work shape and preconditioned dimensions of a parameter (1-D: only with precondition1d). */
export function soapLayout(shape: readonly number[], o: Pick<Required<SoapOptions>, 'maxPrecondDim' | 'mergeDims' | 'precondition1d'>): SoapLayout {
  if (shape.length === 1) return { work: [...shape], preconditioned: [o.precondition1d && shape[0] <= o.maxPrecondDim] };
  const work = o.mergeDims && shape.length > 1 ? soapMergedShape(shape, o.maxPrecondDim) : [...shape];
  return { work, preconditioned: work.map((d) => d <= o.maxPrecondDim) };
}

/** Basis bookkeeping of a SOAP transform (host numbers, no tensor reads). */
export interface SoapMonitor {
  /** `soap_basis_failures` (eigendecompositions and QRs that failed, the previous basis stayed), `soap_eigh_float64_retries`, `soap_basis_refreshes`. */
  diagnostics(): Record<string, number>;
}

const MONITOR = Symbol('soap.monitor');

/**
 * x with every dimension contracted against its basis: Q_k^T along k ('in') or Q_k along k ('out'),
 * dimensions without a basis passed through; the reference's tensordot cycle, which leaves the
 * dimensions in their original order after a full pass. Call inside tf.tidy.
 */
function rotate(x: tf.Tensor, qs: (tf.Tensor | null)[], dir: 'in' | 'out'): tf.Tensor {
  let y = x;
  for (const q of qs) {
    const [d0, ...rest] = y.shape;
    const flat = tf.reshape(y, [d0, y.size / Math.max(d0, 1)]) as tf.Tensor2D;
    // tensordot(x, Q, [[0],[0]]) = x_(0)^T Q; tensordot(x, Q, [[0],[1]]) = x_(0)^T Q^T; then dim 0 goes last.
    const z = q ? tf.matMul(flat, q as tf.Tensor2D, true, dir === 'out') : tf.transpose(flat);
    y = tf.reshape(z, [...rest, q ? q.shape[0] : d0]);
  }
  return y;
}

/** Mode-k Gram matrix G_(k) G_(k)^T of a tensor (for a matrix: G G^T for k = 0, G^T G for k = 1). Call inside tf.tidy. */
function modeGram(g: tf.Tensor, k: number): tf.Tensor2D {
  if (g.rank === 1) return tf.outerProduct(g as tf.Tensor1D, g as tf.Tensor1D);
  if (g.rank === 2) return k === 0 ? tf.matMul(g as tf.Tensor2D, g as tf.Tensor2D, false, true) : tf.matMul(g as tf.Tensor2D, g as tf.Tensor2D, true, false);
  const perm = [k, ...g.shape.map((_, i) => i).filter((i) => i !== k)];
  const m = tf.reshape(tf.transpose(g, perm), [g.shape[k], g.size / g.shape[k]]) as tf.Tensor2D;
  return tf.matMul(m, m, false, true);
}

/** A SOAP transform with its basis bookkeeping. */
export type SoapTransform = Transform & { basisReport: SoapMonitor['diagnostics'] };

/** The SOAP direction with its learning rate and weight decay (the whole method as one transform). */
export function scaleBySoap(o: Required<SoapOptions>): SoapTransform {
  const layouts = new Map<string, SoapLayout>();
  const sb = o.shampooBeta >= 0 ? o.shampooBeta : o.beta2;
  const counts = { failures: 0, retries: 0, refreshes: 0 };
  const warned = new Set<string>();

  function fail(p: Parameter, what: string, t: number): void {
    counts.failures += 1;
    if (warned.has(p.name)) return;
    warned.add(p.name);
    console.warn(`soap: ${what} of '${p.name}' failed at step ${t}; it keeps its previous basis (later failures are counted, not printed: soapMonitor, soap_basis_failures)`);
  }

  /** Eigenvectors of a symmetric factor, columns ordered by eigenvalue descending (torch.flip of eigh's), float32; null on failure. */
  function eigenbasis(data: Float32Array, n: number): Float32Array | null {
    const a = Float32Array.from(data);
    for (let i = 0; i < n; i++) a[i * n + i] = Math.fround(a[i * n + i] + 1e-30);
    let vectors: ArrayLike<number> | null = null;
    const useLapack = o.eighSolver === 'lapack' || (o.eighSolver === 'auto' && lapackAvailable());
    if (useLapack) {
      if (!lapackAvailable()) throw new Error(`soap: eighSolver 'lapack' requested but ${lapackStatus()}`);
      let r = (o.eighPrecision === 'float32' ? lapackEigh(a, n) : lapackEigh(Float64Array.from(a), n)) as { vectors: ArrayLike<number> } | { code: number };
      if ('code' in r && o.eighPrecision === 'float32') {
        counts.retries += 1;
        r = lapackEigh(Float64Array.from(a), n);
      }
      if ('vectors' in r) vectors = r.vectors;
    } else {
      try {
        vectors = eighTridiagonalQL(a, n).vectors;
      } catch {
        vectors = null;
      }
    }
    if (!vectors) return null;
    const q = new Float32Array(n * n);
    // Row k of `vectors` is the eigenvector of the k-th smallest eigenvalue; column j of Q is the j-th largest.
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) q[i * n + j] = vectors[(n - 1 - j) * n + i];
    return q.every(Number.isFinite) ? q : null;
  }

  const transform: SoapTransform = {
    name: 'soap',
    init(p: Parameter, slot: SlotMaker): State {
      const lay = soapLayout(p.variable.shape, o);
      layouts.set(p.name, lay);
      const s: State = { exp_avg: slot('exp_avg', 'zeros'), exp_avg_sq: slot('exp_avg_sq', 'zeros') };
      lay.preconditioned.forEach((on, k) => {
        if (!on) return;
        const d = lay.work[k];
        s[`GG.${k}`] = slot(`GG.${k}`, 'zeros', [d, d]);
        const eye = tf.eye(d);
        s[`Q.${k}`] = slot(`Q.${k}`, eye);
        eye.dispose();
      });
      return s;
    },
    update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor {
      const lay = layouts.get(p.name)!;
      const shape = p.variable.shape;
      const g = tf.reshape(u, lay.work);
      const qs = () => lay.preconditioned.map((on, k) => (on ? (s[`Q.${k}`] as tf.Tensor) : null));
      const accumulate = () =>
        lay.preconditioned.forEach((on, k) => {
          if (on) s[`GG.${k}`].assign(lerp(s[`GG.${k}`], modeGram(g, k), 1 - sb));
        });
      if (ctx.t === 1) {
        // The reference's first step: factors and eigenbases only, no update.
        accumulate();
        lay.preconditioned.forEach((on, k) => {
          if (!on) return;
          const n = lay.work[k];
          const q = eigenbasis(s[`GG.${k}`].dataSync() as Float32Array, n);
          if (q) s[`Q.${k}`].assign(tf.tensor2d(q, [n, n]));
          else fail(p, `the eigendecomposition of factor ${k} (${n}x${n})`, ctx.t);
        });
        if (ctx.probe) ctx.probe.scalar(p, 'soap_basis_failures', tf.scalar(counts.failures));
        return tf.zerosLike(u);
      }
      const step = ctx.t - 1;
      const gp = rotate(g, qs(), 'in');
      const m = ema(tf.reshape(s.exp_avg, lay.work), gp, o.beta1);
      const v = ema(tf.reshape(s.exp_avg_sq, lay.work), tf.square(gp), o.beta2);
      s.exp_avg_sq.assign(tf.reshape(v, shape));
      const lr = o.lr * ctx.lrScale;
      const stepSize = o.correctBias ? (lr * Math.sqrt(1 - Math.pow(o.beta2, step))) / (1 - Math.pow(o.beta1, step)) : lr;
      let n = rotate(tf.div(m, tf.add(tf.sqrt(v), o.eps)), qs(), 'out');
      if (o.normalizeGrads) n = tf.div(n, tf.add(tf.sqrt(tf.mean(tf.square(n))), 1e-30));
      // W <- (W - stepSize N)(1 - lr wd): `decay` multiplies W, so the update carries the factor too.
      const update = tf.mul(tf.reshape(n, shape), -stepSize * (1 - lr * o.weightDecay));

      // update_preconditioner: m back to the parameter basis, factors, a new basis every f steps, m rotated in.
      let mBack = rotate(m, qs(), 'out');
      accumulate();
      if (step % o.preconditionFrequency === 0) {
        counts.refreshes += 1;
        let vSorted = tf.reshape(s.exp_avg_sq, lay.work);
        lay.preconditioned.forEach((on, k) => {
          if (!on) return;
          const d = lay.work[k];
          const gg = s[`GG.${k}`] as tf.Tensor2D;
          const q0 = s[`Q.${k}`] as tf.Tensor2D;
          const est = tf.sum(tf.mul(q0, tf.matMul(gg, q0)), 0).dataSync();
          const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => est[b] - est[a]);
          const idx = tf.tensor1d(order, 'int32');
          vSorted = tf.gather(vSorted, idx, k);
          const power = tf.matMul(gg, tf.gather(q0, idx, 1)).dataSync();
          let q: Float64Array | null = null;
          try {
            q = qrFactor(power, d, d).q;
          } catch {
            q = null;
          }
          if (q) s[`Q.${k}`].assign(tf.tensor2d(Float32Array.from(q), [d, d]));
          else fail(p, `the QR of factor ${k}'s power iteration (${d}x${d})`, ctx.t);
        });
        s.exp_avg_sq.assign(tf.reshape(vSorted, shape));
      }
      mBack = rotate(mBack, qs(), 'in');
      s.exp_avg.assign(tf.reshape(mBack, shape));
      if (ctx.probe) ctx.probe.scalar(p, 'soap_basis_failures', tf.scalar(counts.failures));
      return update;
    },
    decay: (_p, ctx) => (ctx.t === 1 ? 1 : 1 - o.lr * ctx.lrScale * o.weightDecay),
    describe: () => `soap(b1=${o.beta1},b2=${o.beta2},shampoo_beta=${sb},eps=${o.eps},wd=${o.weightDecay},f=${o.preconditionFrequency},max_dim=${o.maxPrecondDim}${o.mergeDims ? ',merge' : ''}${o.precondition1d ? ',1d' : ''}${o.normalizeGrads ? ',normalize' : ''}) lr=${o.lr}`,
    basisReport: () => ({ soap_basis_failures: counts.failures, soap_eigh_float64_retries: counts.retries, soap_basis_refreshes: counts.refreshes }),
    diagnostics: ['soap_basis_failures'],
  };
  return transform;
}

/** SOAP on every parameter (one transform; 1-D parameters run Adam in their own basis unless precondition1d). */
export function soapDef(o: Required<SoapOptions>): OptimizerDef {
  checkDomains('soap', SOAP_DOMAINS, o as unknown as Record<string, unknown>);
  const t = scaleBySoap(o);
  return Object.assign(t, { [MONITOR]: { diagnostics: t.basisReport } as SoapMonitor });
}

/** The basis bookkeeping of a definition built by `soap(...)` (failure counts), or null for another method's. Reads no tensor. */
export function soapMonitor(def: OptimizerDef): SoapMonitor | null {
  return ((def as unknown as Record<symbol, SoapMonitor | undefined>)[MONITOR]) ?? null;
}

/** SOAP, Adam in the eigenbasis of Shampoo's factors, as nikhilvyas/SOAP's soap.py computes it (registry name 'soap'). */
export const soap = defineOptimizer('soap', SOAP_DEFAULTS, soapDef, { domains: SOAP_DOMAINS });
