import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { canonicalName, inferRole, OptlabTfOptimizer } from '../../optimizers/tfjs.js';
import { AdamWOptimizer, SGDOptimizer } from '../../optimizers/tfjs_classes.js';
import { readFileSync } from 'node:fs';
import { OPTIMIZERS, REGISTRY } from '../../optimizers/index.js';
import { renderTfClasses, TFJS_CLASSES_PATH } from '../../optimizers/generate_exports.js';
import { TF_OPTIMIZER_CLASSES, tfOptimizerFactory } from '../../optimizers/tfjs.js';
import * as generated from '../../optimizers/tfjs_classes.js';
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

describe('tf.Optimizer classes generated from the registry', () => {
  // The class names saved models carry (trainingConfig.optimizer_config.class_name): they must not change.
  const SAVED_CLASS_NAMES: Record<string, string> = {
    adamw: 'AdamWOptimizer', sgd: 'SGDOptimizer', muon: 'MuonOptimizer', 'muon-moonlight': 'MuonMoonlightOptimizer', 'mars-m': 'MarsMOptimizer',
    mars: 'MarsOptimizer', auon: 'AuonOptimizer', 'hybrid-auon': 'HybridAuonOptimizer', reg: 'RegOptimizer', shampoo: 'ShampooOptimizer',
  };

  it('keeps the class name of every method that saved models already name', () => {
    for (const [method, name] of Object.entries(SAVED_CLASS_NAMES)) {
      expect(OPTIMIZERS[method]?.className, method).to.equal(name);
      expect(TF_OPTIMIZER_CLASSES[method as keyof typeof TF_OPTIMIZER_CLASSES].className, method).to.equal(name);
    }
  });

  it('gives every registry method a distinct, registered class and a lowerCamel factory', () => {
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    const names = new Set<string>();
    for (const [method, cls] of Object.entries(TF_OPTIMIZER_CLASSES)) {
      expect(names.has(cls.className), `duplicate class name ${cls.className}`).to.equal(false);
      names.add(cls.className);
      expect(map[cls.className]?.[0], `${cls.className} is registered`).to.equal(cls);
      expect(cls.name).to.equal(cls.className);
      expect((generated as Record<string, unknown>)[cls.className], `tfjs_classes.ts exports ${cls.className}`).to.equal(cls);
      const opt = tfOptimizerFactory(method as keyof typeof TF_OPTIMIZER_CLASSES)();
      expect(opt).to.be.instanceOf(cls).and.instanceOf(OptlabTfOptimizer);
      expect(opt.getClassName()).to.equal(cls.className);
      expect(opt.method).to.equal(method);
      opt.dispose();
    }
    expect([...names].length).to.equal(Object.keys(REGISTRY).length);
  });

  it('the committed optimizers/tfjs_classes.ts is what the generator writes for the registry (else: npm run generate)', () => {
    expect(readFileSync(TFJS_CLASSES_PATH, 'utf8')).to.equal(renderTfClasses());
  });

  it('renders a class, its instance type and a lowerCamel factory per registry line', () => {
    const text = renderTfClasses({ toy: { className: 'ToyOptimizer' }, 'two-words': { className: 'TwoWordsOptimizer' } });
    expect(text).to.include("export const ToyOptimizer = TF_OPTIMIZER_CLASSES.toy;");
    expect(text).to.include('export type ToyOptimizer = InstanceType<typeof ToyOptimizer>;');
    expect(text).to.include("export const toy = tfOptimizerFactory('toy');");
    expect(text).to.include("export const TwoWordsOptimizer = TF_OPTIMIZER_CLASSES['two-words'];");
    expect(text).to.include("export const twoWords = tfOptimizerFactory('two-words');");
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
