import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { sgd } from '../../optimizers/sgd.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { SGDOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';

itBehavesLikeOptimizer('sgd', { make: () => sgd({ lr: 0.05, momentum: 0.9 }), makeRosenbrock: () => sgd({ lr: 5e-4, momentum: 0.9 }), makeTf: () => new SGDOptimizer({ lr: 0.05 }) });
itBehavesLikeOptimizer('sgd nesterov decoupled', { make: () => sgd({ lr: 0.05, nesterov: true, weightDecay: 0.01, weightDecayMode: 'decoupled' }), makeRosenbrock: () => sgd({ lr: 5e-4, nesterov: true }) });

describeBackends('sgd', () => {
  it('matches the hand-derived heavy-ball recursion with dampening and L2', () => {
    // w0 = 1, constant g = 2 + 0.1 w; buf1 = g1 (first step has no dampening), buf2 = 0.9 buf1 + 0.5 g2
    const w = tf.variable(tf.scalar(1), true, 'sgd_hand');
    const opt = buildOptimizer([{ name: 'w', variable: w, role: 'vector' }], sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5, weightDecay: 0.1 }));
    opt.step(new Map([['w', tf.scalar(2)]]));
    const g1 = 2 + 0.1 * 1;
    const w1 = 1 - 0.1 * g1;
    expect(w.dataSync()[0]).to.be.closeTo(w1, 1e-6);
    opt.step(new Map([['w', tf.scalar(2)]]));
    const g2 = 2 + 0.1 * w1;
    const buf2 = 0.9 * g1 + 0.5 * g2;
    expect(w.dataSync()[0]).to.be.closeTo(w1 - 0.1 * buf2, 1e-6);
    opt.dispose();
    w.dispose();
  });
});
