import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { CURVE_COLUMNS, initRun, readCurve, runPaths, trainRun } from '../../../experiments/runner/runner.js';
import { describeBackends } from '../../shared/backends.js';
import { curveWithoutWall, removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

/** Expands a tiny experiment and writes the pending record of its first run into a fresh folder. */
function prepare(over: Record<string, unknown> = {}, dir = tempDir()): { dir: string; id: string } {
  const runs = expandRuns(applyOverrides(tinyExperiment(over), []));
  initRun(dir, runs[0], 'tiny');
  return { dir, id: runs[0].id };
}

describeBackends('runner', () => {
  after(removeTempDirs);
  it('dry run: three steps write the fixed header, one row per step and a finished record, without leaking tensors', async () => {
    const { dir, id } = prepare({ training: { steps: 3, batchSize: 2, logEvery: 1, evalEvery: 3, evalBatches: 1 } });
    const before = tf.memory().numTensors;
    const rec = await trainRun(id, { dir });
    expect(tf.memory().numTensors).to.equal(before);
    const p = runPaths(dir, id);
    // The fixed columns, then the diagnostics (AdamW is one transform for every parameter: route 'all'; the GPT adds its attention logit).
    expect(readFileSync(p.csv, 'utf8').split('\n')[0]).to.equal([...CURVE_COLUMNS, 'all/update_rms', 'all/update_spectral_norm', 'all/update_weight_ratio', 'model/attn_logit_max'].join(','));
    const rows = readCurve(p.csv);
    expect(rows.map((r) => r.step)).to.deep.equal([0, 1, 2, 3]);
    // context 16 x batch 2 tokens per step
    expect(rows.map((r) => r.seen)).to.deep.equal([0, 32, 64, 96]);
    for (const r of rows.slice(1)) for (const v of [r.train_loss, r.grad_norm, r.update_rms]) expect(Number.isFinite(v)).to.equal(true);
    expect(rows[0].val_loss).to.be.closeTo(Math.log(65), 0.3);
    expect(rows[3].val_loss).to.be.a('number');
    expect(rec.status).to.equal('finished');
    expect(rec.result!.finalValLoss).to.equal(rows[3].val_loss);
    expect(rec.env!.tfjsVersion).to.equal(tf.version_core);
    expect(existsSync(p.ckpt)).to.equal(true);
  });

  it('diagnostics: false leaves the fixed columns only and the same losses', async () => {
    const over = { optimizers: [{ name: 'muon' }], training: { steps: 4, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1 } };
    const on = prepare(over);
    const off = prepare({ ...over, diagnostics: false });
    expect(off.id).to.equal(on.id);
    await trainRun(on.id, { dir: on.dir });
    await trainRun(off.id, { dir: off.dir });
    expect(readFileSync(runPaths(off.dir, off.id).csv, 'utf8').split('\n')[0]).to.equal(CURVE_COLUMNS.join(','));
    const keys = Object.keys(readCurve(runPaths(on.dir, on.id).csv)[1].diag!);
    expect(keys).to.include.members(['muon/ns_orth_error', 'muon/update_rms', 'adamw/update_rms', 'model/attn_logit_max']);
    const losses = (dir: string, id: string) => readCurve(runPaths(dir, id).csv).map((r) => [r.train_loss, r.val_loss, r.grad_norm, r.update_rms]);
    expect(losses(off.dir, off.id)).to.deep.equal(losses(on.dir, on.id));
  });

  for (const opt of [{ name: 'adamw', lr: 0.01 }, { name: 'mars-m', mode: 'exact' }]) {
    it(`resumed curve is identical to an uninterrupted one (${opt.name}${opt.mode ? ` ${opt.mode}` : ''})`, async () => {
      const over = { optimizers: [opt], training: { steps: 10, batchSize: 2, logEvery: 2, evalEvery: 4, evalBatches: 1, checkpointEvery: 4 } };
      const whole = prepare(over);
      await trainRun(whole.id, { dir: whole.dir });
      const split = prepare(over);
      const first = await trainRun(split.id, { dir: split.dir, stopAfter: 5 });
      expect(first.status).to.equal('interrupted');
      expect(first.step).to.equal(5);
      const before = tf.memory().numTensors;
      const second = await trainRun(split.id, { dir: split.dir });
      expect(tf.memory().numTensors).to.equal(before);
      expect(second.status).to.equal('finished');
      const a = curveWithoutWall(runPaths(whole.dir, whole.id).csv);
      expect(a.length).to.equal(7);
      expect(curveWithoutWall(runPaths(split.dir, split.id).csv)).to.deep.equal(a);
    });
  }

  it('a run continued from a checkpoint on another machine keeps where it started and records where it went on', async () => {
    const over = { optimizers: [{ name: 'adamw', lr: 0.01 }], training: { steps: 10, batchSize: 2, logEvery: 2, evalEvery: 4, evalBatches: 1, checkpointEvery: 4 } };
    const here = prepare(over);
    await trainRun(here.id, { dir: here.dir, stopAfter: 5 });
    await trainRun(here.id, { dir: here.dir });
    const same = JSON.parse(readFileSync(join(here.dir, `${here.id}.json`), 'utf8'));
    expect(same.status).to.equal('finished');
    expect(same.resumedOn).to.equal(undefined);
    const moved = prepare(over);
    await trainRun(moved.id, { dir: moved.dir, stopAfter: 5 });
    const path = join(moved.dir, `${moved.id}.json`);
    const rec = JSON.parse(readFileSync(path, 'utf8'));
    rec.env.hostname = 'elsewhere';
    writeFileSync(path, JSON.stringify(rec));
    await trainRun(moved.id, { dir: moved.dir });
    const after = JSON.parse(readFileSync(path, 'utf8'));
    expect(after.status).to.equal('finished');
    expect(after.env.hostname).to.equal('elsewhere');
    expect(after.resumedOn).to.have.length(1);
    expect(after.resumedOn[0].step).to.equal(rec.checkpointStep);
    expect(rec.checkpointStep).to.be.greaterThan(0);
    expect(after.resumedOn[0].hostname).to.not.equal('elsewhere');
  });

  it('a loss that becomes NaN or infinite marks the run diverged', async () => {
    const { dir, id } = prepare({ optimizers: [{ name: 'sgd', lr: 1e30, momentum: 0 }], training: { steps: 8, batchSize: 2, logEvery: 2, evalEvery: 4, evalBatches: 1 } });
    const rec = await trainRun(id, { dir });
    expect(rec.status).to.equal('diverged');
    expect(rec.divergedAt).to.be.at.most(8);
    const last = readCurve(runPaths(dir, id).csv).at(-1)!;
    expect(Number.isFinite(last.train_loss!)).to.equal(false);
    expect(JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')).status).to.equal('diverged');
  });
});
