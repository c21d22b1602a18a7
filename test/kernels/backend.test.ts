import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { libtensorflowVersion, selectBackend } from '../../kernels/backend.js';
import { nativeStatus } from '../../kernels/wasm_kernels.js';
import { describeBackends } from '../shared/backends.js';

describe('backend picker', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('auto picks the fastest backend that loads and says why faster ones were skipped', async () => {
    const c = await selectBackend('auto', { quiet: true });
    // Order: tfjs-node-gpu, wasm with the native kernels, tfjs-node, plain wasm, cpu (kernels/backend.ts).
    const nodeInstalled = await import('@tensorflow/tfjs-node' as string).then(
      () => true,
      () => false,
    );
    const native = nativeStatus().active;
    expect(c.message).to.include('@tensorflow/tfjs-node-gpu not installed');
    if (native) {
      expect(c.label).to.equal('wasm-native');
      expect(c.message).to.match(/^backend: wasm\+native, OpenBLAS/);
      if (nodeInstalled) expect(c.message).to.include('tensorflow (tfjs-node) is installed but wasm+native trains the GPT faster here');
    } else if (nodeInstalled) {
      expect(c.name).to.equal('tensorflow');
      expect(c.message).to.match(/^backend: tensorflow \(tfjs-node\), libtensorflow \d+\.\d+/);
    } else {
      expect(c.label).to.equal('wasm');
      expect(c.message).to.match(/^backend: wasm \(skipped/);
    }
    expect(tf.getBackend()).to.equal(c.name);
  });

  it('honours an explicit choice and OPTLAB_BACKEND', async () => {
    expect((await selectBackend('cpu', { quiet: true })).name).to.equal('cpu');
    process.env.OPTLAB_BACKEND = 'wasm';
    try {
      expect((await selectBackend(undefined, { quiet: true })).name).to.equal('wasm');
    } finally {
      delete process.env.OPTLAB_BACKEND;
    }
  });

  it('an explicit choice that cannot load fails saying what to install', async function () {
    let nodeInstalled = true;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch {
      nodeInstalled = false;
    }
    if (nodeInstalled) this.skip();
    let err: Error | undefined;
    try {
      await selectBackend('tensorflow', { quiet: true });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/backend 'tensorflow' is not available/);
    expect(err?.message).to.include('npm i @tensorflow/tfjs-node-gpu@4.22.0');
  });

  it('rejects an unknown backend name, listing the valid ones', async () => {
    let err: Error | undefined;
    try {
      await selectBackend('tpu', { quiet: true });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.equal("unknown backend 'tpu'; expected one of auto, tensorflow, webgpu, wasm, wasm-native, wasm-plain, cpu");
  });
});

// Differences of the tensorflow backend (tfjs-node 4.22.0 built against libtensorflow 2.21.0 by
// `npm run setup:tensorflow`) from the other backends, pinned so that a change shows up here. optlab
// itself uses none of these ops; docs/backends.md lists them.
describeBackends(
  'tensorflow backend: known differences',
  () => {
    it('reports the libtensorflow it loaded', () => {
      expect(libtensorflowVersion()).to.match(/^\d+\.\d+\.\d+/);
    });

    it('tf.round on int32 returns zeros (the binding passes int32 to a float-only Round); float32 rounds half to even', () => {
      expect(Array.from(tf.round(tf.tensor([1, 2, -3], [3], 'int32')).dataSync())).to.deep.equal([0, 0, 0]);
      expect(Array.from(tf.round(tf.tensor([1.4, 2.5, -3.6])).dataSync())).to.deep.equal([1, 2, -4]);
    });
  },
  { only: ['tensorflow'] },
);
