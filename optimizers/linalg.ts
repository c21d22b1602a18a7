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
  const steps = opts.steps ?? 5;
  const mode = opts.coefficients ?? 'classic';
  const eps = opts.eps ?? 1e-7;
  if (g.rank !== 2) throw new Error(`newtonSchulz: expected a 2-D matrix, got shape [${g.shape}]`);
  if (mode === 'polar-express' && steps > NS_POLAR_EXPRESS.length) {
    throw new Error(`newtonSchulz: polar-express coefficients exist for ${NS_POLAR_EXPRESS.length} steps, got steps=${steps}`);
  }
  const tall = g.shape[0] > g.shape[1];
  let x: tf.Tensor2D = tall ? tf.transpose(g) : g;
  // Polar Express normalizes by 1.02 * ||X||_F + 1e-6 (modded-nanogpt); classic by ||X||_F + eps.
  const norm = tf.norm(x);
  x = tf.div(x, mode === 'polar-express' ? tf.add(tf.mul(norm, 1.02), 1e-6) : tf.add(norm, eps));
  for (let i = 0; i < steps; i++) {
    const [a, b, c] = mode === 'polar-express' ? NS_POLAR_EXPRESS[i] : NS_CLASSIC;
    const xt = tf.transpose(x);
    const A = tf.matMul(x, xt);
    const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
    x = tf.add(tf.mul(x, a), tf.matMul(B, x));
  }
  return tall ? tf.transpose(x) : x;
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
