/**
 * Picks the fastest tfjs backend that loads here and says which one, and why the faster ones were
 * skipped. Order for `auto`: tfjs-node-gpu (CUDA), tfjs-node, wasm, cpu. `webgpu` is tried only when
 * asked for: it needs the npm `webgpu` package (Dawn) and a Vulkan-capable GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself; tfjs-layers' bundle registers all of them on import.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { state } from './addon.js';
import { enableNativeKernels } from './wasm_kernels.js';

/** A backend `selectBackend` accepts; 'auto' tries them fastest first. */
export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
/** Every BackendName, in the order `--backend` help lists them. */
export const BACKENDS: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

/** What `selectBackend` chose. */
export interface BackendChoice {
  /** tfjs backend name now active ('tensorflow', 'webgpu', 'wasm', 'cpu'). */
  name: string;
  /** Label for logs and benchmarks (e.g. 'tensorflow (tfjs-node-gpu)', 'wasm'). */
  label: string;
  /** One line: the choice and why faster ones were skipped. */
  message: string;
}

const require = createRequire(import.meta.url);

const INSTALL_HINT: Record<string, string> = {
  '@tensorflow/tfjs-node-gpu': 'npm i @tensorflow/tfjs-node-gpu@4.22.0 (needs CUDA 11.2 + cuDNN 8.1)',
  '@tensorflow/tfjs-node': 'npm i @tensorflow/tfjs-node@4.22.0',
  webgpu: 'npm i @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu (needs a GPU with a Vulkan driver)',
};

/** Loads a CommonJS backend package, turning "not installed" and "native addon missing" into one short reason. */
function tryRequire(pkg: string): string | null {
  try {
    require(pkg);
    return null;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/Cannot find module/.test(msg) && msg.includes(pkg)) return `${pkg} not installed`;
    return `${pkg} failed to load (${msg.split('\n')[0].slice(0, 160)})`;
  }
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
  tf.env().set('PROD', true);
  let choice: BackendChoice;
  if (want === 'auto') {
    const skipped: string[] = [];
    const attempts: [string, () => Promise<string | null>][] = [
      ['tensorflow (tfjs-node-gpu)', () => tryTensorflow('@tensorflow/tfjs-node-gpu')],
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
    choice = { name: tf.getBackend(), label: picked, message: `backend: ${picked}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}` };
  } else {
    let why: string | null;
    let label: string = want;
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
      why = await setSimple(want);
    }
    if (why) throw new Error(`backend '${want}' is not available: ${why}`);
    choice = { name: tf.getBackend(), label, message: `backend: ${label} (requested)` };
  }
  if (choice.name === 'wasm') {
    // OpenBLAS kernels inside the wasm backend when the addon was built (kernels/wasm_kernels.ts).
    const native = await enableNativeKernels();
    choice = native.active
      ? { ...choice, label: 'wasm-native', message: `${choice.message.replace(/^backend: wasm/, `backend: wasm+native, ${native.blas}`)}${state.blasNote ? `; ${state.blasNote}` : ''}` }
      : { ...choice, message: `${choice.message}; ${native.message}` };
  }
  if (!opts.quiet) console.error(choice.message);
  return choice;
}
