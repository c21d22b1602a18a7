/**
 * Native kernels inside the tfjs wasm backend: OpenBLAS `cblas_sgemm` for BatchMatMul and
 * _FusedMatMul, C loops for Sum, Tanh and broadcast Add/Sub/Multiply/RealDiv, and copy-free Identity
 * and same-dtype Cast. They replace the wasm backend's kernels (`tf.registerKernel` after
 * `tf.unregisterKernel`, the originals kept for fallback) and work in place on the wasm heap: the
 * output comes from the backend's `makeOutput`, inputs and output are addressed by their
 * `memoryOffset` in the heap's current buffer, and no tensor is copied (NOTES-tfjs.md, "Native matrix
 * multiply inside the wasm backend").
 *
 * The addon (native/optlab_native.c) is built by `npm install` when a C compiler and OpenBLAS
 * (`libopenblas-dev`) are present. `OPTLAB_NATIVE=0` keeps plain wasm; `OPTLAB_BLAS_THREADS` sets
 * OpenBLAS threads (default 1: one thread beat two on the tiny GPT, and parallel sweep runs must not
 * oversubscribe the cores).
 *
 * Warnings:
 * - This reads private fields of tfjs-backend-wasm 4.22.0 (`dataIdMap`, `wasm.HEAPU8`,
 *   `makeOutput`); tfjs is pinned to that exact version. A start-up self-test compares every native
 *   kernel with the original on small inputs and falls back to plain wasm, saying so, on a mismatch.
 * - Results match plain wasm to float rounding, not bit for bit: OpenBLAS sums in another order,
 *   Sum accumulates in double. They are deterministic for a given thread count.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions of native/optlab_native.c; offsets are bytes into `heap`, sizes are elements. */
interface Addon {
  gemm(heap: ArrayBuffer, batch: number, transA: number, transB: number, m: number, n: number, k: number, aOff: number, aStride: number, bOff: number, bStride: number, cOff: number): void;
  biasAct(heap: ArrayBuffer, cOff: number, rows: number, cols: number, biasOff: number, relu: number): void;
  sum(heap: ArrayBuffer, xOff: number, outOff: number, outer: number, reduce: number, inner: number): void;
  unary(heap: ArrayBuffer, op: number, xOff: number, outOff: number, n: number): void;
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

/** What `enableNativeKernels` did. */
export interface NativeStatus {
  /** The addon loaded (built by `npm install`, not disabled). */
  available: boolean;
  /** The native kernels are registered for the wasm backend now. */
  active: boolean;
  /** OpenBLAS threads. */
  threads: number;
  /** Kernel names replaced. */
  kernels: string[];
  /** One line: what is active, or why not. */
  message: string;
}

const UNARY_TANH = 0;
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

/** The built addon, searched upward from this file (experiments/ in source, dist/experiments/ built). */
function findAddon(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, ADDON_PATH);
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

function loadAddon(threads: number): Addon | null {
  if (state.loadTried) return state.addon;
  state.loadTried = true;
  const path = findAddon();
  if (!path) {
    state.loadError = 'addon not built (npm install builds it when a C compiler and libopenblas-dev are present)';
    return null;
  }
  // OpenBLAS sizes its thread pool when the library loads: set the count before that happens.
  process.env.OPENBLAS_NUM_THREADS ??= String(threads);
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

const sum: NativeFunc = (args, original) => {
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
  const out = args.backend.makeOutput(shape, 'float32');
  if (outer * inner > 0) state.addon!.sum(heapOf(args.backend), offsetOf(args.backend, x), offsetOf(args.backend, out), outer, reduce, inner);
  return out;
};

const tanh: NativeFunc = (args, original) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32') return original(args);
  const out = args.backend.makeOutput(x.shape, 'float32');
  const n = sizeOf(x.shape);
  if (n > 0) state.addon!.unary(heapOf(args.backend), UNARY_TANH, offsetOf(args.backend, x), offsetOf(args.backend, out), n);
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

const KERNELS: Record<string, NativeFunc> = {
  [tf.BatchMatMul]: batchMatMul,
  [tf._FusedMatMul]: fusedMatMul,
  [tf.Sum]: sum,
  [tf.Tanh]: tanh,
  [tf.Identity]: identity,
  [tf.Cast]: cast,
  [tf.Add]: binary(BIN.Add),
  [tf.Sub]: binary(BIN.Sub),
  [tf.Multiply]: binary(BIN.Multiply),
  [tf.RealDiv]: binary(BIN.RealDiv),
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
}

function restore(): void {
  for (const [name, original] of state.originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  state.originals.clear();
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
  ['Tanh', () => tf.tanh(tf.mul(values([3, 17], 1), 4))],
  ['Add row broadcast', () => tf.add(values([3, 4, 5], 1), values([5], 2))],
  ['Sub col broadcast', () => tf.sub(values([3, 4, 1], 1), values([3, 4, 5], 2))],
  ['Multiply outer', () => tf.mul(values([3, 1], 1), values([1, 5], 2))],
  ['RealDiv scalar', () => tf.div(values([3, 5], 1), tf.scalar(0.7))],
  ['Identity', () => tf.clone(values([3, 5], 1))],
  ['Cast', () => tf.cast(values([3, 5], 1), 'float32')],
];

/** Max |native - original| over max(1, |original|), per case; runs on the active backend (wasm). */
function selfTest(): string | null {
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
    if (!(worst <= 1e-5)) return `${name}: differs from the wasm kernel by ${worst.toExponential(2)}`;
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
  return { available: state.addon !== null, active, threads: state.threads, kernels: active ? [...state.originals.keys()] : [], message };
}

/**
 * Loads the addon, replaces the wasm backend's kernels and runs the self-test. Leaves plain wasm (and
 * says why in `message`) when OPTLAB_NATIVE=0, the addon is missing or the self-test fails. Needs
 * tfjs-backend-wasm to initialize; the active backend is left as it was.
 */
export async function enableNativeKernels(opts: { threads?: number } = {}): Promise<NativeStatus> {
  if (process.env.OPTLAB_NATIVE === '0') return status(false, 'native kernels off (OPTLAB_NATIVE=0)');
  const threads = blasThreads(opts.threads);
  const addon = loadAddon(threads);
  if (!addon) return status(false, `native kernels unavailable: ${state.loadError}`);
  addon.setThreads(threads);
  state.threads = addon.getThreads();
  if (state.originals.size > 0) return status(true, state.message);
  const previous = tf.engine().backendName;
  if (previous !== 'wasm' && !(await tf.setBackend('wasm'))) return status(false, 'native kernels unavailable: the wasm backend did not initialize');
  let failure: string | null;
  try {
    register();
    failure = selfTest();
  } catch (e) {
    failure = `self-test threw (${String((e as Error).message ?? e).slice(0, 160)})`;
  } finally {
    if (previous && previous !== 'wasm') await tf.setBackend(previous);
  }
  if (failure) {
    restore();
    return status(false, `native kernels failed their self-test, using plain wasm: ${failure}`);
  }
  const blas = addon.blasConfig().split(' ').slice(0, 2).join(' ');
  return status(true, `native kernels on (${blas}, ${state.threads} thread${state.threads === 1 ? '' : 's'})`);
}

/** Puts the wasm backend's original kernels back. */
export function disableNativeKernels(): NativeStatus {
  restore();
  return status(false, state.addon ? 'native kernels off (disabled)' : state.message || 'native kernels off');
}

/** Whether the native kernels are active, and why not if they are not. */
export function nativeStatus(): NativeStatus {
  const active = state.originals.size > 0;
  return status(active, state.message || (active ? 'native kernels on' : 'native kernels off'));
}
