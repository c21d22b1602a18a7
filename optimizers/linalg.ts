/**
 * Matrix functions built from matmuls only (tfjs has no SVD or eigh): quintic Newton-Schulz
 * orthogonalization (spec §1.1) and the 2-D views of conv kernels (spec §0.1).
 *
 * Every product is a flag-free 2-D `tf.matMul` with explicit `tf.transpose`: on the wasm backend the
 * transposeA/transposeB flags take a path 10-30x slower (NOTES-tfjs.md, trap 1).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Classic Muon coefficients (KellerJordan/Muon `zeropower_via_newtonschulz5`). */
export const NS_CLASSIC: readonly [number, number, number] = [3.4445, -4.775, 2.0315];

/** Polar Express per-iteration coefficients for 5 iterations (modded-nanogpt `train_gpt.py`). */
export const NS_POLAR_EXPRESS: readonly (readonly [number, number, number])[] = [
  [8.15655, -22.48329, 15.87877],
  [4.04293, -2.80892, 0.50002],
  [3.89167, -2.77248, 0.50606],
  [3.28575, -2.36813, 0.46449],
  [2.34654, -1.70978, 0.42324],
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
  const t = (x: tf.Tensor) => (batched ? tf.transpose(x, [0, 2, 1]) : tf.transpose(x));
  const tall = g.shape[g.rank - 2] > g.shape[g.rank - 1];
  let x = tall ? t(g) : g;
  // Polar Express normalizes by 1.02 * ||X||_F + 1e-6 (modded-nanogpt); classic by ||X||_F + eps.
  const norm = batched ? tf.norm(x, 'euclidean', [1, 2], true) : tf.norm(x);
  x = tf.div(x, ns.mode === 'polar-express' ? tf.add(tf.mul(norm, 1.02), 1e-6) : tf.add(norm, ns.eps));
  for (let i = 0; i < ns.steps; i++) {
    const [a, b, c] = ns.mode === 'polar-express' ? NS_POLAR_EXPRESS[i] : NS_CLASSIC;
    const A = tf.matMul(x, t(x));
    const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
    x = tf.add(tf.mul(x, a), tf.matMul(B, x));
  }
  return tall ? t(x) : x;
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
 * Shape factor of an orthogonalized update (spec §1.2), from the `matrixView` fans:
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
// Inverse p-th roots of symmetric PSD matrices (Shampoo, spec §11) and their diagnostics.
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
    v = tf.div(w, tf.add(tf.norm(w), 1e-30));
  }
  return tf.relu(tf.sum(tf.mul(v, tf.matMul(a, v)))) as tf.Scalar;
}

