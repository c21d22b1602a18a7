/**
 * Native kernels for library users who select the wasm backend the ordinary tfjs way. Importing
 * `optlab` or `optlab/optimizers` calls `installNativeOnWasm()`; afterwards the first
 * `await tf.setBackend('wasm')` of the process (or the `await tf.ready()` that picks wasm as the
 * highest-priority backend) also runs `enableNativeKernels` (kernels/wasm_kernels.ts: the addon, the
 * OpenBLAS kernel-set check, the self-test) before it resolves, so the user's first op runs on the
 * native kernels. When they cannot be used, one line on standard error says why and how to get them;
 * `OPTLAB_NATIVE=0` keeps plain wasm silently. When wasm was already selected before optlab was
 * imported, one line says so and how to turn the kernels on (select wasm again).
 *
 * It acts once per process, and not at all once native kernels were enabled or disabled explicitly
 * (`enableNativeKernels`, `disableNativeKernels`, `selectBackend`): an explicit choice is never
 * overridden. It wraps the engine's `setBackend` and `ready` methods (tfjs-core 4.22.0 engine.js:
 * `tf.setBackend` and `tf.ready` call them, and `ready` calls `setBackend`); the wrapper is installed
 * once per engine, however many copies of this module load (source and dist in one process).
 * A bad OPTLAB_BLAS_CORE or OPTLAB_BLAS_THREADS makes the `setBackend` call throw, naming the variable.
 */
import * as tf from '@tensorflow/tfjs-core';
import { state } from './addon.js';

const MARK = Symbol.for('optlab.nativeOnWasm');

type Engine = ReturnType<typeof tf.engine> & {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  [MARK]?: { pending: Promise<void> | null; done: boolean };
};

/** Where to print the one line (tests replace it). */
export const autoNativeOutput = { write: (line: string) => console.error(line) };

/**
 * Installs the wrapper described in this file's header on tfjs's engine (idempotent). Called by the
 * package entry points on import; call it yourself when you import a narrower file.
 */
export function installNativeOnWasm(): void {
  const engine = tf.engine() as Engine;
  if (engine[MARK]) return;
  const hook: { pending: Promise<void> | null; done: boolean } = (engine[MARK] = { pending: null, done: false });
  const setBackend = engine.setBackend.bind(engine);
  const ready = engine.ready.bind(engine);
  engine.setBackend = async (name: string) => {
    const ok = await setBackend(name);
    if (ok && name === 'wasm' && !hook.done && !state.nativeDecided && process.env.OPTLAB_NATIVE !== '0') {
      hook.done = true;
      hook.pending = enable();
      try {
        await hook.pending;
      } finally {
        hook.pending = null;
      }
    }
    return ok;
  };
  engine.ready = async () => {
    await ready();
    if (hook.pending) await hook.pending;
  };
  // wasm already running (optlab imported after it was selected): say how to get the kernels.
  const running = (engine as unknown as { backendName?: string; backendInstance?: unknown }).backendInstance != null && engine.backendName === 'wasm';
  if (running && !state.nativeDecided && process.env.OPTLAB_NATIVE !== '0') {
    autoNativeOutput.write("optlab: the wasm backend was selected before optlab was imported, so it runs without optlab's native kernels; await tf.setBackend('wasm') again (or optlab's enableNativeKernels()) turns them on. OPTLAB_NATIVE=0 silences this line.");
  }
}

async function enable(): Promise<void> {
  // Loaded here, so that importing optlab/optimizers does not load the wasm backend for users of other backends.
  const { enableNativeKernels } = await import('./wasm_kernels.js');
  const st = await enableNativeKernels();
  if (!st.active) autoNativeOutput.write(`optlab: the wasm backend runs without optlab's native kernels: ${st.message}. Built, they make training several times faster (optlab's README, Backends); OPTLAB_NATIVE=0 silences this line.`);
}
