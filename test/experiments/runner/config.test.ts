import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, ConfigError, expandRuns, loadExperiment, recordTarget, targetOf } from '../../../experiments/runner/config.js';
import { summarizeCurve, type CurveRow } from '../../../experiments/runner/runner.js';
import { shardRuns } from '../../../experiments/sweep/sweep.js';
import { planExperiment } from '../../../experiments/sweep/tuning.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CONFIGS = new URL('../../../experiments/configs/', import.meta.url).pathname;

/** The ConfigError a function throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('experiment config', () => {
  after(removeTempDirs);
  it('every shipped experiment file validates and expands into runs (a tuned one plans its first batch)', () => {
    const files = readdirSync(CONFIGS).filter((f) => f.endsWith('.yaml'));
    expect(files).to.include.members(['quick.yaml', 'shakespeare-char.yaml', 'mnist-vit.yaml', 'lr-sweep.yaml', 'tune-quick.yaml', 'tune-shakespeare-char.yaml']);
    for (const f of files) {
      const exp = loadExperiment(join(CONFIGS, f));
      expect((exp.tuning ? planExperiment(exp, () => undefined).needed : expandRuns(exp)).length, f).to.be.above(0);
    }
  });

  it('a misspelled key fails in under a second, naming the key path and the nearest valid key', () => {
    const doc = tinyExperiment();
    (doc.training as Record<string, unknown>).stpes = 10;
    const file = writeExperiment(tempDir(), doc);
    const t0 = performance.now();
    const e = configError(() => loadExperiment(file));
    expect(performance.now() - t0).to.be.below(1000);
    expect(e.path).to.equal('training.stpes');
    expect(e.message).to.include(file).and.include("training.stpes: unknown key (did you mean 'steps'?)");
  });

  it('wrong types, unknown optimizers and unknown optimizer options fail naming the key', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [tinyExperiment({ training: { steps: 'many', batchSize: 2 } }), 'training.steps', /expected number/],
      [tinyExperiment({ optimizers: [{ name: 'adamww' }] }), 'optimizers[0].name', /unknown optimizer 'adamww' \(did you mean 'adamw'\?\)/],
      [tinyExperiment({ optimizers: [{ name: 'adamw', lrr: 0.1 }] }), 'optimizers[0].lrr', /did you mean 'lr'/],
      [tinyExperiment({ optimizers: [{ name: 'adamw', lr: ['fast'] }] }), 'optimizers[0].lr', /expected a number/],
      [tinyExperiment({ optimizers: [{ name: 'adamw', epsMode: 'sideways' }] }), 'optimizers[0].epsMode', /adamw: option 'epsMode' must be one of 'corrected', 'uncorrected', got "sideways"/],
      [tinyExperiment({ model: { kind: 'gpt', widht: 8 } }), 'model.widht', /did you mean 'width'/],
      [tinyExperiment({ model: { kind: 'gpt', width: 10, nHead: 4 } }), 'model', /width 10 is not divisible by nHead 4/],
      [tinyExperiment({ model: { kind: 'vit' } }), 'data.kind', /model 'vit' takes image data/],
      [tinyExperiment({ schedule: { kind: 'cosine', total: 1000 } }), 'schedule.total', /exceeds training.steps/],
    ];
    for (const [doc, path, re] of cases) {
      const e = configError(() => expandRuns(applyOverrides(doc, [])));
      expect(e.path, e.message).to.equal(path);
      expect(e.message).to.match(re);
    }
  });

  it('--set overrides obey the schema: types, unknown keys, entries by name', () => {
    const doc = tinyExperiment({ optimizers: [{ name: 'adamw' }, { name: 'sgd' }] });
    const exp = applyOverrides(doc, ['training.steps=7', 'optimizers.adamw.lr=[0.001, 0.003]', 'target.valLoss=2.5', 'seeds=2']);
    expect(exp.training.steps).to.equal(7);
    expect(exp.target).to.deep.equal({ valLoss: 2.5 });
    const runs = expandRuns(exp);
    expect(runs.map((r) => `${r.label} ${JSON.stringify(r.grid)} s${r.seed}`)).to.deep.equal([
      'adamw {"lr":0.001} s0', 'adamw {"lr":0.001} s1', 'adamw {"lr":0.003} s0', 'adamw {"lr":0.003} s1', 'sgd {} s0', 'sgd {} s1',
    ]);
    expect(doc.training).to.deep.include({ steps: 12 }); // the document itself is untouched
    expect(configError(() => applyOverrides(doc, ['training.steps=abc'])).message).to.match(/^--set training.steps=abc: training.steps: expected number/);
    expect(configError(() => applyOverrides(doc, ['training.stpes=5'])).path).to.equal('training.stpes');
    expect(configError(() => applyOverrides(doc, ['optimizers.sgd.momentum=high'])).path).to.equal('optimizers[1].momentum');
    expect(configError(() => applyOverrides(doc, ['optimizers.muon.lr=1'])).message).to.include("no entry 'muon'");
    expect(configError(() => applyOverrides(doc, ['training.steps.max=3'])).message).to.include("'training.steps' is a number");
  });

  it('--set overrides are applied as a whole, then validated: their order does not matter', () => {
    const doc = tinyExperiment({ training: { steps: 100, batchSize: 4, logEvery: 2, evalEvery: 4 }, schedule: { kind: 'cosine', warmup: 40 } });
    const sets = ['training.steps=30', 'schedule.warmup=5'];
    for (const order of [sets, [...sets].reverse()]) {
      const exp = applyOverrides(doc, order);
      expect([exp.training.steps, exp.schedule.warmup], order.join(' ')).to.deep.equal([30, 5]);
    }
    // A file that only its overrides make valid loads; the error of an invalid whole names the override that holds the bad value.
    const dir = tempDir();
    const file = writeExperiment(dir, tinyExperiment({ training: { steps: 4, batchSize: 4, logEvery: 2, evalEvery: 4 }, schedule: { kind: 'cosine', warmup: 6 } }));
    expect(loadExperiment(file, ['training.steps=30']).training.steps).to.equal(30);
    expect(() => loadExperiment(file)).to.throw(ConfigError, /schedule.warmup \(6\) must be less than/);
    const e = configError(() => applyOverrides(doc, ['training.steps=30', 'schedule.warmup=50']));
    expect(e.message).to.match(/^--set schedule.warmup=50: schedule.warmup \(50\) must be less than training.steps \(30\)/);
  });

  it('run ids hash the resolved config: defaults written out give the same id, any change another', () => {
    const id = (opt: Record<string, unknown>, over: Record<string, unknown> = {}) => expandRuns(applyOverrides(tinyExperiment({ optimizers: [opt], ...over }), []))[0].id;
    const base = id({ name: 'adamw', lr: 0.01 });
    expect(base).to.match(/^adamw-[0-9a-f]{8}-s0$/);
    expect(id({ name: 'adamw', lr: 0.01, beta1: 0.9 })).to.equal(base);
    expect(id({ name: 'adamw', lr: 0.01 }, { training: { ...(tinyExperiment().training as object), checkpointEvery: 7 } })).to.equal(base);
    expect(id({ name: 'adamw', lr: 0.02 })).to.not.equal(base);
    expect(id({ name: 'adamw', lr: 0.01 }, { seeds: [3] })).to.equal(base.replace(/s0$/, 's3'));
  });

  it('target: exactly one of valLoss and valAcc, naming the key; the record keeps targetValLoss for a loss, target for an accuracy; run ids never change', () => {
    const exp = (target: unknown, over: Record<string, unknown> = {}) => applyOverrides(tinyExperiment({ target, ...over }), []);
    for (const [bad, msg] of [[{}, /target: give valLoss or valAcc/], [{ valLoss: 1.5, valAcc: 0.9 }, /target: give one of valLoss and valAcc, not both/], [{ valAcc: 1.5 }, /target\.valAcc/], [{ valAcc: 0 }, /target\.valAcc/], [{ valLoss: -1 }, /target\.valLoss/], [{ valAccuracy: 0.9 }, /target.*valAccuracy/]] as [unknown, RegExp][]) {
      const e = configError(() => exp(bad));
      expect(e.message, JSON.stringify(bad)).to.match(msg);
    }
    const none = expandRuns(exp(undefined))[0];
    const loss = expandRuns(exp({ valLoss: 1.5 }))[0];
    const acc = expandRuns(exp({ valAcc: 0.9 }, { metric: { name: 'val_acc' } }))[0];
    // A loss target is stored as before; an accuracy target as { metric, value, goal }; the id is the same for all three.
    expect(loss.targetValLoss).to.equal(1.5);
    expect(loss.target).to.equal(undefined);
    expect(acc.targetValLoss).to.equal(undefined);
    expect(acc.target).to.deep.equal({ metric: 'val_acc', value: 0.9, goal: 'max' });
    expect(loss.id).to.equal(none.id);
    expect(acc.id).to.equal(none.id);
    expect(recordTarget(loss)).to.deep.equal({ metric: 'val_loss', value: 1.5, goal: 'min' });
    // A resumed record ({ ...old, ...spec }) whose experiment changed its target loses the old one.
    expect(recordTarget({ ...acc, ...loss })).to.deep.equal({ metric: 'val_loss', value: 1.5, goal: 'min' });
    expect(recordTarget({ ...loss, ...acc })).to.deep.equal(acc.target);
    // A target on the deciding metric follows its goal; on the other metric, that metric's own direction.
    expect(targetOf(exp({ valAcc: 0.9 }))).to.deep.equal({ metric: 'val_acc', value: 0.9, goal: 'max' });
    expect(targetOf(exp({ valLoss: 2 }, { metric: { name: 'val_acc' } }))).to.deep.equal({ metric: 'val_loss', value: 2, goal: 'min' });
    expect(targetOf(exp({ valAcc: 0.2 }, { metric: { name: 'val_acc', goal: 'min' } }))!.goal).to.equal('min');
    // The run's stepsToTarget: the first evaluation at or above an accuracy target, at or below a loss target.
    const row = (step: number, val_loss: number, val_acc: number) => ({ step, seen: step, train_loss: null, val_loss, val_acc, lr_scale: 1, grad_norm: null, update_rms: null, wall_ms: 10 * step }) as CurveRow;
    const rows = [row(0, 4, 0.1), row(4, 3, 0.5), row(8, 2, 0.85), row(12, 1.5, 0.95)];
    expect(summarizeCurve(rows, acc.target).stepsToTarget).to.equal(12);
    expect(summarizeCurve(rows, acc.target).wallMsToTarget).to.equal(120);
    expect(summarizeCurve(rows, { metric: 'val_acc', value: 0.5, goal: 'max' }).stepsToTarget).to.equal(4);
    expect(summarizeCurve(rows, { metric: 'val_acc', value: 0.99, goal: 'max' }).stepsToTarget).to.equal(null);
    expect(summarizeCurve(rows, 2.5).stepsToTarget).to.equal(8);
    expect(summarizeCurve(rows, recordTarget(loss)).stepsToTarget).to.equal(12);
  });

  it('shards are disjoint, cover the grid, and are the same on every call', () => {
    const runs = expandRuns(applyOverrides(tinyExperiment({ optimizers: [{ name: 'adamw', lr: [1, 2, 3] }, { name: 'sgd' }], seeds: 2 }), []));
    const shards = [1, 2, 3].map((i) => shardRuns(runs, `${i}/3`).map((r) => r.id));
    expect(shards.flat().sort()).to.deep.equal(runs.map((r) => r.id).sort());
    expect(new Set(shards.flat()).size).to.equal(runs.length);
    expect(shardRuns(runs, '2/3').map((r) => r.id)).to.deep.equal(shards[1]);
    expect(() => shardRuns(runs, '4/3')).to.throw(/1 <= I <= N/);
  });
});
