import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { applyOverrides, ConfigError, expandRuns, loadExperiment, type Experiment } from '../../../experiments/runner/config.js';
import { readCurve, readRecord, runPaths } from '../../../experiments/runner/runner.js';
import { coordinateDescent, gridTrials, halton, planExperiment, quasiRandomTrials, searchDims, type RunState } from '../../../experiments/sweep/tuning.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

function optlab(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Two optimizers, 3 quasi-random trials each on one tuning seed at 6 steps, then 3 final seeds at 12 steps. */
function tunedDoc(over: Record<string, unknown> = {}): Record<string, unknown> {
  return tinyExperiment({
    name: 'tiny-tuned',
    training: { steps: 12, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2, checkpointEvery: 6 },
    seeds: 3,
    target: { valLoss: 4.0 },
    // Protocol 1 (Halton from 1, no bracketing, selection at the tuning horizon): how the committed results ran; protocol 2 below.
    tuning: { method: 'quasi-random', trials: 3, steps: 6, seeds: 1, protocol: 1 },
    optimizers: [
      { name: 'adamw', search: { lr: { low: 0.001, high: 0.03 } } },
      { name: 'muon', adamLr: 0.01, search: { lr: { low: 0.005, high: 0.1 } } },
    ],
    ...over,
  });
}

function configError(doc: Record<string, unknown>): ConfigError {
  try {
    applyOverrides(doc, []);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('tuning: search spaces and trials', () => {
  it('Halton points are the radical inverses', () => {
    // Base 2: 1 -> 0.1b = 1/2, 2 -> 0.01b = 1/4, 3 -> 0.11b = 3/4, 4 -> 0.001b = 1/8; base 3: 1 -> 1/3, 2 -> 2/3, 3 -> 1/9.
    expect([1, 2, 3, 4].map((i) => halton(i, 2))).to.deep.equal([0.5, 0.25, 0.75, 0.125]);
    expect([1, 2, 3].map((i) => halton(i, 3))).to.deep.equal([1 / 3, 2 / 3, 1 / 9]);
  });

  it('quasi-random trials map Halton points onto a log-scale lr and a list', () => {
    const dims = searchDims({ lr: { low: 1e-4, high: 1e-2 }, nesterov: [true, false] });
    const t = quasiRandomTrials(dims, 3, 'x', false);
    // lr = 1e-4 * 100^u with u = 1/2, 1/4, 3/4 -> 1e-3, 10^-3.5, 10^-2.5; nesterov by u3 = 1/3, 2/3, 1/9 -> index 0, 1, 0.
    expect(t.map((x) => x.lr)).to.deep.equal([0.001, Number((10 ** -3.5).toPrecision(6)), Number((10 ** -2.5).toPrecision(6))]);
    expect(t.map((x) => x.nesterov)).to.deep.equal([true, false, true]);
  });

  it('grid trials fill the budget exactly or fail naming tuning.trials', () => {
    const dims = searchDims({ lr: { low: 1e-3, high: 1e-1 }, weightDecay: [0, 0.1] });
    // 2 list values x 3 lr points (1e-3, 1e-2, 1e-1, evenly spaced in log) = 6 trials.
    const g = gridTrials(dims, 6, 'x');
    expect(g.map((x) => x.lr)).to.deep.equal([0.001, 0.001, 0.01, 0.01, 0.1, 0.1]);
    expect(() => gridTrials(dims, 5, 'optimizers[0].search')).to.throw(ConfigError, /tuning.trials \(5\)/);
  });

  it('coordinate descent moves along each axis to the best trial and replays from partial results', () => {
    const dims = searchDims({ lr: { low: 1e-4, high: 1 }, weightDecay: [0, 0.1, 0.2] });
    // Score (log10 lr + 2)^2 + wd: best lr 1e-2 (an axis point: 1e-4, 1e-3, 1e-2, 1e-1, 1), best wd 0.
    const f = (v: Record<string, unknown>) => (Math.log10(v.lr as number) + 2) ** 2 + (v.weightDecay as number);
    const all = coordinateDescent(dims, 5, 20, (v) => ({ done: true, score: f(v) }));
    expect(all.finished).to.equal(true);
    // Start (1e-2, 0.1); lr axis: 1e-3, 1e-1, 1e-4, 1 (no better); wd axis: 0 (better), 0.2; lr axis again: nothing new from
    // (1e-2, 0) except 4 points -> tried; no improvement for a full cycle -> stop.
    const best = all.trials.reduce((b, v) => (f(v) < f(b) ? v : b));
    expect(best).to.deep.equal({ lr: 0.01, weightDecay: 0 });
    expect(all.trials[0]).to.deep.equal({ lr: 0.01, weightDecay: 0.1 });
    expect(new Set(all.trials.map((v) => JSON.stringify(v))).size).to.equal(all.trials.length);
    // With only the first trial's result known, the plan stops at the pending batch (the lr axis from the start).
    const partial = coordinateDescent(dims, 5, 20, (v) => (JSON.stringify(v) === JSON.stringify(all.trials[0]) ? { done: true, score: f(v) } : { done: false, score: Infinity }));
    expect(partial.finished).to.equal(false);
    expect(partial.trials.length).to.equal(5);
    // A budget of 3 stops after the start and the two nearest lr values.
    expect(coordinateDescent(dims, 5, 3, (v) => ({ done: true, score: f(v) })).trials.map((v) => v.lr)).to.deep.equal([0.01, 0.001, 0.1]);
  });
});

describe('tuning: bad input fails before any run, naming the key', () => {
  it('empty search, budget 0, unknown baseline, low >= high, search without tuning, fixed and searched, grids outside the budget', () => {
    const doc = tunedDoc();
    const opt = (o: Record<string, unknown>) => ({ ...doc, optimizers: [o, (doc.optimizers as unknown[])[1]] });
    expect(configError(opt({ name: 'adamw', search: {} })).message).to.match(/optimizers\[0\]\.search: empty search space/);
    expect(configError(opt({ name: 'adamw' })).message).to.match(/optimizers\[0\]\.search: empty search space/);
    expect(configError({ ...doc, tuning: { trials: 0 } }).path).to.equal('tuning.trials');
    expect(configError({ ...doc, baseline: 'sgd' }).message).to.match(/^baseline: 'sgd' is not an optimizer of this experiment/);
    expect(configError(opt({ name: 'adamw', search: { lr: { low: 0.1, high: 0.01 } } })).message).to.match(/optimizers\[0\]\.search\.lr: low \(0\.1\) must be below high \(0\.01\)/);
    expect(configError(opt({ name: 'adamw', search: { lr: { low: 0.1, high: 0.1 } } })).path).to.equal('optimizers[0].search.lr');
    expect(configError(opt({ name: 'adamw', search: { lr: { low: 0, high: 0.1 } } })).message).to.match(/log-scale range needs low > 0/);
    expect(configError(opt({ name: 'adamw', search: { lrr: [0.1] } })).message).to.match(/optimizers\[0\]\.search\.lrr: unknown key \(did you mean 'lr'\?\)/);
    expect(configError(opt({ name: 'adamw', lr: 0.01, search: { lr: [0.1] } })).message).to.match(/both fixed in the entry and searched/);
    expect(configError(opt({ name: 'adamw', beta2: [0.95, 0.99], search: { lr: [0.1] } })).message).to.match(/optimizers\[0\]\.beta2: a list of values is a grid outside the tuning budget/);
    expect(configError(tinyExperiment({ optimizers: [{ name: 'adamw', search: { lr: [0.1] } }] })).message).to.match(/search space needs a tuning block/);
    expect(configError({ ...doc, tuning: { trials: 3, steps: 100 } }).path).to.equal('tuning.steps');
    // A horizon that compresses the schedule into an invalid one fails at validation, naming the derived value (it once validated, then every trial failed at start).
    const horizon = configError({ ...doc, training: { ...(doc.training as object), steps: 30 }, schedule: { kind: 'cosine', warmup: 5, total: 6 }, tuning: { trials: 3, steps: 10 } });
    expect(horizon.path).to.equal('tuning.steps');
    expect(horizon.message).to.include('compressed to 10 steps (tuning.steps) from training.steps 30').and.include('derived schedule.total (2) must exceed derived schedule.warmup (2)');
    const wsd = configError({ ...doc, training: { ...(doc.training as object), steps: 40 }, schedule: { kind: 'wsd', warmup: 5, total: 40, decay: 35 }, tuning: { trials: 3, steps: 4 } });
    expect(wsd.message).to.include('derived schedule.decay (4) must be in (0, total - warmup] = (0, 3]');
    // A grid that cannot hold the budget fails at planning, before any run.
    const grid = applyOverrides(tunedDoc({ tuning: { method: 'grid', trials: 3, steps: 6 }, optimizers: [{ name: 'adamw', search: { lr: [0.01, 0.02] } }] }), []);
    expect(() => planExperiment(grid, () => undefined)).to.throw(ConfigError, /tuning.trials \(3\)/);
  });
});

describe('tuning: tuned settings files', () => {
  after(removeTempDirs);

  it('fill the optimizer entries from a JSON file next to the experiment, and reject conflicts and unknown labels', () => {
    const dir = tempDir('optlab-tunedfile-');
    const settings = { settings: { adamw: { lr: 0.004 } }, provenance: { command: 'optlab run x.yaml' } };
    writeFileSync(join(dir, 'tuned.json'), JSON.stringify(settings));
    const file = writeExperiment(dir, tinyExperiment({ tuned: 'tuned.json', optimizers: [{ name: 'adamw', beta2: 0.99 }] }));
    const exp = loadExperiment(file);
    expect(exp.optimizers[0]).to.deep.include({ name: 'adamw', beta2: 0.99, lr: 0.004 });
    expect(expandRuns(exp)[0].config.optimizer.options.lr).to.equal(0.004);
    const conflict = writeExperiment(dir, tinyExperiment({ tuned: 'tuned.json', optimizers: [{ name: 'adamw', lr: 0.01 }] }), 'conflict.yaml');
    expect(() => loadExperiment(conflict)).to.throw(ConfigError, /optimizers\[0\]\.lr: also set by the tuned settings/);
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ settings: { muon: { lr: 0.02 } }, provenance: {} }));
    const unknown = writeExperiment(dir, tinyExperiment({ tuned: 'other.json' }), 'unknown.yaml');
    expect(() => loadExperiment(unknown)).to.throw(ConfigError, /tuned: .*'muon', which is not an optimizer of this experiment/);
    const missing = writeExperiment(dir, tinyExperiment({ tuned: 'nope.json' }), 'missing.yaml');
    expect(() => loadExperiment(missing)).to.throw(ConfigError, /tuned: cannot read tuned settings/);
  });
});

