/**
 * Kernels that tfjs-backend-wasm 4.22.0 lacks and tfjs-layers needs to train common layers: the
 * filter gradient of Conv1D/Conv2D/SeparableConv2D (`Conv2DBackpropFilter`), both gradients of
 * DepthwiseConv2D (`DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput`) and
 * the gradient of `tf.gather`, hence of Embedding (`UnsortedSegmentSum`). Without them `model.fit`
 * fails with "Kernel '...' not registered for backend 'wasm'".
 *
 * The convolution gradients are composed from kernels the wasm backend has (pad, strided slice,
 * concat, transpose, matmul, multiply, sum), so with optlab's native kernels (kernels/wasm_kernels.ts)
 * their matmuls and reductions run in OpenBLAS and C. `UnsortedSegmentSum` is one pass over the
 * data on the host (JavaScript over the wasm heap), the loop of TensorFlow's CPU kernel.
 *
 * Every kernel follows the cpu backend's definition (tfjs-backend-cpu 4.22.0): same attributes, same
 * zero padding, out-of-range segment ids ignored. Results match it to float rounding (the sums run in
 * another order); test/kernels/wasm_missing.test.ts compares values and gradients on odd shapes.
 *
 * Warnings:
 * - A composed kernel calls tfjs ops from inside a kernel, as the engine allows (no tape is
 *   recorded while a kernel runs); its intermediates live only for the call.
 * - Registered only where the wasm backend has no kernel of that name, so a later tfjs release that
 *   ships one keeps its own.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackend {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: WasmBackend; attrs: Record<string, unknown> };
type ConvInfo = tf.backend_util.Conv2DInfo;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

/**
 * A kernel computed with tfjs ops: inputs are wrapped as tensors (the backend's reference count is
 * raised so that freeing the wrappers leaves the inputs alone), `compute` runs inside tf.tidy, and
 * the result's data becomes the kernel's output without a copy (again by reference count).
 */
function composed(compute: (inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) => tf.Tensor): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const engine = tf.engine();
    const out = tf.tidy(() => {
      const wrapped: Record<string, tf.Tensor> = {};
      for (const [k, info] of Object.entries(inputs)) {
        if (info == null) continue;
        backend.incRef(info.dataId);
        wrapped[k] = engine.makeTensorFromTensorInfo(info);
      }
      return compute(wrapped, attrs);
    });
    backend.incRef(out.dataId);
    const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
    out.dispose();
    return info;
  }) as unknown as tf.KernelFunc;
}

/**
 * The input window that filter tap (i, j) sees at every output position: rows i*dh + y*sh, columns
 * j*dw + x*sw of the zero-padded input, y < outHeight, x < outWidth. x is NHWC; returns
 * [batch, outHeight, outWidth, channels].
 */
function tap(xp: tf.Tensor4D, c: ConvInfo, i: number, j: number): tf.Tensor4D {
  const r0 = i * c.dilationHeight;
  const c0 = j * c.dilationWidth;
  return tf.stridedSlice(
    xp,
    [0, r0, c0, 0],
    [xp.shape[0], r0 + (c.outHeight - 1) * c.strideHeight + 1, c0 + (c.outWidth - 1) * c.strideWidth + 1, xp.shape[3]],
    [1, c.strideHeight, c.strideWidth, 1],
  ) as tf.Tensor4D;
}

/**
 * Zero-pads an NHWC input by the convolution's top/left padding and as much bottom/right padding as
 * the last output position reads (the cpu kernel treats reads outside the input as zeros).
 */
function padInput(x: tf.Tensor4D, c: ConvInfo): tf.Tensor4D {
  const { top, left } = c.padInfo;
  const needH = (c.outHeight - 1) * c.strideHeight + c.effectiveFilterHeight;
  const needW = (c.outWidth - 1) * c.strideWidth + c.effectiveFilterWidth;
  const bottom = Math.max(0, needH - x.shape[1] - top);
  const right = Math.max(0, needW - x.shape[2] - left);
  if (top === 0 && left === 0 && bottom === 0 && right === 0) return x;
  return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
}

