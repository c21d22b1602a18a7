/**
 * Cautious weight decay (arXiv 2510.12402) as a transform, and the `cautiousWeightDecay` option of every
 * method that has one: W <- W - lr (u + wd I(u W >= 0) W), checked against the same method without decay.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, cautiousWeightDecay, chain, scaleByLr, type Parameter, type Role } from '../../optimizers/core.js';
import { OPTIMIZERS } from '../../optimizers/index.js';
import { describeBackends } from '../shared/backends.js';
import { seeded } from '../shared/problems.js';

function param(name: string, role: Role, data: Float32Array, shape: number[]): Parameter {
  return { name, role, variable: tf.variable(tf.tensor(data, shape), true, `cwd_test/${name}/${Math.random()}`) };
}

/** One step of `def` from w0 with gradient g; returns W after the step. */
function stepOnce(def: ReturnType<(typeof OPTIMIZERS)[string]>, role: Role, w0: Float32Array, g: Float32Array, shape: number[]): Float32Array {
  const p = param('W', role, w0, shape);
  const opt = buildOptimizer([p], def);
  opt.step(new Map([['W', tf.tensor(g, shape)]]));
  const out = p.variable.dataSync() as Float32Array;
  opt.dispose();
  p.variable.dispose();
  return out;
}

describeBackends('cautious weight decay', () => {
  it('decays only the coordinates where the update and the weight agree in sign (u W = 0 counts as agreeing)', () => {
    const w = param('w', 'matrix', Float32Array.from([2, 2, -2, -3, 0]), [5]);
    const opt = buildOptimizer([w], chain({ name: 'fixed', update: () => tf.tensor1d([1, -1, 1, 0, 1]) }, cautiousWeightDecay(0.5), scaleByLr(0.1)));
    opt.step(new Map([['w', tf.zeros([5])]]));
    // u + wd * I(u w >= 0) * w = [1 + 1, -1, 1, 0 - 1.5, 1]; W <- W - 0.1 * that.
    const got = Array.from(w.variable.dataSync());
    const want = [2 - 0.2, 2 + 0.1, -2 - 0.1, -3 + 0.15, 0 - 0.1];
    got.forEach((v, i) => expect(v).to.be.closeTo(want[i], 1e-6));
    opt.dispose();
    w.variable.dispose();
  });

  // Every registry method with the option: at step 1 the direction u does not depend on W, so the cautious step is
  // the step without decay minus lr * wd * I(u W >= 0) * W, with u = -(step without decay) / lr.
  const methods = Object.entries(OPTIMIZERS).filter(([, f]) => 'cautiousWeightDecay' in f.defaults);
  it('is an option of adamw, muon, lion, normuon and adamuon', () => {
    expect(methods.map(([n]) => n)).to.include.members(['adamw', 'muon', 'lion', 'normuon', 'adamuon']);
  });
  for (const [name, factory] of methods) {
    it(`${name}: cautiousWeightDecay gives the undecayed step minus lr * wd * I(u W >= 0) * W, and differs from plain decay`, () => {
      const shape = [6, 10];
      const w0 = seeded(60, 11);
      const g = seeded(60, 12);
      const [lr, wd] = [0.01, 0.3];
      const base = stepOnce(factory({ lr, weightDecay: 0 }), 'matrix', w0, g, shape);
      const cautious = stepOnce(factory({ lr, weightDecay: wd, cautiousWeightDecay: true }), 'matrix', w0, g, shape);
      const plain = stepOnce(factory({ lr, weightDecay: wd }), 'matrix', w0, g, shape);
      let decayed = 0;
      for (let i = 0; i < 60; i++) {
        const u = -(base[i] - w0[i]) / lr;
        const aligned = u * w0[i] >= 0 ? 1 : 0;
        decayed += aligned;
        expect(cautious[i], `element ${i}`).to.be.closeTo(base[i] - lr * wd * aligned * w0[i], 1e-6);
      }
      expect(decayed).to.be.within(1, 59);
      const differs = Array.from(plain).some((v, i) => Math.abs(v - cautious[i]) > 1e-5);
      expect(differs).to.equal(true);
    });
  }
});