describe('tuning: plan from results', () => {
  it('selects the lowest mean score per optimizer, then plans its final runs; a diverged seed loses', () => {
    const exp: Experiment = applyOverrides(tunedDoc({ tuning: { method: 'quasi-random', trials: 3, steps: 6, seeds: 2, protocol: 1 } }), []);
    const first = planExperiment(exp, () => undefined);
    expect(first.entries.map((e) => e.trials.length)).to.deep.equal([3, 3]);
    expect(first.needed.length).to.equal(12); // 2 optimizers x 3 trials x 2 tuning seeds
    expect(first.needed.every((r) => r.stage === 'tune' && r.config.training.steps === 6 && [1000, 1001].includes(r.seed))).to.equal(true);
    // The schedule is compressed to the tuning horizon: warmup 2 -> 1, total 12 -> 6.
    expect(first.needed[0].config.schedule).to.deep.equal({ kind: 'cosine', warmup: 1, total: 6 });
    // Scores: trial k of adamw has loss 3 - k/10 on both seeds, except trial 2's second seed diverged.
    const states = new Map<string, RunState>();
    for (const e of first.entries) {
      for (const t of e.trials) {
        t.runs.forEach((r, j) => states.set(r.id, { status: e.label === 'adamw' && t.trial === 2 && j === 1 ? 'diverged' : 'finished', finalValLoss: 3 - t.trial / 10 }));
      }
    }
    const plan = planExperiment(exp, (id) => states.get(id));
    const [adamw, muon] = plan.entries;
    expect(adamw.selected!.trial).to.equal(1);
    expect(muon.selected!.trial).to.equal(2);
    expect(adamw.finalRuns.map((r) => r.seed)).to.deep.equal([0, 1, 2]);
    expect(adamw.finalRuns.every((r) => r.stage === 'final' && r.trial === 1 && r.config.training.steps === 12 && r.config.optimizer.options.lr === adamw.selected!.values.lr)).to.equal(true);
    expect(plan.needed.map((r) => r.id)).to.deep.equal([...adamw.finalRuns, ...muon.finalRuns].map((r) => r.id));
    // Extra seeds (from --until-decided) join the selected configuration's final runs.
    const more = planExperiment(exp, (id) => states.get(id), new Map([[adamw.finalRuns[0].hash, [3]]]));
    expect(more.entries[0].finalRuns.map((r) => r.seed)).to.deep.equal([0, 1, 2, 3]);
    // Every trial diverged: no selection, a note, no final runs.
    const dead = planExperiment(exp, () => ({ status: 'diverged', finalValLoss: null }));
    expect(dead.entries[0].selected).to.equal(undefined);
    expect(dead.entries[0].note).to.match(/every one of 3 trials diverged/);
  });
});