/**
 * dW[i, j, c, o] = sum over batch and output positions of x_padded[n, y*sh + i, x*sw + j, c] *
 * dy[n, y, x, o]: all filter taps side by side (im2col), then one matmul.
 */
const conv2DBackpropFilter = composed(({ x, dy }, attrs) => {
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
  const filterShape = attrs.filterShape as [number, number, number, number];
  let x4 = x as tf.Tensor4D;
  let dy4 = dy as tf.Tensor4D;
  if (dataFormat === 'channelsFirst') {
    x4 = tf.transpose(x4, [0, 2, 3, 1]);
    dy4 = tf.transpose(dy4, [0, 2, 3, 1]);
  }
  const c = tf.backend_util.computeConv2DInfo(x4.shape, filterShape, attrs.strides as number, 1, attrs.pad as Pad, attrs.dimRoundingMode as 'floor' | undefined, false, 'channelsLast');
  const [fh, fw, inC, outC] = filterShape;
  const rows = c.batchSize * c.outHeight * c.outWidth;
  if (rows === 0) return tf.zeros(filterShape);
  const xp = padInput(x4, c);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < fh; i++) for (let j = 0; j < fw; j++) taps.push(tap(xp, c, i, j));
  const cols = tf.reshape(taps.length === 1 ? taps[0] : tf.concat(taps, 3), [rows, fh * fw * inC]);
  // An explicit transpose: tfjs-backend-wasm's matmul with transposeA is about 30x slower.
  const dw = tf.matMul(tf.transpose(cols), tf.reshape(dy4, [rows, outC]));
  return tf.reshape(dw, filterShape);
});

/** dW[i, j, c, m] = sum over batch and output positions of x_padded[.., c] * dy[.., c*mult + m]. */
const depthwiseBackpropFilter = composed(({ x, dy }, attrs) => {
  const filterShape = attrs.filterShape as [number, number, number, number];
  const c = tf.backend_util.computeConv2DInfo((x as tf.Tensor4D).shape, filterShape, attrs.strides as number, attrs.dilations as number, attrs.pad as Pad, attrs.dimRoundingMode as 'floor' | undefined, true);
  const [fh, fw, inC, mult] = filterShape;
  const rows = c.batchSize * c.outHeight * c.outWidth;
  if (rows === 0) return tf.zeros(filterShape);
  const xp = padInput(x as tf.Tensor4D, c);
  const dy3 = tf.reshape(dy, [rows, inC, mult]);
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) taps.push(tf.sum(tf.mul(tf.reshape(tap(xp, c, i, j), [rows, inC, 1]), dy3), 0));
  }
  return tf.reshape(tf.stack(taps), filterShape);
});

/**
 * dx[n, h, w, c] = sum over taps (i, j) and multipliers m of dy[n, y, x, c*mult + m] * f[i, j, c, m]
 * where h = y*sh + i*dh - top, w = x*sw + j*dw - left: each tap's contribution is spread onto the
 * stride grid (zeros between), shifted to its offset in the padded input, and summed.
 */
const depthwiseBackpropInput = composed(({ dy, filter }, attrs) => {
  const inputShape = attrs.inputShape as [number, number, number, number];
  const f = filter as tf.Tensor4D;
  const c = tf.backend_util.computeConv2DInfo(inputShape, f.shape, attrs.strides as number, attrs.dilations as number, attrs.pad as Pad, attrs.dimRoundingMode as 'floor' | undefined, true);
  const [fh, fw, inC, mult] = f.shape;
  const [n, h, w] = inputShape;
  if (c.batchSize * c.outHeight * c.outWidth === 0) return tf.zeros(inputShape);
  const { top, left } = c.padInfo;
  const spanH = (c.outHeight - 1) * c.strideHeight + 1;
  const spanW = (c.outWidth - 1) * c.strideWidth + 1;
  const padH = Math.max(top + h, (fh - 1) * c.dilationHeight + spanH);
  const padW = Math.max(left + w, (fw - 1) * c.dilationWidth + spanW);
  const dy5 = tf.reshape(dy, [n, c.outHeight, c.outWidth, inC, mult]);
  let acc: tf.Tensor | null = null;
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const fij = tf.reshape(tf.slice(f, [i, j, 0, 0], [1, 1, inC, mult]), [inC, mult]);
      let g = tf.sum(tf.mul(dy5, fij), 4) as tf.Tensor4D; // [n, oh, ow, inC]
      g = spread(g, c.strideHeight, c.strideWidth, spanH, spanW);
      const r0 = i * c.dilationHeight;
      const c0 = j * c.dilationWidth;
      const placed = tf.pad(g, [[0, 0], [r0, padH - r0 - spanH], [c0, padW - c0 - spanW], [0, 0]]);
      acc = acc === null ? placed : tf.add(acc, placed);
    }
  }
  return tf.slice(acc!, [0, top, left, 0], [n, h, w, inC]);
});

