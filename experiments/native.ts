/**
 * Native kernels inside the tfjs wasm backend (issue 8). OpenBLAS `cblas_sgemm` runs BatchMatMul and
 * _FusedMatMul (transpose flags included), C loops run Sum, Mean, Tanh, Square, Neg, Exp, Sqrt,
 * Rsqrt, broadcast Add/Sub/Multiply/RealDiv, SplitV, Concat, Transpose and Tile, and Identity and
 * same-dtype Cast share their input's buffer. They replace the wasm backend's kernels
 * (`tf.registerKernel` after `tf.unregisterKernel`, the originals kept for fallback) and work in
 * place on the wasm heap: the output comes from the backend's `makeOutput`, inputs and output are
 * addressed by their `memoryOffset` in the heap's current buffer (read after the allocation, which
 * may grow and replace it), and no tensor is copied (NOTES-tfjs.md, "Native matrix multiply inside
 * the wasm backend"). `fusedOps()` adds GELU and layer norm as single kernels each way, which
 * models/layers.ts uses when they are active, and optimizer kernels: Adam's moments and direction
 * (optimizers/adamw.ts) and AuON's momentum, cosh brake and scaled direction (optimizers/auon.ts).
 *
 * The addon (native/optlab_native.c) is built by `npm install` when a C compiler and OpenBLAS
 * (`libopenblas-dev`) are present. `OPTLAB_NATIVE=0` keeps plain wasm; `OPTLAB_BLAS_THREADS` sets
 * OpenBLAS threads (default 1: one thread beat two on the tiny GPT, and parallel sweep runs must not
 * oversubscribe the cores).
 *
 * Warnings:
 * - This reads private fields of tfjs-backend-wasm 4.22.0 (`dataIdMap`, `wasm.HEAPU8`,
 *   `makeOutput`, `incRef`); tfjs is pinned to that exact version. A start-up self-test compares
 *   every native kernel with the original on small inputs and falls back to plain wasm, saying so,
 *   on a mismatch.
 * - Results match plain wasm to float rounding, not bit for bit: OpenBLAS sums in another order,
 *   reductions accumulate in double, tanh is Cephes' polynomial. They are deterministic for a given
 *   thread count.
 * - Kernels flush float32 denormals to zero, as TensorFlow's CPU kernels do (OpenBLAS worker threads
 *   too, unless OPENBLAS_NUM_THREADS > 1 was set before start-up: they then keep denormals and
 *   denormal-heavy products, such as Newton iterations near convergence, run slower).
 * - Only float32 (and int32/bool for Transpose and Tile) goes native; other dtypes, non-contiguous
 *   reduction axes, broadcasts that are not one outer/inner split and broadcast matmul batches such as
 *   [2,1] against [1,3] run the original kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installLayersSupport } from '../kernels/layers_support.js';

installLayersSupport();

/** The functions of native/optlab_native.c; offsets are bytes into `heap`, sizes are elements. */
interface Addon {
  gemm(heap: ArrayBuffer, batch: number, transA: number, transB: number, m: number, n: number, k: number, aOff: number, aStride: number, bOff: number, bStride: number, cOff: number): void;
  biasAct(heap: ArrayBuffer, cOff: number, rows: number, cols: number, biasOff: number, relu: number): void;
  sum(heap: ArrayBuffer, xOff: number, outOff: number, outer: number, reduce: number, inner: number, scale: number): void;
  unary(heap: ArrayBuffer, op: number, xOff: number, outOff: number, n: number): void;
  copyRows(heap: ArrayBuffer, srcOff: number, srcStride: number, dstOff: number, dstStride: number, rows: number, len: number): void;
  transpose(heap: ArrayBuffer, xOff: number, outOff: number, shape: number[], perm: number[]): void;
  tile(heap: ArrayBuffer, xOff: number, outOff: number, shape: number[], reps: number[], elementBytes: number): void;
  adam(heap: ArrayBuffer, gOff: number, mOff: number, vOff: number, mOutOff: number, vOutOff: number, uOff: number, n: number, b1: number, omb1: number, b2: number, omb2: number, eps: number, sqrtBc2: number, bc1: number, corrected: number): void;
  auon(heap: ArrayBuffer, gOff: number, mOff: number, mOutOff: number, outOff: number, n: number, stage: number, omm: number, w: number, high: number, gamma: number, paper: number, factor: number): void;
  gelu(heap: ArrayBuffer, xOff: number, yOff: number, n: number): void;
  geluGrad(heap: ArrayBuffer, dyOff: number, xOff: number, dxOff: number, n: number): void;
  layerNorm(heap: ArrayBuffer, xOff: number, gOff: number, bOff: number, yOff: number, meanOff: number, rstdOff: number, rows: number, cols: number, eps: number): void;
  layerNormGrad(heap: ArrayBuffer, dyOff: number, xOff: number, gOff: number, meanOff: number, rstdOff: number, dxOff: number, dgOff: number, dbOff: number, rows: number, cols: number): void;
  binary(heap: ArrayBuffer, op: number, aOff: number, aMode: number, bOff: number, bMode: number, outOff: number, outer: number, inner: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  blasConfig(): string;
}

/** The parts of tfjs-backend-wasm 4.22.0's BackendWasm the kernels use. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: object): void;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: WasmBackend; attrs: Record<string, unknown> };
type Func = (args: Args) => tf.TensorInfo | tf.TensorInfo[];
type NativeFunc = (args: Args, original: Func) => tf.TensorInfo | tf.TensorInfo[];

/** Options of `enableNativeKernels`. */
export interface NativeOptions {
  /** OpenBLAS threads. @default $OPTLAB_BLAS_THREADS, else 1 */
  threads?: number;
  /** Largest accepted max |native - original| / max(1, |original|) in the self-test. @default 1e-5 */
  selfTestTolerance?: number;
}

/** What `enableNativeKernels` did. */
export interface NativeStatus {
  /** The addon loaded (built by `npm install`, not disabled). */
  available: boolean;
  /** The native kernels are registered for the wasm backend now. */
  active: boolean;
  /** OpenBLAS threads. */
  threads: number;
  /** The BLAS and its threads, e.g. 'OpenBLAS 0.3.21, 1 thread'; '' when inactive. */
  blas: string;
  /** Kernel names replaced. */
  kernels: string[];
  /** One line: what is active, or why not. */
  message: string;
}

const UNARY = { Tanh: 0, Square: 1, Neg: 2, Exp: 3, Sqrt: 4, Rsqrt: 5 } as const;
const BIN = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3 } as const;
const MODE = { full: 0, row: 1, col: 2, scalar: 3 } as const;

