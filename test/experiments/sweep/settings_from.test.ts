import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalRuns, readRuns } from '../../../experiments/claims/claim.js';
import { applyOverrides, ConfigError } from '../../../experiments/runner/config.js';
import { selectOptimizers } from '../../../experiments/sweep/sweep.js';
import { planExperiment, type RunState } from '../../../experiments/sweep/tuning.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

/** Muon (Moonlight scaling) tuned over lr with 2 quasi-random trials at 6 steps; MARS-M runs its selected setting. */
function doc(over: Record<string, unknown> = {}, optimizers?: unknown[]): Record<string, unknown> {
  return tinyExperiment({
    name: 'tiny-settings-from',
    training: { steps: 12, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2, checkpointEvery: 6, keepCheckpoints: false },
    seeds: 2,
    baseline: 'muon-moonlight',
    // Protocol 1 (selection at the tuning horizon), as the committed claims ran; tuning.test.ts covers protocol 2.
    tuning: { method: 'quasi-random', trials: 2, steps: 6, seeds: 1, protocol: 1 },
    optimizers: optimizers ?? [
      { name: 'muon-moonlight', search: { lr: { low: 0.001, high: 0.01 } } },
      { name: 'mars-m', label: 'mars-m-approx', gamma: 0.025, settingsFrom: 'muon-moonlight' },
    ],
    ...over,
  });
}

