/**
 * fromLayersModel (models/layers_model.ts): a tfjs LayersModel as a TrainableModel. Its loss equals
 * tfjs's own loss of the same model, its parameters are the model's variables with the roles the
 * tf.Optimizer adapter reads (modelRoles), an optlab optimizer trains the model in place without
 * tensor growth, and a model it cannot wrap fails naming why.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { fromLayersModel } from '../../models/layers_model.js';
import { lossAndGrads } from '../../models/layers.js';
import { buildOptimizer } from '../../optimizers/index.js';
import { adamw } from '../../optimizers/adamw.js';
import { describeBackends } from '../shared/backends.js';

function classifier(activation: 'softmax' | 'linear'): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [6], units: 8, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 3, activation, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

function batch(): { x: tf.Tensor; y: tf.Tensor } {
  return { x: tf.randomNormal([16, 6], 0, 1, 'float32', 3), y: tf.tensor1d([0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1, 1, 0, 2], 'int32') };
}

describeBackends('fromLayersModel', () => {
  it("its loss is tfjs's sparse categorical cross-entropy of the same model, for probabilities and for logits", () => {
    const b = batch();
    const probs = classifier('softmax');
    const wrapped = fromLayersModel(probs);
    probs.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    const theirs = (probs.evaluate(b.x, tf.cast(b.y, 'float32'), { batchSize: 16 }) as tf.Scalar).dataSync()[0];
    expect(wrapped.loss(b).dataSync()[0]).to.be.closeTo(theirs, 1e-5);
    const logits = classifier('linear');
    const fromLogits = fromLayersModel(logits, { fromLogits: true });
    const ref = tf.losses.softmaxCrossEntropy(tf.oneHot(b.y as tf.Tensor1D, 3), logits.predict(b.x) as tf.Tensor).dataSync()[0];
    expect(fromLogits.loss(b).dataSync()[0]).to.be.closeTo(ref, 1e-5);
    const acc = wrapped.accuracy!(b).dataSync()[0];
    const pred = tf.argMax(probs.predict(b.x) as tf.Tensor, -1).dataSync();
    const want = Array.from(pred).filter((p, i) => p === b.y.dataSync()[i]).length / 16;
    expect(acc).to.be.closeTo(want, 1e-6);
    wrapped.dispose();
    fromLogits.dispose();
    tf.dispose([b.x, b.y]);
  });

  it("parameters are the model's variables with the adapter's roles (conv, matrix, head, vector), and a roles pattern overrides", () => {
    const conv = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 4, activation: 'relu' }),
        tfl.layers.dense({ units: 2 }),
        tfl.layers.activation({ activation: 'softmax' }),
      ],
    });
    const m = fromLayersModel(conv);
    expect(m.params.map((p) => p.role)).to.deep.equal(['conv', 'vector', 'matrix', 'vector', 'head', 'vector']);
    expect(m.params.map((p) => p.variable)).to.deep.equal(conv.trainableWeights.map((w) => w.read()));
    const first = m.params[0].name;
    expect(fromLayersModel(conv, { roles: { [`^${first}$`]: 'vector' } }).params[0].role).to.equal('vector');
    expect(() => fromLayersModel(conv, { roles: { x: 'weird' as never } })).to.throw(/unknown role 'weird'/);
    m.dispose();
  });

  it('an optlab optimizer trains the model in place, lowering the loss, with no tensor growth after the first step', () => {
    const b = batch();
    const net = classifier('softmax');
    const m = fromLayersModel(net);
    const opt = buildOptimizer(m.params, adamw({ lr: 0.05 }));
    const first = m.loss(b).dataSync()[0];
    let count = -1;
    for (let s = 0; s < 10; s++) {
      const { loss, grads } = lossAndGrads(m, b, { training: true });
      opt.step(grads);
      tf.dispose([loss, ...grads.values()]);
      if (s === 1) count = tf.memory().numTensors;
      if (s > 1) expect(tf.memory().numTensors, `step ${s}`).to.equal(count);
    }
    const pred = tf.tidy(() => m.loss(b).dataSync()[0]);
    expect(pred).to.be.below(first);
    // The LayersModel itself changed: its own predict gives the trained loss.
    net.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    expect((net.evaluate(b.x, tf.cast(b.y, 'float32')) as tf.Scalar).dataSync()[0]).to.be.closeTo(pred, 1e-5);
    opt.dispose();
    m.dispose();
    tf.dispose([b.x, b.y]);
  });

  it('a model without weights or with two outputs fails naming why', () => {
    const empty = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [2, 2] })] });
    expect(() => fromLayersModel(empty)).to.throw(/no trainable weights/);
    const input = tfl.input({ shape: [3] });
    const two = tfl.model({ inputs: input, outputs: [tfl.layers.dense({ units: 1 }).apply(input) as tfl.SymbolicTensor, tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor] });
    const m = fromLayersModel(two, { loss: 'meanSquaredError' });
    const x = tf.ones([2, 3]);
    expect(() => m.loss({ x, y: tf.ones([2, 1]) })).to.throw(/2 outputs/);
    tf.dispose(x);
  });
});
