/**
 * Takes back the process-wide error handlers that tfjs-backend-wasm 4.22.0 installs when it starts.
 *
 * Its Emscripten module adds `process.on('uncaughtException', ex => { if (!(ex instanceof
 * ExitStatus)) throw ex })` and `process.on('unhandledRejection', reason => { throw reason })`.
 * Rethrowing inside a handler makes Node print the handler's source line (the whole minified
 * bundle line, about 38 KB) instead of the error, and exit with code 7. Without them an error in the
 * user's own script prints itself and exits with code 1, as it does on the cpu backend.
 *
 * `installWasmHandlerRemoval` wraps the wasm backend's factory so that right after each start (also
 * after `tf.engine().reset()`) the listeners the start added, and only those whose source is one of
 * the two above, are removed. If the backend already started, it removes them at once.
 */
import * as tf from '@tensorflow/tfjs-core';

const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Event = (typeof EVENTS)[number];

/** process.listeners typed for the two events (its overloads do not take a union). */
const listenersOf = (ev: Event): Listener[] => process.listeners(ev as 'uncaughtException') as Listener[];

/** Listener sources of the Emscripten runtime (whitespace-insensitive). */
const EMSCRIPTEN_SOURCES = [/^function\s*\(ex\)\s*\{\s*if\s*\(!\(ex instanceof ExitStatus\)\)\s*\{\s*throw ex;\s*\}\s*\}$/, /^function\s*\(reason\)\s*\{\s*throw reason;\s*\}$/];

type Listener = (...args: unknown[]) => void;

/** True for a listener whose source is one of the Emscripten runtime's rethrowing handlers. */
export function isEmscriptenRethrow(listener: Function): boolean {
  const src = listener.toString().trim();
  return EMSCRIPTEN_SOURCES.some((re) => re.test(src));
}

/**
 * Removes the Emscripten rethrowing listeners among `candidates` (default: every current listener)
 * of both events; returns how many it removed.
 */
export function removeWasmProcessHandlers(candidates?: Record<Event, Listener[]>): number {
  let removed = 0;
  for (const ev of EVENTS) {
    for (const l of candidates?.[ev] ?? listenersOf(ev)) {
      if (!isEmscriptenRethrow(l)) continue;
      process.removeListener(ev as 'uncaughtException', l);
      removed++;
    }
  }
  return removed;
}

/** Process-wide mark: this module may be loaded twice (ESM and CommonJS); the factory is wrapped once. */
const INSTALLED = Symbol.for('optlab.wasm_handlers.installed');

/**
 * Makes every start of the wasm backend remove the listeners it adds (see the module comment).
 * Idempotent; a no-op when tfjs-backend-wasm is not registered.
 */
export function installWasmHandlerRemoval(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[INSTALLED]) return;
  const engine = tf.engine() as unknown as { registry: Record<string, unknown>; registryFactory: Record<string, { factory: () => tf.KernelBackend | Promise<tf.KernelBackend>; priority: number }> };
  const entry = engine.registryFactory.wasm;
  if (!entry) return;
  g[INSTALLED] = true;
  if (engine.registry.wasm) removeWasmProcessHandlers();
  const { factory, priority } = entry;
  // Replacing the factory entry keeps an already started backend (tf.removeBackend would dispose it).
  engine.registryFactory.wasm = {
    priority,
    factory: async () => {
      const before = Object.fromEntries(EVENTS.map((ev) => [ev, new Set(listenersOf(ev))]));
      const backend = await factory();
      const added = Object.fromEntries(EVENTS.map((ev) => [ev, listenersOf(ev).filter((l) => !before[ev].has(l))])) as Record<Event, Listener[]>;
      removeWasmProcessHandlers(added);
      return backend;
    },
  };
}
