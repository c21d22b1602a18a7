import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { adamuon } from '../../optimizers/adamuon.js';
import { AdaMuonOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('adamuon', {
  make: () => adamuon({ lr: 0.02 }),
  makeTf: () => new AdaMuonOptimizer({ lr: 0.005 }),
});

itReplaysFixtures('adamuon');
// sign, NS, the elementwise second moment and the 0.2 sqrt(m n) scale are all symmetric in (rows, cols).
itReplaysWideFixtures('adamuon');

describeBackends('adamuon', () => {
  it('every step without weight decay has update RMS 0.2 lr, on matrices of any shape', () => {
    for (const shape of [[8, 3], [5, 5], [2, 2, 3, 4]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const p: Parameter = { name: 'W', role: shape.length === 4 ? 'conv' : 'matrix', variable: tf.variable(tf.tensor(seeded(n, 1), shape), true, `adamuon_test/${Math.random()}`) };
      const opt = buildOptimizer([p], adamuon({ lr: 0.01, weightDecay: 0 }));
      for (let step = 0; step < 3; step++) {
        const before = p.variable.clone();
        opt.step(new Map([['W', tf.tensor(seeded(n, 10 + step), shape)]]));
        const rms = tf.tidy(() => Math.sqrt(tf.mean(tf.square(tf.sub(p.variable, before))).dataSync()[0]));
        before.dispose();
        expect(rms, `shape [${shape}] step ${step + 1}`).to.be.closeTo(0.2 * 0.01, 1e-7);
      }
      opt.dispose();
      p.variable.dispose();
    }
  });

  it('gives embeddings, head and vectors AdamW with the shared lr and weight decay on rank >= 2 only', () => {
    const def = adamuon({ lr: 0.003, weightDecay: 0.1 });
    const ps: Parameter[] = [
      { name: 'e', role: 'embedding', variable: tf.variable(tf.ones([3, 2]), true, `adamuon_e/${Math.random()}`) },
      { name: 'b', role: 'vector', variable: tf.variable(tf.ones([2]), true, `adamuon_b/${Math.random()}`) },
    ];
    const opt = buildOptimizer(ps, def);
    opt.step(new Map([['e', tf.ones([3, 2])], ['b', tf.ones([2])]]));
    // Adam's first step is lr * sign(g); the embedding also shrinks by (1 - lr wd), the bias does not.
    expect(ps[0].variable.dataSync()[0]).to.be.closeTo(1 * (1 - 0.003 * 0.1) - 0.003, 1e-6);
    expect(ps[1].variable.dataSync()[0]).to.be.closeTo(1 - 0.003, 1e-6);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
  });
});
