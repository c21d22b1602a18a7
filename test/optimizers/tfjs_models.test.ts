/**
 * Models a tfjs user builds, trained by `model.fit` with every optlab optimizer on every backend
 * configuration: a small CNN on MNIST and a small Embedding + LSTM text classifier (Tiny Shakespeare
 * windows: does the window hold a line break?). The loss must go down and `tf.memory().numTensors`
 * stay flat across epochs. Then every common layer type, one training step each.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { loadMNIST, loadShakespeare } from '../../models/data.js';
import { describeBackends } from '../shared/backends.js';
import { METHODS, QUIET, tfFactory } from './tfjs_helpers.js';

/** Per-method options for these short runs (6 steps): rates at which every method visibly learns. */
const OPTIONS: Record<string, Record<string, unknown>> = {
  adamw: { lr: 3e-3 },
  sgd: { lr: 0.05 },
  muon: { lr: 0.02, adamLr: 3e-3 },
  'muon-moonlight': { lr: 3e-3 },
  'mars-m': { lr: 3e-3 },
  mars: { lr: 3e-3, lr1d: 3e-3 },
  auon: { adamLr: 3e-3 },
  'hybrid-auon': {},
  reg: { lr: 3e-3 },
  // Factors blocked at 16 and roots every 3rd step keep the cpu backend quick; Adam grafting, as Meta's
  // examples use in practice: Meta's bare default (no grafting, epsilon 1e-12) at lr 3e-3 overshoots here.
  shampoo: { lr: 3e-3, grafting: 'adam', maxPreconditionerDim: 16, preconditionFrequency: 3 },
};

const N = 64;

function mnistData(): { x: tf.Tensor; y: tf.Tensor } {
  const { train } = loadMNIST();
  const x = tf.tensor4d(train.images.subarray(0, N * 784), [N, 28, 28, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from(train.labels.subarray(0, N)), 'int32'), 10));
  return { x, y };
}

function cnn(): tfl.Sequential {
  const seed = (s: number) => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({
    layers: [
      tfl.layers.averagePooling2d({ inputShape: [28, 28, 1], poolSize: 2 }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: seed(1) }),
      tfl.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: seed(2) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: seed(3) }),
    ],
  });
}

const WINDOW = 10;

function textData(): { x: tf.Tensor; y: tf.Tensor; vocab: number } {
  const corpus = loadShakespeare();
  const tokens = corpus.train;
  const newline = corpus.tokenizer.encode('\n')[0];
  const ids: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = (i * 7919) % (tokens.length - WINDOW);
    const w = Array.from(tokens.subarray(start, start + WINDOW));
    ids.push(...w);
    labels.push(w.includes(newline) ? 1 : 0);
  }
  return { x: tf.tensor2d(ids, [N, WINDOW], 'int32'), y: tf.tensor2d(labels, [N, 1]), vocab: corpus.tokenizer.vocabSize };
}

function textClassifier(vocab: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({ inputDim: vocab, outputDim: 6, inputLength: WINDOW, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: 4 }) }),
      tfl.layers.lstm({ units: 6, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }), recurrentInitializer: tfl.initializers.orthogonal({ seed: 6 }) }),
      tfl.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }) }),
    ],
  });
}

/** Trains 3 epochs of 2 batches; returns the epoch losses and the tensor count after each epoch. */
async function train(model: tfl.LayersModel, method: string, loss: string, x: tf.Tensor, y: tf.Tensor): Promise<{ losses: number[]; counts: number[] }> {
  model.compile({ optimizer: tfFactory(method)({ ...QUIET, ...OPTIONS[method] }), loss });
  const counts: number[] = [];
  const h = await model.fit(x, y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0, callbacks: { onEpochEnd: async () => void counts.push(tf.memory().numTensors) } });
  return { losses: h.history.loss as number[], counts };
}

