import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { lion } from '../../optimizers/lion.js';
import { LionOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('lion', {
  make: () => lion({ lr: 0.02 }),
  makeRosenbrock: () => lion({ lr: 0.01 }),
  makeTf: () => new LionOptimizer({ lr: 0.005 }),
});
itBehavesLikeOptimizer('lion with cautious weight decay', { make: () => lion({ lr: 0.02, weightDecay: 0.1, cautiousWeightDecay: true }), makeRosenbrock: () => lion({ lr: 0.01, weightDecay: 0.01, cautiousWeightDecay: true }) });

itReplaysFixtures('lion');
// Lion is elementwise: a transposed trajectory is the same trajectory.
itReplaysWideFixtures('lion');

function param(name: string, data: Float32Array, shape: number[]): Parameter {
  return { name, role: 'matrix', variable: tf.variable(tf.tensor(data, shape), true, `lion_test/${name}/${Math.random()}`) };
}

describeBackends('lion', () => {
  it('moves every coordinate by exactly lr per step, in the direction of sign(b1 m + (1 - b1) g), after the lr*wd shrinkage', () => {
    const w0 = seeded(24, 3);
    const g1 = seeded(24, 4);
    const g2 = seeded(24, 5);
    const p = param('W', w0, [4, 6]);
    const [lr, b1, b2, wd] = [0.01, 0.9, 0.99, 0.5];
    const opt = buildOptimizer([p], lion({ lr, beta1: b1, beta2: b2, weightDecay: wd }));
    opt.step(new Map([['W', tf.tensor(g1, [4, 6])]]));
    const w1 = p.variable.dataSync().slice();
    opt.step(new Map([['W', tf.tensor(g2, [4, 6])]]));
    const w2 = p.variable.dataSync();
    for (let i = 0; i < 24; i++) {
      // step 1: m = 0, c = (1 - b1) g1; then m = (1 - b2) g1; step 2: c = b1 m + (1 - b1) g2.
      expect(w1[i]).to.be.closeTo(w0[i] * (1 - lr * wd) - lr * Math.sign(g1[i]), 1e-6);
      const c2 = b1 * (1 - b2) * g1[i] + (1 - b1) * g2[i];
      expect(w2[i]).to.be.closeTo(w1[i] * (1 - lr * wd) - lr * Math.sign(c2), 1e-6);
    }
    opt.dispose();
    p.variable.dispose();
  });

  it('rejects options outside their domain, naming the method, option and range', () => {
    expect(() => lion({ lr: 0 })).to.throw("lion: option 'lr' must be > 0, got 0");
    expect(() => lion({ beta1: 1 })).to.throw("lion: option 'beta1' must be in [0, 1), got 1");
    expect(() => lion({ beta2: -0.1 })).to.throw("lion: option 'beta2' must be in [0, 1), got -0.1");
    expect(() => lion({ weightDecay: -1 })).to.throw("lion: option 'weightDecay' must be >= 0, got -1");
  });
});

describeBackends('lion on tiny gradients', () => {
  it('moves a coordinate whose gradient is 1e-9 by lr (wasm Sign flushes |x| <= 1.2e-7 to 0: docs/backends.md, trap 6)', () => {
    const p = param('W', Float32Array.from([0.5, -0.5, 0.25, 0]), [2, 2]);
    const opt = buildOptimizer([p], lion({ lr: 0.01 }));
    opt.step(new Map([['W', tf.tensor2d([1e-9, -1e-9, 1e-7, 0], [2, 2])]]));
    const w = Array.from(p.variable.dataSync());
    [0.49, -0.49, 0.24, 0].forEach((v, i) => expect(w[i], `element ${i}`).to.be.closeTo(v, 1e-7));
    opt.dispose();
    p.variable.dispose();
  });
});
