/**
 * Plugins (experiments/runner/plugins.ts): a user's method, data, tfjs LayersModel and metric from
 * their own folder run in a sweep of child processes; a plugin that collides with a built-in, does
 * not load, or exports the wrong shape fails before any run starts, naming the file and the export.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPlugin } from '../../../experiments/runner/plugins.js';
import { ConfigError } from '../../../experiments/runner/config.js';
import { readCurve, readRecord, runPaths } from '../../../experiments/runner/runner.js';
import { runSweep } from '../../../experiments/sweep/sweep.js';
import { chain, defineOptimizer, OPTIMIZERS, registerOptimizer, scaleByLr } from '../../../optimizers/index.js';
import { pluginFolder, ROOT } from './plugin_files.js';
import { tempDir, removeTempDirs, tinyExperiment, writeExperiment } from '../helpers.js';

const EXPERIMENT = {
  name: 'plugin-sweep',
  plugins: ['./my_plugin.ts'],
  model: { kind: 'mlp', hidden: 16 },
  data: { kind: 'blobs', dim: 8 },
  training: { steps: 20, batchSize: 16, logEvery: 5, evalEvery: 10, evalBatches: 2, checkpointEvery: 10 },
  seeds: [0],
  backend: 'cpu',
  optimizers: [{ name: 'signum', lr: 0.01 }, { name: 'adamw', lr: 0.01 }],
};

/** The error a promise rejects with. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('plugins', function () {
  const folders: (() => void)[] = [];
  after(() => {
    for (const f of folders) f();
    removeTempDirs();
  });

  it("a sweep trains the plugin's method and adamw on the plugin's LayersModel and data, with the plugin's metric as a column", async function () {
    this.timeout(600_000);
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const file = writeExperiment(plugin.dir, EXPERIMENT);
    const out = join(tempDir(), 'out');
    const r = await runSweep(file, { out, jobs: 2, print: false, report: false, tty: false });
    expect(Object.values(r.statuses)).to.deep.equal(['finished', 'finished']);
    for (const id of Object.keys(r.statuses)) {
      const rec = readRecord(runPaths(out, id).json);
      expect(rec.plugins).to.deep.equal([plugin.file]);
      // Roles as the tf.Optimizer adapter reads them from a compiled model: the output Dense is the head.
      expect(rec.routing!.map((x) => x.role)).to.deep.equal(['matrix', 'vector', 'head', 'vector']);
      const curve = readCurve(runPaths(out, id).csv);
      const header = readFileSync(runPaths(out, id).csv, 'utf8').split('\n')[0].split(',');
      expect(header).to.include('metric/error');
      expect(header[1]).to.equal('samples');
      const evals = curve.filter((row) => row.val_loss !== null);
      expect(evals.map((row) => row.step)).to.deep.equal([0, 10, 20]);
      for (const row of evals) {
        // The metric is 1 - accuracy on the same batches.
        expect(row.diag!['metric/error']).to.be.closeTo(1 - row.val_acc!, 1e-6);
      }
      expect(evals.at(-1)!.val_loss!).to.be.below(evals[0].val_loss!);
    }
    expect(Object.keys(r.statuses).some((id) => id.startsWith('signum-'))).to.equal(true);
    // The plugin's text is part of each run's config: an edited plugin gives new run ids.
    const rec0 = readRecord(runPaths(out, Object.keys(r.statuses)[0]).json);
    expect(rec0.config.plugins).to.deep.equal([{ file: 'my_plugin.ts', sha256: createHash('sha256').update(readFileSync(plugin.file)).digest('hex') }]);
    // The sweep process registered the plugin too (it checked the file against it).
    expect(OPTIMIZERS.signum).to.be.a('function');
  });

  it("optlab replay --plugin replays a reference fixture through a plugin's method (keywords mapped onto its options)", function () {
    this.timeout(120_000);
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const mine = join(plugin.dir, 'my_sgd.mjs');
    // The user's method is PyTorch's SGD under another name; its reference trajectory is the shipped SGD fixture.
    writeFileSync(mine, `import { defineOptimizer } from '${join(ROOT, 'optimizers', 'core.ts')}';\nimport { sgd, SGD_DEFAULTS } from '${join(ROOT, 'optimizers', 'sgd.ts')}';\nexport const optimizers = { 'my-sgd': defineOptimizer('my-sgd', SGD_DEFAULTS, (o) => sgd(o)) };\n`);
    const fx = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'sgd-official-lsq.json'), 'utf8'));
    const fixture = join(plugin.dir, 'my-sgd-lsq.json');
    writeFileSync(fixture, JSON.stringify({ ...fx, name: 'my-sgd-lsq', optimizer: 'my-sgd' }));
    const cli = join(ROOT, 'cli', 'cli.ts');
    const out = execFileSync(process.execPath, ['--import', 'tsx', cli, 'replay', fixture, '--plugin', mine, '--backend', 'cpu'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).to.match(/^PASS  my-sgd-lsq /m);
    const without = spawnSync(process.execPath, ['--import', 'tsx', cli, 'replay', fixture, '--backend', 'cpu'], { cwd: ROOT, encoding: 'utf8' });
    expect(without.status).to.equal(2);
    expect(without.stderr).to.include("no optimizer named 'my-sgd'");
  });

  it('a method registered by the script that starts the sweep, not by a plugin, fails before any run: the runs would not see it', async function () {
    this.timeout(60_000);
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const ident = { name: 'id', update: (u: unknown) => u } as never;
    registerOptimizer('script-only', defineOptimizer('script-only', { lr: 0.1 }, (o) => chain(ident, scaleByLr(o.lr))));
    const file = writeExperiment(plugin.dir, tinyExperiment({ optimizers: [{ name: 'script-only' }] }), 'script.yaml');
    const out = join(tempDir(), 'out');
    const e = await rejection(runSweep(file, { out, print: false, report: false, tty: false }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.include("optimizers[0].name: optimizer 'script-only' is registered in this process only").and.include('plugins: [');
    expect(existsSync(out)).to.equal(false);
  });

  it('a name that collides with a built-in fails naming the file and the export', async () => {
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const bad = join(plugin.dir, 'collide.mjs');
    writeFileSync(bad, `import { sgd } from '${join(ROOT, 'optimizers', 'sgd.ts')}';\nexport const optimizers = { adamw: sgd };\n`);
    const e = await rejection(loadPlugin(bad));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.include(bad).and.include("export 'optimizers'").and.include("'adamw'");
    const models = join(plugin.dir, 'collide_model.mjs');
    writeFileSync(models, `export const models = { gpt: { data: 'text', defaults: {}, create() {} } };\n`);
    const m = await rejection(loadPlugin(models));
    expect(m.message).to.include(models).and.include("export 'models'").and.include("'gpt'");
  });

  it('a module that does not load fails naming the file; one exporting nothing usable says what to export', async () => {
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const throws = join(plugin.dir, 'throws.mjs');
    writeFileSync(throws, `throw new Error('boom at import');\n`);
    const e = await rejection(loadPlugin(throws));
    expect(e.message).to.include(throws).and.include('does not load').and.include('boom at import');
    const missing = await rejection(loadPlugin(join(plugin.dir, 'nope.ts')));
    expect(missing.message).to.include('nope.ts').and.include('no such file');
    const empty = join(plugin.dir, 'empty.mjs');
    writeFileSync(empty, `export const helper = 1;\n`);
    expect((await rejection(loadPlugin(empty))).message).to.include('exports none of optimizers, models, data, metrics');
    expect((await rejection(loadPlugin(join(plugin.dir, 'x.json')))).message).to.include('a plugin is a module ending in');
  });

  it('an export of the wrong shape fails naming the export, and registers nothing of the file', async () => {
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    const cases: [string, string, string][] = [
      ['list.mjs', `export const optimizers = [1, 2];`, "export 'optimizers' must be a record"],
      ['fn.mjs', `export const optimizers = { 'my-lion': (o) => o };`, 'defineOptimizer'],
      ['model.mjs', `export const models = { mine: { defaults: {}, create() {} } };`, "needs 'data'"],
      ['data.mjs', `export const data = { mine: { input: 'image', defaults: {} } };`, "needs a function 'load'"],
      ['metric.mjs', `export const metrics = { acc2: { doc: 'x' } };`, "needs a function 'evaluate'"],
    ];
    for (const [name, text, want] of cases) {
      const f = join(plugin.dir, name);
      writeFileSync(f, text + '\n');
      const e = await rejection(loadPlugin(f));
      expect(e.message, name).to.include(f).and.include(want);
    }
    expect(OPTIMIZERS['my-lion']).to.equal(undefined);
  });

  it('an experiment naming a plugin that fails stops before any run, naming the key, and a missing plugin kind suggests plugins', async function () {
    this.timeout(60_000);
    const plugin = pluginFolder();
    folders.push(plugin.remove);
    writeFileSync(join(plugin.dir, 'broken.mjs'), `export const models = { mlp2: 3 };\n`);
    const file = writeExperiment(plugin.dir, { ...EXPERIMENT, plugins: ['./broken.mjs'] });
    const out = join(tempDir(), 'out');
    const e = await rejection(runSweep(file, { out, print: false, report: false, tty: false }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.include(file).and.include('broken.mjs').and.include("model 'mlp2'");
    expect(existsSync(out)).to.equal(false);
    const none = writeExperiment(plugin.dir, { ...EXPERIMENT, plugins: undefined, model: { kind: 'mlp3' } }, 'none.yaml');
    const n = await rejection(runSweep(none, { out, print: false, report: false, tty: false }));
    expect(n.message).to.include("model.kind: unknown model kind 'mlp3'").and.include('plugins: [./my_models.ts]');
  });
});