describeBackends('LayersModel.fit with every optlab optimizer', () => {
  let mnist: { x: tf.Tensor; y: tf.Tensor };
  let text: { x: tf.Tensor; y: tf.Tensor; vocab: number };
  before(() => {
    mnist = mnistData();
    text = textData();
  });
  after(() => tf.dispose([mnist.x, mnist.y, text.x, text.y]));

  for (const method of METHODS) {
    it(`${method}: a small CNN on MNIST and an Embedding + LSTM text classifier lower the loss, tensor count flat`, async function () {
      this.timeout(240000);
      for (const [what, model, loss, data] of [
        ['cnn', cnn(), 'categoricalCrossentropy', mnist],
        ['lstm', textClassifier(text.vocab), 'binaryCrossentropy', text],
      ] as const) {
        const r = await train(model, method, loss, data.x, data.y);
        expect(r.losses.every(Number.isFinite), `${what} losses ${r.losses}`).to.equal(true);
        expect(r.losses[2], `${what} losses ${r.losses}`).to.be.below(r.losses[0]);
        expect(r.counts[2], `${what} tensor counts ${r.counts}`).to.equal(r.counts[1]);
        model.optimizer.dispose();
        model.dispose();
      }
    });
  }

  it('trains every common layer: Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, Embedding, LSTM, GRU, SimpleRNN, BatchNormalization, LayerNormalization, Dropout, pooling', async function () {
    this.timeout(240000);
    const cases: [string, () => tfl.LayersModel, number[]][] = [
      ['conv1d', () => tfl.sequential({ layers: [tfl.layers.conv1d({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', inputShape: [9, 2] }), tfl.layers.globalMaxPooling1d({}), tfl.layers.dense({ units: 1 })] }), [6, 9, 2]],
      ['conv2d + batch norm + average pooling', () => tfl.sequential({ layers: [tfl.layers.conv2d({ filters: 3, kernelSize: [3, 2], inputShape: [7, 6, 2] }), tfl.layers.batchNormalization(), tfl.layers.averagePooling2d({ poolSize: 2 }), tfl.layers.flatten(), tfl.layers.dense({ units: 1 })] }), [6, 7, 6, 2]],
      ['depthwise conv2d', () => tfl.sequential({ layers: [tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', inputShape: [7, 7, 2] }), tfl.layers.flatten(), tfl.layers.dense({ units: 1 })] }), [6, 7, 7, 2]],
      ['separable conv2d', () => tfl.sequential({ layers: [tfl.layers.separableConv2d({ filters: 3, kernelSize: 3, inputShape: [7, 7, 2] }), tfl.layers.globalAveragePooling2d({}), tfl.layers.dense({ units: 1 })] }), [6, 7, 7, 2]],
      ['embedding + gru', () => tfl.sequential({ layers: [tfl.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5 }), tfl.layers.gru({ units: 3 }), tfl.layers.dense({ units: 1 })] }), [6, 5]],
      ['simple rnn + layer norm + dropout', () => tfl.sequential({ layers: [tfl.layers.simpleRNN({ units: 4, inputShape: [5, 3] }), tfl.layers.layerNormalization(), tfl.layers.dropout({ rate: 0.3 }), tfl.layers.dense({ units: 1 })] }), [6, 5, 3]],
    ];
    for (const [name, make, shape] of cases) {
      for (const method of ['muon', 'adamw']) {
        const model = make();
        model.compile({ optimizer: tfFactory(method)(QUIET), loss: 'meanSquaredError' });
        const x = name.startsWith('embedding') ? tf.randomUniform(shape, 0, 10, 'int32', 1) : tf.randomNormal(shape, 0, 1, 'float32', 1);
        const y = tf.randomNormal([6, 1], 0, 1, 'float32', 2);
        const before = model.getWeights().map((w) => Array.from(w.dataSync()));
        const h = await model.fit(x, y, { epochs: 2, batchSize: 3, verbose: 0 });
        expect((h.history.loss as number[]).every(Number.isFinite), `${name}, ${method}`).to.equal(true);
        const after = model.getWeights().map((w) => Array.from(w.dataSync()));
        model.trainableWeights.forEach((w, k) => {
          const i = model.weights.indexOf(w);
          expect(after[i], `${name}, ${method}: ${w.name} changed`).to.not.deep.equal(before[i]);
        });
        model.optimizer.dispose();
        model.dispose();
        tf.dispose([x, y]);
      }
    }
  });
});
