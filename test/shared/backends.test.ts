/** The backend matrix itself (test/shared/backends.ts): each configuration is what its name says. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fusedOps } from '../../kernels/fused.js';
import { nativeStatus } from '../../kernels/wasm_kernels.js';
import { CONFIGURATIONS, describeBackends, matrixBanner, parseTestBackends, testBackends } from './backends.js';

const TFJS_BACKEND = { cpu: 'cpu', wasm: 'wasm', 'wasm-native': 'wasm', tensorflow: 'tensorflow' } as const;

describeBackends('backend matrix', (backend) => {
  it('activates its tfjs backend, with the native kernels on exactly for wasm-native', () => {
    expect(tf.getBackend()).to.equal(TFJS_BACKEND[backend]);
    expect(nativeStatus().active).to.equal(backend === 'wasm-native');
    expect(fusedOps() !== null).to.equal(backend === 'wasm-native');
  });

  it('starts each configuration from a reset engine: no tensor of an earlier configuration survives', () => {
    // The previous configuration's run of this test left one tensor undisposed on purpose; the reset
    // freed it (engine.reset() drops the engine's records without marking the Tensor objects disposed).
    expect(tf.memory().numTensors).to.equal(0);
    tf.zeros([2]);
  });
});

describe('backend matrix: configuration', () => {
  it('runs cpu always, in the documented order, and says so in one line', () => {
    const run = testBackends();
    if (parseTestBackends(process.env.OPTLAB_TEST_BACKENDS) === undefined) expect(run[0]).to.equal('cpu');
    expect(run).to.deep.equal(CONFIGURATIONS.filter((b) => run.includes(b)));
    const banner = matrixBanner();
    expect(banner).to.not.include('\n');
    expect(banner).to.match(/^backend matrix: /);
    for (const b of CONFIGURATIONS) expect(banner).to.include(b);
  });

  it('OPTLAB_TEST_BACKENDS: a comma list of known configurations; unknown names throw', () => {
    expect(parseTestBackends(undefined)).to.equal(undefined);
    expect(parseTestBackends(' ')).to.equal(undefined);
    expect(parseTestBackends('cpu, wasm-native')).to.deep.equal(['cpu', 'wasm-native']);
    expect(() => parseTestBackends('cpu,webgl')).to.throw("OPTLAB_TEST_BACKENDS: unknown configuration 'webgl'");
  });
});
