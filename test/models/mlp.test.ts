import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { createMLP } from '../../models/mlp.js';
import { Rng } from '../../models/layers.js';
import type { Batch } from '../../models/model.js';
import { describeBackends } from '../shared/backends.js';
import { adamwLosses, checkGradients, tensorCounts } from './helpers.js';

function batch(b: number, dim: number, classes: number, seed = 1): Batch {
  const rng = new Rng(seed);
  return { x: tf.tensor2d(Float32Array.from({ length: b * dim }, () => rng.next()), [b, dim]), y: tf.tensor1d(Int32Array.from({ length: b }, () => rng.int(classes)), 'int32') };
}

describe('mlp config and parameters', () => {
  it('layers fc0 [in, hidden] ... head [hidden, classes] with roles; biases only when asked', () => {
    const m = createMLP({ inputDim: 6, hidden: 5, depth: 2, numClasses: 3 });
    expect(m.params.map((p) => `${p.name} ${p.role} [${p.variable.shape}]`)).to.deep.equal(['fc0 matrix [6,5]', 'fc1 matrix [5,5]', 'head head [5,3]']);
    m.dispose();
    const b = createMLP({ inputDim: 6, hidden: 5, depth: 1, bias: true });
    expect(b.params.map((p) => p.name)).to.deep.equal(['fc0', 'fc0.bias', 'head', 'head.bias']);
    b.dispose();
  });
  it('rejects unknown keys and bad sizes', () => {
    expect(() => createMLP({ width: 3 } as never)).to.throw(/unknown config key 'width'/);
    expect(() => createMLP({ numClasses: 1 })).to.throw(/numClasses must be at least 2/);
    expect(() => createMLP({ hidden: 0 })).to.throw(/hidden must be a positive integer/);
  });
});

describeBackends('mlp', () => {
  it('initial loss near ln(classes), exact gradients, AdamW lowers the loss, no tensor growth', () => {
    const m = createMLP({ inputDim: 8, hidden: 16, depth: 2, numClasses: 2 }, 0);
    const b = batch(32, 8, 2);
    const loss = tf.tidy(() => m.loss(b).dataSync()[0]);
    expect(loss).to.be.closeTo(Math.log(2), 0.3);
    expect(() => m.logits(tf.zeros([2, 7]))).to.throw(/\[batch, 8\]/);
    checkGradients(m, b, { eps: 1e-3 }); // small eps: a ReLU kink inside +-1e-2 spoils the central difference
    const losses = adamwLosses(m, b, 5);
    expect(losses[losses.length - 1]).to.be.below(losses[0]);
    const counts = tensorCounts(m, () => batch(4, 8, 2, 3), 3);
    expect(new Set(counts.slice(1)).size).to.equal(1);
    tf.dispose([b.x, b.y]);
    m.dispose();
  });
});
