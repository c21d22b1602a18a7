/**
 * The backend matrix: `describeBackends` runs a suite once per backend configuration that exists here,
 * the idea of `describeWithFlags` (tensorflow/tfjs: tfjs-core/src/jasmine_util.ts) rebuilt for mocha.
 *
 * Configurations, in order:
 * - 'cpu': the pure-JS backend, always.
 * - 'wasm': the wasm backend with optlab's native kernels switched off.
 * - 'wasm-native': the wasm backend with the native kernels (kernels/wasm_kernels.ts), only when the
 *   addon is built and its start-up self-test passed.
 * - 'tensorflow': libtensorflow through @tensorflow/tfjs-node(-gpu), only when `selectBackend`
 *   (kernels/backend.ts) can load it.
 *
 * `OPTLAB_TEST_BACKENDS=cpu,wasm` restricts the run; naming a configuration that is not available
 * fails at start-up with the reason. Availability is probed once, when this module loads (top-level
 * await), and one line says which configurations run and why the others do not. Top-level await is
 * why .mocharc.json passes --no-experimental-require-module: with Node's require(esm) mocha
 * require()s each test file first, which cannot load a module with top-level await (the import()
 * it falls back to then reports that failure instead of the probe's).
 *
 * Around each configuration the engine is reset (as `describeWithFlags` does): every tensor and
 * variable of earlier suites is freed, backends start afresh, and the native kernels are switched on
 * or off. Afterwards the baseline is restored: cpu active, native kernels off.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core registers no gradients by itself; tfjs-layers' bundle registers all of them on import.
import '@tensorflow/tfjs-layers';
import { selectBackend } from '../../kernels/backend.js';
import { disableNativeKernels, enableNativeKernels } from '../../kernels/wasm_kernels.js';

/** A backend configuration of the test matrix. */
export type TestBackend = 'cpu' | 'wasm' | 'wasm-native' | 'tensorflow';

/** Every configuration the matrix knows, in the order suites run. */
export const CONFIGURATIONS: readonly TestBackend[] = ['cpu', 'wasm', 'wasm-native', 'tensorflow'];

/** The tfjs backend each configuration activates. */
const TFJS_BACKEND: Record<TestBackend, string> = { cpu: 'cpu', wasm: 'wasm', 'wasm-native': 'wasm', tensorflow: 'tensorflow' };

/** What the start-up probe found: the configurations that run, and for each other one, why not. */
interface Matrix {
  run: TestBackend[];
  skipped: Map<TestBackend, string>;
  /** Extra detail per running configuration for the banner, e.g. the BLAS of wasm-native. */
  detail: Map<TestBackend, string>;
}

/** Parses a value of OPTLAB_TEST_BACKENDS ('cpu,wasm'); undefined (every configuration) when unset or empty. */
export function parseTestBackends(env: string | undefined): TestBackend[] | undefined {
  if (env === undefined || env.trim() === '') return undefined;
  const wanted = env.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const w of wanted) {
    if (!CONFIGURATIONS.includes(w as TestBackend)) throw new Error(`OPTLAB_TEST_BACKENDS: unknown configuration '${w}' (expected some of ${CONFIGURATIONS.join(', ')})`);
  }
  return wanted as TestBackend[];
}

/** Returns null when the configuration works here, else the reason it does not; leaves the baseline. */
async function probe(b: TestBackend, detail: Map<TestBackend, string>): Promise<string | null> {
  try {
    switch (b) {
      case 'cpu':
      case 'wasm':
        return (await tf.setBackend(b)) ? null : `the ${b} backend did not initialize`;
      case 'wasm-native': {
        const st = await enableNativeKernels();
        if (!st.active) return st.message;
        detail.set(b, st.blas);
        return null;
      }
      case 'tensorflow': {
        const choice = await selectBackend('tensorflow', { quiet: true });
        detail.set(b, `${choice.label.replace(/^tensorflow \(|\)$/g, '')}${choice.libtensorflow ? `, libtensorflow ${choice.libtensorflow}` : ''}`);
        return null;
      }
    }
  } catch (e) {
    // selectBackend's reason ends with install hints; the banner keeps the reason only.
    return String((e as Error).message ?? e).replace(/^backend 'tensorflow' is not available: /, '').split('. Install')[0];
  } finally {
    disableNativeKernels();
    await tf.setBackend('cpu');
  }
}

