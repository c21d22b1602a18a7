/**
 * Matrix functions built from matmuls only (tfjs has no SVD or eigh): quintic Newton-Schulz
 * orthogonalization (docs/linalg.md, "Newton-Schulz") and the 2-D views of conv kernels (docs/linalg.md, "Matrix views and the PyTorch layout").
 *
 * Every product is a flag-free 2-D `tf.matMul` with explicit `tf.transpose`: on the wasm backend the
 * transposeA/transposeB flags take a path 10-30x slower (docs/backends.md, trap 1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { lapackEigh } from '../kernels/eigh.js';
import { fusedOps } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';
import { eighSolver, eighTridiagonalQL, inverseRootFromEigh, type EighRootOptions, type EighSolver } from './eigh.js';

/** Classic Muon coefficients (KellerJordan/Muon `zeropower_via_newtonschulz5`). */
export const NS_CLASSIC: readonly [number, number, number] = [3.4445, -4.775, 2.0315];

/**
 * Polar Express per-iteration coefficients for 5 iterations (Amsel, Persson, Musco & Gower, arXiv
 * 2505.16932; "computed for num_iters=5, safety_factor=2e-2, cushion=2"), at the full double precision
 * published in `KellerJordan/modded-nanogpt: train_gpt.py` (`polar_express_coeffs`, commit 0016a3c).
 */
