/**
 * The kernels kernels/wasm_missing.ts adds to the wasm backend, against the cpu backend: the kernels'
 * own outputs and the gradients of the ops that use them (conv1d/conv2d/depthwise/separable filters,
 * depthwise inputs, gather), on odd shapes, strides, dilations and paddings.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { registerMissingWasmKernels, WASM_MISSING_KERNELS } from '../../kernels/wasm_missing.js';

registerMissingWasmKernels();

/** Deterministic values in [-1, 1), the same on every backend. */
function values(shape: number[], seed: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (((i + 1) * 2654435761 + seed * 40503) % 2003) / 1001.5 - 1;
  return tf.tensor(v, shape);
}

/** Runs `fn` on a backend and returns every output's shape and values. */
async function on(backend: string, fn: () => tf.Tensor[]): Promise<{ shape: number[]; data: number[] }[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(fn);
  const res = outs.map((t) => ({ shape: t.shape, data: Array.from(t.dataSync()) }));
  tf.dispose(outs);
  return res;
}

/** Same shapes, and |wasm - cpu| <= 1e-5 max(1, |cpu|) element by element. */
async function matchesCpu(fn: () => tf.Tensor[]): Promise<void> {
  const ref = await on('cpu', fn);
  const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
  const got = await on('wasm', fn);
  expect(tf.memory().numTensors, 'tensors leaked on wasm').to.equal(before);
  expect(got.map((g) => g.shape)).to.deep.equal(ref.map((r) => r.shape));
  got.forEach((g, k) => {
    let worst = 0;
    g.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[k].data[i]) / Math.max(1, Math.abs(ref[k].data[i])))));
    expect(worst, `output ${k}`).to.be.at.most(1e-5);
  });
}

const conv2dGrads = (xs: number[], fs: number[], strides: [number, number] | number, pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]]) => () => {
  const x = values(xs, 1);
  const f = values(fs, 2);
  const probe = values([1], 3); // makes the loss weights differ per output element
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.sin(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, strides, pad as 'same')), tf.add(probe, 2))));
  return g([x, f]);
};

