/**
 * The native addon (native/*.c, built by `npm install` when a C compiler and OpenBLAS are present):
 * where it is, loading it, its typed interface, and the state the other kernel files share.
 *
 * Every addon function works in place on the wasm heap: it takes the heap's current ArrayBuffer and
 * byte offsets read from the wasm backend's `dataIdMap`, so no tensor is copied (docs/backends.md).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions of the addon (native/addon.c lists them); offsets are bytes into `heap`, sizes are elements. */
export interface Addon {
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
  /** Points file descriptor 2 at /dev/null until stderrRestore (native/stdio.c); false when it could not. */
  stderrMute(): boolean;
  stderrRestore(): void;
}

/** The parts of tfjs-backend-wasm 4.22.0's BackendWasm the kernels use (private fields: docs/backends.md). */
export interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: object): void;
}

/** A wasm kernel's arguments as tfjs passes them. */
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: WasmBackend; attrs: Record<string, unknown> };
/** A wasm kernel function. */
export type KernelFn = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The tfjs release whose private wasm-backend fields the kernels read. */
export const TFJS_VERSION = '4.22.0';

/**
 * State shared by the kernel files: the loaded addon, and the wasm kernels replaced by native ones
 * (kernels/wasm_kernels.ts fills `originals`; it is non-empty exactly while the native kernels are active).
 */
export const state = {
  addon: null as Addon | null,
  loadTried: false,
  loadError: '',
  originals: new Map<string, tf.KernelConfig>(),
  threads: 0,
  message: '',
};

const ADDON_PATH = join('native', 'build', 'Release', 'optlab_native.node');

/** A file of the package, searched upward from this one (kernels/ in source, dist/kernels/ built). */
export function findUp(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

/** OpenBLAS threads: `requested`, else $OPTLAB_BLAS_THREADS, else 1. Throws on anything but a positive integer. */
export function blasThreads(requested?: number): number {
  const raw = requested ?? (process.env.OPTLAB_BLAS_THREADS ? Number(process.env.OPTLAB_BLAS_THREADS) : 1);
  if (!Number.isInteger(raw) || raw < 1) throw new Error(`OPTLAB_BLAS_THREADS: expected a positive integer, got '${requested ?? process.env.OPTLAB_BLAS_THREADS}'`);
  return raw;
}

/** Loads the addon once; null (reason in `state.loadError`) when it is not built or does not load. */
export function loadAddon(): Addon | null {
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

/** The wasm heap's current buffer: read it after every allocation, which may grow and replace it. */
export const heapOf = (b: WasmBackend): ArrayBuffer => b.wasm.HEAPU8.buffer as ArrayBuffer;
/** Byte offset of a tensor's data in the wasm heap. */
export const offsetOf = (b: WasmBackend, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset;
/** Number of elements of a shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