export const NS_POLAR_EXPRESS: readonly (readonly [number, number, number])[] = [
  [8.156554524902461, -22.48329292557795, 15.878769915207462],
  [4.042929935166739, -2.808917465908714, 0.5000178451051316],
  [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
  [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
  [2.3465413258596377, -1.7097828382687081, 0.42323551169305323],
];

/** Options of Newton-Schulz orthogonalization. */
export interface NewtonSchulzOptions {
  /** Iterations. @default 5 */
  steps?: number;
  /** 'classic' (fixed a, b, c) or 'polar-express' (per-iteration, at most 5 steps). @default 'classic' */
  coefficients?: 'classic' | 'polar-express';
  /** Added to the Frobenius norm before dividing. @default 1e-7 */
  eps?: number;
}

/**
 * Approximates the polar factor U V^T of a 2-D matrix G = U S V^T: the output has G's singular
 * vectors and singular values in roughly [0.68, 1.13] (not exactly 1; the quintic trades accuracy
 * for speed). Works on the wide orientation, transposing tall inputs so the Gram matrix is small.
 * Zero input gives zero output. Call inside tf.tidy.
 */
export function newtonSchulz(g: tf.Tensor2D, opts: NewtonSchulzOptions = {}): tf.Tensor2D {
  if (g.rank !== 2) throw new Error(`newtonSchulz: expected a 2-D matrix, got shape [${g.shape}]`);
  return quinticIteration(g, nsSettings('newtonSchulz', opts), false) as tf.Tensor2D;
}

/**
 * The quintic iteration shared by `newtonSchulz` (one matrix) and `newtonSchulzBatched` (a stack
 * [k, m, n], each matrix normalized by its own norm): transpose tall inputs to the wide orientation,
 * normalize, iterate X <- a X + (b A + c A^2) X with A = X X^T, transpose back.
 */
function quinticIteration(g: tf.Tensor, ns: { steps: number; mode: 'classic' | 'polar-express'; eps: number }, batched: boolean): tf.Tensor {
  // One native call with the native kernels (kernels/fused.ts newtonSchulz), outside gradient recording.
  const fused = fusedOps();
  if (fused?.newtonSchulz && g.dtype === 'float32' && !tf.engine().state.gradientDepth) {
    const coefs = ns.mode === 'polar-express' ? NS_POLAR_EXPRESS.slice(0, ns.steps) : Array.from({ length: ns.steps }, () => NS_CLASSIC);
    return ns.mode === 'polar-express' ? fused.newtonSchulz(g, coefs, 1.02, 1e-6) : fused.newtonSchulz(g, coefs, 1, ns.eps);
  }
  const t = (x: tf.Tensor) => (batched ? tf.transpose(x, [0, 2, 1]) : tf.transpose(x));
  const tall = g.shape[g.rank - 2] > g.shape[g.rank - 1];
  let x = tall ? t(g) : g;
  x = normalizeForNewtonSchulz(x, ns.mode, ns.eps, batched);
  for (let i = 0; i < ns.steps; i++) {
    const [a, b, c] = ns.mode === 'polar-express' ? NS_POLAR_EXPRESS[i] : NS_CLASSIC;
    const A = tf.matMul(x, t(x));
    const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
    x = tf.add(tf.mul(x, a), tf.matMul(B, x));
  }
  return tall ? t(x) : x;
}

/**
 * X / (||X||_F + eps) (classic) or X / (1.02 ||X||_F + 1e-6) (Polar Express, modded-nanogpt), per
 * matrix of a stack when `batched`, computed without overflow or underflow: X is first divided by the
 * power of two s = 2^floor(log2 max|X|), and the result is (X/s) / (||X/s||_F + eps/s). Dividing by a
 * power of two is exact in float32, so for every X whose squares neither overflow nor underflow this
 * is bit for bit the plain formula; for X = c G it gives NS(G) at any c from about eps / ||G|| up to
 * float32's largest value, where the plain formula's sum of squares overflows (1e20 G gave zeros).
 * Zero X gives zero. Below eps the reference's eps damps the step, as in the plain formula.
 */
export function normalizeForNewtonSchulz(x: tf.Tensor, mode: 'classic' | 'polar-express', eps: number, batched: boolean): tf.Tensor {
  const s = powerOfTwoScale(x, batched);
  const xs = tf.div(x, s);
  const norm = batched ? tf.norm(xs, 'euclidean', [1, 2], true) : tf.norm(xs);
  const [scale, add] = mode === 'polar-express' ? [1.02, 1e-6] : [1, eps];
  return tf.div(xs, tf.add(scale === 1 ? norm : tf.mul(norm, scale), tf.div(add, s)));
}

/**
 * 2^floor(log2 max|X|) (per matrix of a stack [k, m, n] when `batched`, shape [k, 1, 1]; a scalar
 * otherwise), 1 where X is zero or not finite: dividing by it is exact and brings max|X| into [1, 2).
 */
export function powerOfTwoScale(x: tf.Tensor, batched = false): tf.Tensor {
  return (batched ? powerOfTwoScaleBatched : powerOfTwoScaleWhole)(x);
}

/**
 * The scale as a function of X is piecewise constant (a power of two chosen by max|X|), so its
 * derivative is 0 wherever it exists: under gradient recording it is a constant (customGrad), which
 * also keeps its comparison ops (which have no gradient in tfjs) off the tape.
 */
const scaleWithZeroGrad = (batched: boolean) =>
  tf.customGrad(((x: tf.Tensor) => {
    const peak = tf.max(tf.abs(x), batched ? [1, 2] : undefined, batched);
    const pow2 = tf.pow(tf.scalar(2), tf.floor(tf.div(tf.log(peak), Math.LN2)));
    const value = tf.where(tf.logicalAnd(tf.greater(peak, 0), tf.isFinite(peak)), pow2, tf.onesLike(peak));
    return { value, gradFunc: () => tf.zerosLike(x) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
const powerOfTwoScaleWhole = scaleWithZeroGrad(false);
const powerOfTwoScaleBatched = scaleWithZeroGrad(true);

/**
 * The Frobenius norm ||X||_F as s ||X / s||_F with s = powerOfTwoScale(X): no overflow of the squares
 * for any finite X (1e20 entries), no underflow for tiny ones, and bit for bit tf.norm(X) wherever
 * tf.norm neither overflows nor underflows. A scalar tensor. Call inside tf.tidy.
 */
export function frobeniusNorm(x: tf.Tensor): tf.Scalar {
  const s = powerOfTwoScale(x);
  return tf.mul(tf.norm(tf.div(x, s)), s) as tf.Scalar;
}

function nsSettings(fn: string, opts: NewtonSchulzOptions): { steps: number; mode: 'classic' | 'polar-express'; eps: number } {
  const steps = opts.steps ?? 5;
  const mode = opts.coefficients ?? 'classic';
  if (mode === 'polar-express' && steps > NS_POLAR_EXPRESS.length) {
    throw new Error(`${fn}: polar-express coefficients exist for ${NS_POLAR_EXPRESS.length} steps, got steps=${steps}`);
  }
  return { steps, mode, eps: opts.eps ?? 1e-7 };
}

/**
 * `newtonSchulz` on k matrices of one shape at once: [k, m, n] in, [k, m, n] out, with the same
 * coefficients, the same wide orientation (tall stacks are transposed on their last two axes) and
 * each matrix normalized by its own Frobenius norm, so every slice equals `newtonSchulz` of that
 * matrix up to float rounding. Every product is one rank-3 `tf.matMul` (explicit transposes, no
 * flags). Faster than k 2-D calls only where rank-3 BatchMatMul is fast: with optlab's native kernels,
 * not on plain wasm (bench/ns_batching.ts). Call inside tf.tidy.
 */
export function newtonSchulzBatched(g: tf.Tensor3D, opts: NewtonSchulzOptions = {}): tf.Tensor3D {
  if (g.rank !== 3) throw new Error(`newtonSchulzBatched: expected a stack of matrices [k, m, n], got shape [${g.shape}]`);
  return quinticIteration(g, nsSettings('newtonSchulzBatched', opts), true) as tf.Tensor3D;
}

/**
 * The 2-D view optlab's matrix methods work on: a [fan_in, fan_out] matrix as is, a tfjs conv kernel
 * [kh, kw, in, out] as (kh*kw*in) x out. Rows are always fan-in, columns fan-out.
 */
export function matrixView(x: tf.Tensor): tf.Tensor2D {
  if (x.rank === 2) return x as tf.Tensor2D;
  if (x.rank < 2) throw new Error(`matrixView: expected rank >= 2, got shape [${x.shape}]`);
  const out = x.shape[x.rank - 1];
  return tf.reshape(x, [x.size / out, out]);
}

/** [fan_in, fan_out] of a parameter shape under `matrixView`. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length < 2) throw new Error(`fans: expected rank >= 2, got shape [${shape}]`);
  const out = shape[shape.length - 1];
  return [shape.reduce((a, b) => a * b, 1) / out, out];
}

/**
 * Newton-Schulz on the `matrixView` of a parameter-shaped tensor, reshaped back to its shape: the
 * orthogonalized update of a Dense kernel or a conv kernel. Call inside tf.tidy.
 */
export function orthogonalize(x: tf.Tensor, opts: NewtonSchulzOptions = {}): tf.Tensor {
  const o = newtonSchulz(matrixView(x), opts);
  return x.rank === 2 ? o : tf.reshape(o, x.shape);
}

/**
 * `orthogonalize` on several tensors of one shape at once: their `matrixView`s are stacked and go
 * through `newtonSchulzBatched`; returns one tensor per input, in order. Call inside tf.tidy.
 */
export function orthogonalizeMany(xs: readonly tf.Tensor[], opts: NewtonSchulzOptions = {}): tf.Tensor[] {
  if (xs.length === 0) return [];
  const shape = xs[0].shape;
  for (const x of xs) if (!tf.util.arraysEqual(x.shape, shape)) throw new Error(`orthogonalizeMany: shapes differ ([${x.shape}] vs [${shape}])`);
  const o = newtonSchulzBatched(tf.stack(xs.map((x) => matrixView(x))) as tf.Tensor3D, opts);
  return tf.unstack(o).map((m) => (shape.length === 2 ? m : tf.reshape(m, shape)));
}

/** How an orthogonalized update is scaled by the shape of its matrix view. */
export type ShapeScaling = 'keller' | 'moonlight';

/**
 * Shape factor of an orthogonalized update (docs/linalg.md, "Shape factors"), from the `matrixView` fans:
 * 'keller' = sqrt(max(1, fan_out / fan_in)) (KellerJordan/Muon's sqrt(max(1, rows/cols)) on a PyTorch
 * [out, in] weight), 'moonlight' = 0.2 * sqrt(max(fan_in, fan_out)) (update RMS ~0.2, as AdamW's).
 */
export function shapeScale(shape: readonly number[], rule: ShapeScaling): number {
  const [fanIn, fanOut] = fans(shape);
  if (rule === 'keller') return Math.sqrt(Math.max(1, fanOut / fanIn));
  if (rule === 'moonlight') return 0.2 * Math.sqrt(Math.max(fanIn, fanOut));
  throw new Error(`shapeScale: unknown rule '${rule as string}' (expected 'keller' or 'moonlight')`);
}

// ---------------------------------------------------------------------------------------------
// Inverse p-th roots of symmetric PSD matrices (Shampoo, docs/linalg.md, "Inverse p-th roots") and their diagnostics.
// ---------------------------------------------------------------------------------------------

/** (A + A^T) / 2: factors are symmetric in exact arithmetic; float32 products drift apart. */
export function symmetrize(a: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.add(a, tf.transpose(a)), 0.5);
}

/** A fixed start vector for power iteration (no RNG: runs stay reproducible). */
function powerStart(n: number): tf.Tensor2D {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = 1.1 + Math.cos(1.7 * i + 0.3);
  return tf.tensor2d(v, [n, 1]);
}

/**
 * Largest eigenvalue of a symmetric PSD matrix by power iteration (matvecs from a fixed start),
 * as a scalar tensor clamped at 0. Enough for a relative ridge eps * lambda_max; the estimate
 * converges from below at the rate (lambda_2 / lambda_1)^iters. Call inside tf.tidy.
 */
export function maxEigenvalue(a: tf.Tensor2D, iters = 30): tf.Scalar {
  let v = powerStart(a.shape[0]);
  for (let i = 0; i < iters; i++) {
    const w = tf.matMul(a, v);
    v = tf.div(w, tf.add(frobeniusNorm(w), 1e-30));
  }
  return tf.relu(tf.sum(tf.mul(v, tf.matMul(a, v)))) as tf.Scalar;
}

/** Options of the coupled Newton inverse root. */
export interface InverseRootOptions {
  /** Ridge added to the diagonal: a number (absolute) or a scalar tensor (e.g. eps * lambda_max). @default 0 */
  ridge?: number | tf.Scalar;
  /** Most iterations. @default 30 */
  maxIter?: number;
  /** Converged once max|M - I| <= tol. @default 1e-6 */
  tol?: number;
  /**
   * Read the error back every this many iterations and stop early once converged or rejected; 0 never
   * reads (all `maxIter` iterations run, the stopping rule then only freezes the iterate). @default 4
   */
  checkEvery?: number;
}

/** X^p by repeated squaring (p >= 1). */
function matPow(x: tf.Tensor2D, p: number): tf.Tensor2D {
  let result: tf.Tensor2D | null = null;
  let base = x;
  for (let e = p; e > 0; e >>= 1) {
    if (e & 1) result = result === null ? base : tf.matMul(result, base);
    if (e > 1) base = tf.matMul(base, base);
  }
  return result!;
}

/** Result of `inverseRootNewton`. */
export interface NewtonRoot {
  /** The last accepted iterate X ~ A_e^{-1/p}. */
  root: tf.Tensor2D;
  /** Its true residual max|X^p A_e - I| (NaN or large when the iteration failed). */
  residual: tf.Scalar;
  /** Iterations computed (with `checkEvery` > 0, fewer than `maxIter` when it stopped early). */
  iterations: number;
}

/**
 * A^{-1/p} of a symmetric PSD matrix by the coupled Newton iteration (docs/optimizers/shampoo.md; Guo & Higham 2006,
 * Meta `matrix_inverse_root_newton`, Google `ComputePower`): A_e = sym(A) + ridge*I,
 * z = (p+1) / (2 ||A_e||_F), X_0 = z^{1/p} I, M_0 = z A_e, then T = ((p+1) I - M) / p,
 * X <- X T, M <- T^p M, so that M = X^p A_e -> I.
 *
 * Guard: in exact arithmetic M_k is a polynomial in A_e whose eigenvalues lie in (0, 1] from k = 1 on,
 * so max|M_k - I| < 1; the elementwise error may still rise in the first iterations (0.58 -> 0.76 on an
 * 8x8 factor of condition number 160), which the 1.2x rule of Google's code mistook for divergence. An
 * iterate is rejected, and the iteration stops, when its error is not finite, is >= 1 after the first
 * iteration (float32 has left the convergent region), or grows by more than 1.2x once the error is below
 * 0.1 (rounding noise in the quadratically convergent phase). Converged at error <= `tol`. With
 * `checkEvery` > 0 the error is read back every that many iterations and the loop exits early; between
 * reads, rejected or converged iterates are frozen with `tf.where`, so the result does not depend on
 * `checkEvery`. The caller decides whether to keep the root (Shampoo: residual below its
 * `rootFailureThreshold`). `maxIter = 0` returns X_0. Call inside tf.tidy.
 */
export function inverseRootNewton(a: tf.Tensor2D, p: number, opts: InverseRootOptions = {}): NewtonRoot {
  if (!Number.isInteger(p) || p < 1) throw new Error(`inverseRootNewton: p must be a positive integer, got ${p}`);
  const maxIter = opts.maxIter ?? 30;
  const tol = opts.tol ?? 1e-6;
  const checkEvery = opts.checkEvery ?? 4;
  const n = a.shape[0];
  const eye = tf.eye(n);
  const ae = tf.add(symmetrize(a), tf.mul(eye, opts.ridge ?? 0)) as tf.Tensor2D;
  const z = tf.div((p + 1) / 2, frobeniusNorm(ae));
  let x = tf.mul(eye, tf.pow(z, 1 / p)) as tf.Tensor2D;
  let m = tf.mul(ae, z) as tf.Tensor2D;
  let err = tf.max(tf.abs(tf.sub(m, eye)));
  let active = tf.greater(err, tol);
  let k = 0;
  while (k < maxIter) {
    k++;
    const t = tf.div(tf.sub(tf.mul(eye, p + 1), m), p) as tf.Tensor2D;
    const xNew = tf.matMul(x, t);
    const mNew = tf.matMul(matPow(t, p), m);
    const errNew = tf.max(tf.abs(tf.sub(mNew, eye)));
    // NaN compares false, so a non-finite error is never accepted.
    const bounded = k === 1 ? tf.lessEqual(errNew, Infinity) : tf.less(errNew, 1);
    const noisy = tf.logicalAnd(tf.less(err, 0.1), tf.greater(errNew, tf.mul(err, 1.2)));
    const accept = tf.logicalAnd(active, tf.logicalAnd(bounded, tf.logicalNot(noisy)));
    x = tf.where(accept, xNew, x) as tf.Tensor2D;
    m = tf.where(accept, mNew, m) as tf.Tensor2D;
    err = tf.where(accept, errNew, err);
    active = tf.logicalAnd(accept, tf.greater(errNew, tol));
    if (checkEvery > 0 && k % checkEvery === 0 && active.dataSync()[0] === 0) break;
  }
  return { root: x, residual: inverseRootResidual(ae, x, p), iterations: k };
}

/**
 * Inverse-root residual max|X^p (A + ridge I) - I| (docs/optimizers/shampoo.md, "Pitfalls and diagnostics"): 0 for the exact root, NaN when X or A
 * is not finite. Call inside tf.tidy.
 */
export function inverseRootResidual(a: tf.Tensor2D, x: tf.Tensor2D, p: number, ridge: number | tf.Scalar = 0): tf.Scalar {
  const eye = tf.eye(a.shape[0]);
  const ae = ridge === 0 ? a : tf.add(a, tf.mul(eye, ridge));
  return tf.max(tf.abs(tf.sub(tf.matMul(matPow(x, p), ae), eye))) as tf.Scalar;
}

/**
 * Eigenvalue summary of a symmetric matrix (row-major host data) by a float64 eigendecomposition
 * (optimizers/eigh.ts: LAPACK `dsyevd` through the addon, else the JavaScript solver), for diagnostics:
 * smallest and largest eigenvalue and lambda_max / lambda_min (Infinity when lambda_min <= 0).
 * The eigenvalues are those of the matrix given; add any damping first.
 */
export function eigenvalueRange(a: ArrayLike<number>, n: number): { min: number; max: number; conditionNumber: number } {
  if (n === 0) return { min: NaN, max: NaN, conditionNumber: NaN };
  const values = symmetricEigenvalues(a, n);
  const min = values[0];
  const max = values[n - 1];
  return { min, max, conditionNumber: min > 0 ? max / min : Infinity };
}

/** Ascending eigenvalues of a symmetric matrix in float64 (LAPACK `dsyevd` when available, else JavaScript). */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): Float64Array {
  if (eighSolver().solver === 'lapack') {
    const r = lapackEigh(Float64Array.from(a), n);
    if ('values' in r) return r.values;
  }
  return eighTridiagonalQL(a, n).values;
}

/** Options of `inverseRootEigh`. */
export interface InverseRootEighOptions extends EighRootOptions {
  /** The matrix's host data when the caller already read it (saves a second download). */
  data?: ArrayLike<number>;
}

/**
 * (A + eps I)^(-exponent) of a symmetric PSD matrix through an eigendecomposition on the host, Meta's
 * default route (optimizers/eigh.ts `inverseRootFromEigh`: eigenvalues shifted by -min + eps when
 * min < eps). Reads A back from the backend (a synchronous download) and uploads the root. Returns the
 * root as a tensor, or null with the reason when the computation failed (never throws for numerical
 * trouble). Call inside tf.tidy.
 */
export function inverseRootEigh(a: tf.Tensor2D, exponent: number, eps: number, opts: InverseRootEighOptions = {}): { root: tf.Tensor2D | null; values: Float64Array; failure: string | null; solver: EighSolver } {
  const n = a.shape[0];
  const r = inverseRootFromEigh(opts.data ?? a.dataSync(), n, exponent, eps, opts);
  return { root: r.root ? tf.tensor2d(r.root, [n, n]) : null, values: r.values, failure: r.failure, solver: r.solver };
}

// The native Newton-Schulz kernel against this file's tfjs ops, wide and tall, one matrix and a stack,
// both coefficient sets (kernels/self_test.ts; the originals run without fused ops).
addSelfTestCase('fused Newton-Schulz wide', () => newtonSchulz(selfTestValues([6, 11], 1) as tf.Tensor2D));
addSelfTestCase('fused Newton-Schulz tall, polar-express', () => newtonSchulz(selfTestValues([11, 6], 2) as tf.Tensor2D, { coefficients: 'polar-express' }));
addSelfTestCase('fused Newton-Schulz stack', () => newtonSchulzBatched(selfTestValues([3, 5, 8], 3) as tf.Tensor3D, { steps: 3 }));