/** Puts row y at y*sh and column x at x*sw (zeros between), cropped to spanH x spanW. */
function spread(g: tf.Tensor4D, sh: number, sw: number, spanH: number, spanW: number): tf.Tensor4D {
  const [n, oh, ow, ch] = g.shape;
  let out = g;
  if (sh > 1) {
    out = tf.reshape(tf.pad(tf.reshape(out, [n, oh, 1, ow, ch]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, 0]]), [n, oh * sh, ow, ch]);
    out = tf.slice(out, [0, 0, 0, 0], [n, spanH, ow, ch]);
  }
  if (sw > 1) {
    out = tf.reshape(tf.pad(tf.reshape(out, [n, spanH, ow, 1, ch]), [[0, 0], [0, 0], [0, 0], [0, sw - 1], [0, 0]]), [n, spanH, ow * sw, ch]);
    out = tf.slice(out, [0, 0, 0, 0], [n, spanH, spanW, ch]);
  }
  return out;
}

/**
 * out[s, r] = sum of x[j, r] over every index j of segmentIds with segmentIds[j] = s (j may span
 * several leading dimensions of x; r spans the others), TensorFlow's UnsortedSegmentSum; ids outside
 * [0, numSegments) are skipped, as the cpu kernel skips them. One pass over x on the host, into a
 * zeroed output on the wasm heap.
 */
const unsortedSegmentSum = ((args: KernelArgs) => {
  const { inputs, backend, attrs } = args;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = attrs.numSegments as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum (wasm): x has dtype ${x.dtype}; expected float32 or int32`);
  if (ids.dtype !== 'int32') throw new Error(`UnsortedSegmentSum (wasm): segmentIds has dtype ${ids.dtype}; expected int32`);
  if (ids.shape.length > x.shape.length || ids.shape.some((d, k) => d !== x.shape[k])) {
    throw new Error(`UnsortedSegmentSum (wasm): segmentIds shape [${ids.shape}] is not a prefix of x shape [${x.shape}]`);
  }
  const count = tf.util.sizeFromShape(ids.shape);
  const rest = tf.util.sizeFromShape(x.shape.slice(ids.shape.length));
  const out = backend.makeOutput([numSegments, ...x.shape.slice(ids.shape.length)], x.dtype);
  // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
  const o = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  o.fill(0);
  const xv = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const sv = backend.typedArrayFromHeap(ids) as Int32Array;
  for (let j = 0; j < count; j++) {
    const s = sv[j];
    if (s < 0 || s >= numSegments) continue;
    for (let r = 0, src = j * rest, dst = s * rest; r < rest; r++) o[dst + r] += xv[src + r];
  }
  return out;
}) as unknown as tf.KernelFunc;

/** The kernels this module adds to the wasm backend, by tfjs kernel name. */
export const WASM_MISSING_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
  UnsortedSegmentSum: unsortedSegmentSum,
};

/**
 * Registers every kernel of `WASM_MISSING_KERNELS` that the wasm backend does not have; returns the
 * names registered now (empty on a second call). Needs no initialized backend.
 */
export function registerMissingWasmKernels(): string[] {
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(WASM_MISSING_KERNELS)) {
    if (tf.getKernel(kernelName, 'wasm')) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    added.push(kernelName);
  }
  return added;
}