function configError(d: Record<string, unknown>): ConfigError {
  try {
    applyOverrides(d, []);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('tuning: settingsFrom', function () {
  this.timeout(600_000);
  after(removeTempDirs);

  it('rejects an unknown label, a cycle, a search on the same entry, a missing tuning block, and keys the method lacks or fixes, naming the key', () => {
    const src = { name: 'muon-moonlight', search: { lr: { low: 0.001, high: 0.01 } } };
    let e = configError(doc({}, [src, { name: 'mars-m', settingsFrom: 'muon' }]));
    expect(e.path).to.equal('optimizers[1].settingsFrom');
    expect(e.message).to.match(/'muon' is not an optimizer of this experiment; labels: muon-moonlight, mars-m/);
    e = configError(doc({}, [src, { name: 'mars-m', label: 'a', settingsFrom: 'b' }, { name: 'mars-m', label: 'b', settingsFrom: 'a' }]));
    expect(e.path).to.equal('optimizers[1].settingsFrom');
    expect(e.message).to.match(/a cycle: a -> b -> a/);
    expect(configError(doc({}, [src, { name: 'mars-m', settingsFrom: 'mars-m' }])).message).to.match(/a cycle: mars-m -> mars-m/);
    e = configError(doc({}, [src, { name: 'mars-m', settingsFrom: 'muon-moonlight', search: { lr: [0.01] } }]));
    expect(e.path).to.equal('optimizers[1].search');
    expect(e.message).to.match(/takes its settings from 'muon-moonlight' \(settingsFrom\); it cannot also search its own/);
    e = configError(tinyExperiment({ optimizers: [{ name: 'adamw', lr: 0.01 }, { name: 'mars-m', settingsFrom: 'adamw' }] }));
    expect(e.path).to.equal('optimizers[1].settingsFrom');
    expect(e.message).to.match(/needs a tuning block/);
    // The source searches adamLr, an option mars-m does not have; a key the entry fixes conflicts.
    e = configError(doc({ baseline: 'muon' }, [{ name: 'muon', search: { adamLr: { low: 0.001, high: 0.01 } } }, { name: 'mars-m', settingsFrom: 'muon' }]));
    expect(e.message).to.match(/'muon' searches 'adamLr', which mars-m has no option for/);
    e = configError(doc({}, [src, { name: 'mars-m', lr: 0.002, settingsFrom: 'muon-moonlight' }]));
    expect(e.path).to.equal('optimizers[1].lr');
    // A chain resolves to the entry that searches.
    expect(() => applyOverrides(doc({}, [src, { name: 'mars-m', label: 'a', settingsFrom: 'muon-moonlight' }, { name: 'mars-m', label: 'b', mode: 'exact', settingsFrom: 'a' }]), [])).to.not.throw();
    // --only must keep the source.
    expect(() => selectOptimizers(applyOverrides(doc(), []), ['mars-m-approx'])).to.throw(ConfigError, /takes its settings from 'muon-moonlight'.*select that entry too/);
  });

  it('plans no trials for the entry; once the source is tuned, its final runs take the selected values and its own options', () => {
    const exp = applyOverrides(doc(), []);
    const first = planExperiment(exp, () => undefined);
    expect(first.entries[1].trials).to.deep.equal([]);
    expect(first.entries[1].settingsFrom).to.equal('muon-moonlight');
    expect(first.needed.map((r) => r.label)).to.deep.equal(['muon-moonlight', 'muon-moonlight']); // 2 trials x 1 tuning seed
    // Trial 1 scores lower (2.9 < 3.0): it is selected for both entries.
    const states = new Map<string, RunState>(first.entries[0].trials.map((t) => [t.runs[0].id, { status: 'finished', finalValLoss: 3 - t.trial / 10 }]));
    const plan = planExperiment(exp, (id) => states.get(id));
    const [muon, mars] = plan.entries;
    expect(muon.selected!.trial).to.equal(1);
    expect(mars.finalRuns.map((r) => r.seed)).to.deep.equal([0, 1]);
    for (const r of mars.finalRuns) {
      expect(r.config.optimizer.name).to.equal('mars-m');
      expect(r.config.optimizer.options.lr).to.equal(muon.selected!.values.lr);
      expect(r.config.optimizer.options.gamma).to.equal(0.025);
      expect(r).to.deep.include({ stage: 'final', trial: 1, settingsFrom: 'muon-moonlight', grid: muon.selected!.values, keepCheckpoint: false });
    }
    expect(plan.needed.map((r) => r.id)).to.deep.equal([...muon.finalRuns, ...mars.finalRuns].map((r) => r.id));
    // Every trial of the source diverged: no final runs for either, and a note saying why.
    const dead = planExperiment(exp, () => ({ status: 'diverged', finalValLoss: null }));
    expect(dead.entries[1].finalRuns).to.deep.equal([]);
    expect(dead.entries[1].note).to.match(/muon-moonlight, whose setting it takes, has none/);
  });

  it('end to end on a tiny GPT: MARS-M runs muon-moonlight\'s selected lr, the report says so, resume runs nothing, checkpoints are gone', () => {
    const dir = tempDir('optlab-settings-from-');
    const file = writeExperiment(dir, doc());
    const out = join(dir, 'out');
    const run = (extra: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, 'run', file, '--out', out, '--jobs', '2', ...extra], { encoding: 'utf8' });
    const r = run([]);
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
    expect(`${r.stdout}${r.stderr}`).to.match(/\d+ runs?,.*at a time/);
    const rows = readRuns(out);
    expect(rows.length).to.equal(2 + 4);
    const muon = finalRuns(rows, 'muon-moonlight');
    const mars = finalRuns(rows, 'mars-m-approx');
    expect(mars.map((x) => x.seed)).to.deep.equal([0, 1]);
    expect(new Set([...muon, ...mars].map((x) => x.lr)).size).to.equal(1);
    expect(mars.every((x) => x.settingsFrom === 'muon-moonlight')).to.equal(true);
    const verdicts = readFileSync(join(out, 'verdicts.csv'), 'utf8').trim().split('\n');
    const header = verdicts[0].split(',');
    const row = Object.fromEntries(verdicts.find((l) => l.startsWith('mars-m-approx,'))!.split(',').map((v, i) => [header[i], v]));
    expect(row).to.include({ tuning_trials: '0', tuning_runs: '0', tuning_method: 'quasi-random' });
    expect(row.setting).to.match(/^lr=/);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).to.match(/none of its own: muon-moonlight(&#39;|&#x27;|')s selected setting \(settingsFrom\)/);
    expect(html).to.match(/No trials of its own: its final runs use the setting selected for muon-moonlight/);
    expect(readFileSync(join(out, 'tuned.json'), 'utf8')).to.include('"mars-m-approx"');
    // keepCheckpoints: false leaves no checkpoint of a finished run.
    const spawnDir = spawnSync('ls', [join(out, 'checkpoints')], { encoding: 'utf8' });
    expect(spawnDir.stdout.trim()).to.equal('');
    const again = run(['--resume']);
    expect(again.status, `${again.stdout}${again.stderr}`).to.equal(0);
    expect(`${again.stdout}${again.stderr}`).to.not.match(/\d+ runs?,.*at a time/);
  });
});