const state = {
  addon: null as Addon | null,
  loadTried: false,
  loadError: '',
  originals: new Map<string, tf.KernelConfig>(),
  threads: 0,
  message: '',
};

const ADDON_PATH = join('native', 'build', 'Release', 'optlab_native.node');

/** The tfjs release whose private wasm-backend fields these kernels read. */
export const TFJS_VERSION = '4.22.0';

/** A file of the package, searched upward from this one (experiments/ in source, dist/experiments/ built). */
function findUp(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

function blasThreads(requested?: number): number {
  const raw = requested ?? (process.env.OPTLAB_BLAS_THREADS ? Number(process.env.OPTLAB_BLAS_THREADS) : 1);
  if (!Number.isInteger(raw) || raw < 1) throw new Error(`OPTLAB_BLAS_THREADS: expected a positive integer, got '${requested ?? process.env.OPTLAB_BLAS_THREADS}'`);
  return raw;
}

function loadAddon(): Addon | null {
  if (state.loadTried) return state.addon;
  state.loadTried = true;
  const path = findUp(ADDON_PATH);
  if (!path) {
    const script = findUp(join('native', 'install.mjs'));
    state.loadError = `addon not built (npm install builds it when a C compiler and libopenblas-dev are present${script ? `; or run node ${script}` : ''})`;
    return null;
  }
  // OpenBLAS starts its worker threads when it loads, as many as OPENBLAS_NUM_THREADS says. Load it
  // with one and let setThreads start the others: they then inherit the denormal flush of the call.
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  try {
    state.addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    state.loadError = `addon failed to load (${String((e as Error).message ?? e).split('\n')[0].slice(0, 160)})`;
  }
  return state.addon;
}

const heapOf = (b: WasmBackend): ArrayBuffer => b.wasm.HEAPU8.buffer as ArrayBuffer;
const offsetOf = (b: WasmBackend, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset;
const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

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

const batchMatMul: NativeFunc = (args, original) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
  const r = matMulInto(args.backend, a, b, !!args.attrs.transposeA, !!args.attrs.transposeB);
  return r ? r.out : original(args);
};

const fusedMatMul: NativeFunc = (args, original) => {
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
function reduction(mean: boolean): NativeFunc {
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

function unary(op: number): NativeFunc {
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
const splitV: NativeFunc = (args, original) => {
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
const concat: NativeFunc = (args, original) => {
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

const transpose: NativeFunc = (args, original) => {
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

const identity: NativeFunc = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return x.dtype === 'string' ? original(args) : share(args.backend, x);
};

const cast: NativeFunc = (args, original) => {
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

function binary(op: number): NativeFunc {
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
const tile: NativeFunc = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const bytes = x.dtype === 'bool' ? 1 : x.dtype === 'float32' || x.dtype === 'int32' ? 4 : 0;
  const reps = args.attrs.reps as number[];
  if (bytes === 0 || x.shape.length === 0 || x.shape.length > 8 || reps.length !== x.shape.length) return original(args);
  const out = args.backend.makeOutput(x.shape.map((d, i) => d * reps[i]), x.dtype);
  if (sizeOf(out.shape) > 0) state.addon!.tile(heapOf(args.backend), offsetOf(args.backend, x), offsetOf(args.backend, out), [...x.shape], [...reps], bytes);
  return out;
};

const KERNELS: Record<string, NativeFunc> = {
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

/**
 * Kernels of the fused ops (`fusedOps`), which have no wasm original: GELU and layer norm forward and
 * backward in one pass each instead of 5-20 elementwise kernels.
 */
const FUSED_KERNELS: Record<string, (args: Args) => tf.TensorInfo | tf.TensorInfo[]> = {
  OptlabAdam: ({ inputs, backend, attrs }) => {
    const { g, m, v } = inputs as { g: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
    const a = attrs as unknown as AdamConstants;
    const outs = [m, v, g].map((t) => backend.makeOutput(t.shape, 'float32'));
    const [mo, vo, u] = outs.map((t) => offsetOf(backend, t));
    const corrected = a.epsMode === 'corrected';
    const scale = corrected ? a.bc1 : Math.sqrt(a.bc2) / a.bc1;
    state.addon!.adam(heapOf(backend), offsetOf(backend, g), offsetOf(backend, m), offsetOf(backend, v), mo, vo, u, sizeOf(g.shape), a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.eps, Math.sqrt(a.bc2), scale, corrected ? 1 : 0);
    return outs;
  },
  OptlabAuon: ({ inputs, backend, attrs }) => {
    const { g, m } = inputs as { g: tf.TensorInfo; m?: tf.TensorInfo };
    const a = attrs as unknown as AuonAttrs;
    const n = sizeOf(g.shape);
    if (g.dtype !== 'float32' || (m && m.dtype !== 'float32')) throw new Error(`OptlabAuon: float32 tensors only, got ${g.dtype}${m ? ` and ${m.dtype}` : ''}`);
    if ((a.stage & 1) !== 0 && (!m || sizeOf(m.shape) !== n)) throw new Error(`OptlabAuon: momentum of shape [${m?.shape ?? ''}] for a gradient of shape [${g.shape}]`);
    const mo = (a.stage & 1) !== 0 ? backend.makeOutput(m!.shape, 'float32') : null;
    const out = backend.makeOutput(g.shape, 'float32');
    // The heap after every allocation (makeOutput may grow it and replace the buffer).
    state.addon!.auon(heapOf(backend), offsetOf(backend, g), m && mo ? offsetOf(backend, m) : 0, mo ? offsetOf(backend, mo) : 0, offsetOf(backend, out), n, a.stage, a.omm, a.w, a.high, a.gamma, a.paper, a.factor);
    return mo ? [mo, out] : out;
  },
  OptlabGelu: ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const y = backend.makeOutput(x.shape, 'float32');
    state.addon!.gelu(heapOf(backend), offsetOf(backend, x), offsetOf(backend, y), sizeOf(x.shape));
    return y;
  },
  OptlabGeluGrad: ({ inputs, backend }) => {
    const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const dx = backend.makeOutput(x.shape, 'float32');
    state.addon!.geluGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, x), offsetOf(backend, dx), sizeOf(x.shape));
    return dx;
  },
  OptlabLayerNorm: ({ inputs, backend, attrs }) => {
    const { x, gain, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
    const cols = x!.shape[x!.shape.length - 1];
    const lead = x!.shape.slice(0, -1);
    const y = backend.makeOutput(x!.shape, 'float32');
    const mean = backend.makeOutput(lead, 'float32');
    const rstd = backend.makeOutput(lead, 'float32');
    const off = (t?: tf.TensorInfo) => (t ? offsetOf(backend, t) : -1);
    state.addon!.layerNorm(heapOf(backend), off(x), off(gain), off(bias), off(y), off(mean), off(rstd), sizeOf(lead), cols, attrs.eps as number);
    return [y, mean, rstd];
  },
  OptlabLayerNormGrad: ({ inputs, backend }) => {
    const { dy, x, gain, mean, rstd } = inputs as Record<string, tf.TensorInfo | undefined>;
    const cols = x!.shape[x!.shape.length - 1];
    const dx = backend.makeOutput(x!.shape, 'float32');
    const dg = backend.makeOutput([cols], 'float32');
    const db = backend.makeOutput([cols], 'float32');
    const off = (t?: tf.TensorInfo) => (t ? offsetOf(backend, t) : -1);
    state.addon!.layerNormGrad(heapOf(backend), off(dy), off(x), off(gain), off(mean), off(rstd), off(dx), off(dg), off(db), sizeOf(x!.shape) / cols, cols);
    return [dx, dg, db];
  },
};

const run = (name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: Record<string, number> = {}) => {
  const defined = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t !== undefined)) as tf.NamedTensorMap;
  return tf.engine().runKernel(name, defined, attrs);
};

type CustomGradBody = Parameters<typeof tf.customGrad>[0];

const fusedGelu = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return { value: run('OptlabGelu', { x }) as tf.Tensor, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run('OptlabGeluGrad', { dy, x: saved[0] }) as tf.Tensor };
}) as unknown as CustomGradBody) as unknown as (x: tf.Tensor) => tf.Tensor;

function fusedLayerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps = 1e-5): tf.Tensor {
  const f = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [y, mean, rstd] = run('OptlabLayerNorm', { x, gain, bias }, { eps }) as tf.Tensor[];
    save(gain ? [x, mean, rstd, gain] : [x, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dg, db] = run('OptlabLayerNormGrad', { dy, x: saved[0], mean: saved[1], rstd: saved[2], gain: saved[3] }) as tf.Tensor[];
        return [dx, ...(gain ? [dg] : []), ...(bias ? [db] : [])];
      },
    };
  }) as unknown as CustomGradBody) as unknown as (...xs: tf.Tensor[]) => tf.Tensor;
  return f(...[x, gain, bias].filter((t): t is tf.Tensor => t !== undefined));
}