async function probeAll(): Promise<Matrix> {
  tf.env().set('PROD', true);
  const wanted = parseTestBackends(process.env.OPTLAB_TEST_BACKENDS);
  const m: Matrix = { run: [], skipped: new Map(), detail: new Map() };
  for (const b of CONFIGURATIONS) {
    if (wanted && !wanted.includes(b)) {
      m.skipped.set(b, `not in OPTLAB_TEST_BACKENDS=${process.env.OPTLAB_TEST_BACKENDS}`);
      continue;
    }
    const why = await probe(b, m.detail);
    if (why === null) m.run.push(b);
    else if (wanted) throw new Error(`OPTLAB_TEST_BACKENDS asks for '${b}', which is not available here: ${why}`);
    else m.skipped.set(b, why);
  }
  return m;
}

const MATRIX = await probeAll();

/** The one-line banner: which configurations run and why the others do not. */
export function matrixBanner(): string {
  const run = MATRIX.run.map((b) => (MATRIX.detail.has(b) ? `${b} (${MATRIX.detail.get(b)})` : b)).join(', ');
  const skipped = [...MATRIX.skipped].map(([b, why]) => `${b}: ${why}`).join('; ');
  return `backend matrix: ${run}${skipped ? ` | not run: ${skipped}` : ''}`;
}

console.log(`  ${matrixBanner()}`);

/** The configurations suites run on here, in order. */
export function testBackends(): TestBackend[] {
  return [...MATRIX.run];
}

/**
 * Activates one configuration: its tfjs backend, with the native kernels on exactly for
 * 'wasm-native'. Throws when the configuration does not come up.
 */
export async function useBackend(b: TestBackend): Promise<void> {
  if (b === 'wasm-native') {
    const st = await enableNativeKernels();
    if (!st.active) throw new Error(`wasm-native: ${st.message}`);
  } else disableNativeKernels();
  if (!(await tf.setBackend(TFJS_BACKEND[b]))) throw new Error(`backend ${TFJS_BACKEND[b]} (configuration ${b}) failed to initialize`);
}

/** Frees everything the engine holds and starts from the baseline (cpu, native kernels off). */
async function resetEngine(): Promise<void> {
  disableNativeKernels();
  tf.engine().reset();
  // reset() clears every flag; PROD silences the cpu backend's "install tfjs-node" banner.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
}

/** Options of `describeBackends`. */
export interface DescribeBackendsOptions {
  /** Run only on these configurations (those of them that are available). @default every one */
  only?: readonly TestBackend[];
}

/**
 * Runs `fn` inside one describe block per configuration (`${name} [${config}]`), with that
 * configuration active for its hooks and tests and a freshly reset engine.
 */
export function describeBackends(name: string, fn: (backend: TestBackend) => void, opts: DescribeBackendsOptions = {}): void {
  for (const backend of MATRIX.run) {
    if (opts.only && !opts.only.includes(backend)) continue;
    describe(`${name} [${backend}]`, function () {
      before(async function () {
        await resetEngine();
        await useBackend(backend);
      });
      fn(backend);
      // Registered after the suite's own hooks, so it runs after them.
      after(async function () {
        disableNativeKernels();
        await tf.setBackend('cpu');
      });
    });
  }
}

/** Float tolerance keyed on backend precision (tfjs test_util's testEpsilon). */
export function testEpsilon(): number {
  return tf.backend().floatPrecision() === 32 ? 1e-3 : 1e-1;
}
