/** The `file://` IO handler of kernels/io_node_fs.ts: round trip with optimizer state, errors naming the path, yielding to another handler. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFileSystemHandler, registerNodeFileSystem } from '../../kernels/io_node_fs.js';
import { AdamWOptimizer } from '../../optimizers/tfjs_classes.js';

type IORouter = Parameters<typeof tf.io.registerSaveRouter>[0];

registerNodeFileSystem();
tf.env().set('PROD', true);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('file:// IO handler (Node, without tfjs-node)', () => {
  let dir: string;
  before(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'optlab-io-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('model.save("file://dir") and loadLayersModel("file://dir/model.json") keep weights and optimizer state', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4], activation: 'tanh' }), tfl.layers.dense({ units: 1 })] });
    model.compile({ optimizer: new AdamWOptimizer({ lr: 0.01 }), loss: 'meanSquaredError' });
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 1);
    const y = tf.sum(x, 1, true);
    await model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    await model.save(`file://${dir}/m`, { includeOptimizer: true });
    const json = JSON.parse(readFileSync(join(dir, 'm', 'model.json'), 'utf8'));
    expect(json.trainingConfig.optimizer_config.class_name).to.equal('AdamWOptimizer');
    const names = json.weightsManifest[0].weights.map((w: { name: string }) => w.name);
    expect(names.filter((n: string) => n.endsWith('/m')).length, names.join()).to.equal(4);
    const loaded = await tfl.loadLayersModel(`file://${dir}/m/model.json`);
    expect(loaded.optimizer).to.be.instanceOf(AdamWOptimizer);
    await model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const a = model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).to.deep.equal(a);
    for (const m of [model, loaded]) {
      m.optimizer.dispose();
      m.dispose();
    }
    tf.dispose([x, y]);
  });

  it('loads from the directory too', async () => {
    // The handler itself: in a process where tfjs-node is loaded (the backend matrix loads it when it is
    // set up), tfjs-node's handler claims file:// and optlab's yields (last test).
    const model = await tfl.loadLayersModel(new NodeFileSystemHandler(`${dir}/m`));
    expect(model.layers.length).to.equal(2);
    model.optimizer?.dispose();
    model.dispose();
  });

  it('names the path of a missing model.json, a corrupt one, and a truncated or missing weights file', async () => {
    const missing = join(dir, 'nothing', 'model.json');
    expect((await rejection(new NodeFileSystemHandler(missing).load())).message).to.include(`no such file ${missing}`);
    const bad = join(dir, 'bad');
    await new NodeFileSystemHandler(bad).save({ modelTopology: { a: 1 }, weightSpecs: [{ name: 'w', shape: [2], dtype: 'float32' }], weightData: new Float32Array([1, 2]).buffer });
    writeFileSync(join(bad, 'model.json'), '{"modelTopology": ');
    expect((await rejection(new NodeFileSystemHandler(`${bad}/model.json`).load())).message).to.match(new RegExp(`${bad}/model.json is not valid JSON`));
    writeFileSync(join(bad, 'model.json'), JSON.stringify({ modelTopology: { a: 1 }, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [2], dtype: 'float32' }] }] }));
    truncateSync(join(bad, 'weights.bin'), 4);
    const short = await rejection(new NodeFileSystemHandler(join(bad, 'model.json')).load());
    expect(short.message).to.include(`${join(bad, 'weights.bin')} holds 4 bytes but ${join(bad, 'model.json')}'s weightsManifest needs 8`);
    rmSync(join(bad, 'weights.bin'));
    expect((await rejection(new NodeFileSystemHandler(join(bad, 'model.json')).load())).message).to.include(`no such file ${join(bad, 'weights.bin')}`);
    writeFileSync(join(bad, 'model.json'), '{"format": "layers-model"}');
    expect((await rejection(new NodeFileSystemHandler(bad).load())).message).to.include("has no 'modelTopology'");
  });

  it('yields to another handler that claims file:// (e.g. tfjs-node), whatever the registration order', () => {
    let claim = true;
    const other = { save: async () => ({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' as const } }) };
    tf.io.registerSaveRouter(((url: string) => (claim && url.startsWith('file://') ? other : null)) as IORouter);
    const claimed = tf.io.getSaveHandlers('file:///tmp/x');
    expect(claimed).to.include(other);
    expect(claimed.some((h) => h instanceof NodeFileSystemHandler)).to.equal(false);
    claim = false;
    const handlers = tf.io.getSaveHandlers('file:///tmp/x');
    expect(handlers).to.have.length(1);
    // optlab's handler, unless tfjs-node (loaded by the backend matrix where it is set up) claims file://.
    const tfjsNode = tf.findBackendFactory('tensorflow') !== null && tf.findBackendFactory('tensorflow') !== undefined;
    if (!tfjsNode) expect(handlers[0]).to.be.instanceOf(NodeFileSystemHandler);
    else expect(handlers[0]).not.to.be.instanceOf(NodeFileSystemHandler);
  });
});
