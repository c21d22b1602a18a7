/**
 * The start-up self-test's cases: small deterministic inputs for every native kernel, each case run
 * once with the native kernels and once with the wasm backend's originals (kernels/wasm_kernels.ts).
 * A fused op whose formula lives elsewhere (an optimizer's) adds its case with `addSelfTestCase`
 * from the file that holds the formula; under the originals `fusedOps()` is null, so the case then
 * runs that formula's tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sizeOf } from './addon.js';
import { gelu, layerNorm } from './fused.js';

/** One self-test case: a name and a function returning one tensor (run inside tf.tidy). */
export type SelfTestCase = readonly [name: string, make: () => tf.Tensor];

/** Deterministic values in [-1, 1) without tf.random (the same on every backend and run). */
export function selfTestValues(shape: number[], seed: number): tf.Tensor {
  const n = sizeOf(shape);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (((i + 1) * 2654435761 + seed * 40503) % 2003) / 1001.5 - 1;
  return tf.tensor(v, shape);
}

const values = selfTestValues;

const BUILT_IN: readonly SelfTestCase[] = [
  ['BatchMatMul', () => tf.matMul(values([5, 7], 1), values([7, 3], 2))],
  ['BatchMatMul transposeA', () => tf.matMul(values([7, 5], 1), values([7, 3], 2), true, false)],
  ['BatchMatMul transposeB', () => tf.matMul(values([5, 7], 1), values([3, 7], 2), false, true)],
  ['BatchMatMul both transposed', () => tf.matMul(values([7, 5], 1), values([3, 7], 2), true, true)],
  ['BatchMatMul batched', () => tf.matMul(values([2, 3, 5, 7], 1), values([2, 3, 7, 4], 2))],
  ['BatchMatMul shared right', () => tf.matMul(values([3, 5, 7], 1), values([7, 4], 2))],
  ['BatchMatMul shared left, transposed', () => tf.matMul(values([7, 5], 1), values([3, 4, 7], 2), true, true)],
  ['BatchMatMul broadcast batches', () => tf.matMul(values([2, 1, 5, 7], 1), values([1, 3, 7, 4], 2))],
  ['_FusedMatMul bias relu', () => tf.fused.matMul({ a: values([5, 7], 1) as tf.Tensor2D, b: values([7, 3], 2) as tf.Tensor2D, bias: values([3], 3), activation: 'relu' })],
  ['Sum leading axes', () => tf.sum(values([3, 4, 5], 1), [0, 1])],
  ['Sum middle axis', () => tf.sum(values([3, 4, 5], 1), 1, true)],
  ['Sum last axis', () => tf.sum(values([3, 4, 5], 1), -1)],
  ['Sum all', () => tf.sum(values([3, 4, 5], 1))],
  ['Mean leading axes', () => tf.mean(values([3, 4, 5], 1), [0, 1])],
  ['Mean last axis', () => tf.mean(values([3, 4, 5], 1), -1, true)],
  ['Tanh', () => tf.tanh(tf.mul(values([3, 17], 1), 10))],
  ['Square', () => tf.square(values([3, 5], 1))],
  ['Neg', () => tf.neg(values([3, 5], 1))],
  ['Exp', () => tf.exp(tf.mul(values([3, 5], 1), 5))],
  ['Sqrt', () => tf.sqrt(tf.abs(values([3, 5], 1)))],
  ['Rsqrt', () => tf.rsqrt(tf.add(tf.abs(values([3, 5], 1)), 0.01))],
  ['SplitV', () => tf.concat(tf.split(values([2, 3, 7], 1), [2, 4, 1], 2).map((t) => tf.reshape(t, [-1])))],
  ['Concat', () => tf.concat([values([2, 3, 5], 1), values([2, 1, 5], 2), values([2, 4, 5], 3)], 1)],
  ['Transpose 2-D', () => tf.transpose(values([37, 45], 1))],
  ['Transpose heads', () => tf.transpose(values([2, 5, 3, 4], 1), [0, 2, 1, 3])],
  ['Transpose 3-D', () => tf.transpose(values([3, 4, 5], 1), [2, 0, 1])],
  ['Tile', () => tf.tile(values([2, 1, 3], 1), [2, 3, 1])],
  ['Tile bool (where)', () => tf.where(tf.scalar(true, 'bool'), values([3, 4], 1), values([3, 4], 2))],
  ['Add row broadcast', () => tf.add(values([3, 4, 5], 1), values([5], 2))],
  ['Sub col broadcast', () => tf.sub(values([3, 4, 1], 1), values([3, 4, 5], 2))],
  ['Multiply outer', () => tf.mul(values([3, 1], 1), values([1, 5], 2))],
  ['RealDiv scalar', () => tf.div(values([3, 5], 1), tf.scalar(0.7))],
  ['fused GELU', () => gelu(tf.mul(values([3, 17], 1), 5))],
  ['fused layer norm', () => layerNorm(tf.mul(values([4, 3, 9], 1), 3), values([9], 2), values([9], 3))],
  ['Identity', () => tf.clone(values([3, 5], 1))],
  ['Cast', () => tf.cast(values([3, 5], 1), 'float32')],
];

const added: SelfTestCase[] = [];

/**
 * Adds a case to the self-test, for a fused op whose formula lives outside kernels/ (call it at module
 * load). Cases added after `enableNativeKernels` activated the kernels run at its next call (which
 * `selectBackend` makes); every entry point of this package loads the optimizers first.
 */
export function addSelfTestCase(name: string, make: () => tf.Tensor): void {
  if (!added.some(([n]) => n === name)) added.push([name, make]);
}

/** Every case: the built-in ones, then those added by other files, in order. */
export function selfTestCases(): readonly SelfTestCase[] {
  return [...BUILT_IN, ...added];
}