/** Constants of one Adam step (optimizers/adamw.ts scaleByAdam): bc1 = 1 - beta1^t, bc2 = 1 - beta2^t. */
export interface AdamConstants {
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  epsMode: 'corrected' | 'uncorrected';
}

/**
 * Constants of one AuON step (optimizers/auon.ts, spec section 8): EMA momentum mu, brake scale gamma
 * (mode 'code'; mode 'paper' uses 1), and the paper's shape factor sqrt(max(1, fan_out/fan_in)) (1 in
 * mode 'code', where it is not used).
 */
export interface AuonConstants {
  momentum: number;
  gamma: number;
  mode: 'code' | 'paper';
  factor: number;
}

/**
 * GELU and layer norm as single native kernels (forward and backward), for models/layers.ts; Adam's
 * moments and direction in one pass, for optimizers/adamw.ts; AuON's momentum, cosh brake and
 * scaled direction in three passes of one kernel, for optimizers/auon.ts.
 */
export interface FusedOps {
  /**
   * New moments and the Adam direction from gradient g and moments m, v, bit for bit the values of
   * scaleByAdam's tfjs ops on plain wasm (amsgrad not included).
   */
  adam(g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): { m: tf.Tensor; v: tf.Tensor; update: tf.Tensor };
  /**
   * AuON's momentum and Nesterov direction: m' = lerp(m, g, 1 - mu), u = lerp(g, m', mu), with
   * torch.lerp's float32 formula (bit for bit the composed ops' values on plain wasm).
   */
  auonMomentum(g: tf.Tensor, m: tf.Tensor, momentum: number): { m: tf.Tensor; u: tf.Tensor };
  /**
   * The braked direction from an update direction u (Hybrid-AuON: after Newton-Schulz): with
   * d = ||u||_F + 1e-7 and r = sqrt(mean(cosh(gamma u / d)^2)), code: u / (r + 1e-8); paper (gamma 1):
   * factor u / (d (r + 1e-8)). Native and composed agree up to the rounding of the reductions.
   */
  auonBrake(u: tf.Tensor, c: AuonConstants): tf.Tensor;
  /** auonMomentum then auonBrake, in one kernel when native: new momentum and the step direction (no lr, no wd). */
  auon(g: tf.Tensor, m: tf.Tensor, c: AuonConstants): { m: tf.Tensor; update: tf.Tensor };
  /** GELU, tanh form (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu(x: tf.Tensor): tf.Tensor;
  /** Layer norm over the last axis, biased variance (torch.nn.LayerNorm), optional gain and bias. */
  layerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps?: number): tf.Tensor;
}

