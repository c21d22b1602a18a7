/**
 * Native kernels inside the tfjs wasm backend: registers the replacements of kernels/wasm_replacements.ts
 * (`tf.registerKernel` after `tf.unregisterKernel`, the originals kept for fallback) and the fused
 * kernels of kernels/fused.ts, runs the start-up self-test, and switches them on and off. The kernels
 * work in place on the wasm heap: the output comes from the backend's `makeOutput`, inputs and output
 * are addressed by their `memoryOffset` in the heap's current buffer (read after the allocation, which
 * may grow and replace it), and no tensor is copied (docs/backends.md).
 *
 * The addon (native/*.c) is built by `npm install` when a C compiler and OpenBLAS (`libopenblas-dev`)
 * are present. `OPTLAB_NATIVE=0` keeps plain wasm; `OPTLAB_BLAS_THREADS` sets the native kernels'
 * threads (default: the cores, at most 4, `threadsPerRun` in kernels/addon.ts; `optlab run --jobs N`
 * gives each run its share so that parallel runs do not oversubscribe the cores).
 *
 * Warnings:
 * - This reads private fields of tfjs-backend-wasm 4.22.0 (`dataIdMap`, `wasm.HEAPU8`, `makeOutput`,
 *   `incRef`); tfjs is pinned to that exact version. A start-up self-test compares every native kernel
 *   with the original on small inputs and falls back to plain wasm, saying so, on a mismatch.
 * - Results match plain wasm to float rounding, not bit for bit: OpenBLAS sums in another order,
 *   reductions accumulate in double, tanh is Cephes' polynomial. They are deterministic for a given
 *   thread count.
 * - Kernels flush float32 denormals to zero, as TensorFlow's CPU kernels do, on the calling thread and
 *   on the addon's worker threads (native/threads.c); OpenBLAS runs at one thread inside them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { version_wasm } from '@tensorflow/tfjs-backend-wasm';
import { blasThreads, loadAddon, state, TFJS_VERSION, type KernelArgs, type KernelFn } from './addon.js';
import type { BlasKernels } from './blas_family.js';
import { FUSED_KERNELS } from './fused.js';
import { installLayersSupport } from './layers_support.js';
import { selfTestCases } from './self_test.js';
import { NATIVE_KERNELS } from './wasm_replacements.js';

// Kernels and handlers the common tfjs-layers layers need on every backend (kernels/layers_support.ts).
installLayersSupport();

/** Options of `enableNativeKernels`. */
export interface NativeOptions {
  /** Threads of the native kernels. @default $OPTLAB_BLAS_THREADS, else the cores (at most 4; kernels/addon.ts threadsPerRun) */
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
  /** Threads of the native kernels. */
  threads: number;
  /** The BLAS, its kernel set and threads, e.g. 'OpenBLAS 0.3.21 (SkylakeX kernels, verified), 2 threads'; '' when inactive. */
  blas: string;
  /** OpenBLAS's kernel set as chosen and checked (`blasKernels()`, kernels/blas_family.ts); null while the addon is not loaded. */
  kernelSet: BlasKernels | null;
  /** Kernel names replaced. */
  kernels: string[];
  /** One line: what is active, or why not. */
  message: string;
}

/** Self-test cases already passed by the active kernels (cases added later run at the next enable). */
let checkedCases = 0;

function install(name: string, original: tf.KernelConfig): void {
  const nativeFn = NATIVE_KERNELS[name];
  const orig = original.kernelFunc as unknown as KernelFn;
  state.originals.set(name, original);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: ((args: KernelArgs) => nativeFn(args, orig)) as unknown as tf.KernelFunc });
}

