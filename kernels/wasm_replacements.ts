/**
 * Native replacements of tfjs-backend-wasm 4.22.0 kernels. OpenBLAS `cblas_sgemm` runs BatchMatMul
 * and _FusedMatMul (transpose flags included), C loops run Sum, Mean, Tanh, Square, Neg, Exp, Sqrt,
 * Rsqrt, broadcast Add/Sub/Multiply/RealDiv, SplitV, Concat, Transpose and Tile, and Identity and
 * same-dtype Cast share their input's buffer. Each takes the original kernel and falls back to it for
 * what it does not handle: other dtypes, non-contiguous reduction axes, broadcasts that are not one
 * outer/inner split, broadcast matmul batches such as [2,1] against [1,3]. kernels/wasm_kernels.ts
 * registers them (docs/backends.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapOf, offsetOf, sizeOf, state, type KernelArgs, type KernelFn, type WasmBackend } from './addon.js';

/** A native kernel: the wasm kernel's arguments and the original kernel to fall back to. */
export type NativeFn = (args: KernelArgs, original: KernelFn) => tf.TensorInfo | tf.TensorInfo[];

const UNARY = { Tanh: 0, Square: 1, Neg: 2, Exp: 3, Sqrt: 4, Rsqrt: 5 } as const;
const BIN = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;
const MODE = { full: 0, row: 1, col: 2, scalar: 3 } as const;

function matMulInto(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): { out: tf.TensorInfo; rows: number; cols: number } | null {
  const addon = state.addon!;
  const ar = a.shape.length;
  const br = b.shape.length;
  if (ar < 2 || br < 2) return null;
  const m = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
  const k = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = transposeB ? b.shape[br - 1] : b.shape[br - 2];
  const n = transposeB ? b.shape[br - 2] : b.shape[br - 1];
  if (k !== kb) return null;
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  // Equal batches or one shared matrix; other broadcasts (e.g. [2,1] against [1,3]) go to the original.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  const out = backend.makeOutput([...batchShape, m, n], 'float32');
  if (batch * m * n > 0) {
    // Offsets and the heap are read after makeOutput: an allocation may grow and replace the heap.
    addon.gemm(heapOf(backend), batch, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, offsetOf(backend, a), batchA === 1 ? 0 : m * k, offsetOf(backend, b), batchB === 1 ? 0 : k * n, offsetOf(backend, out));
  }
  return { out, rows: batch * m, cols: n };
}

const batchMatMul: NativeFn = (args, original) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
  const r = matMulInto(args.backend, a, b, !!args.attrs.transposeA, !!args.attrs.transposeB);
  return r ? r.out : original(args);
};

const fusedMatMul: NativeFn = (args, original) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const activation = (args.attrs.activation as string | undefined) ?? 'linear';
  if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32' || preluActivationWeights != null) return original(args);
  if (activation !== 'linear' && activation !== 'relu') return original(args);
  const n = args.attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  if (bias != null && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== n)) return original(args);
  const r = matMulInto(args.backend, a, b, !!args.attrs.transposeA, !!args.attrs.transposeB);
  if (!r) return original(args);
  if (r.rows * r.cols > 0 && (bias != null || activation === 'relu')) {
    state.addon!.biasAct(heapOf(args.backend), offsetOf(args.backend, r.out), r.rows, r.cols, bias ? offsetOf(args.backend, bias) : -1, activation === 'relu' ? 1 : 0);
  }
  return r.out;
};