function fusedAdam(g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): { m: tf.Tensor; v: tf.Tensor; update: tf.Tensor } {
  const [mNew, vNew, update] = tf.engine().runKernel('OptlabAdam', { g, m, v }, c as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { m: mNew, v: vNew, update };
}

/** OptlabAuon's attributes; stage 1 = momentum, 2 = brake, 3 = both (native/optlab_native.c `auon`). */
interface AuonAttrs {
  stage: number;
  omm: number;
  w: number;
  high: number;
  gamma: number;
  paper: number;
  factor: number;
}

/** torch.lerp(start, end, weight) in float32 computes end - (end - start) (1 - weight) when weight >= 0.5, with 1 - weight of the float32 weight. */
const lerpHigh = (mu: number): boolean => mu >= 0.5;
const nesterovWeight = (mu: number): number => (lerpHigh(mu) ? 1 - Math.fround(mu) : mu);

function auonAttrs(stage: number, momentum: number, c?: AuonConstants): AuonAttrs {
  const paper = c?.mode === 'paper';
  return { stage, omm: 1 - momentum, w: nesterovWeight(momentum), high: lerpHigh(momentum) ? 1 : 0, gamma: paper ? 1 : c?.gamma ?? 1, paper: paper ? 1 : 0, factor: paper ? c!.factor : 1 };
}

const runAuon = (inputs: tf.NamedTensorMap, attrs: AuonAttrs) => tf.engine().runKernel('OptlabAuon', inputs, attrs as unknown as tf.NamedAttrMap);

function fusedAuon(g: tf.Tensor, m: tf.Tensor, c: AuonConstants): { m: tf.Tensor; update: tf.Tensor } {
  const [mNew, update] = runAuon({ g, m }, auonAttrs(3, c.momentum, c)) as tf.Tensor[];
  return { m: mNew, update };
}

function fusedAuonMomentum(g: tf.Tensor, m: tf.Tensor, momentum: number): { m: tf.Tensor; u: tf.Tensor } {
  const [mNew, u] = runAuon({ g, m }, auonAttrs(1, momentum)) as tf.Tensor[];
  return { m: mNew, u };
}

const fusedAuonBrake = (u: tf.Tensor, c: AuonConstants): tf.Tensor => runAuon({ g: u }, auonAttrs(2, c.momentum, c)) as tf.Tensor;

const FUSED: FusedOps = { adam: fusedAdam, auonMomentum: fusedAuonMomentum, auonBrake: fusedAuonBrake, auon: fusedAuon, gelu: fusedGelu, layerNorm: fusedLayerNorm };

/**
 * The cosh brake's scalars as tfjs ops: d = ||u||_F + 1e-7 and r = sqrt(mean(cosh(gamma u / d)^2)),
 * computed as sqrt((mean(cosh(u (2 gamma / d))) + 1) / 2) (cosh^2 x = (cosh 2x + 1) / 2): one scalar
 * factor and three full-size kernels (square, mul, cosh) besides the two reductions, where the
 * literal formula takes abs, pow, div, mul, cosh and square.
 */
export function coshBrakeScalars(u: tf.Tensor, gamma: number): { d: tf.Scalar; r: tf.Scalar } {
  const d = tf.add(tf.sqrt(tf.sum(tf.square(u))), 1e-7) as tf.Scalar;
  const meanCosh2x = tf.mean(tf.cosh(tf.mul(u, tf.div(2 * gamma, d))));
  return { d, r: tf.sqrt(tf.mul(tf.add(meanCosh2x, 1), 0.5)) as tf.Scalar };
}

const f32 = Math.fround;

/** Bound on the dropped terms of the cosh series below which coshBrakeHost skips cosh: 1/16 of float32's ulp at 1. */
export const COSH_SERIES_TOLERANCE = 2 ** -27;

/**
 * coshBrakeScalars' d and r as numbers, the scalar arithmetic done in JavaScript on sums read back
 * (each +, *, /, sqrt of float32 operands computed in double and rounded once to float32 is the
 * float32 operation's result), without the scalar kernels, each of which costs about as much as a
 * full-size kernel on a 16k-element matrix on wasm. For backends whose tensors live in host memory
 * (a read is a copy, not a device sync).
 *
 * mean(cosh y), y = 2 gamma u / d, is the cosh kernel's mean unless the series 1 + mean(y^2)/2 +
 * mean(y^4)/24 provably matches it: the dropped terms (y^6/720 + ... <= y^6 cosh(y)/720) average at
 * most max|y|^4 mean(y^2) cosh(max|y|) / 720, and when that is <= COSH_SERIES_TOLERANCE the series is
 * used, from sum(u^2), max(u^2) and sum(u^4): three cheap kernels instead of mul, cosh (the step's
 * most expensive kernel on wasm) and mean. On the GPT's gradient matrices max|y| is 0.06-0.19 and
 * the bound 3e-12 to 1e-9 (measured); small or spiky tensors take cosh. r then equals the cosh
 * path's up to the rounding of cosh and of the sums (an ulp where sums run in double, as on cpu); on
 * wasm, which sums the cosh values near 1 in float32, the series is the more accurate of the two.
 */
function coshBrakeHost(u: tf.Tensor, gamma: number): { d: number; r: number } {
  const read = (t: tf.Tensor): number => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  };
  const sq = tf.square(u);
  const ss = read(tf.sum(sq));
  const d = f32(f32(Math.sqrt(ss)) + f32(1e-7));
  const s = f32(f32(2 * gamma) / d);
  const n = u.size;
  let mean = NaN;
  let useSeries = false;
  if (n > 0 && Number.isFinite(ss)) {
    const maxY = Math.sqrt(read(tf.max(sq))) * s;
    const meanY2 = (s * s * ss) / n;
    useSeries = (maxY ** 4 * meanY2 * Math.cosh(maxY)) / 720 <= COSH_SERIES_TOLERANCE;
    if (useSeries) mean = f32(1 + meanY2 / 2 + (s ** 4 * read(tf.sum(tf.square(sq)))) / n / 24);
  }
  sq.dispose();
  if (!useSeries) mean = read(tf.mean(tf.cosh(tf.mul(u, s))));
  return { d, r: f32(Math.sqrt(f32(f32(mean + 1) * 0.5))) };
}

