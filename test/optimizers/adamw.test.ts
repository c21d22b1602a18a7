import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { AdamWOptimizer } from '../../optimizers/tfjs.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';

itBehavesLikeOptimizer('adamw', { make: () => adamw({ lr: 0.05 }), makeTf: () => new AdamWOptimizer({ lr: 0.01 }) });
itBehavesLikeOptimizer('adamw amsgrad', { make: () => adamw({ lr: 0.05, amsgrad: true }) });

describeBackends('adamw', () => {
  it('first step moves every element by lr * sign(g) (bias correction cancels the moment scale)', () => {
    // t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g); wd 0.
    const w = tf.variable(tf.tensor1d([1, -2, 3]), true, 'adamw_first');
    const opt = buildOptimizer([{ name: 'w', variable: w, role: 'vector' }], adamw({ lr: 0.1, weightDecay: 0 }));
    opt.step(new Map([['w', tf.tensor1d([0.5, -3, 1e-3])]]));
    const got = Array.from(w.dataSync());
    expect(got[0]).to.be.closeTo(0.9, 1e-6);
    expect(got[1]).to.be.closeTo(-1.9, 1e-6);
    expect(got[2]).to.be.closeTo(3 - 0.1 * (1e-3 / (1e-3 + 1e-8)), 1e-6);
    opt.dispose();
    w.dispose();
  });

  it('rejects unknown and mistyped options naming the key', () => {
    expect(() => adamw({ lrr: 1 } as never)).to.throw(/unknown option 'lrr'/);
    expect(() => adamw({ beta1: '0.9' } as never)).to.throw(/'beta1' must be a number/);
  });
});
