/**
 * The native addon (native/*.c, built by `npm install` when a C compiler and OpenBLAS are present):
 * where it is, loading it, its typed interface, and the state the other kernel files share.
 *
 * Every addon function works in place on the wasm heap: it takes the heap's current ArrayBuffer and
 * byte offsets read from the wasm backend's `dataIdMap`, so no tensor is copied (docs/backends.md).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlasSettingError, setUpBlasKernels, type BlasKernels } from './blas_family.js';

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
  globalNorm(heap: ArrayBuffer, offsets: number[], sizes: number[], outOff: number): void;
  gelu(heap: ArrayBuffer, xOff: number, yOff: number, n: number): void;
  geluGrad(heap: ArrayBuffer, dyOff: number, xOff: number, dxOff: number, n: number): void;
  layerNorm(heap: ArrayBuffer, xOff: number, gOff: number, bOff: number, yOff: number, meanOff: number, rstdOff: number, rows: number, cols: number, eps: number): void;
  layerNormGrad(heap: ArrayBuffer, dyOff: number, xOff: number, gOff: number, meanOff: number, rstdOff: number, dxOff: number, dgOff: number, dbOff: number, rows: number, cols: number): void;
  binary(heap: ArrayBuffer, op: number, aOff: number, aMode: number, bOff: number, bMode: number, outOff: number, outer: number, inner: number): void;
  attention(heap: ArrayBuffer, qkvOff: number, yOff: number, pOff: number, b: number, t: number, c: number, h: number, causal: number, scale: number): void;
  attentionGrad(heap: ArrayBuffer, dyOff: number, qkvOff: number, pOff: number, dqkvOff: number, b: number, t: number, c: number, h: number, causal: number, scale: number): void;
  newtonSchulz(heap: ArrayBuffer, gOff: number, outOff: number, batch: number, rows: number, cols: number, coefficients: number[], scale: number, eps: number): number;
  setThreads(n: number): void;
  getThreads(): number;
  blasConfig(): string;
  /** The OpenBLAS kernel set running ('SkylakeX'); '' when the BLAS does not say (native/blas_family.c). */
  blasCore(): string;
  /** Switches OpenBLAS to another kernel set; the set running afterwards, or null when this OpenBLAS cannot switch. */
  blasSetCore(name: string): string | null;
  /** Per name ('' = the running set): [set that ran, worst error / float32 rounding bound, seconds of `reps` timed runs] on flat (m, n, k, ta, tb) products. */
  blasVerify(shapes: readonly number[], names: readonly string[], reps: number): [string, number, number][];
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
  /** OpenBLAS's kernel set as chosen and checked when the addon loaded (kernels/blas_family.ts); null before, or when that failed. */
  blas: null as BlasKernels | null,
  /** Why the kernel set could not be set up (a bad OPTLAB_BLAS_CORE), '' otherwise. */
  blasError: '',
  /** Native kernels were enabled or disabled explicitly (or by selectBackend): kernels/auto_native.ts then leaves them alone. */
  nativeDecided: false,
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

/** Most threads the native kernels take by default: the products of optlab's models are small (C of 128-512 wide). */
export const MAX_DEFAULT_THREADS = 4;

/**
 * Threads each of `parallelRuns` processes should give its native kernels so that together they use
 * the cores once: floor(cores / parallelRuns), at least 1, at most MAX_DEFAULT_THREADS. A single run
 * on the project's 2-core machine gets 2; `optlab run --jobs 2` runs get 1 each.
 */
export function threadsPerRun(parallelRuns = 1, cores = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, Math.floor(cores / Math.max(1, parallelRuns))));
}

/**
 * Threads of the native kernels (products split over them, attention heads; OpenBLAS itself runs at one
 * thread): `requested`, else $OPTLAB_BLAS_THREADS, else `threadsPerRun()`. Throws on anything but a
 * positive integer.
 */
export function blasThreads(requested?: number): number {
  const raw = requested ?? (process.env.OPTLAB_BLAS_THREADS ? Number(process.env.OPTLAB_BLAS_THREADS) : threadsPerRun());
  if (!Number.isInteger(raw) || raw < 1) throw new Error(`OPTLAB_BLAS_THREADS: expected a positive integer, got '${requested ?? process.env.OPTLAB_BLAS_THREADS}'`);
  return raw;
}

/** The CPU flags of the first processor in /proc/cpuinfo (an empty set elsewhere). */
export function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^flags\s*:/.test(l));
    return new Set(line ? line.replace(/^flags\s*:\s*/, '').split(/\s+/) : []);
  } catch {
    return new Set();
  }
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
  // OpenBLAS starts its worker threads when it loads, as many as OPENBLAS_NUM_THREADS says; optlab's
  // products split over the addon's own threads (native/threads.c) and keep OpenBLAS at one.
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  try {
    state.addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    state.loadError = `addon failed to load (${String((e as Error).message ?? e).split('\n')[0].slice(0, 160)})`;
    return null;
  }
  // OpenBLAS's kernel set: chosen, checked and recorded once (kernels/blas_family.ts).
  try {
    state.blas = setUpBlasKernels(state.addon, cpuFlags());
  } catch (e) {
    state.blasError = e instanceof BlasSettingError ? e.message : `the OpenBLAS kernel check threw (${String((e as Error).message ?? e).slice(0, 160)})`;
  }
  return state.addon;
}

/**
 * OpenBLAS's kernel set as the native kernels run it: library, version, the set ('SkylakeX'), why it
 * runs (explicit setting or optlab's widest-verified choice), whether it passed the product check and
 * whether a wider one passes here (kernels/blas_family.ts). null while the addon is not loaded (plain
 * wasm, OPTLAB_NATIVE=0, not built) or when its set-up failed (`nativeStatus().message` says why).
 * For run records: results are comparable bit for bit only between runs of the same set.
 */
export function blasKernels(): BlasKernels | null {
  return state.blas;
}

/** The wasm heap's current buffer: read it after every allocation, which may grow and replace it. */
export const heapOf = (b: WasmBackend): ArrayBuffer => b.wasm.HEAPU8.buffer as ArrayBuffer;
/** Byte offset of a tensor's data in the wasm heap. */
export const offsetOf = (b: WasmBackend, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset;
/** Number of elements of a shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
