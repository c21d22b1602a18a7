/**
 * Picks the fastest tfjs backend that loads here and says which one, and why the others were skipped.
 * Order for `auto`, from what was measured on the 2-core machines this project runs on: tfjs-node-gpu
 * (CUDA), wasm with optlab's native kernels, tfjs-node (libtensorflow on the CPU), plain wasm, cpu.
 * wasm+native comes before tfjs-node because it trains the GPT faster: one forward+backward of the
 * bench GPT took 451 ms on wasm-native against 709 ms on tensorflow in one `optlab bench --quick
 * --backends tensorflow,wasm-native` run on a loaded machine (43 against 53 ms in an earlier quiet
 * measurement), although libtensorflow's multi-threaded kernels win on large single products such as
 * Newton-Schulz on 512x512; `--backend tensorflow` picks it explicitly.
 * `webgpu` is tried only when asked for: it needs the npm `webgpu` package (Dawn) and a Vulkan GPU.
 *
 * tfjs-node loads libtensorflow, which prints absl and oneDNN start-up lines on standard error before
 * its log settings apply: they are muted while it loads when the native addon is built (native/stdio.c),
 * and TF_CPP_MIN_LOG_LEVEL defaults to 2 (warnings and errors only) unless set.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself; tfjs-layers' bundle registers all of them on import.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { loadAddon, state } from './addon.js';
import { installLayersSupport } from './layers_support.js';
import { enableNativeKernels } from './wasm_kernels.js';

installLayersSupport();

/**
 * A backend `selectBackend` accepts; 'auto' tries them fastest first. 'wasm' uses optlab's native
 * kernels when they are built (label 'wasm-native'), else plain wasm; 'wasm-native' requires them
 * (an error says how to build them); 'wasm-plain' never uses them (as OPTLAB_NATIVE=0, which it sets).
 */
export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'wasm-native' | 'wasm-plain' | 'cpu';
/** Every BackendName, in the order `--backend` help lists them. */
export const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'wasm-native', 'wasm-plain', 'cpu'];

/** What `selectBackend` chose. */
export interface BackendChoice {
  /** tfjs backend name now active ('tensorflow', 'webgpu', 'wasm', 'cpu'). */
  name: string;
  /** Label for logs and benchmarks (e.g. 'tensorflow (tfjs-node-gpu)', 'wasm'). */
  label: string;
  /** One line: the choice and why faster ones were skipped. */
  message: string;
  /** libtensorflow's version when the backend is 'tensorflow' (e.g. '2.21.0'). */
  libtensorflow?: string;
}

const require = createRequire(import.meta.url);

const INSTALL_HINT: Record<string, string> = {
  '@tensorflow/tfjs-node-gpu': 'npm i @tensorflow/tfjs-node-gpu@4.22.0 in your project, or npm i --no-save --save-optional @tensorflow/tfjs-node-gpu@4.22.0 in an optlab clone (its install script downloads libtensorflow 2.9.1, which needs CUDA 11.2 + cuDNN 8.1)',
  '@tensorflow/tfjs-node': 'npm run setup:tensorflow in an optlab clone (offline), or npm i @tensorflow/tfjs-node@4.22.0 in your project',
  webgpu: 'npm i @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu (needs a GPU with a Vulkan driver)',
};

/** Loads a CommonJS backend package, turning "not installed" and "native addon missing" into one short reason. */
function tryRequire(pkg: string): string | null {
  const quiet = pkg.startsWith('@tensorflow/tfjs-node');
  if (quiet) process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const addon = quiet && !process.env.OPTLAB_TF_VERBOSE ? loadAddon() : null;
  const muted = addon?.stderrMute?.() === true;
  try {
    require(pkg);
    return null;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/Cannot find module/.test(msg) && msg.includes(pkg)) return `${pkg} not installed`;
    return `${pkg} failed to load (${msg.split('\n')[0].slice(0, 160)})`;
  } finally {
    if (muted) addon!.stderrRestore();
  }
}

/** libtensorflow's version as the tensorflow backend's binding reports it, or undefined. */
export function libtensorflowVersion(): string | undefined {
  const b = tf.findBackend('tensorflow') as unknown as { binding?: { TF_Version?: string } } | null;
  return b?.binding?.TF_Version;
}