/** Backends whose tensor data a read copies from host memory: scalar arithmetic goes to JavaScript there. */
const HOST_BACKENDS: ReadonlySet<string> = new Set(['cpu', 'wasm']);

/**
 * The composed AuON brake (COMPOSED_OPS.auonBrake); `hostScalars` computes the scalar factors in
 * JavaScript (coshBrakeHost, the default on cpu and wasm), else as tfjs scalar ops; the two agree to
 * an ulp of r.
 */
export function composedAuonBrake(u: tf.Tensor, c: AuonConstants, hostScalars = HOST_BACKENDS.has(tf.getBackend())): tf.Tensor {
  const gamma = c.mode === 'paper' ? 1 : c.gamma;
  // One full-size op after the scalars: paper's (u / d) / (r + 1e-8) * factor as u * ((factor / (r + 1e-8)) / d).
  if (hostScalars) {
    const { d, r } = coshBrakeHost(u, gamma);
    const den = f32(r + f32(1e-8));
    return c.mode === 'paper' ? tf.mul(u, f32(f32(f32(c.factor) / den) / d)) : tf.div(u, den);
  }
  const { d, r } = coshBrakeScalars(u, gamma);
  return c.mode === 'paper' ? tf.mul(u, tf.div(tf.div(c.factor, tf.add(r, 1e-8)), d)) : tf.div(u, tf.add(r, 1e-8));
}

