import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { selectBackend } from '../../kernels/backend.js';

describe('backend picker', () => {
  after(async () => {
    await tf.setBackend('cpu');
  });

  it('auto picks the fastest backend that loads and says why faster ones were skipped', async () => {
    const c = await selectBackend('auto', { quiet: true });
    // On machines without tfjs-node(-gpu) installed, auto lands on wasm; where they are installed, on tensorflow.
    let nodeInstalled = true;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch {
      nodeInstalled = false;
    }
    if (!nodeInstalled) {
      expect(c.name).to.match(/^wasm/);
      expect(c.message).to.match(/^backend: wasm/);
      expect(c.message).to.include('@tensorflow/tfjs-node-gpu not installed');
    } else expect(c.name).to.equal('tensorflow');
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
    expect(err?.message).to.equal("unknown backend 'tpu'; expected one of auto, tensorflow, webgpu, wasm, cpu");
  });
});