function register(): void {
  for (const name of Object.keys(NATIVE_KERNELS)) {
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
  checkedCases = 0;
  for (const name of Object.keys(FUSED_KERNELS)) if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
}

/** Max |native - original| over max(1, |original|), per case from `from` on; runs on the active backend (wasm). */
function selfTest(tolerance: number, from: number): string | null {
  const cases = selfTestCases();
  for (const [name, make] of cases.slice(from)) {
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
  checkedCases = cases.length;
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

/**
 * 'OpenBLAS 0.3.21 (SkylakeX kernels)' from OpenBLAS's config string ('OpenBLAS 0.3.21 NO_LAPACKE
 * DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64'), or with `summary` (`blasKernels().summary`,
 * e.g. 'SkylakeX kernels, verified') in the parentheses.
 */
export function describeBlas(config: string, summary?: string): string {
  const words = config.trim().split(/\s+/);
  const core = words.slice(2).filter((w) => !/^(NO_|USE_|DYNAMIC_|SMP|MAX_)/.test(w) && !w.includes('='));
  const inner = summary ?? (core.length ? `${core.join(' ')} kernels` : '');
  return `${words.slice(0, 2).join(' ')}${inner ? ` (${inner})` : ''}`;
}

function status(active: boolean, message: string): NativeStatus {
  state.message = message;
  const blas = active && state.addon ? `${describeBlas(state.addon.blasConfig(), state.blas?.summary)}, ${state.threads} thread${state.threads === 1 ? '' : 's'}` : '';
  return { available: state.addon !== null, active, threads: state.threads, blas, kernelSet: state.blas, kernels: active ? [...state.originals.keys()] : [], message };
}

/**
 * Loads the addon, replaces the wasm backend's kernels and runs the self-test. Leaves plain wasm (and
 * says why in `message`) when OPTLAB_NATIVE=0, the addon is missing or the self-test fails. Needs
 * tfjs-backend-wasm to initialize; the active backend is left as it was. Called again while active,
 * it sets the thread count and runs the self-test cases added since (`addSelfTestCase`).
 * Throws when OPTLAB_BLAS_THREADS (or `opts.threads`) is not a positive integer.
 */
export async function enableNativeKernels(opts: NativeOptions = {}): Promise<NativeStatus> {
  state.nativeDecided = true;
  if (process.env.OPTLAB_NATIVE === '0') return status(false, 'native kernels off (OPTLAB_NATIVE=0)');
  if (tf.version_core !== TFJS_VERSION || version_wasm !== TFJS_VERSION) {
    return status(false, `native kernels off: they are written for tfjs ${TFJS_VERSION}, found tfjs-core ${tf.version_core} and tfjs-backend-wasm ${version_wasm}`);
  }
  const threads = blasThreads(opts.threads);
  const addon = loadAddon();
  if (!addon) return status(false, `native kernels unavailable: ${state.loadError}`);
  if (state.blasError) throw new Error(`native kernels: ${state.blasError}`);
  if (state.blas && !state.blas.verified) {
    return status(false, `native kernels off: OpenBLAS's ${state.blas.summary} on the products optlab uses (kernels/blas_family.ts); ${state.blas.explicitSetting ? `unset ${state.blas.explicitSetting.split('=')[0]} or choose another set` : 'no kernel set of this OpenBLAS passed'}, using plain wasm`);
  }
  addon.setThreads(threads);
  state.threads = addon.getThreads();
  const active = state.originals.size > 0;
  if (active && checkedCases === selfTestCases().length) return status(true, state.message);
  const previous = tf.engine().backendName;
  if (previous !== 'wasm' && !(await tf.setBackend('wasm'))) return status(false, 'native kernels unavailable: the wasm backend did not initialize');
  let failure: string | null;
  try {
    if (!active) register();
    failure = selfTest(opts.selfTestTolerance ?? 1e-5, active ? checkedCases : 0);
  } catch (e) {
    failure = `self-test threw (${String((e as Error).message ?? e).slice(0, 160)})`;
  } finally {
    if (previous && previous !== 'wasm') await tf.setBackend(previous);
  }
  if (failure) {
    restoreAll();
    return status(false, `native kernels failed their self-test, using plain wasm: ${failure}`);
  }
  if (active) return status(true, state.message);
  const on = status(true, '');
  return status(true, `native kernels on (${on.blas})${state.blas?.note ? `; ${state.blas.note}` : ''}`);
}

/** Puts the wasm backend's original kernels back. */
export function disableNativeKernels(): NativeStatus {
  state.nativeDecided = true;
  restoreAll();
  return status(false, state.addon ? 'native kernels off (disabled)' : state.message || 'native kernels off');
}

/** Whether the native kernels are active, and why not if they are not. */
export function nativeStatus(): NativeStatus {
  const active = state.originals.size > 0;
  return status(active, state.message || (active ? 'native kernels on' : 'native kernels off'));
}
