/**
 * Newton-Schulz over several matrices of one shape at once, two ways, for the question of issue 7:
 * is batching faster than one `newtonSchulz` per matrix on the GPT's shapes?
 *
 * - `nsBatchedRank3`: the matrices stacked to [n, r, c] and every product a rank-3 `tf.matMul` with
 *   explicit transposes of the last two axes (the same iteration as linalg.newtonSchulz, batched).
 * - `nsBlockDiagonal`: the matrices stacked by rows to [n r, c]; the Gram S S^T [n r, n r] is masked to
 *   its diagonal blocks, after which every further product stays block diagonal, so each iteration is
 *   three 2-D matmuls however many matrices there are, at n times the flops of the Gram and n^2 those
 *   of A A.
 *
 * Both normalize each matrix by its own Frobenius norm and use the classic coefficients for `steps`
 * iterations, as linalg.newtonSchulz does; they agree with it to float rounding (tested).
 *
 * Outcome: the rank-3 form won with the native kernels only, so optimizers/linalg.ts has it as
 * `newtonSchulzBatched`, which Muon (and MARS-M) use there (option batchNewtonSchulz, 'auto').
 */
import * as tf from '@tensorflow/tfjs-core';
import { NS_CLASSIC } from '../optimizers/linalg.js';

const EPS = 1e-7;

/** Stacks same-shape matrices in the wide orientation (r <= c), as newtonSchulz works on them. */
function stackWide(gs: readonly tf.Tensor2D[]): { x: tf.Tensor3D; tall: boolean } {
  const [r, c] = gs[0].shape;
  for (const g of gs) if (g.shape[0] !== r || g.shape[1] !== c) throw new Error(`ns batching: shapes differ ([${g.shape}] vs [${r},${c}])`);
  const tall = r > c;
  return { x: tf.stack(tall ? gs.map((g) => tf.transpose(g)) : [...gs]) as tf.Tensor3D, tall };
}

function unstackWide(x: tf.Tensor3D, tall: boolean): tf.Tensor2D[] {
  return tf.unstack(x).map((m) => (tall ? tf.transpose(m) : m) as tf.Tensor2D);
}

/** Each matrix of [n, r, c] over its own Frobenius norm (+ eps). */
function normalizeEach(x: tf.Tensor3D): tf.Tensor3D {
  const norms = tf.sqrt(tf.sum(tf.square(x), [1, 2], true));
  return tf.div(x, tf.add(norms, EPS));
}

/** Newton-Schulz on same-shape matrices with rank-3 batched matmuls. Call inside tf.tidy. */
export function nsBatchedRank3(gs: readonly tf.Tensor2D[], steps = 5): tf.Tensor2D[] {
  const [a, b, c] = NS_CLASSIC;
  const s = stackWide(gs);
  let x = normalizeEach(s.x);
  for (let i = 0; i < steps; i++) {
    const A = tf.matMul(x, tf.transpose(x, [0, 2, 1]));
    const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
    x = tf.add(tf.mul(x, a), tf.matMul(B, x));
  }
  return unstackWide(x, s.tall);
}

/** 0/1 float mask of the n diagonal blocks of size r in an [n r, n r] matrix (float, not bool: docs/backends.md, trap 3). */
export function blockDiagonalMask(n: number, r: number): tf.Tensor2D {
  const m = new Float32Array(n * r * n * r);
  for (let k = 0; k < n; k++) for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) m[(k * r + i) * n * r + k * r + j] = 1;
  return tf.tensor2d(m, [n * r, n * r]);
}

/**
 * Newton-Schulz on same-shape matrices as one row-stacked 2-D matrix with a block-diagonal Gram.
 * `mask` from blockDiagonalMask (built once and kept by the caller). Call inside tf.tidy.
 */
export function nsBlockDiagonal(gs: readonly tf.Tensor2D[], mask: tf.Tensor2D, steps = 5): tf.Tensor2D[] {
  const [a, b, c] = NS_CLASSIC;
  const s = stackWide(gs);
  const [n, r, cols] = s.x.shape;
  if (mask.shape[0] !== n * r) throw new Error(`nsBlockDiagonal: mask is [${mask.shape}], expected [${n * r}, ${n * r}]`);
  let x = tf.reshape(normalizeEach(s.x), [n * r, cols]) as tf.Tensor2D;
  for (let i = 0; i < steps; i++) {
    const A = tf.mul(tf.matMul(x, tf.transpose(x)), mask);
    const B = tf.add(tf.mul(A, b), tf.mul(tf.matMul(A, A), c));
    x = tf.add(tf.mul(x, a), tf.matMul(B, x));
  }
  return unstackWide(tf.reshape(x, [n, r, cols]) as tf.Tensor3D, s.tall);
}
