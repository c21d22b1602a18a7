import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { AdamWOptimizer, canonicalName, inferRole, OptlabTfOptimizer, SGDOptimizer } from '../../optimizers/tfjs.js';
import { describeBackends } from '../shared/backends.js';

function data() {
  const x = tf.tidy(() => tf.randomUniform([64, 6], -1, 1, 'float32', 3));
  const y = tf.tidy(() => tf.tanh(tf.sum(tf.mul(x, tf.tensor1d([1, -0.5, 0.25, 2, 0, -1])), 1, true)));
  return { x, y };
}

function mlp(prefix: string) {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 12, inputShape: [6], activation: 'tanh', name: `${prefix}_a`, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }),
      tfl.layers.dense({ units: 1, name: `${prefix}_b`, kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) }),
    ],
  });
}

describe('tf.Optimizer adapter', () => {
  it('infers roles from layer variable names and ranks, with overrides by pattern', () => {
    expect(inferRole('embedding_Embedding1/embeddings', [65, 16])).to.equal('embedding');
    expect(inferRole('dense_Dense1/kernel', [16, 4])).to.equal('matrix');
    expect(inferRole('dense_Dense1/bias', [4])).to.equal('vector');
    expect(inferRole('conv2d_Conv2D1/kernel', [3, 3, 1, 8])).to.equal('conv');
    expect(inferRole('conv1d_Conv1D1/kernel', [3, 2, 8])).to.equal('conv');
    expect(inferRole('dense_Dense9/kernel', [16, 10], { 'Dense9/kernel$': 'head' })).to.equal('head');
    expect(() => inferRole('x', [2, 2], { x: 'bogus' as never })).to.throw(/unknown role 'bogus'/);
    expect(canonicalName('mlp_a/kernel_3')).to.equal('mlp_a/kernel');
  });

  it('round-trips its config through tf.serialization and rejects bad options at construction', () => {
    const opt = new AdamWOptimizer({ lr: 0.02, beta2: 0.95, roles: { 'head$': 'head' } });
    const cfg = opt.getConfig();
    // learningRate starts at lr; learningRate and lrScale are saved with the options given.
    expect(cfg).to.deep.equal({ lr: 0.02, beta2: 0.95, roles: { 'head$': 'head' }, learningRate: 0.02, lrScale: 1 });
    const back = tf.serialization.SerializationMap.getMap().classNameMap.AdamWOptimizer;
    expect(back, 'AdamWOptimizer is registered').to.not.equal(undefined);
    const again = OptlabTfOptimizer.fromConfig(AdamWOptimizer as never, cfg) as AdamWOptimizer;
    expect(again.getConfig()).to.deep.equal(cfg);
    expect(again.getClassName()).to.equal('AdamWOptimizer');
    expect(() => new SGDOptimizer({ momentun: 0.9 } as never)).to.throw(/unknown option 'momentun'/);
    opt.dispose();
    again.dispose();
  });
});

describeBackends('LayersModel save/load with optimizer state', () => {
  it('model.save(includeOptimizer) -> loadLayersModel -> fit continues exactly as the original', async () => {
    const { x, y } = data();
    const model = mlp('saved');
    model.compile({ optimizer: new AdamWOptimizer({ lr: 0.01 }), loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }), { includeOptimizer: true });
    expect(JSON.stringify(artifacts!.trainingConfig)).to.include('AdamWOptimizer');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect(loaded.optimizer).to.be.instanceOf(AdamWOptimizer);
    await model.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    const a = model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).to.deep.equal(a);
    model.optimizer.dispose();
    loaded.optimizer.dispose();
    model.dispose();
    loaded.dispose();
    x.dispose();
    y.dispose();
  });

  it('keeps the tensor count flat across fit epochs and frees its state on dispose', async () => {
    const { x, y } = data();
    const model = mlp('flat');
    const opt = new AdamWOptimizer({ lr: 0.01 });
    model.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    const n = tf.memory().numTensors;
    await model.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0 });
    expect(tf.memory().numTensors).to.equal(n);
    opt.dispose();
    expect(tf.memory().numTensors).to.equal(n - 2 * 4); // m and v for 2 kernels + 2 biases
    model.dispose();
    x.dispose();
    y.dispose();
  });
});
