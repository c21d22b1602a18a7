/**
 * Native kernels for library users (kernels/auto_native.ts): a fresh Node process that imports an
 * entry point of the package and selects wasm the ordinary tfjs way runs on the native kernels, or
 * prints one line saying why not; OPTLAB_NATIVE=0 and an explicit choice are honoured. Each case is
 * its own process (the wrapper acts once per process). The native cases are skipped, saying why,
 * when the addon is not built.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, state } from '../../kernels/addon.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs an ES module body in a fresh process from the repository root; returns its stdout lines and stderr. */
function run(body: string, env: Record<string, string | undefined> = {}): { out: string[]; err: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OPTLAB_NATIVE: undefined, ...env }, timeout: 60000 });
  return { out: r.stdout.trim().split('\n').filter(Boolean), err: r.stderr, status: r.status };
}

/** Prints whether the wasm backend's BatchMatMul is optlab's native one, and a small Adam step's loss. */
const REPORT = `
const { nativeStatus } = await import('./kernels/wasm_kernels.ts');
console.log(tf.getBackend(), nativeStatus().active);
`;

const native = loadAddon() !== null;
const maybe = native ? describe : describe.skip;
if (!native) console.log(`  native kernels for library users: skipped (${state.loadError})`);

maybe('native kernels for library users (kernels/auto_native.ts)', () => {
  it("import 'optlab/optimizers' then await tf.setBackend('wasm'): native kernels, no output line", () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import { adamw } from './optimizers/api.ts';
await tf.setBackend('wasm');
const v = tf.variable(tf.ones([4, 4]));
adamw().minimize(() => tf.sum(tf.square(tf.matMul(v, v)))); ${REPORT}`);
    expect(r.status, r.err).to.equal(0);
    expect(r.out.at(-1)).to.equal('wasm true'); // after the optimizer's routing table
    expect(r.err).to.equal('');
  });

  it("import 'optlab' then await tf.ready() with wasm the highest-priority backend: native kernels", () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import './index.ts';
await tf.ready(); ${REPORT}`);
    expect(r.status, r.err).to.equal(0);
    expect(r.out).to.deep.equal(['wasm true']);
  });

  it('OPTLAB_NATIVE=0: plain wasm, silently', () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import './optimizers/api.ts';
await tf.setBackend('wasm'); ${REPORT}`, { OPTLAB_NATIVE: '0' });
    expect(r.status, r.err).to.equal(0);
    expect(r.out).to.deep.equal(['wasm false']);
    expect(r.err).to.equal('');
  });

  it('native kernels that cannot load: plain wasm and one line on stderr saying why and how', () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import './optimizers/api.ts';
const { state } = await import('./kernels/addon.ts');
state.loadTried = true; state.addon = null; state.loadError = 'addon not built (simulated; or run node native/install.mjs)';
await tf.setBackend('wasm'); await tf.setBackend('wasm'); ${REPORT}`);
    expect(r.status, r.err).to.equal(0);
    expect(r.out).to.deep.equal(['wasm false']);
    const lines = r.err.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^optlab: the wasm backend runs without optlab's native kernels: native kernels unavailable: addon not built \(simulated; or run node native\/install\.mjs\)\. .*OPTLAB_NATIVE=0 silences this line\.$/);
  });

  it('wasm selected before optlab is imported: one line says how, and selecting wasm again turns the kernels on', () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await import('./optimizers/api.ts');
const { nativeStatus } = await import('./kernels/wasm_kernels.ts');
console.log(nativeStatus().active); await tf.setBackend('wasm'); console.log(nativeStatus().active);`);
    expect(r.status, r.err).to.equal(0);
    expect(r.out).to.deep.equal(['false', 'true']);
    expect(r.err.trim().split('\n')).to.have.length(1);
    expect(r.err).to.match(/^optlab: the wasm backend was selected before optlab was imported, .*await tf\.setBackend\('wasm'\) again/);
  });

  it('an explicit disableNativeKernels() before selecting wasm is honoured', () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import { disableNativeKernels } from './index.ts';
disableNativeKernels(); await tf.setBackend('wasm'); ${REPORT}`);
    expect(r.status, r.err).to.equal(0);
    expect(r.out).to.deep.equal(['wasm false']);
  });

  it('a bad OPTLAB_BLAS_CORE makes setBackend throw, naming it', () => {
    const r = run(`import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-wasm'; import './optimizers/api.ts';
try { await tf.setBackend('wasm'); console.log('no error'); } catch (e) { console.log(e.message); }`, { OPTLAB_BLAS_CORE: 'NoSuchCore' });
    expect(r.out.join('\n')).to.match(/OPTLAB_BLAS_CORE=NoSuchCore: OpenBLAS has no kernel set of that name/);
  });
});