/** The packages that provide the tensorflow backend, in the order `selectBackend` tries them. */
export const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** The part of tfjs-node's TensorBoard writer (`tf.node.SummaryFileWriter`, tfjs-node 4.22.0 src/tensorboard.ts) optlab uses. */
export interface SummaryFileWriter {
  /** Appends one scalar event; throws unless the tensorflow backend is active. */
  scalar(name: string, value: number, step: number): void;
  /** Appends one histogram event (see experiments/runner/tensorboard.ts for what fails). */
  histogram(name: string, data: tf.Tensor, step: number, buckets?: number): void;
  /** Writes buffered events to the file. */
  flush(): void;
  /** The writer's resource on the tensorflow backend, kept by tfjs-node for the life of the process. */
  readonly resourceHandle: tf.Tensor;
}

/** tfjs-node's `node` namespace, as far as optlab uses it. */
export interface TfjsNode {
  /** The package it came from ('@tensorflow/tfjs-node' or '@tensorflow/tfjs-node-gpu'). */
  package: (typeof TFJS_NODE_PACKAGES)[number];
  /**
   * One writer per folder (tfjs-node caches them by `logdir`); events files are named
   * `events.out.tfevents.*<suffix>`. Needs the tensorflow backend active, as every method of the writer.
   */
  summaryFileWriter(logdir: string, maxQueue?: number, flushMillis?: number, filenameSuffix?: string): SummaryFileWriter;
}

/**
 * Loads @tensorflow/tfjs-node-gpu, else @tensorflow/tfjs-node (the order of `selectBackend`; a package
 * already loaded comes back from Node's module cache) and returns its `node` namespace. Loading the
 * package makes its tensorflow backend the active one (its index.js calls setBackend): the backend that
 * was active before is made active again. Throws, naming both reasons and what to install, when neither loads.
 */
export async function loadTfjsNode(): Promise<TfjsNode> {
  const before = tf.engine().backendName;
  const reasons: string[] = [];
  try {
    for (const pkg of TFJS_NODE_PACKAGES) {
      const why = tryRequire(pkg);
      if (why) {
        reasons.push(why);
        continue;
      }
      const node = (require(pkg) as { node: Omit<TfjsNode, 'package'> }).node;
      return {
        package: pkg,
        // tfjs-node 4.22.0 leaves the four scalar inputs of CreateSummaryFileWriter undisposed; the tidy frees
        // them and keeps the writer's resource, which tfjs-node's cache holds for the process's life.
        summaryFileWriter: (...a) => {
          let w!: SummaryFileWriter;
          tf.tidy(() => (w = node.summaryFileWriter(...a)).resourceHandle);
          return w;
        },
      };
    }
  } finally {
    if (before && tf.engine().backendName !== before) await tf.setBackend(before);
  }
  throw new Error(`neither tfjs-node package loads here (${reasons.join('; ')}). Install one: ${INSTALL_HINT['@tensorflow/tfjs-node']}, or for CUDA ${INSTALL_HINT['@tensorflow/tfjs-node-gpu']}`);
}

