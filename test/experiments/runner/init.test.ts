import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, ConfigError, expandRuns, type Experiment, type RunSpec } from '../../../experiments/runner/config.js';
import { checkInit } from '../../../experiments/runner/preflight.js';
import { initRun, loadCheckpoint, loadInitialWeights, readCurve, resolveInit, runPaths, trainRun } from '../../../experiments/runner/runner.js';
import { createTask } from '../../../experiments/runner/tasks.js';
import { describeBackends } from '../../shared/backends.js';
import { removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

/** Runs every run of a tiny experiment in-process into `dir`, with the experiment.json an `optlab run` writes. */
async function runAll(dir: string, exp: Experiment): Promise<RunSpec[]> {
  const runs = expandRuns(exp);
  const ids = runs.map((r) => r.id);
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ name: exp.name, source: { file: 'test', sets: [] }, experiment: exp, grid: ids, runs: ids, shard: null }));
  for (const r of runs) {
    initRun(dir, r, exp.name);
    await trainRun(r.id, { dir });
  }
  return runs;
}

const pretrainDoc = (over: Record<string, unknown> = {}) => tinyExperiment({ name: 'tiny-pretrain', seeds: [0, 1], optimizers: [{ name: 'adamw', lr: 0.01 }], ...over });

describeBackends('init: runs that start from a checkpoint', () => {
  after(removeTempDirs);

  it('loads the pretrained weights exactly (names and shapes checked, nothing leaked), records where they came from', async () => {
    const pre = tempDir('optlab-pretrain-');
    const [p0] = await runAll(pre, applyOverrides(pretrainDoc(), []));
    const ckpt = runPaths(pre, p0.id).ckpt;

    // Weights equal after load: a fresh model of another seed takes the checkpoint's tensors.
    const ft = applyOverrides(tinyExperiment({ name: 'tiny-finetune', init: { from: pre }, optimizers: [{ name: 'muon', lr: 0.01 }] }), []);
    const [spec] = expandRuns(ft);
    const task = createTask(spec.config, 7, 4, 1);
    const before = tf.memory().numTensors;
    loadInitialWeights(task.model.params, ckpt);
    expect(tf.memory().numTensors).to.equal(before);
    const { tensors } = loadCheckpoint(ckpt);
    for (const p of task.model.params) expect(Array.from(p.variable.dataSync()), p.name).to.deep.equal(Array.from(tensors.get(`param/${p.name}`)!.dataSync()));
    tf.dispose([...tensors.values()]);
    task.dispose();

    // A fine-tuning run (seed 0) starts from pretraining seed 0: its step-0 validation is the pretrained model's final one
    // (same data, same evaluation batches), and its record names the run and checkpoint.
    const dir = tempDir('optlab-finetune-');
    const [run] = await runAll(dir, ft);
    const rec = (await import('../../../experiments/runner/runner.js')).readRecord(runPaths(dir, run.id).json);
    expect(rec.status).to.equal('finished');
    expect(rec.initFrom).to.deep.include({ folder: pre, run: p0.id, label: 'adamw', seed: 0, checkpoint: ckpt, step: 12, experiment: 'tiny-pretrain' });
    const preFinal = readCurve(runPaths(pre, p0.id).csv).at(-1)!.val_loss;
    expect(readCurve(runPaths(dir, run.id).csv)[0].val_loss).to.equal(preFinal);
    // Without init the same model starts at the untrained loss (about ln 65), far from the pretrained one.
    expect(Math.abs(readCurve(runPaths(pre, p0.id).csv)[0].val_loss! - preFinal!)).to.be.greaterThan(0.05);
    // init is part of the configuration: the run id differs from the same run without it.
    expect(run.hash).to.not.equal(expandRuns(applyOverrides(tinyExperiment({ name: 'tiny-finetune', optimizers: [{ name: 'muon', lr: 0.01 }] }), []))[0].hash);
  });

  it('a shape mismatch fails before the first step, naming the parameter and both shapes; missing runs and checkpoints fail naming the init key', async () => {
    const pre = tempDir('optlab-pretrain-');
    await runAll(pre, applyOverrides(pretrainDoc(), []));
    const wide = applyOverrides(tinyExperiment({ name: 'wide', model: { kind: 'gpt', contextLength: 16, width: 32, nHead: 2, nLayer: 1 }, init: { from: pre } }), []);
    const dir = tempDir('optlab-finetune-');
    const [spec] = expandRuns(wide);
    writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ name: 'wide', grid: [spec.id], runs: [spec.id], experiment: wide, source: { file: 'x', sets: [] }, shard: null }));
    initRun(dir, spec, 'wide');
    let err: Error | undefined;
    try {
      await trainRun(spec.id, { dir });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/^init: parameter '[\w.]+' has shape \[\d+(, \d+)*\] in this model but \[\d+(, \d+)*\] in .*\.ckpt$/);
    expect(existsSync(runPaths(dir, spec.id).csv)).to.equal(false);

    const missing = (f: () => void) => {
      try {
        f();
      } catch (e) {
        if (e instanceof ConfigError) return e;
        throw e;
      }
      throw new Error('expected a ConfigError');
    };
    expect(missing(() => resolveInit({ from: join(pre, 'nope'), seed: 'same' }, 0)).path).to.equal('init.from');
    expect(missing(() => resolveInit({ from: pre, seed: 'same' }, 5)).message).to.match(/no finished run of 'adamw' with seed 5 .*finished seeds there: 0, 1/);
    expect(missing(() => resolveInit({ from: pre, seed: 1, optimizer: 'muon' }, 0)).path).to.equal('init.optimizer');
    expect(resolveInit({ from: pre, seed: 1 }, 0).seed).to.equal(1);
    // The sweep's preflight resolves every seed before any run starts.
    const ft = applyOverrides(tinyExperiment({ seeds: [0, 1, 2], init: { from: pre } }), []);
    expect(() => checkInit(ft, [0, 1, 2])).to.throw(ConfigError, /with seed 2/);
    // A pretraining experiment that deletes its checkpoints cannot be started from.
    const gone = tempDir('optlab-pretrain-');
    const [g0] = await runAll(gone, applyOverrides(pretrainDoc({ seeds: [0], training: { steps: 4, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2, keepCheckpoints: false } }), []));
    expect(existsSync(runPaths(gone, g0.id).ckpt)).to.equal(false);
    expect(missing(() => resolveInit({ from: gone, seed: 'same' }, 0)).message).to.match(/has no checkpoint .*keepCheckpoints: true/);
    expect(missing(() => resolveInit({ checkpoint: join(pre, 'x.ckpt') }, 0)).path).to.equal('init.checkpoint');
  });

  it('the init block is validated when the file loads', () => {
    const bad = (init: unknown) => {
      try {
        applyOverrides(tinyExperiment({ init }), []);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    };
    expect(bad({ from: 'x', checkpoint: 'y' })).to.match(/^init: expected \{ from: <results folder>/);
    expect(bad({ from: 'x', seed: -1 })).to.match(/^init\.seed: /);
    expect(applyOverrides(tinyExperiment({ init: { from: 'x' } }), []).init).to.deep.equal({ from: 'x', seed: 'same' });
  });
});
