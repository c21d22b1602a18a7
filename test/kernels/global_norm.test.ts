/**
 * The one-call global norm (native/optimizer.c globalNorm, optimizers/core.ts globalNorm on wasm
 * with the native kernels) against the tfjs ops on plain wasm and cpu; entries whose squares overflow
 * float32; NaN; gradient clipping through it; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { withOriginals } from '../../kernels/wasm_kernels.js';
import { clipByGlobalNorm, globalNorm } from '../../optimizers/core.js';
import { seeded } from '../shared/problems.js';
import { describeNative } from './helpers.js';

const SHAPES = [[7, 13], [5], [2, 3, 4], [128, 65], [1]];
const norm = (scale = 1): number => {
  const ts = SHAPES.map((s, i) => tf.mul(tf.tensor(seeded(s.reduce((a, b) => a * b, 1), i + 1), s), scale));
  const n = globalNorm(ts);
  const v = n.dataSync()[0];
  tf.dispose([n, ...ts]);
  return v;
};

describeNative('one-call global norm (optimizers/core.ts globalNorm)', () => {
  it('is one kernel call, and matches the tfjs ops on plain wasm and cpu', async () => {
    const ts = SHAPES.map((s, i) => tf.tensor(seeded(s.reduce((a, b) => a * b, 1), i + 1), s));
    const info = await tf.profile(() => void tf.tidy(() => { globalNorm(ts); }));
    expect(info.kernels.map((k) => k.name)).to.deep.equal(['OptlabGlobalNorm']);
    tf.dispose(ts);
    const native = norm();
    const plain = withOriginals(() => norm());
    await tf.setBackend('cpu');
    const cpu = norm();
    await tf.setBackend('wasm');
    expect(Math.abs(native - plain) / plain).to.be.below(1e-6);
    expect(Math.abs(native - cpu) / cpu).to.be.below(1e-6);
  });

  it('stays finite where the squares overflow float32 (entries near 1e20), and NaN propagates', () => {
    const big = norm(1e20);
    expect(Number.isFinite(big)).to.equal(true);
    expect(Math.abs(big / 1e20 - norm()) / norm()).to.be.below(1e-6);
    const t = tf.tensor([1, NaN, 2]);
    const n = globalNorm([t]);
    expect(Number.isNaN(n.dataSync()[0])).to.equal(true);
    tf.dispose([t, n]);
  });

  it('clipByGlobalNorm through it clips as with the tfjs ops, and leaks nothing', () => {
    const g = new Map(SHAPES.map((s, i) => [`p${i}`, tf.tensor(seeded(s.reduce((a, b) => a * b, 1), i + 1), s)]));
    const run = () => {
      const { grads, norm: n } = clipByGlobalNorm(g, 1.0);
      const out = [...grads.values()].map((x) => Float32Array.from(x.dataSync() as Float32Array));
      tf.dispose([n, ...grads.values()]);
      return out;
    };
    run();
    const before = tf.memory().numTensors;
    const native = run();
    expect(tf.memory().numTensors).to.equal(before);
    const plain = withOriginals(run);
    native.forEach((a, k) => a.forEach((v, i) => expect(Math.abs(v - plain[k][i])).to.be.below(1e-6)));
    tf.dispose([...g.values()]);
  });
});
