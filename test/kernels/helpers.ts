/** Shared by the native-kernel suites: inputs, value-and-gradient evaluation, errors, the suite's hooks. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { composedGelu, composedLayerNorm, fusedOps } from '../../kernels/fused.js';
import { disableNativeKernels, enableNativeKernels, nativeStatus } from '../../kernels/wasm_kernels.js';
import { seeded } from '../shared/problems.js';
import { describeBackends } from '../shared/backends.js';

export interface Case {
  name: string;
  shapes: number[][];
  fn: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Inputs in [0.1, 1.1) instead of [-1, 1). */
  positive?: boolean;
  /** Values only: not float, or a broadcast-batch matMul (tfjs's BatchMatMul gradient does not reduce broadcast batches on any backend). */
  noGrad?: boolean;
}

export function input(shape: number[], seed: number, positive = false): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = seeded(n, seed);
  return tf.tensor(positive ? v.map((x) => Math.abs(x) + 0.1) : v, shape);
}

/** Value and gradients of sum(f(xs) * w) with respect to every input, as plain arrays. */
export function evaluate(c: Case): Float32Array[] {
  const outs = tf.tidy(() => {
    const xs = c.shapes.map((s, i) => input(s, 11 * (i + 1), c.positive));
    const value = c.fn(...xs);
    if (c.noGrad) return [value];
    const w = input(value.shape, 97);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(c.fn(...ys), w)))(xs);
    return [value, ...grads];
  });
  const arrays = outs.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose(outs);
  return arrays;
}

/** Max |got - want| / max(1, |want|). */
export function maxErr(got: Float32Array[], want: Float32Array[]): number {
  expect(got.map((a) => a.length)).to.deep.equal(want.map((a) => a.length));
  let worst = 0;
  got.forEach((g, k) => g.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[k][i]) / Math.max(1, Math.abs(want[k][i]))))));
  return worst;
}

export const numDataIds = (): number => tf.engine().backend.numDataIds();

/** The model ops of kernels/fused.ts, fused or composed. */
export interface ModelOps {
  gelu(x: tf.Tensor): tf.Tensor;
  layerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps?: number): tf.Tensor;
}
export const COMPOSED_MODEL_OPS: ModelOps = { gelu: composedGelu, layerNorm: composedLayerNorm };

export const FUSED_CASES: [string, number[][], (ops: ModelOps, ...xs: tf.Tensor[]) => tf.Tensor][] = [
  ['GELU', [[3, 5, 17]], (ops, x) => ops.gelu(tf.mul(x, 4))],
  ['layer norm with gain and bias', [[4, 3, 9], [9], [9]], (ops, x, g, b) => ops.layerNorm(tf.mul(x, 3), g, b)],
  ['layer norm with gain', [[7, 12], [12]], (ops, x, g) => ops.layerNorm(tf.add(x, 2), g, undefined, 1e-3)],
  ['layer norm alone', [[2, 2, 3, 5]], (ops, x) => ops.layerNorm(x)],
];

/** The fused model ops; fails the test when the native kernels are not active. */
export function fusedModelOps(): ModelOps {
  const f = fusedOps();
  expect(f).to.not.equal(null);
  return f!;
}

/**
 * A suite on wasm with the native kernels active, skipped (saying why) when the addon is not built;
 * leaves the kernels as it found them and the backend on cpu.
 */
export function describeNative(name: string, fn: () => void): void {
  // The 'wasm-native' configuration of the backend matrix (test/shared/backends.ts): absent, with the
  // reason in the matrix banner, when the addon is not built or fails its self-test.
  describeBackends(name, () => fn(), { only: ['wasm-native'] });
}