/**
 * The fused ops while the native kernels are active and wasm is the current backend, else null (the
 * caller then composes the op from tfjs ops, as on every other backend).
 */
export function fusedOps(): FusedOps | null {
  return state.originals.size > 0 && tf.getBackend() === 'wasm' ? FUSED : null;
}

/**
 * The fused ops composed from tfjs ops (as models/layers.ts and optimizers/adamw.ts write them): what
 * the fused kernels must reproduce.
 */
export const COMPOSED_OPS: FusedOps = {
  adam: (g, m0, v0, c) => {
    const m = tf.add(tf.mul(m0, c.beta1), tf.mul(g, 1 - c.beta1));
    const v = tf.add(tf.mul(v0, c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
    const update =
      c.epsMode === 'corrected' ? tf.div(tf.div(m, tf.add(tf.div(tf.sqrt(v), Math.sqrt(c.bc2)), c.eps)), c.bc1) : tf.mul(tf.div(m, tf.add(tf.sqrt(v), c.eps)), Math.sqrt(c.bc2) / c.bc1);
    return { m, v, update };
  },
  auonMomentum: (g, m0, mu) => {
    const m = tf.add(m0, tf.mul(tf.sub(g, m0), 1 - mu));
    const w = nesterovWeight(mu);
    const u = lerpHigh(mu) ? tf.sub(m, tf.mul(tf.sub(m, g), w)) : tf.add(g, tf.mul(tf.sub(m, g), w));
    return { m, u };
  },
  auonBrake: (u, c) => composedAuonBrake(u, c),
  auon: (g, m0, c) => {
    const { m, u } = COMPOSED_OPS.auonMomentum(g, m0, c.momentum);
    return { m, update: COMPOSED_OPS.auonBrake(u, c) };
  },
  gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.mul(x, tf.square(x)), 0.044715)), Math.sqrt(2 / Math.PI))), 1)),
  layerNorm: (x, gain, bias, eps = 1e-5) => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    let y = tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps)));
    if (gain) y = tf.mul(y, gain);
    return bias ? tf.add(y, bias) : y;
  },
};

