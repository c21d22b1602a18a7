/**
 * The one-kernel 'ema' Nesterov momentum step (optimizers/momentum.ts momentumStep on wasm with the
 * native kernels, OptlabAuon's momentum stage) against the tfjs ops on plain wasm and on cpu: bit for
 * bit on wasm, within float rounding of cpu's kernels; the forms it does not cover keep the tfjs ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { withOriginals } from '../../kernels/wasm_kernels.js';
import { momentumStep, type MomentumForm } from '../../optimizers/momentum.js';
import { seeded } from '../shared/problems.js';
import { describeNative } from './helpers.js';

function step(beta: number, form: MomentumForm, nesterov: boolean): { m: Float32Array; u: Float32Array } {
  const run = () => {
    const r = momentumStep(tf.tensor(seeded(6 * 11, 1), [6, 11]), tf.tensor(seeded(6 * 11, 2), [6, 11]), beta, form, nesterov);
    return [r.buffer, r.direction];
  };
  const [m, u] = tf.tidy(run);
  const out = { m: Float32Array.from(m.dataSync() as Float32Array), u: Float32Array.from(u.dataSync() as Float32Array) };
  tf.dispose([m, u]);
  return out;
}

describeNative('one-kernel momentum step (optimizers/momentum.ts)', () => {
  for (const beta of [0.95, 0.9, 0.6]) {
    it(`ema Nesterov, b = ${beta}: one kernel, bit for bit the tfjs ops on plain wasm, within rounding of cpu`, async () => {
      const info = await tf.profile(() => void tf.tidy(() => { momentumStep(tf.ones([2, 3]), tf.zeros([2, 3]), beta, 'ema', true); }));
      expect(info.kernels.map((k) => k.name).filter((n) => n !== 'Fill' && n !== 'OnesLike' && n !== 'ZerosLike')).to.deep.equal(['OptlabAuon']);
      const native = step(beta, 'ema', true);
      const plain = withOriginals(() => step(beta, 'ema', true));
      expect(Array.from(native.m)).to.deep.equal(Array.from(plain.m));
      expect(Array.from(native.u)).to.deep.equal(Array.from(plain.u));
      await tf.setBackend('cpu');
      const cpu = step(beta, 'ema', true);
      await tf.setBackend('wasm');
      for (let i = 0; i < cpu.u.length; i++) expect(Math.abs(native.u[i] - cpu.u[i])).to.be.below(1e-6);
    });
  }

  it('sum form, no Nesterov, and b <= 0.5 keep the tfjs ops', async () => {
    for (const [beta, form, nesterov] of [[0.9, 'sum', true], [0.95, 'ema', false], [0.5, 'ema', true]] as const) {
      const info = await tf.profile(() => void tf.tidy(() => { momentumStep(tf.ones([2, 3]), tf.zeros([2, 3]), beta, form, nesterov); }));
      expect(info.kernels.map((k) => k.name), `${beta} ${form} ${nesterov}`).to.not.include('OptlabAuon');
    }
  });
});
