/**
 * The Tensor methods (`t.flatten()`, `t.sign()`, ...) that tfjs-core's Node build leaves out: its
 * `dist/tf-core.node.js` has no chained ops, which the `@tensorflow/tfjs` bundle adds by importing
 * `tfjs-core/dist/public/chained_ops/register_all_chained_ops`. tfjs-layers calls some of them, e.g.
 * the Orthogonal initializer (default recurrent initializer of LSTM, GRU and SimpleRNN) calls
 * `rMat.flatten().stridedSlice(...)`, so with tfjs-core + tfjs-layers alone an LSTM cannot be built
 * ("rMat.flatten is not a function"). Each method is defined as tfjs-core's own file defines it
 * (tfjs-core 4.22.0 src/public/chained_ops/*.ts), and only where the Tensor class lacks it.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Methods `name(...args)` that call the op `tf[name](this, ...args)`. */
const DIRECT = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2',
  'atanh', 'avgPool', 'batchToSpaceND', 'batchNorm', 'broadcastTo', 'cast', 'ceil', 'clipByValue',
  'conv1d', 'conv2d', 'conv2dTranspose', 'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace',
  'depthwiseConv2d', 'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf', 'euclideanNorm',
  'exp', 'expandDims', 'expm1', 'fft', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'ifft',
  'irfft', 'isFinite', 'isInf', 'isNaN', 'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization',
  'log', 'log1p', 'logSigmoid', 'logSoftmax', 'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr',
  'logicalXor', 'matMul', 'max', 'maxPool', 'maximum', 'mean', 'min', 'minimum', 'mirrorPad', 'mod',
  'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad', 'pool', 'pow', 'prelu', 'prod',
  'reciprocal', 'relu', 'relu6', 'reshape', 'reverse', 'rfft', 'round', 'rsqrt', 'selu',
  'separableConv2d', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND',
  'split', 'sqrt', 'square', 'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub', 'sum',
  'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const;

type Method = (this: tf.Tensor, ...args: any[]) => unknown;

/** Methods that are not a plain call of the op of the same name. */
const SPECIAL: Record<string, Method> = {
  as1D() { return tf.reshape(this, [this.size]); },
  as2D(rows: number, columns: number) { return tf.reshape(this, [rows, columns]); },
  as3D(rows: number, columns: number, depth: number) { return tf.reshape(this, [rows, columns, depth]); },
  as4D(rows: number, columns: number, depth: number, depth2: number) { return tf.reshape(this, [rows, columns, depth, depth2]); },
  as5D(rows: number, columns: number, depth: number, depth2: number, depth3: number) { return tf.reshape(this, [rows, columns, depth, depth2, depth3]); },
  asScalar() {
    tf.util.assert(this.size === 1, () => 'The array must have only 1 element.');
    return tf.reshape(this, []);
  },
  asType(dtype: tf.DataType) { return tf.cast(this, dtype); },
  flatten() { return tf.reshape(this, [this.size]); },
  reshapeAs(x: tf.Tensor) { return tf.reshape(this, x.shape); },
  toBool() { return tf.cast(this, 'bool'); },
  toFloat() { return tf.cast(this, 'float32'); },
  toInt() { return tf.cast(this, 'int32'); },
  concat(x: tf.Tensor | tf.Tensor[], axis?: number) { return tf.concat([this, ...(x instanceof tf.Tensor ? [x] : x)], axis); },
  stack(x: tf.Tensor | tf.Tensor[], axis?: number) { return tf.stack([this, ...(x instanceof tf.Tensor ? [x] : x)], axis); },
  where(condition: tf.Tensor, x: tf.Tensor) { return tf.where(condition, this, x); },
  resizeBilinear(size: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) { return tf.image.resizeBilinear(this as tf.Tensor4D, size, alignCorners, halfPixelCenters); },
  resizeNearestNeighbor(size: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) { return tf.image.resizeNearestNeighbor(this as tf.Tensor4D, size, alignCorners, halfPixelCenters); },
};

/**
 * Defines every missing chained method on tf.Tensor's prototype (a no-op where the `@tensorflow/tfjs`
 * bundle or an earlier call already did); returns how many it added.
 */
export function registerChainedOps(): number {
  const proto = tf.Tensor.prototype as unknown as Record<string, Method>;
  const ops = tf as unknown as Record<string, (...a: unknown[]) => unknown>;
  let added = 0;
  const define = (name: string, fn: Method) => {
    if (typeof proto[name] === 'function') return;
    proto[name] = function (this: tf.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return fn.apply(this, args);
    };
    added++;
  };
  for (const name of DIRECT) define(name, function (this: tf.Tensor, ...args: unknown[]) { return ops[name](this, ...args); });
  for (const [name, fn] of Object.entries(SPECIAL)) define(name, fn);
  return added;
}
