/**
 * The tf.Optimizer adapter (optimizers/tfjs.ts) as a tfjs user meets it: one test per fault kind of
 * issue 13 (state across save/load hops in this and in a fresh process, clipping of late-bound
 * variables, learning-rate control and its persistence, partial restore after unfreezing, head
 * routing), on every backend configuration.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scheduleCallback } from '../../experiments/runner/fit_callbacks.js';
import { linearDecay } from '../../experiments/runner/schedule.js';
import { OptlabTfOptimizer } from '../../optimizers/tfjs.js';
import { modelRoles } from '../../optimizers/tfjs_roles.js';
import { describeBackends } from '../shared/backends.js';
import { dense431, HOP, METHODS, QUIET, regressionData, tfFactory, weightsOf } from './tfjs_helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** model.save(includeOptimizer) into memory, then tf.loadLayersModel from it. */
async function saveLoad(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }), { includeOptimizer: true });
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
}

function disposeModels(...models: tfl.LayersModel[]): void {
  for (const m of models) {
    m.optimizer?.dispose();
    m.dispose();
  }
}

const adapterOf = (m: tfl.LayersModel) => m.optimizer as unknown as OptlabTfOptimizer;

describeBackends('tf.Optimizer adapter: state across save/load', () => {
  for (const method of METHODS) {
    it(`${method}: three save/load hops in this process continue exactly as the uninterrupted run, one entry per slot`, async () => {
      const start = tf.memory().numTensors;
      const { x, y } = regressionData();
      const make = tfFactory(method);
      const whole = dense431('whole');
      whole.compile({ optimizer: make(QUIET), loss: 'meanSquaredError' });
      await whole.fit(x, y, { ...HOP, epochs: 4 });
      let hopped: tfl.LayersModel = dense431('hop');
      hopped.compile({ optimizer: make(QUIET), loss: 'meanSquaredError' });
      await hopped.fit(x, y, HOP);
      const names = (await hopped.optimizer.getWeights()).map((w) => w.name);
      expect(new Set(names).size, 'unique names').to.equal(names.length);
      for (let hop = 0; hop < 3; hop++) {
        const next = await saveLoad(hopped);
        disposeModels(hopped);
        hopped = next;
        await hopped.fit(x, y, HOP);
        const now = (await hopped.optimizer.getWeights()).map((w) => w.name);
        expect(now.length, `entries after hop ${hop + 1}: ${now.join(', ')}`).to.equal(names.length);
        expect(new Set(now).size).to.equal(now.length);
      }
      expect(weightsOf(hopped)).to.deep.equal(weightsOf(whole));
      disposeModels(whole, hopped);
      tf.dispose([x, y]);
      expect(tf.memory().numTensors, 'tensors left').to.equal(start);
    });
  }

  it('save in this process, continue in a fresh one (file://), continue here: equal to the uninterrupted run', async function () {
    this.timeout(120000);
    const dir = mkdtempSync(join(tmpdir(), 'optlab-hops-'));
    const { x, y } = regressionData();
    const methods = ['muon', 'adamw'];
    const script = join(ROOT, `.test-script-${process.pid}-hops.ts`);
    const url = (p: string) => pathToFileURL(join(ROOT, p)).href;
    const models: tfl.LayersModel[] = [];
    try {
      const wholes: tfl.LayersModel[] = [];
      for (const method of methods) {
        const whole = dense431('fresh_whole');
        whole.compile({ optimizer: tfFactory(method)({ ...QUIET, clipNorm: 0.5 }), loss: 'meanSquaredError' });
        await whole.fit(x, y, { ...HOP, epochs: 3 });
        const first = dense431('fresh');
        first.compile({ optimizer: tfFactory(method)({ ...QUIET, clipNorm: 0.5 }), loss: 'meanSquaredError' });
        await first.fit(x, y, HOP);
        await first.save(`file://${dir}/${method}-1`, { includeOptimizer: true });
        wholes.push(whole);
        models.push(whole, first);
      }
      // The child loads each checkpoint, trains one hop and saves it again, as a user's second script would.
      writeFileSync(script, [
        `import * as tfl from '@tensorflow/tfjs-layers';`,
        `import { selectBackend } from '${url('kernels/backend.ts')}';`,
        `import '${url('optimizers/tfjs.ts')}';`,
        `import { HOP, regressionData } from '${url('test/optimizers/tfjs_helpers.ts')}';`,
        `await selectBackend('${tf.getBackend()}', { quiet: true });`,
        `const { x, y } = regressionData();`,
        `for (const method of ${JSON.stringify(methods)}) {`,
        `  const model = await tfl.loadLayersModel(\`file://${dir}/\${method}-1/model.json\`);`,
        `  await model.fit(x, y, HOP);`,
        `  await model.save(\`file://${dir}/\${method}-2\`, { includeOptimizer: true });`,
        `}`,
      ].join('\n'));
      // The child runs the same configuration: native kernels exactly when they are registered here
      // (read from the kernel registry: this file's copy of kernels/wasm_kernels.ts may not be the one
      // the mocha root hook switched on).
      const native = tf.getBackend() === 'wasm' && tf.getKernel('OptlabAdam', 'wasm') !== undefined;
      const env = { ...process.env, OPTLAB_NATIVE: native ? '1' : '0' };
      const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', env });
      expect(r.status, r.stderr).to.equal(0);
      for (const [k, method] of methods.entries()) {
        const last = await tfl.loadLayersModel(`file://${dir}/${method}-2/model.json`);
        models.push(last);
        await last.fit(x, y, HOP);
        expect(weightsOf(last), method).to.deep.equal(weightsOf(wholes[k]));
      }
    } finally {
      disposeModels(...models);
      tf.dispose([x, y]);
      rmSync(script, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('partial restore: a layer frozen at save time is unfrozen after load, trains from fresh state and says so', async () => {
    const { x, y } = regressionData();
    const control = dense431('part_c');
    const opt = tfFactory('muon')(QUIET);
    control.layers[0].trainable = false;
    control.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await control.fit(x, y, HOP);
    control.layers[0].trainable = true;
    control.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await control.fit(x, y, HOP);

    const saved = dense431('part_r');
    saved.layers[0].trainable = false;
    saved.compile({ optimizer: tfFactory('muon')(QUIET), loss: 'meanSquaredError' });
    await saved.fit(x, y, HOP);
    const loaded = await saveLoad(saved);
    loaded.layers[0].trainable = true;
    loaded.compile({ optimizer: loaded.optimizer, loss: 'meanSquaredError' });
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => warnings.push(m);
    try {
      await loaded.fit(x, y, HOP);
    } finally {
      console.warn = warn;
    }
    expect(weightsOf(loaded)).to.deep.equal(weightsOf(control));
    const report = adapterOf(loaded).lastRestore!;
    expect(report.restored.map((n) => n.replace(/_\d+$/, ''))).to.deep.equal(['part_r_b/kernel', 'part_r_b/bias']);
    expect(report.fresh.map((n) => n.replace(/_\d+$/, ''))).to.deep.equal(['part_r_a/kernel', 'part_r_a/bias']);
    expect(warnings.join('\n')).to.match(/no saved state for part_r_a\/kernel(_\d+)?, part_r_a\/bias(_\d+)?: they start fresh/);
    disposeModels(control, saved, loaded);
    tf.dispose([x, y]);
  });

  it('partial restore: state of a layer frozen after load is kept, saved again and used when it is unfrozen', async () => {
    const { x, y } = regressionData();
    const control = dense431('keep_c');
    const opt = tfFactory('adamw')(QUIET);
    control.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await control.fit(x, y, HOP);
    control.layers[0].trainable = false;
    control.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await control.fit(x, y, HOP);
    control.layers[0].trainable = true;
    control.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await control.fit(x, y, HOP);

    const a = dense431('keep_r');
    a.compile({ optimizer: tfFactory('adamw')(QUIET), loss: 'meanSquaredError' });
    await a.fit(x, y, HOP);
    const b = await saveLoad(a);
    b.layers[0].trainable = false;
    b.compile({ optimizer: b.optimizer, loss: 'meanSquaredError' });
    await b.fit(x, y, HOP);
    expect((await b.optimizer.getWeights()).length, 'iter + 4 slots (m, v, step) x ... kept for the frozen layer').to.equal((await a.optimizer.getWeights()).length);
    const c = await saveLoad(b);
    c.layers[0].trainable = true;
    c.compile({ optimizer: c.optimizer, loss: 'meanSquaredError' });
    await c.fit(x, y, HOP);
    expect(adapterOf(c).lastRestore!.fresh).to.deep.equal([]);
    expect(weightsOf(c)).to.deep.equal(weightsOf(control));
    disposeModels(control, a, b, c);
    tf.dispose([x, y]);
  });

  it('setWeights replaces the state: a bound optimizer loaded with an older state equals one that never moved on', async () => {
    const { x, y } = regressionData();
    const a = dense431('repl_a');
    const b = dense431('repl_b');
    a.compile({ optimizer: tfFactory('mars-m')(QUIET), loss: 'meanSquaredError' });
    b.compile({ optimizer: tfFactory('mars-m')(QUIET), loss: 'meanSquaredError' });
    await a.fit(x, y, HOP);
    await b.fit(x, y, HOP);
    const snapshot = (await b.optimizer.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    const weights = b.getWeights().map((w) => w.clone());
    await b.fit(x, y, { ...HOP, epochs: 2 });
    b.setWeights(weights);
    await b.optimizer.setWeights(snapshot);
    expect((await b.optimizer.getWeights()).map((w) => w.name)).to.deep.equal(snapshot.map((w) => w.name));
    await a.fit(x, y, HOP);
    await b.fit(x, y, HOP);
    expect(weightsOf(b)).to.deep.equal(weightsOf(a));
    disposeModels(a, b);
    tf.dispose([x, y, ...weights, ...snapshot.map((s) => s.tensor)]);
  });
});

describeBackends('tf.Optimizer adapter: clipping and learning rate', () => {
  it('clipNorm is global over a step even when a variable gets its first gradient later', () => {
    // Step 2 gradients [3, 0, 0] and [0, 4, 0, 0]: global norm 5, factor 1 / (5 + 1e-6), so SGD with
    // lr 1 moves them by norms 0.6 and 0.8 (each would be 1.0 if clipped on its own).
    const a = tf.variable(tf.zeros([3]), true, 'clip_late_a');
    const b = tf.variable(tf.zeros([4]), true, 'clip_late_b');
    const opt = tfFactory('sgd')({ ...QUIET, lr: 1, momentum: 0, clipNorm: 1 });
    tf.tidy(() => opt.applyGradients({ clip_late_a: tf.tensor1d([0.5, 0, 0]) }));
    const a1 = a.arraySync() as number[];
    tf.tidy(() => opt.applyGradients({ clip_late_a: tf.tensor1d([3, 0, 0]), clip_late_b: tf.tensor1d([0, 4, 0, 0]) }));
    const da = Math.hypot(...(a.arraySync() as number[]).map((v, i) => v - a1[i]));
    const db = Math.hypot(...(b.arraySync() as number[]));
    expect(da).to.be.closeTo(0.6, 1e-5);
    expect(db).to.be.closeTo(0.8, 1e-5);
    opt.dispose();
    tf.dispose([a, b]);
  });

  it('learningRate takes effect at the next step (0 stops training), getConfig reports it, config is read-only', () => {
    const w = tf.variable(tf.ones([2]), true, 'lr_w');
    const opt = tfFactory('adamw')({ ...QUIET, lr: 0.1, weightDecay: 0.5 });
    const step = () => tf.tidy(() => opt.applyGradients({ lr_w: tf.tensor1d([1, -2]) }));
    step();
    opt.learningRate = 0;
    const before = w.arraySync();
    step();
    expect(w.arraySync(), 'lr 0: neither update nor weight decay').to.deep.equal(before);
    expect(opt.getConfig().learningRate).to.equal(0);
    expect(() => {
      (opt.config as Record<string, unknown>).lr = 0.5;
    }).to.throw(/config\.lr cannot be changed.*optimizer\.learningRate/);
    expect(() => (opt.learningRate = -1)).to.throw(/learningRate must be a finite number >= 0/);
    opt.dispose();
    w.dispose();
  });

  it('learningRate scales every rate of the method: muon at 0.01 equals muon({lr: 0.01, adamLr: 1.5e-4})', async () => {
    const { x, y } = regressionData();
    const a = dense431('lr_scaled');
    const optA = tfFactory('muon')(QUIET);
    optA.learningRate = 0.01; // half the default 0.02: the aux AdamW goes from 3e-4 to 1.5e-4
    a.compile({ optimizer: optA, loss: 'meanSquaredError' });
    const b = dense431('lr_built');
    b.compile({ optimizer: tfFactory('muon')({ ...QUIET, lr: 0.01, adamLr: 1.5e-4 }), loss: 'meanSquaredError' });
    await a.fit(x, y, HOP);
    await b.fit(x, y, HOP);
    expect(weightsOf(a)).to.deep.equal(weightsOf(b));
    disposeModels(a, b);
    tf.dispose([x, y]);
  });

  it('learningRate and lrScale are saved: after load the decayed rate goes on', async () => {
    const { x, y } = regressionData();
    const whole = dense431('lrsave_w');
    whole.compile({ optimizer: tfFactory('adamw')({ ...QUIET, lr: 0.01 }), loss: 'meanSquaredError' });
    const hop = dense431('lrsave_h');
    hop.compile({ optimizer: tfFactory('adamw')({ ...QUIET, lr: 0.01 }), loss: 'meanSquaredError' });
    for (const m of [whole, hop]) {
      await m.fit(x, y, HOP);
      adapterOf(m).learningRate = 0.004;
      adapterOf(m).lrScale = 0.1;
    }
    const loaded = await saveLoad(hop);
    expect(adapterOf(loaded).learningRate).to.equal(0.004);
    expect(adapterOf(loaded).lrScale).to.equal(0.1);
    expect(adapterOf(loaded).getConfig()).to.include({ lr: 0.01, learningRate: 0.004, lrScale: 0.1 });
    await whole.fit(x, y, HOP);
    await loaded.fit(x, y, HOP);
    expect(weightsOf(loaded)).to.deep.equal(weightsOf(whole));
    disposeModels(whole, hop, loaded);
    tf.dispose([x, y]);
  });

  it('scheduleCallback sets lrScale from the step, and resumes from iterations after a save/load', async () => {
    const { x, y } = regressionData();
    const schedule = { kind: 'linear' as const, warmup: 2, total: 8, floor: 0.25 };
    const reference = linearDecay(schedule);
    const seen: number[] = [];
    const recorder = (m: tfl.LayersModel) => ({ onBatchEnd: async () => void seen.push(adapterOf(m).lrScale) });
    const whole = dense431('sched_w');
    whole.compile({ optimizer: tfFactory('sgd')({ ...QUIET, lr: 0.05 }), loss: 'meanSquaredError' });
    await whole.fit(x, y, { ...HOP, epochs: 2, callbacks: [scheduleCallback(adapterOf(whole), schedule), recorder(whole)] });
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8].map(reference));
    const hop = dense431('sched_h');
    hop.compile({ optimizer: tfFactory('sgd')({ ...QUIET, lr: 0.05 }), loss: 'meanSquaredError' });
    await hop.fit(x, y, { ...HOP, callbacks: [scheduleCallback(adapterOf(hop), schedule)] });
    const loaded = await saveLoad(hop);
    seen.length = 0;
    await loaded.fit(x, y, { ...HOP, callbacks: [scheduleCallback(adapterOf(loaded), schedule), recorder(loaded)] });
    expect(seen).to.deep.equal([5, 6, 7, 8].map(reference));
    expect(weightsOf(loaded)).to.deep.equal(weightsOf(whole));
    expect(() => scheduleCallback(adapterOf(loaded), { kind: 'cosine', total: 0 } as never)).to.throw(/schedule\.total/);
    disposeModels(whole, hop, loaded);
    tf.dispose([x, y]);
  });
});

describe('tf.Optimizer adapter: roles', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('routes the output Dense layer as head (through a softmax Activation), hidden kernels as matrix, biases as vector', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 8, inputShape: [4], activation: 'relu', name: 'cls_hidden' }),
        tfl.layers.dense({ units: 3, name: 'cls_out' }),
        tfl.layers.activation({ activation: 'softmax' }),
      ],
    });
    const opt = tfFactory('muon')(QUIET);
    model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
    const table = opt.describe(); // before the first step, from the compiled model
    const row = (name: string) => table.split('\n').find((l) => l.startsWith(name))!.split(/\s{2,}/);
    expect(row('cls_hidden/kernel').slice(1, 4)).to.deep.equal(['matrix', '[4,8]', 'muon']);
    expect(row('cls_hidden/bias').slice(1, 4)).to.deep.equal(['vector', '[8]', 'adamw']);
    expect(row('cls_out/kernel').slice(1, 4)).to.deep.equal(['head', '[8,3]', 'adamw']);
    const overridden = tfFactory('muon')({ ...QUIET, roles: { 'cls_out/kernel': 'matrix' } });
    expect(overridden.describe(model).split('\n').find((l) => l.startsWith('cls_out/kernel'))).to.match(/matrix\s+\[8,3\]\s+muon/);
    opt.dispose();
    overridden.dispose();
    model.dispose();
  });

  it('finds embeddings, conv kernels, recurrent kernels, norms and every output head of a functional model', () => {
    const tokens = tfl.input({ shape: [6], dtype: 'int32' });
    const image = tfl.input({ shape: [8, 8, 1] });
    const e = tfl.layers.embedding({ inputDim: 11, outputDim: 4, name: 'r_emb' }).apply(tokens) as tfl.SymbolicTensor;
    const l = tfl.layers.lstm({ units: 5, name: 'r_lstm' }).apply(e) as tfl.SymbolicTensor;
    let c = tfl.layers.conv2d({ filters: 2, kernelSize: 3, name: 'r_conv' }).apply(image) as tfl.SymbolicTensor;
    c = tfl.layers.batchNormalization({ name: 'r_bn' }).apply(c) as tfl.SymbolicTensor;
    c = tfl.layers.flatten().apply(c) as tfl.SymbolicTensor;
    const joined = tfl.layers.concatenate().apply([l, c]) as tfl.SymbolicTensor;
    const h = tfl.layers.dense({ units: 6, name: 'r_hidden' }).apply(joined) as tfl.SymbolicTensor;
    const out1 = tfl.layers.dense({ units: 2, name: 'r_out1' }).apply(h) as tfl.SymbolicTensor;
    const out2 = tfl.layers.dropout({ rate: 0.1 }).apply(tfl.layers.dense({ units: 1, name: 'r_out2' }).apply(h) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: [tokens, image], outputs: [out1, out2] });
    const roles = Object.fromEntries(modelRoles(model));
    expect(roles).to.deep.equal({
      'r_emb/embeddings': 'embedding',
      'r_lstm/kernel': 'matrix',
      'r_lstm/recurrent_kernel': 'matrix',
      'r_lstm/bias': 'vector',
      'r_conv/kernel': 'conv',
      'r_conv/bias': 'vector',
      'r_bn/gamma': 'vector',
      'r_bn/beta': 'vector',
      'r_hidden/kernel': 'matrix',
      'r_hidden/bias': 'vector',
      'r_out1/kernel': 'head',
      'r_out1/bias': 'vector',
      'r_out2/kernel': 'head',
      'r_out2/bias': 'vector',
    });
    model.dispose();
  });

  it('prints the routing table once, when the model first trains', async () => {
    const { x, y } = regressionData();
    const model = dense431('print');
    model.compile({ optimizer: tfFactory('muon')(), loss: 'meanSquaredError' });
    const lines: string[] = [];
    const log = console.log;
    console.log = (m: string) => lines.push(String(m));
    try {
      await model.fit(x, y, { ...HOP, epochs: 2 });
    } finally {
      console.log = log;
    }
    const tables = lines.filter((l) => l.startsWith('muon routing:'));
    expect(tables).to.have.length(1);
    expect(tables[0]).to.match(/print_b\/kernel\s+head\s+\[3,1\]\s+adamw/);
    disposeModels(model);
    tf.dispose([x, y]);
  });
});