/** Options of the coupled Newton inverse root. */
export interface InverseRootOptions {
  /** Ridge added to the diagonal: a number (absolute) or a scalar tensor (e.g. eps * lambda_max). @default 0 */
  ridge?: number | tf.Scalar;
  /** Iterations run (all of them: the stopping rule freezes the iterate without reading data). @default 30 */
  maxIter?: number;
  /** Stop once max|M - I| <= tol. @default 1e-6 */
  tol?: number;
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

/**
 * A^{-1/p} of a symmetric PSD matrix by the coupled Newton iteration (spec §11.2; Guo & Higham 2006,
 * Meta `matrix_inverse_root_newton`, Google `ComputePower`): A_e = sym(A) + ridge*I,
 * z = (p+1) / (2 ||A_e||_F), X_0 = z^{1/p} I, M_0 = z A_e, then T = ((p+1) I - M) / p,
 * X <- X T, M <- T^p M, so that M = X^p A_e -> I.
 *
 * The loop never reads data back (no dataSync in a step): every one of `maxIter` iterations is
 * computed, and an iterate is taken only while the error max|M - I| is finite, at most 1.2x the
 * previous one (the guard of Google's and Meta's code), and above `tol` before it. Returns the last
 * accepted X and its true residual max|X^p A_e - I| (NaN or large when the iteration failed); the
 * caller decides whether to keep it (spec: accept below 0.1). `maxIter = 0` returns X_0.
 * Call inside tf.tidy.
 */
export function inverseRootNewton(a: tf.Tensor2D, p: number, opts: InverseRootOptions = {}): { root: tf.Tensor2D; residual: tf.Scalar } {
  if (!Number.isInteger(p) || p < 1) throw new Error(`inverseRootNewton: p must be a positive integer, got ${p}`);
  const maxIter = opts.maxIter ?? 30;
  const tol = opts.tol ?? 1e-6;
  const n = a.shape[0];
  const eye = tf.eye(n);
  const ae = tf.add(symmetrize(a), tf.mul(eye, opts.ridge ?? 0)) as tf.Tensor2D;
  const z = tf.div((p + 1) / 2, tf.norm(ae));
  let x = tf.mul(eye, tf.pow(z, 1 / p)) as tf.Tensor2D;
  let m = tf.mul(ae, z) as tf.Tensor2D;
  let err = tf.max(tf.abs(tf.sub(m, eye)));
  let active = tf.scalar(true, 'bool');
  for (let k = 0; k < maxIter; k++) {
    const t = tf.div(tf.sub(tf.mul(eye, p + 1), m), p) as tf.Tensor2D;
    const xNew = tf.matMul(x, t);
    const mNew = tf.matMul(matPow(t, p), m);
    const errNew = tf.max(tf.abs(tf.sub(mNew, eye)));
    // NaN compares false, so a non-finite error is never accepted.
    const accept = tf.logicalAnd(active, tf.lessEqual(errNew, tf.mul(err, 1.2)));
    x = tf.where(accept, xNew, x) as tf.Tensor2D;
    m = tf.where(accept, mNew, m) as tf.Tensor2D;
    err = tf.where(accept, errNew, err);
    active = tf.logicalAnd(accept, tf.greater(errNew, tol));
  }
  return { root: x, residual: inverseRootResidual(ae, x, p) };
}

/**
 * Inverse-root residual max|X^p (A + ridge I) - I| (spec §10.6): 0 for the exact root, NaN when X or A
 * is not finite. Call inside tf.tidy.
 */
export function inverseRootResidual(a: tf.Tensor2D, x: tf.Tensor2D, p: number, ridge: number | tf.Scalar = 0): tf.Scalar {
  const eye = tf.eye(a.shape[0]);
  const ae = ridge === 0 ? a : tf.add(a, tf.mul(eye, ridge));
  return tf.max(tf.abs(tf.sub(tf.matMul(matPow(x, p), ae), eye))) as tf.Scalar;
}

/**
 * Condition-number estimate lambda_max / lambda_min of sym(A) + ridge I by two power iterations (on A,
 * then on lambda_max I - A). float32 resolves lambda_min only down to ~1e-7 * lambda_max, so larger
 * condition numbers read as "about 1e7 or more" (Infinity when lambda_min rounds to 0). Call inside tf.tidy.
 */
export function conditionNumber(a: tf.Tensor2D, ridge: number | tf.Scalar = 0, iters = 100): tf.Scalar {
  const eye = tf.eye(a.shape[0]);
  const ae = tf.add(symmetrize(a), tf.mul(eye, ridge)) as tf.Tensor2D;
  const lmax = maxEigenvalue(ae, iters);
  const shifted = tf.sub(tf.mul(eye, lmax), ae) as tf.Tensor2D;
  const lmin = tf.relu(tf.sub(lmax, maxEigenvalue(shifted, iters)));
  return tf.div(lmax, lmin) as tf.Scalar;
}

/**
 * Eigendecomposition of a symmetric n x n matrix (row-major Float64Array) by cyclic Jacobi rotations,
 * in float64 on the CPU: tfjs has no eigh. For blocks up to a few hundred, off the hot path.
 * Returns eigenvalues and eigenvectors (column k of the row-major `vectors` belongs to `values[k]`).
 */
export function eighJacobi(a: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += A[i] * A[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
    if (off <= 1e-32 * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = A[i * n + i];
  return { values, vectors: V };
}

/**
 * A^{-1/p} through a float64 Jacobi eigendecomposition (spec §11.1): (max(lambda, 0) + ridge)^{-1/p}
 * on each eigenvalue, with `ridge` absolute or relative to lambda_max. Reads the matrix back from the
 * backend (a synchronous download): a reference route for small blocks, not for the training loop.
 * Eigenvalues that stay 0 (ridge 0 on a singular matrix) map to 0 rather than Infinity.
 */
export function inverseRootEigh(a: tf.Tensor2D, p: number, ridge: number, ridgeMode: 'absolute' | 'relative' = 'absolute'): tf.Tensor2D {
  const n = a.shape[0];
  const { values, vectors } = eighJacobi(a.dataSync(), n);
  const lmax = Math.max(0, ...values);
  const r = ridgeMode === 'relative' ? ridge * lmax : ridge;
  const f = Array.from(values, (l) => {
    const v = Math.max(l, 0) + r;
    return v > 0 ? Math.pow(v, -1 / p) : 0;
  });
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k] * f[k] * vectors[j * n + k];
      out[i * n + j] = out[j * n + i] = s;
    }
  }
  return tf.tensor2d(out, [n, n]);
}
