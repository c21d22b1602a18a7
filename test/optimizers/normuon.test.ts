import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { newtonSchulz } from '../../optimizers/linalg.js';
import { normuon } from '../../optimizers/normuon.js';
import { NorMuonOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('normuon', {
  make: () => normuon({ lr: 0.05, adamLr: 0.05 }),
  makeTf: () => new NorMuonOptimizer({ lr: 0.02, adamLr: 0.01 }),
});
itBehavesLikeOptimizer('normuon polar-express, wd, no nesterov', { make: () => normuon({ lr: 0.05, adamLr: 0.05, nsCoefficients: 'polar-express', nesterov: false, weightDecay: 0.01 }) });

// The per-neuron second moment is not symmetric in (rows, cols): no transposed replay.
itReplaysFixtures('normuon');

function param(name: string, data: Float32Array, shape: number[]): Parameter {
  return { name, role: 'matrix', variable: tf.variable(tf.tensor(data, shape), true, `normuon_test/${name}/${Math.random()}`) };
}

describeBackends('normuon', () => {
  it('first step: every output unit gets the same update norm, and the whole update keeps the norm of lr * sqrt(max(1, fan_out/fan_in)) * NS5(G)', () => {
    // Step 1: S = (1 - b2) mean_col(O^2), so every column (output unit) of O / sqrt(S) has mean square 1 / (1 - b2).
    const [fanIn, fanOut, lr] = [6, 12, 0.02];
    const w0 = seeded(fanIn * fanOut, 7);
    const g = seeded(fanIn * fanOut, 8);
    const p = param('W', w0, [fanIn, fanOut]);
    const opt = buildOptimizer([p], normuon({ lr }));
    opt.step(new Map([['W', tf.tensor2d(g, [fanIn, fanOut])]]));
    const dw = tf.tidy(() => tf.sub(p.variable, tf.tensor2d(w0, [fanIn, fanOut])));
    const colNorms = Array.from(tf.tidy(() => tf.sqrt(tf.sum(tf.square(dw), 0)).dataSync()));
    const mean = colNorms.reduce((a, b) => a + b, 0) / fanOut;
    for (const c of colNorms) expect(Math.abs(c - mean) / mean).to.be.lessThan(1e-4);
    const expected = tf.tidy(() => tf.norm(newtonSchulz(tf.tensor2d(g, [fanIn, fanOut]))).dataSync()[0] * lr * Math.sqrt(fanOut / fanIn));
    const total = tf.tidy(() => tf.norm(dw).dataSync()[0]);
    expect(Math.abs(total - expected) / expected).to.be.lessThan(1e-4);
    dw.dispose();
    opt.dispose();
    p.variable.dispose();
  });

  it('keeps one second-moment entry per output unit (conv: per output channel)', () => {
    const p = param('K', seeded(2 * 2 * 3 * 4, 9), [2, 2, 3, 4]);
    const opt = buildOptimizer([{ ...p, role: 'conv' }], normuon());
    const st = opt.state();
    expect(st.get('K/second_momentum')!.shape).to.deep.equal([1, 4]);
    for (const t of st.values()) t.dispose();
    opt.dispose();
    p.variable.dispose();
  });

  it('rejects options outside their domain', () => {
    expect(() => normuon({ beta2: 1 })).to.throw("normuon: option 'beta2' must be in [0, 1), got 1");
    expect(() => normuon({ momentum: 1.5 })).to.throw("normuon: option 'momentum' must be in [0, 1), got 1.5");
    expect(() => normuon({ eps: 0 })).to.throw("normuon: option 'eps' must be > 0, got 0");
    expect(() => normuon({ adamBeta1: 2 })).to.throw("normuon: option 'adamBeta1' must be in [0, 1), got 2");
  });
});