/** Native kernel names this module can register. */
export const NATIVE_KERNELS: readonly string[] = Object.keys(KERNELS);

function install(name: string, original: tf.KernelConfig): void {
  const nativeFn = KERNELS[name];
  const orig = original.kernelFunc as unknown as Func;
  state.originals.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: ((args: Args) => nativeFn(args, orig)) as unknown as tf.KernelFunc });
}

function register(): void {
  for (const name of NATIVE_KERNELS) {
    const original = tf.getKernel(name, 'wasm');
    if (original) install(name, original);
  }
  for (const [name, fn] of Object.entries(FUSED_KERNELS)) {
    if (!tf.getKernel(name, 'wasm')) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: fn as unknown as tf.KernelFunc });
  }
}

function restore(): void {
  for (const [name, original] of state.originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  state.originals.clear();
}

/** Removes the fused kernels too (plain wasm has none). */
function restoreAll(): void {
  restore();
  for (const name of Object.keys(FUSED_KERNELS)) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/** Deterministic values in [-1, 1) without tf.random (same on every backend and run). */
function values(shape: number[], seed: number): tf.Tensor {
  const n = sizeOf(shape);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (((i + 1) * 2654435761 + seed * 40503) % 2003) / 1001.5 - 1;
  return tf.tensor(v, shape);
}

/** Small cases, one or more per kernel, each returning one tensor (run inside tf.tidy). */
export const SELF_TEST_CASES: readonly [string, () => tf.Tensor][] = [
  ['BatchMatMul', () => tf.matMul(values([5, 7], 1), values([7, 3], 2))],
  ['BatchMatMul transposeA', () => tf.matMul(values([7, 5], 1), values([7, 3], 2), true, false)],
  ['BatchMatMul transposeB', () => tf.matMul(values([5, 7], 1), values([3, 7], 2), false, true)],
  ['BatchMatMul both transposed', () => tf.matMul(values([7, 5], 1), values([3, 7], 2), true, true)],
  ['BatchMatMul batched', () => tf.matMul(values([2, 3, 5, 7], 1), values([2, 3, 7, 4], 2))],
  ['BatchMatMul shared right', () => tf.matMul(values([3, 5, 7], 1), values([7, 4], 2))],
  ['BatchMatMul shared left, transposed', () => tf.matMul(values([7, 5], 1), values([3, 4, 7], 2), true, true)],
  ['BatchMatMul broadcast batches', () => tf.matMul(values([2, 1, 5, 7], 1), values([1, 3, 7, 4], 2))],
  ['_FusedMatMul bias relu', () => tf.fused.matMul({ a: values([5, 7], 1), b: values([7, 3], 2), bias: values([3], 3), activation: 'relu' })],
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
  ['fused GELU', () => (fusedOps() ?? COMPOSED_OPS).gelu(tf.mul(values([3, 17], 1), 5))],
  ['fused layer norm', () => (fusedOps() ?? COMPOSED_OPS).layerNorm(tf.mul(values([4, 3, 9], 1), 3), values([9], 2), values([9], 3))],
  ['fused Adam', () => tf.concat(Object.values((fusedOps() ?? COMPOSED_OPS).adam(values([4, 7], 1), values([4, 7], 2), tf.abs(values([4, 7], 3)), { beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 0.19, bc2: 0.002, epsMode: 'corrected' })))],
  ['fused AuON', () => tf.concat(Object.values((fusedOps() ?? COMPOSED_OPS).auon(values([4, 7], 1), values([4, 7], 2), { momentum: 0.95, gamma: 1.5, mode: 'code', factor: 1 })))],
  ['fused AuON brake, paper mode', () => (fusedOps() ?? COMPOSED_OPS).auonBrake(values([5, 3], 3), { momentum: 0.95, gamma: 1.5, mode: 'paper', factor: 2 })],
  ['Identity', () => tf.clone(values([3, 5], 1))],
  ['Cast', () => tf.cast(values([3, 5], 1), 'float32')],
];

/** Max |native - original| over max(1, |original|), per case; runs on the active backend (wasm). */
function selfTest(tolerance: number): string | null {
  for (const [name, make] of SELF_TEST_CASES) {
    const ref = tf.tidy(() => withOriginals(make));
    const got = tf.tidy(make);
    const r = ref.dataSync();
    const g = got.dataSync();
    const shapeOk = ref.shape.join() === got.shape.join();
    ref.dispose();
    got.dispose();
    if (!shapeOk) return `${name}: shape [${got.shape}] instead of [${ref.shape}]`;
    let worst = 0;
    for (let i = 0; i < r.length; i++) worst = Math.max(worst, Math.abs(g[i] - r[i]) / Math.max(1, Math.abs(r[i])));
    if (!(worst <= tolerance)) return `${name}: differs from the wasm kernel by ${worst.toExponential(2)}`;
  }
  return null;
}

/** Runs `fn` with the wasm backend's original kernels (for the self-test and for tests). */
export function withOriginals<T>(fn: () => T): T {
  if (state.originals.size === 0) return fn();
  const saved = new Map(state.originals);
  restore();
  try {
    return fn();
  } finally {
    for (const [name, original] of saved) install(name, original);
  }
}

function status(active: boolean, message: string): NativeStatus {
  state.message = message;
  const blas = active && state.addon ? `${state.addon.blasConfig().split(' ').slice(0, 2).join(' ')}, ${state.threads} thread${state.threads === 1 ? '' : 's'}` : '';
  return { available: state.addon !== null, active, threads: state.threads, blas, kernels: active ? [...state.originals.keys()] : [], message };
}

/**
 * Loads the addon, replaces the wasm backend's kernels and runs the self-test. Leaves plain wasm (and
 * says why in `message`) when OPTLAB_NATIVE=0, the addon is missing or the self-test fails. Needs
 * tfjs-backend-wasm to initialize; the active backend is left as it was.
 */
export async function enableNativeKernels(opts: NativeOptions = {}): Promise<NativeStatus> {
  if (process.env.OPTLAB_NATIVE === '0') return status(false, 'native kernels off (OPTLAB_NATIVE=0)');
  if (tf.version_core !== TFJS_VERSION || version_wasm !== TFJS_VERSION) {
    return status(false, `native kernels off: they are written for tfjs ${TFJS_VERSION}, found tfjs-core ${tf.version_core} and tfjs-backend-wasm ${version_wasm}`);
  }
  const threads = blasThreads(opts.threads);
  const addon = loadAddon();
  if (!addon) return status(false, `native kernels unavailable: ${state.loadError}`);
  addon.setThreads(threads);
  state.threads = addon.getThreads();
  if (state.originals.size > 0) return status(true, state.message);
  const previous = tf.engine().backendName;
  if (previous !== 'wasm' && !(await tf.setBackend('wasm'))) return status(false, 'native kernels unavailable: the wasm backend did not initialize');
  let failure: string | null;
  try {
    register();
    failure = selfTest(opts.selfTestTolerance ?? 1e-5);
  } catch (e) {
    failure = `self-test threw (${String((e as Error).message ?? e).slice(0, 160)})`;
  } finally {
    if (previous && previous !== 'wasm') await tf.setBackend(previous);
  }
  if (failure) {
    restoreAll();
    return status(false, `native kernels failed their self-test, using plain wasm: ${failure}`);
  }
  const on = status(true, '');
  return status(true, `native kernels on (${on.blas})`);
}

/** Puts the wasm backend's original kernels back. */
export function disableNativeKernels(): NativeStatus {
  restoreAll();
  return status(false, state.addon ? 'native kernels off (disabled)' : state.message || 'native kernels off');
}

/** Whether the native kernels are active, and why not if they are not. */
export function nativeStatus(): NativeStatus {
  const active = state.originals.size > 0;
  return status(active, state.message || (active ? 'native kernels on' : 'native kernels off'));
}