describe('tuning: end to end on a tiny GPT', function () {
  this.timeout(1_200_000);
  after(removeTempDirs);

  it('tunes two optimizers with equal budgets, runs 3 final seeds, and reports settings, intervals, verdicts and diagnostics; shards and merge give the same', () => {
    const dir = tempDir('optlab-tuned-');
    const file = writeExperiment(dir, tunedDoc());
    const out = join(dir, 'out');
    const r = optlab(['run', file, '--out', out, '--jobs', '2']);
    expect(r.status, r.out).to.equal(0);
    // The verdict table comes first in the terminal and the report.
    expect(r.out).to.match(/tiny-tuned: verdicts against adamw/);
    const verdicts = readFileSync(join(out, 'verdicts.csv'), 'utf8').trim().split('\n');
    const header = verdicts[0].split(',');
    const rows = verdicts.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    expect(rows.map((x) => x.optimizer)).to.deep.equal(['adamw', 'muon']);
    for (const x of rows) {
      expect(x.setting).to.match(/^lr=/);
      expect(x.seeds).to.equal('0 1 2');
      expect(Number(x.final_lo)).to.be.lessThan(Number(x.final_val_loss));
      expect(Number(x.final_hi)).to.be.greaterThan(Number(x.final_val_loss));
      expect(x.tuning_method).to.equal('quasi-random');
      expect(x.tuning_trials).to.equal('3');
      expect(x.tuning_runs).to.equal('3');
    }
    expect(rows[0].verdict).to.equal('baseline');
    expect(['better', 'worse', 'undecided']).to.include(rows[1].verdict);
    expect(rows[1].diff_method).to.equal('paired-t');
    expect(Number(rows[1].diff_lo)).to.be.lessThan(Number(rows[1].diff_hi));
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.indexOf('<h2>Verdicts against adamw</h2>')).to.be.greaterThan(0);
    expect(html.indexOf('<h2>Verdicts against adamw</h2>')).to.be.lessThan(html.indexOf('<h2>Ranking</h2>'));
    expect(html).to.include('<h2>Tuning</h2>');
    expect(html).to.include('<b>selected</b>');
    expect(html).to.include('diag-ns_orth_error.svg');
    expect(existsSync(join(out, 'plots', 'lr-sensitivity.svg'))).to.equal(true);
    const tuning = readFileSync(join(out, 'tuning.csv'), 'utf8').trim().split('\n');
    expect(tuning.length).to.equal(1 + 6);
    expect(tuning.filter((l) => l.endsWith(',1')).length).to.equal(2);
    // Diagnostics columns in every run's curve, for every optimizer, filled on every logged row.
    const exp = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8'));
    expect(exp.grid.length).to.equal(12);
    for (const id of exp.grid as string[]) {
      const rec = readRecord(runPaths(out, id).json);
      const curve = readCurve(runPaths(out, id).csv);
      const keys = Object.keys(curve[1].diag ?? {});
      expect(keys, id).to.include('model/attn_logit_max');
      expect(keys.some((k) => k.endsWith('/update_rms')), id).to.equal(true);
      if (rec.config.optimizer.name === 'muon') expect(keys).to.include.members(['muon/ns_orth_error', 'muon/ns_sv_max', 'muon/ns_sv_min', 'adamw/update_weight_ratio']);
      for (const row of curve.slice(1)) for (const k of keys) expect(row.diag![k], `${id} ${k} at ${row.step}`).to.not.equal(null);
      expect(rec.result?.diagnostics?.['model/attn_logit_max']?.max).to.be.a('number');
    }

    // Two shards into two folders: each stops after its tuning slice; merged and resumed, the final stage runs.
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const m = join(dir, 'm');
    for (const [shard, o] of [['1/2', a], ['2/2', b]]) {
      const s = optlab(['run', file, '--out', o, '--shard', shard, '--jobs', '2']);
      expect(s.status, s.out).to.equal(0);
      expect(s.out).to.match(/needs \d+ runs of other shards/);
    }
    expect(optlab(['merge', a, b, '--out', m]).status).to.equal(0);
    const resumed = optlab(['run', file, '--out', m, '--resume', '--jobs', '2']);
    expect(resumed.status, resumed.out).to.equal(0);
    const merged = readFileSync(join(m, 'verdicts.csv'), 'utf8').trim().split('\n');
    // Same settings, seeds and losses as the unsharded sweep (wall-clock columns aside).
    const noWall = (lines: string[]) => lines.map((l) => l.split(',').filter((_, i) => !/wall/.test(header[i])).join(','));
    expect(noWall(merged)).to.deep.equal(noWall(verdicts));

    // --until-decided on the finished folder adds seeds only to undecided pairs, up to --max-seeds.
    const more = optlab(['run', file, '--out', out, '--resume', '--until-decided', '--max-seeds', '4', '--jobs', '2']);
    expect(more.status, more.out).to.equal(0);
    const after = readFileSync(join(out, 'verdicts.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    const seeds = after.map((x) => x.seeds.split(' ').length);
    if (rows[1].verdict === 'undecided') expect(seeds).to.deep.equal([4, 4]);
    else expect(seeds).to.deep.equal([3, 3]);
  });
});

describe('tuning protocol 2: ends, bracketing, full-horizon selection (docs/protocol.md)', () => {
  /** Runs every tuning run the plan needs through `loss(lr, steps)` until only final runs remain. */
  function tuneSynthetic(exp: Experiment, loss: (lr: number, steps: number, seed: number) => number | null) {
    const states = new Map<string, RunState>();
    for (let round = 0; round < 100; round++) {
      const plan = planExperiment(exp, (id) => states.get(id));
      const tune = plan.needed.filter((r) => r.stage === 'tune');
      if (!tune.length) return { plan, states };
      for (const r of tune) {
        const v = loss(r.config.optimizer.options.lr as number, r.config.training.steps, r.seed);
        states.set(r.id, v === null ? { status: 'diverged', finalValLoss: null } : { status: 'finished', finalValLoss: v });
      }
    }
    throw new Error('tuning did not finish in 100 rounds');
  }
  const oneOptimizer = (tuning: Record<string, unknown>, range = { low: 1e-4, high: 1e-3 }) =>
    applyOverrides(tunedDoc({ tuning, optimizers: [{ name: 'adamw', search: { lr: range } }] }), []);
  // Optimum at lr = 0.3, three decades above the initial range [1e-4, 1e-3].
  const bowl = (lr: number) => 2 + (Math.log10(lr) - Math.log10(0.3)) ** 2;

  it('quasi-random trials include both ends of every range', () => {
    const dims = searchDims({ lr: { low: 1e-4, high: 1e-2 } });
    expect(quasiRandomTrials(dims, 4, 'x').map((x) => x.lr)).to.deep.equal([1e-4, 0.01, 0.001, Number((10 ** -3.5).toPrecision(6))]);
    // Protocol 1 never tries the top quarter: 1/2, 1/4, 3/4, 1/8 of the log range.
    const old = quasiRandomTrials(dims, 4, 'x', false).map((x) => x.lr as number);
    expect(Math.max(...old)).to.be.lessThan(10 ** -2.4);
  });

  it('defaults: the full horizon, 2 tuning seeds, bracketing on with 4 extensions', () => {
    const exp = applyOverrides(tinyExperiment({ name: 'd', training: { steps: 12, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2 }, tuning: { trials: 3 }, optimizers: [{ name: 'adamw', search: { lr: { low: 1e-3, high: 1e-2 } } }] }), []);
    expect(exp.tuning).to.deep.include({ rerunTop: 2, seeds: 2, protocol: 2, bracket: { enabled: true, maxExtensions: 4, factor: 2 } });
    const first = planExperiment(exp, () => undefined);
    expect(first.needed.every((r) => r.config.training.steps === 12 && [1000, 1001].includes(r.seed))).to.equal(true);
    expect(configError({ ...tunedDoc(), tuning: { trials: 3, steps: 6, horizon: 6 } }).path).to.equal('tuning.steps');
    expect(configError({ ...tunedDoc(), tuning: { trials: 3, horizon: 100 } }).path).to.equal('tuning.horizon');
  });

  it('a range far below the optimum is extended until the selection is interior', () => {
    const exp = oneOptimizer({ method: 'quasi-random', trials: 4, seeds: 2, bracket: { maxExtensions: 12 } });
    const { plan } = tuneSynthetic(exp, (lr) => bowl(lr));
    const e = plan.entries[0];
    expect(e.tuned).to.equal(true);
    expect(e.edge).to.equal(undefined);
    // 1e-3 doubled 8 times is 0.256; 0.512 is tried beyond it, so 0.256 is interior.
    expect(e.selected!.values.lr).to.equal(0.256);
    expect(e.extensions).to.equal(9);
    expect(e.trials).to.have.length(4 + 9);
    expect(e.finalRuns.every((r) => r.config.optimizer.options.lr === 0.256)).to.equal(true);
  });

  it('capped bracketing leaves an explicit edge flag', () => {
    const exp = oneOptimizer({ method: 'quasi-random', trials: 4, seeds: 2 });
    const { plan } = tuneSynthetic(exp, (lr) => bowl(lr));
    const e = plan.entries[0];
    expect(e.extensions).to.equal(4);
    expect(e.edge).to.deep.equal([{ key: 'lr', side: 'high', value: 0.016 }]);
    expect(e.selected!.values.lr).to.equal(0.016);
  });

  it('an extension that diverges brackets the optimum from above', () => {
    const exp = oneOptimizer({ method: 'quasi-random', trials: 4, seeds: 2 });
    const { plan } = tuneSynthetic(exp, (lr) => (lr > 0.003 ? null : bowl(lr)));
    const e = plan.entries[0];
    // 1e-3 (edge) -> 0.002 (better, edge) -> 0.004 diverged: 0.002 lies between 1e-3 and a diverged trial.
    expect(e.extensions).to.equal(2);
    expect(e.trials.at(-1)!.values.lr).to.equal(0.004);
    expect(e.trials.at(-1)!.score).to.equal(Infinity);
    expect(e.selected!.values.lr).to.equal(0.002);
    expect(e.edge).to.equal(undefined);
  });

  it('bracketing works in coordinate descent and grids too', () => {
    for (const method of ['coordinate-descent', 'grid']) {
      const exp = oneOptimizer({ method, trials: 3, points: 3, seeds: 2, bracket: { maxExtensions: 12 } });
      const e = tuneSynthetic(exp, (lr) => bowl(lr)).plan.entries[0];
      expect(e.edge, method).to.equal(undefined);
      expect(e.selected!.values.lr, method).to.be.within(0.15, 0.6);
    }
  });

  it('metric val_acc (goal max) selects the most accurate trial', () => {
    const exp = applyOverrides(tunedDoc({ metric: { name: 'val_acc' }, tuning: { method: 'grid', trials: 3, seeds: 2, bracket: { enabled: false } }, optimizers: [{ name: 'adamw', search: { lr: [0.01, 0.02, 0.04] } }] }), []);
    const acc: Record<number, number> = { 0.01: 0.5, 0.02: 0.7, 0.04: 0.6 };
    const states = new Map<string, RunState>();
    for (const r of planExperiment(exp, () => undefined).needed) states.set(r.id, { status: 'finished', finalValLoss: 1, finalValAcc: acc[r.config.optimizer.options.lr as number] });
    expect(planExperiment(exp, (id) => states.get(id)).entries[0].selected!.values.lr).to.equal(0.02);
  });

  it('a shorter tuning horizon only shortlists: the top 2 are rerun at the full horizon and the best of those is selected', () => {
    const exp = applyOverrides(tunedDoc({ tuning: { method: 'grid', trials: 4, horizon: 6, seeds: 2, bracket: { enabled: false } }, optimizers: [{ name: 'adamw', search: { lr: [0.01, 0.02, 0.04, 0.08] } }] }), []);
    // At 6 steps lr 0.04 looks best, then 0.02; at the full 12 steps 0.02 is better (the nanoGPT case of docs/protocol.md).
    const short: Record<number, number> = { 0.01: 2.3, 0.02: 2.17, 0.04: 2.14, 0.08: 2.4 };
    const long: Record<number, number> = { 0.01: 1.8, 0.02: 1.64, 0.04: 1.92, 0.08: 2.2 };
    const { plan } = tuneSynthetic(exp, (lr, steps) => (steps === 6 ? short[lr] : long[lr]));
    const e = plan.entries[0];
    expect(e.reruns!.map((x) => x.values.lr)).to.deep.equal([0.04, 0.02]);
    expect(e.reruns!.every((x) => x.runs.every((r) => r.config.training.steps === 12 && r.stage === 'tune'))).to.equal(true);
    expect(e.selected!.values.lr).to.equal(0.02);
    expect(e.selectedAt).to.equal(12);
    expect(e.finalRuns).to.have.length(3);
  });
});