/** Sum, or Mean when `mean`, over one contiguous block of axes. */
function reduction(mean: boolean): NativeFn {
  return (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return original(args);
    const axes = [...new Set(tf.util.parseAxisParam(args.attrs.axis as number | number[], x.shape))].sort((p, q) => p - q);
    if (axes.length === 0 || axes.some((ax, i) => i > 0 && ax !== axes[i - 1] + 1)) return original(args);
    const first = axes[0];
    const last = axes[axes.length - 1];
    const outer = sizeOf(x.shape.slice(0, first));
    const reduce = sizeOf(x.shape.slice(first, last + 1));
    const inner = sizeOf(x.shape.slice(last + 1));
    const shape = args.attrs.keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : [...x.shape.slice(0, first), ...x.shape.slice(last + 1)];
    if (reduce === 0) return original(args);
    const out = args.backend.makeOutput(shape, 'float32');
    if (outer * inner > 0) state.addon!.sum(heapOf(args.backend), offsetOf(args.backend, x), offsetOf(args.backend, out), outer, reduce, inner, mean ? 1 / reduce : 1);
    return out;
  };
}

function unary(op: number): NativeFn {
  return (args, original) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return original(args);
    const out = args.backend.makeOutput(x.shape, 'float32');
    const n = sizeOf(x.shape);
    if (n > 0) state.addon!.unary(heapOf(args.backend), op, offsetOf(args.backend, x), offsetOf(args.backend, out), n);
    return out;
  };
}

/** SplitV along one axis: each piece is `outer` rows copied out of x. */
const splitV: NativeFn = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32') return original(args);
  const axis = tf.util.parseAxisParam(args.attrs.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs.numOrSizeSplits as number | number[], axis) as number[];
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const outs = sizes.map((s) => args.backend.makeOutput(x.shape.map((d, i) => (i === axis ? s : d)), 'float32'));
  const heap = heapOf(args.backend);
  const xOff = offsetOf(args.backend, x);
  let start = 0;
  sizes.forEach((s, i) => {
    if (s * inner * outer > 0) state.addon!.copyRows(heap, xOff + 4 * start * inner, x.shape[axis] * inner, offsetOf(args.backend, outs[i]), s * inner, outer, s * inner);
    start += s;
  });
  return outs;
};

/** Concat along one axis: each input's rows copied into place. */
const concat: NativeFn = (args, original) => {
  const xs = Object.values(args.inputs) as tf.TensorInfo[];
  if (xs.length === 0 || xs.some((t) => t.dtype !== 'float32')) return original(args);
  const axis = tf.util.parseAxisParam(args.attrs.axis as number, xs[0].shape)[0];
  const shape = tf.backend_util.computeOutShape(xs.map((t) => t.shape), axis);
  const out = args.backend.makeOutput(shape, 'float32');
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const heap = heapOf(args.backend);
  const outOff = offsetOf(args.backend, out);
  let start = 0;
  for (const t of xs) {
    const len = t.shape[axis] * inner;
    if (len * outer > 0) state.addon!.copyRows(heap, offsetOf(args.backend, t), len, outOff + 4 * start * inner, shape[axis] * inner, outer, len);
    start += t.shape[axis];
  }
  return out;
};

/**
 * Drops size-1 axes and merges axes that stay adjacent under `perm`: [B, T, H, D] with perm
 * [0, 2, 1, 3] becomes a 4-D move of D-long rows, a 2-D transpose stays 2-D.
 */
export function simplifyTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const rank = new Map(kept.map((ax, j) => [ax, j]));
  const s = kept.map((ax) => shape[ax]);
  const p = perm.filter((ax) => shape[ax] !== 1).map((ax) => rank.get(ax)!);
  if (p.length === 0) return { shape: [1], perm: [0] };
  const groups: number[][] = [];
  for (const ax of p) {
    const g = groups[groups.length - 1];
    if (g && ax === g[g.length - 1] + 1) g.push(ax);
    else groups.push([ax]);
  }
  const byStart = [...groups].sort((g, h) => g[0] - h[0]);
  return { shape: byStart.map((g) => sizeOf(g.map((ax) => s[ax]))), perm: groups.map((g) => byStart.indexOf(g)) };
}