async function tryTensorflow(which: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | null> {
  const why = tryRequire(which);
  if (why) return why;
  return (await tf.setBackend('tensorflow')) ? null : `${which} loaded but the tensorflow backend did not initialize`;
}

async function tryWebgpu(): Promise<string | null> {
  try {
    const dawn = (await import('webgpu' as string)) as { create: (o: string[]) => unknown; globals: object };
    Object.assign(globalThis, dawn.globals);
    (globalThis as { navigator?: unknown }).navigator = { gpu: dawn.create([]) };
    await import('@tensorflow/tfjs-backend-webgpu' as string);
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    return /Cannot find (module|package)/.test(msg) ? 'webgpu packages not installed' : `webgpu failed to load (${msg.split('\n')[0].slice(0, 160)})`;
  }
  try {
    return (await tf.setBackend('webgpu')) ? null : 'webgpu backend found no GPU adapter';
  } catch (e) {
    return `webgpu backend failed (${String((e as Error).message ?? e).slice(0, 160)})`;
  }
}

/** wasm with optlab's native kernels; a reason when the addon is missing or fails its self-test. */
async function wasmNative(): Promise<string | null> {
  const why = await setSimple('wasm');
  if (why) return why;
  const native = await enableNativeKernels();
  return native.active ? null : `wasm+native: ${native.message}`;
}

/** Whether a package can be resolved (installed), without loading it. */
function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function setSimple(name: 'wasm' | 'cpu'): Promise<string | null> {
  try {
    return (await tf.setBackend(name)) ? null : `${name} backend did not initialize`;
  } catch (e) {
    return `${name} backend failed (${String((e as Error).message ?? e).slice(0, 160)})`;
  }
}

/**
 * Activates a backend. `requested` defaults to $OPTLAB_BACKEND, then 'auto'. An explicit choice that
 * cannot load throws with what to install; `auto` falls through to the next one.
 */
export async function selectBackend(requested?: string, opts: { quiet?: boolean } = {}): Promise<BackendChoice> {
  const want = (requested ?? process.env.OPTLAB_BACKEND ?? 'auto') as BackendName;
  if (!BACKENDS.includes(want)) throw new Error(`unknown backend '${want}'; expected one of ${BACKENDS.join(', ')}`);
  if (want === 'wasm-plain') process.env.OPTLAB_NATIVE = '0';
  tf.env().set('PROD', true);
  // This function decides about the native kernels itself (kernels/auto_native.ts stays out).
  state.nativeDecided = true;
  let choice: BackendChoice;
  if (want === 'auto') {
    const skipped: string[] = [];
    const attempts: [string, () => Promise<string | null>][] = [
      ['tensorflow (tfjs-node-gpu)', () => tryTensorflow('@tensorflow/tfjs-node-gpu')],
      ['wasm-native', wasmNative],
      ['tensorflow (tfjs-node)', () => tryTensorflow('@tensorflow/tfjs-node')],
      ['wasm', () => setSimple('wasm')],
      ['cpu', () => setSimple('cpu')],
    ];
    let picked: string | null = null;
    for (const [label, attempt] of attempts) {
      const why = await attempt();
      if (why === null) {
        picked = label;
        break;
      }
      skipped.push(why);
    }
    if (!picked) throw new Error(`no tfjs backend could be initialized: ${skipped.join('; ')}`);
    if (picked === 'wasm-native' && installed('@tensorflow/tfjs-node')) {
      skipped.push('tensorflow (tfjs-node) is installed but wasm+native trains the GPT faster here (README, Backends); --backend tensorflow uses it');
    }
    const label = picked === 'wasm-native' ? 'wasm' : picked;
    choice = { name: tf.getBackend(), label, message: `backend: ${label}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}` };
  } else {
    let why: string | null;
    let label: string = want === 'wasm-native' || want === 'wasm-plain' ? 'wasm' : want;
    if (want === 'tensorflow') {
      why = await tryTensorflow('@tensorflow/tfjs-node-gpu');
      label = 'tensorflow (tfjs-node-gpu)';
      if (why) {
        const cpuWhy = await tryTensorflow('@tensorflow/tfjs-node');
        if (cpuWhy === null) {
          why = null;
          label = 'tensorflow (tfjs-node)';
        } else why = `${why}; ${cpuWhy}. Install one: ${INSTALL_HINT['@tensorflow/tfjs-node-gpu']}, or ${INSTALL_HINT['@tensorflow/tfjs-node']}`;
      }
    } else if (want === 'webgpu') {
      why = await tryWebgpu();
      if (why) why += `. Install: ${INSTALL_HINT.webgpu}`;
    } else {
      why = await setSimple(want === 'wasm-native' || want === 'wasm-plain' ? 'wasm' : want);
    }
    if (why) throw new Error(`backend '${want}' is not available: ${why}`);
    choice = { name: tf.getBackend(), label, message: `backend: ${label} (requested)` };
  }
  if (choice.name === 'wasm') {
    // OpenBLAS kernels inside the wasm backend when the addon was built (kernels/wasm_kernels.ts).
    const native = await enableNativeKernels();
    if (want === 'wasm-native' && !native.active) throw new Error(`backend 'wasm-native' is not available: ${native.message}; build the kernels: apt-get install libopenblas-dev build-essential, then node native/install.mjs (or --backend wasm-plain)`);
    choice = native.active
      ? { ...choice, label: 'wasm-native', message: `${choice.message.replace(/^backend: wasm/, `backend: wasm+native, ${native.blas}`)}${state.blas?.note ? `; ${state.blas.note}` : ''}` }
      : { ...choice, message: `${choice.message}; ${native.message}` };
  }
  if (choice.name === 'tensorflow') {
    const version = libtensorflowVersion();
    choice = { ...choice, libtensorflow: version, message: choice.message.replace(/^backend: tensorflow( \([^)]*\))?/, (m) => `${m}, libtensorflow ${version ?? 'unknown'}`) };
  }
  if (!opts.quiet) console.error(choice.message);
  return choice;
}
