/**
 * describeBackends: runs a suite once per available backend, the idea of tfjs's describeWithFlags
 * rebuilt for mocha. cpu always; wasm when it initializes; restrict with OPTLAB_TEST_BACKENDS=cpu,wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core registers no gradients by itself; tfjs-layers' bundle registers all of them on import.
import '@tensorflow/tfjs-layers';

tf.env().set('PROD', true);

export type TestBackend = 'cpu' | 'wasm';

export function testBackends(): TestBackend[] {
  const env = process.env.OPTLAB_TEST_BACKENDS;
  const all: TestBackend[] = ['cpu', 'wasm'];
  if (!env) return all;
  const wanted = env.split(',').map((s) => s.trim());
  for (const w of wanted) if (!all.includes(w as TestBackend)) throw new Error(`OPTLAB_TEST_BACKENDS: unknown backend '${w}'`);
  return all.filter((b) => wanted.includes(b));
}

/** Runs `fn` inside a describe block per backend, with that backend active. */
export function describeBackends(name: string, fn: (backend: TestBackend) => void): void {
  for (const backend of testBackends()) {
    describe(`${name} [${backend}]`, function () {
      before(async function () {
        const ok = await tf.setBackend(backend);
        if (!ok) throw new Error(`backend ${backend} failed to initialize`);
      });
      fn(backend);
    });
  }
}

/** Float tolerance keyed on backend precision (tfjs test_util's testEpsilon). */
export function testEpsilon(): number {
  return tf.backend().floatPrecision() === 32 ? 1e-3 : 1e-1;
}