const transpose: NativeFn = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return original(args);
  const perm = args.attrs.perm as number[];
  const out = args.backend.makeOutput(perm.map((ax) => x.shape[ax]), x.dtype);
  if (sizeOf(x.shape) > 0) {
    const t = simplifyTranspose(x.shape, perm);
    state.addon!.transpose(heapOf(args.backend), offsetOf(args.backend, x), offsetOf(args.backend, out), t.shape, t.perm);
  }
  return out;
};

/** The input itself under a new tensor: the data id is shared and its reference count raised, as tfjs-backend-cpu does. */
function share(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const identity: NativeFn = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return x.dtype === 'string' ? original(args) : share(args.backend, x);
};

const cast: NativeFn = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return x.dtype !== 'string' && args.attrs.dtype === x.dtype ? share(args.backend, x) : original(args);
};

/**
 * How an operand of shape `s` reads the output [outer, inner] split at axis `k`: every element
 * (full), along inner only (row), along outer only (col), or one value (scalar).
 */
function modeAt(s: readonly number[], out: readonly number[], k: number): number | null {
  const p = [...Array(out.length - s.length).fill(1), ...s];
  const same = (lo: number, hi: number) => p.slice(lo, hi).every((d, i) => d === out[lo + i]);
  const ones = (lo: number, hi: number) => p.slice(lo, hi).every((d) => d === 1);
  const r = out.length;
  if (same(0, k) && same(k, r)) return MODE.full;
  if (ones(0, k) && same(k, r)) return MODE.row;
  if (same(0, k) && ones(k, r)) return MODE.col;
  if (ones(0, k) && ones(k, r)) return MODE.scalar;
  return null;
}

function binary(op: number): NativeFn {
  return (args, original) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    for (let k = 0; k <= shape.length; k++) {
      const am = modeAt(a.shape, shape, k);
      const bm = modeAt(b.shape, shape, k);
      if (am === null || bm === null) continue;
      const out = args.backend.makeOutput(shape, 'float32');
      const outer = sizeOf(shape.slice(0, k));
      const inner = sizeOf(shape.slice(k));
      if (outer * inner > 0) {
        state.addon!.binary(heapOf(args.backend), op, offsetOf(args.backend, a), am, offsetOf(args.backend, b), bm, offsetOf(args.backend, out), outer, inner);
      }
      return out;
    }
    return original(args);
  };
}

/** Tile (tf.tile, and tf.where's broadcast of its condition) for float32, int32 and bool. */
const tile: NativeFn = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const bytes = x.dtype === 'bool' ? 1 : x.dtype === 'float32' || x.dtype === 'int32' ? 4 : 0;
  const reps = args.attrs.reps as number[];
  if (bytes === 0 || x.shape.length === 0 || x.shape.length > 8 || reps.length !== x.shape.length) return original(args);
  const out = args.backend.makeOutput(x.shape.map((d, i) => d * reps[i]), x.dtype);
  if (sizeOf(out.shape) > 0) state.addon!.tile(heapOf(args.backend), offsetOf(args.backend, x), offsetOf(args.backend, out), [...x.shape], [...reps], bytes);
  return out;
};

/** The replaced kernels by name. */
export const NATIVE_KERNELS: Readonly<Record<string, NativeFn>> = {
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.Sum]: reduction(false),
  [tf.Mean]: reduction(true),
  [tf.Tanh]: unary(UNARY.Tanh),
  [tf.Square]: unary(UNARY.Square),
  [tf.Neg]: unary(UNARY.Neg),
  [tf.Exp]: unary(UNARY.Exp),
  [tf.Sqrt]: unary(UNARY.Sqrt),
  [tf.Rsqrt]: unary(UNARY.Rsqrt),
  [tf.SplitV]: splitV,
  [tf.Concat]: concat,
  [tf.Transpose]: transpose,
  [tf.Tile]: tile,
  [tf.Identity]: identity,
  [tf.Cast]: cast,
  [tf.Add]: binary(BIN.Add),
  [tf.Sub]: binary(BIN.Sub),
  [tf.Multiply]: binary(BIN.Multiply),
  [tf.RealDiv]: binary(BIN.RealDiv),
};