describe('wasm kernels missing from tfjs-backend-wasm', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('registers exactly the kernels the wasm backend lacks', () => {
    for (const name of Object.keys(WASM_MISSING_KERNELS)) expect(tf.getKernel(name, 'wasm'), name).to.not.equal(undefined);
    expect(registerMissingWasmKernels()).to.deep.equal([]);
  });

  it('Conv2DBackpropFilter: conv2d gradients, same padding, strides 2x1, 5 -> 4 channels', () => matchesCpu(conv2dGrads([3, 7, 6, 5], [3, 2, 5, 4], [2, 1], 'same')));
  it('Conv2DBackpropFilter: valid padding, stride 3, 1 channel, output 1x2', () => matchesCpu(conv2dGrads([2, 5, 7, 1], [4, 3, 1, 3], 3, 'valid')));
  it('Conv2DBackpropFilter: explicit asymmetric padding', () => matchesCpu(conv2dGrads([1, 6, 5, 2], [2, 3, 2, 3], [1, 2], [[0, 0], [1, 2], [0, 1], [0, 0]])));

  it('Conv2DBackpropFilter: the kernel itself with NCHW data and a 1x1 filter', () =>
    matchesCpu(() => {
      const x = values([2, 3, 5, 4], 1);
      const dy = values([2, 6, 5, 4], 2);
      const nchw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [1, 1, 3, 6] }) as tf.Tensor;
      const dy2 = values([2, 3, 4, 4], 3);
      const nhwc = tf.engine().runKernel('Conv2DBackpropFilter', { x: values([2, 5, 4, 3], 4), dy: dy2 }, { strides: [2, 1], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] }) as tf.Tensor;
      return [nchw, nhwc];
    }));

  it('Conv2DBackpropFilter: conv1d gradients (stride 2, same padding)', () =>
    matchesCpu(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, 2, 'same'))))([values([2, 11, 3], 1), values([4, 3, 5], 2)])));

  it('DepthwiseConv2dNative backprops: strides 2, same padding, multiplier 2', () =>
    matchesCpu(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([values([2, 9, 8, 3], 1), values([3, 2, 3, 2], 2)])));

  it('DepthwiseConv2dNative backprops with dilation 2x1 equal the gradients of the zero-dilated filter', async () => {
    // tfjs's depthwise gradient refuses dilations > 1 and the cpu kernels ignore them, so the reference
    // is the same convolution written with dilation 1: rows 0, 2, 4 of a 5x2 filter hold the 3x2 taps,
    // rows 1 and 3 are zeros. Its filter gradient's rows 0, 2, 4 and its input gradient are the answer.
    const x = () => values([1, 8, 5, 2], 1);
    const dy = () => values([1, 4, 4, 2], 3);
    const f = () => values([3, 2, 2, 1], 2);
    const ref = await on('cpu', () => {
      const taps = tf.unstack(f());
      const zero = tf.zerosLike(taps[0]);
      const wide = tf.stack([taps[0], zero, taps[1], zero, taps[2]]);
      const [dx, dWide] = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), dy())))([x(), wide]);
      return [tf.gather(dWide, [0, 2, 4]), dx];
    });
    const got = await on('wasm', () => {
      const attrs = { strides: 1, pad: 'valid', dilations: [2, 1] };
      const df = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: x(), dy: dy() }, { ...attrs, filterShape: [3, 2, 2, 1] }) as tf.Tensor;
      const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dy(), filter: f() }, { ...attrs, inputShape: [1, 8, 5, 2] }) as tf.Tensor;
      return [df, dx];
    });
    got.forEach((g, k) => {
      expect(g.shape).to.deep.equal(ref[k].shape);
      g.data.forEach((v, i) => expect(v).to.be.closeTo(ref[k].data[i], 1e-5));
    });
  });

  it('DepthwiseConv2dNative backprops: explicit padding, stride 3x2', () =>
    matchesCpu(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.sin(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, [3, 2], [[0, 0], [2, 0], [1, 1], [0, 0]]))))([values([2, 7, 6, 2], 1), values([2, 3, 2, 3], 2)])));

  it('separableConv2d gradients (depthwise and pointwise filters, input)', () =>
    matchesCpu(() => tf.grads((a: tf.Tensor, d: tf.Tensor, p: tf.Tensor) => tf.sum(tf.sin(tf.separableConv2d(a as tf.Tensor4D, d as tf.Tensor4D, p as tf.Tensor4D, 1, 'same'))))([values([2, 6, 5, 3], 1), values([3, 3, 3, 2], 2), values([1, 1, 6, 4], 3)])));

  it('UnsortedSegmentSum: float and int32 data, ids out of range skipped, no rows', () =>
    matchesCpu(() => {
      const ids = tf.tensor1d([2, 0, 2, -1, 4, 9, 0], 'int32');
      const float = tf.unsortedSegmentSum(values([7, 3, 2], 1), ids, 5);
      const int = tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]], [7, 2], 'int32'), ids, 3);
      return [float, int, tf.unsortedSegmentSum(values([0, 3], 1), tf.tensor1d([], 'int32'), 4)];
    }));

  it('UnsortedSegmentSum: 2-D segment ids sum over both id dimensions (TensorFlow semantics)', async () => {
    // The cpu kernel fails on 2-D ids (a broadcast error), so the expected values are by hand:
    // ids [[0, 1, 1], [2, 0, 1]], x[j] = [10 j, 10 j + 1] for flat j = 0..5:
    // segment 0 <- j 0, 4: [0 + 40, 1 + 41]; segment 1 <- j 1, 2, 5: [10 + 20 + 50, 11 + 21 + 51]; segment 2 <- j 3: [30, 31].
    await tf.setBackend('wasm');
    const x = tf.tensor3d([0, 1, 10, 11, 20, 21, 30, 31, 40, 41, 50, 51], [2, 3, 2]);
    const ids = tf.tensor2d([[0, 1, 1], [2, 0, 1]], [2, 3], 'int32');
    const out = tf.engine().runKernel('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 3 }) as tf.Tensor;
    expect(out.shape).to.deep.equal([3, 2]);
    expect(Array.from(out.dataSync())).to.deep.equal([40, 42, 80, 83, 30, 31]);
    tf.dispose([x, ids, out]);
  });

  it('UnsortedSegmentSum: gather gradients on axis 0 (embedding lookup) and axis 1', () =>
    matchesCpu(() => {
      const ids = tf.tensor2d([[3, 1, 3], [10, 0, 3]], [2, 3], 'int32');
      const g0 = tf.grad((p: tf.Tensor) => tf.sum(tf.sin(tf.mul(tf.gather(p, ids), values([2, 3, 4], 5)))))(values([11, 4], 1));
      const g1 = tf.grad((p: tf.Tensor) => tf.sum(tf.sin(tf.gather(p, tf.tensor1d([1, 1, 0, 10], 'int32'), 1))))(values([3, 11, 2], 2));
      return [g0, g1];
    }));
});
