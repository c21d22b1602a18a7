/**
 * Shampoo as a tfjs drop-in, with and without grafting: a small CNN (conv 8 3x3, max-pool, dense 10)
 * on the first 2048 MNIST training images, 3 epochs of model.fit (batch 64), each optimizer with its
 * defaults; prints the training loss after each epoch and the test loss on 1024 test images.
 *
 *   npx tsx scripts/shampoo_drop_in.ts [--backend wasm]
 *
 * The figures in docs/optimizers/shampoo.md (Drop-in) come from this script.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { selectBackend } from '../kernels/backend.js';
import { loadMNIST } from '../models/data.js';
import { adamw, shampoo } from '../optimizers/api.js';

const backend = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1] : undefined;
await selectBackend(backend);
const data = loadMNIST();
const take = (split: typeof data.train, n: number) => {
  const px = 28 * 28;
  const x = tf.tensor4d(split.images.slice(0, n * px), [n, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(split.labels.subarray(0, n), 'int32'), 10).toFloat();
  return { x, y };
};
const train = take(data.train, 2048);
const test = take(data.test, 1024);

function cnn(): tfl.LayersModel {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  return m;
}

const cases: [string, () => tf.Optimizer][] = [
  ["adamw()", () => adamw()],
  ["shampoo() (grafting 'none', Meta's default)", () => shampoo({ grafting: 'none' })],
  ["shampoo({ grafting: 'adam' })", () => shampoo({ grafting: 'adam' })],
];
for (const [name, make] of cases) {
  const model = cnn();
  model.compile({ optimizer: make(), loss: 'categoricalCrossentropy' });
  const h = await model.fit(train.x, train.y, { epochs: 3, batchSize: 64, shuffle: false, verbose: 0 });
  const testLoss = (model.evaluate(test.x, test.y, { batchSize: 256 }) as tf.Scalar).dataSync()[0];
  console.log(`${name.padEnd(46)} train loss by epoch ${(h.history.loss as number[]).map((v) => v.toFixed(3)).join(' ')}  test loss ${testLoss.toFixed(3)}`);
}
