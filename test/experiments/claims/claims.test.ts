import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { combine, finalRuns, MissingResults, pairedDifference, readRuns, runsEnvironment, stepsToReach, tInterval, verdictBelow, type RunRow } from '../../../experiments/claims/claim.js';
import { earlySpike, EARLY_STEPS } from '../../../experiments/claims/reg.js';
import { stepsForAdamw } from '../../../experiments/claims/muon_adamw.js';
import { claimCost } from '../../../experiments/claims/cost.js';
import { CLAIMS, getClaim } from '../../../experiments/claims/index.js';
import { claimsMarkdown, evaluateClaims, staleDesign, verdictText } from '../../../experiments/claims/report.js';
import { loadExperiment } from '../../../experiments/runner/config.js';
import { kroneckerCsv, type KroneckerRow } from '../../../experiments/claims/kronecker_experiment.js';
import { formatCsv } from '../../../bench/report.js';
import type { Measurement } from '../../../bench/harness.js';
import { analyzeCost, COST_SIZES, type CostSample } from '../../../bench/cost_scaling.js';
import { costVerdict } from '../../../experiments/claims/auon_cost.js';
import mt19937 from '@stdlib/random-base-mt19937';

/** A fake run: its final figures, and optionally stage, accuracy, and the curve rows (step, train loss, val loss). */
interface FakeRun {
  label: string;
  method?: string;
  lr: number;
  seed: number;
  final: number;
  status?: string;
  stage?: 'tune' | 'final';
  acc?: number;
  rows?: [number, number | null, number | null][];
}

/**
 * A results folder as `optlab run` leaves it: experiment.json, and per run <id>.json and <id>.csv
 * (by default validation every 100 steps, falling linearly from final + 1 at step 100 to final at 300).
 */
function fakeSweep(dir: string, runs: FakeRun[]): void {
  mkdirSync(dir, { recursive: true });
  const ids = runs.map((r) => `${r.label}-${String(r.lr).replace('.', '')}-s${r.seed}${r.stage === 'tune' ? 't' : ''}`);
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ name: 'fake', source: { file: 'fake.yaml', sets: [] }, experiment: { name: 'fake' }, grid: ids, runs: ids, shard: null }));
  runs.forEach((r, i) => {
    const rec = { id: ids[i], hash: `${r.label}${r.lr}${r.stage ?? ''}`, label: r.label, seed: r.seed, status: r.status ?? 'finished', step: 300, ...(r.stage ? { stage: r.stage } : {}), config: { optimizer: { name: r.method ?? r.label, options: { lr: r.lr } } }, result: { finalValLoss: r.final, finalValAcc: r.acc ?? null, wallMs: 1000 }, env: { gitCommit: 'abc', cpu: 'test cpu', cores: 2 } };
    writeFileSync(join(dir, `${ids[i]}.json`), JSON.stringify(rec));
    const rows = (r.rows ?? [100, 200, 300].map((s): [number, null, number] => [s, null, r.final + (300 - s) / 200])).map(([s, train, val]) => `${s},${s * 10},${train ?? ''},${val === null ? '' : val.toFixed(6)},,1,,,${s}`);
    writeFileSync(join(dir, `${ids[i]}.csv`), ['step,tokens,train_loss,val_loss,val_acc,lr_scale,grad_norm,update_rms,wall_ms', ...rows].join('\n') + '\n');
  });
}

describe('claims: statistics and verdict rules (experiments/claims/claim.ts)', () => {
  it('t-intervals match scipy (t.ppf(0.975, n-1) * sd / sqrt(n))', () => {
    // scipy: [1, 2, 3, 4] -> 2.5 [0.4457397432394794, 4.554260256760521];
    // [-0.02, -0.015, -0.03] -> -0.021666666666666667 [-0.04063958183465047, -0.002693751498682867].
    const a = tInterval([1, 2, 3, 4]);
    expect(a.value).to.equal(2.5);
    expect(a.lo).to.be.closeTo(0.4457397432394794, 1e-12);
    expect(a.hi).to.be.closeTo(4.554260256760521, 1e-12);
    const b = tInterval([-0.02, -0.015, -0.03]);
    expect(b.lo).to.be.closeTo(-0.04063958183465047, 1e-12);
    expect(b.hi).to.be.closeTo(-0.002693751498682867, 1e-12);
    expect(Number.isNaN(tInterval([1]).lo)).to.equal(true);
  });

  it('verdictBelow: reproduced below the threshold, not reproduced above the refutation bound, undecided between or with one value', () => {
    expect(verdictBelow({ label: '', value: -0.02, lo: -0.03, hi: -0.01 }, 0, -0.005)).to.equal('reproduced');
    expect(verdictBelow({ label: '', value: 0.01, lo: -0.002, hi: 0.02 }, 0, -0.005)).to.equal('not reproduced at this scale');
    expect(verdictBelow({ label: '', value: -0.004, lo: -0.01, hi: 0.003 }, 0, -0.005)).to.equal('undecided');
    expect(verdictBelow({ label: '', value: -1, lo: NaN, hi: NaN }, 0, -0.005)).to.equal('undecided');
    expect(combine(['reproduced', 'reproduced'])).to.equal('reproduced');
    expect(combine(['reproduced', 'undecided'])).to.equal('undecided');
    expect(combine(['undecided', 'not reproduced at this scale'])).to.equal('not reproduced at this scale');
  });

  it('reads runs, compares the final-stage runs only, pairs by seed; a diverged run voids the interval', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    fakeSweep(dir, [
      // A tuning trial with a lower loss never counts: the claims compare the selected setting's final runs.
      { label: 'a', lr: 0.2, seed: 1000, final: 0.5, stage: 'tune' },
      { label: 'a', lr: 0.1, seed: 0, final: 1.5, stage: 'final' }, { label: 'a', lr: 0.1, seed: 1, final: 1.6, stage: 'final' },
      { label: 'b', lr: 0.1, seed: 0, final: 1.4, stage: 'final' }, { label: 'b', lr: 0.1, seed: 1, final: 1.45, stage: 'final' },
      { label: 'c', lr: 0.1, seed: 0, final: 1.4, stage: 'final' }, { label: 'c', lr: 0.1, seed: 1, final: 1.0, stage: 'final', status: 'diverged' },
    ]);
    const rows = readRuns(dir);
    expect(rows).to.have.length(7);
    const a = finalRuns(rows, 'a');
    expect(a.map((r) => [r.lr, r.seed])).to.deep.equal([[0.1, 0], [0.1, 1]]);
    const d = pairedDifference(a, finalRuns(rows, 'b'), (r) => r.finalValLoss, 'a - b');
    expect(d.value).to.be.closeTo(0.125, 1e-12); // (0.1 + 0.15) / 2
    expect(d.n).to.equal(2);
    const withDiverged = pairedDifference(finalRuns(rows, 'c'), finalRuns(rows, 'b'), (r) => r.finalValLoss, 'x');
    expect(Number.isNaN(withDiverged.lo!)).to.equal(true);
    // An untuned entry with several configurations has no single setting to compare; tuning without final runs is missing results.
    const grid = mkdtempSync(join(tmpdir(), 'claims-'));
    fakeSweep(grid, [{ label: 'a', lr: 0.1, seed: 0, final: 1 }, { label: 'a', lr: 0.2, seed: 0, final: 1 }, { label: 'b', lr: 0.1, seed: 0, final: 1, stage: 'tune' }]);
    expect(() => finalRuns(readRuns(grid), 'a')).to.throw(/2 configurations and no tuning stage/);
    expect(() => finalRuns(readRuns(grid), 'b')).to.throw(MissingResults, /no final runs yet/);
    // Linear interpolation between evaluations: the curve is final+1, final+0.5, final at 100, 200, 300.
    expect(stepsToReach(a[0].curve, 1.5 + 0.75)).to.be.closeTo(150, 1e-9);
    expect(stepsToReach(a[0].curve, 0.1)).to.equal(null);
  });

  it('an unfinished or missing sweep is reported as missing results, not evaluated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    expect(() => readRuns(dir)).to.throw(MissingResults);
    fakeSweep(dir, [{ label: 'a', lr: 0.1, seed: 0, final: 1, status: 'running' }]);
    expect(() => readRuns(dir)).to.throw(MissingResults, /1 of 1 runs not finished/);
  });
});

describe('claims: provenance of runs from several machines', () => {
  const env = (cpu: string, cores: number, gitCommit: string) => ({ gitCommit, gitDirty: false, optlabVersion: '0', tfjsVersion: '4.22.0', node: 'v20', platform: 'linux', cpu, cores, memoryGiB: 1, hostname: 'h' });
  const row = (id: string, e: ReturnType<typeof env>): RunRow => ({ id, hash: 'h', label: 'adamw', method: 'adamw', lr: 1e-3, seed: 0, status: 'finished', finalValLoss: 1, finalValAcc: null, curve: [], trainCurve: [], env: e, wallMs: 1000 });

  it('names every machine and commit with its run count, and only the first when all agree', () => {
    const mixed = runsEnvironment([row('a', env('Intel Xeon', 16, 'aaaaaaaaaaaa')), row('b', env('Intel Xeon', 16, 'aaaaaaaaaaaa')), row('c', env('AMD EPYC', 2, 'bbbbbbbbbbbb'))]);
    expect(mixed.env!.machines).to.equal('Intel Xeon x16 (2 runs), AMD EPYC x2 (1 run)');
    expect(mixed.env!.commits).to.equal('aaaaaaaaaa (2 runs), bbbbbbbbbb (1 run)');
    expect(mixed.wallS).to.equal(3);
    const same = runsEnvironment([row('a', env('AMD EPYC', 2, 'bbbbbbbbbbbb')), row('b', env('AMD EPYC', 2, 'bbbbbbbbbbbb'))]);
    expect(same.env!.machines).to.equal(undefined);
    expect(same.env!.commits).to.equal(undefined);
    expect(same.env!.cpu).to.equal('AMD EPYC');
    expect(same.env!.resumed).to.equal(undefined);
    const moved = runsEnvironment([{ ...row('a', env('Intel Xeon', 16, 'aaaaaaaaaaaa')), resumedOn: [env('AMD EPYC', 2, 'bbbbbbbbbbbb')] }]);
    expect(moved.env!.resumed).to.match(/^1 run continued elsewhere/);
  });
});

describe('claims: verdicts computed from result files', () => {
  const seeds = [0, 1, 2];
  /** Claim 5's folder: AdamW, Muon-Moonlight (the verdict) and Keller's Muon (the second verdict). */
  const muonVsAdamw = (moonlightFinal: (s: number) => number, kellerFinal: (s: number) => number = (s) => 1.6 + 0.01 * s) => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    fakeSweep(join(root, 'muon-vs-adamw', 'runs'), [
      { label: 'adamw', lr: 0.0005, seed: 1000, final: 1.7, stage: 'tune' }, { label: 'adamw', lr: 0.001, seed: 1000, final: 1.6, stage: 'tune' },
      { label: 'muon', lr: 0.02, seed: 1000, final: 1.6, stage: 'tune' }, { label: 'muon-moonlight', method: 'muon-moonlight', lr: 0.002, seed: 1000, final: 1.6, stage: 'tune' },
      ...seeds.map((s) => ({ label: 'adamw', lr: 0.001, seed: s, final: 1.5 + 0.01 * s, stage: 'final' as const })),
      ...seeds.map((s) => ({ label: 'muon-moonlight', method: 'muon-moonlight', lr: 0.002, seed: s, final: moonlightFinal(s), stage: 'final' as const })),
      ...seeds.map((s) => ({ label: 'muon', lr: 0.02, seed: s, final: kellerFinal(s), stage: 'final' as const })),
    ]);
    return getClaim('muon-vs-adamw').evaluate(join(root, 'muon-vs-adamw'));
  };

  it('muon-vs-adamw: the verdict is Muon-Moonlight\'s (the cited method); Keller\'s Muon gets its own in the reason', () => {
    const better = muonVsAdamw((s) => 1.4 + 0.01 * s + 0.002 * (s % 2));
    expect(better.verdict).to.equal('reproduced');
    expect(better.seeds).to.equal(3);
    expect(better.figures[0].label).to.match(/^muon-moonlight \(lr 0\.002\) - adamw/);
    expect(better.figures[0].value).to.be.closeTo(-0.1 + 0.002 / 3, 1e-9);
    // Keller's Muon ends 0.1 above AdamW on every seed: its own verdict is 'not reproduced', the claim's stays Moonlight's.
    expect(better.figures[1].label).to.match(/^muon \(Keller; lr 0\.02\) - adamw/);
    expect(better.figures[1].value).to.be.closeTo(0.1, 1e-9);
    expect(better.reason).to.match(/Keller's Muon - AdamW 0\.1000 \[0\.1000, 0\.1000\]: not reproduced at this scale\.$/);
    // AdamW's mean curve (1.51 + (300 - s)/200) reaches Muon-Moonlight's mean final (1.4107) never within the run.
    expect(better.figures[2].unit).to.equal('never within the run');
    expect(muonVsAdamw((s) => 1.6 + 0.01 * s, (s) => 1.4 + 0.01 * s).verdict).to.equal('not reproduced at this scale');
    expect(muonVsAdamw((s) => [1.49, 1.53, 1.5][s]).verdict).to.equal('undecided');
  });

  it('auon-loss-gpt: the verdict is the paper form\'s; the code form is judged alike in the reason', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const arm = (label: string, final: (s: number) => number) => seeds.map((s) => ({ label, method: label.replace(/-(paper|code)$/, ''), lr: 0.1, seed: s, final: final(s), stage: 'final' as const }));
    fakeSweep(join(root, 'auon-loss-gpt', 'runs'), [
      ...arm('adamw', (s) => 1.8 + 0.01 * s), ...arm('muon', (s) => 1.79 + 0.01 * s),
      // Paper form: within +0.02 of both baselines (reproduced); code form: AuON 0.1 above AdamW (not reproduced).
      ...arm('auon-paper', (s) => 1.801 + 0.01 * s + 0.001 * (s % 2)), ...arm('hybrid-auon-paper', (s) => 1.785 + 0.01 * s),
      ...arm('auon-code', (s) => 1.9 + 0.01 * s), ...arm('hybrid-auon-code', (s) => 1.78 + 0.01 * s),
    ]);
    const e = getClaim('auon-loss-gpt').evaluate(join(root, 'auon-loss-gpt'));
    expect(e.verdict).to.equal('reproduced');
    expect(e.figures.map((f) => f.label.split(' (')[0])).to.deep.equal(['gpt: auon-paper', 'gpt: auon-paper', 'gpt: hybrid-auon-paper', 'gpt: auon-code', 'gpt: auon-code', 'gpt: hybrid-auon-code']);
    expect(e.reason).to.equal('paper form: reproduced (reproduced, reproduced, reproduced); code form: not reproduced at this scale (not reproduced at this scale, not reproduced at this scale, reproduced)');
  });

  it('muon-vs-adamw: steps AdamW needs to reach Muon\'s final loss, from the mean curves (never, later, or AdamW already lower)', () => {
    const run = (label: string, seed: number, curve: [number, number][]): RunRow => ({ id: `${label}${seed}`, hash: label, label, method: label, lr: 0.01, seed, status: 'finished', stage: 'final', finalValLoss: curve.at(-1)![1], finalValAcc: null, curve: curve.map(([step, valLoss]) => ({ step, valLoss })), trainCurve: [], wallMs: 1 });
    // Muon's mean final: (1.5 + 1.7) / 2 = 1.6 at step 300.
    const muon = [run('muon', 0, [[0, 4], [100, 2], [200, 1.8], [300, 1.5]]), run('muon', 1, [[0, 4], [100, 2.2], [200, 2], [300, 1.7]])];
    const never = stepsForAdamw(muon, [run('adamw', 0, [[0, 4], [100, 2.5], [200, 2], [300, 1.8]])])!;
    expect(never.figure.unit).to.equal('never within the run');
    expect(never.text).to.match(/never reaches Muon's final loss within 300 steps \(AdamW ends at 1\.800\)/);
    // AdamW ends at 1.4 < 1.6: reached between 200 (2.0) and 300 (1.4) at 200 + (2.0 - 1.6) / (2.0 - 1.4) * 100 = 266.67.
    const lower = stepsForAdamw(muon, [run('adamw', 0, [[0, 4], [100, 2.5], [200, 2], [300, 1.4]])])!;
    expect(lower.figure.value).to.be.closeTo(266.6667, 1e-3);
    expect(lower.text).to.match(/^AdamW ends lower than Muon \(1\.400 vs 1\.600\): it reaches Muon's final loss at step 267, before Muon's 300/);
    // Reached at 150 (between 1.8 at 100 and 1.4 at 200: 100 + 0.2 / 0.4 * 100), then back above: 0.50x Muon's steps.
    const rises = stepsForAdamw(muon, [run('adamw', 0, [[0, 4], [100, 1.8], [200, 1.4], [300, 1.7]])])!;
    expect(rises.figure.value).to.be.closeTo(150, 1e-9);
    expect(rises.text).to.equal("AdamW reaches Muon's final loss at step 150, 0.50x Muon's 300 steps.");
  });

  it('reg (fine-tuning): accuracy against AdamW and the largest early loss spike against Muon decide', () => {
    // Fine-tuning curves: val loss 2.0 at step 0 (the pretrained model on the new task), train loss logged every 5 steps.
    const curve = (peak: number, final: number): [number, number | null, number | null][] => [[0, null, 2], [5, 2 + peak, null], [10, 1.8, null], [50, 1.2, 1.1], [60, 3.5, null], [100, final, final]];
    const write = (regAcc: (s: number) => number, regPeak: (s: number) => number) => {
      const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
      fakeSweep(join(root, 'reg', 'finetune'), [
        ...seeds.map((s) => ({ label: 'adamw', lr: 0.001, seed: s, final: 0.5, acc: 0.8 + 0.01 * s, stage: 'final' as const, rows: curve(0.1, 0.5) })),
        ...seeds.map((s) => ({ label: 'muon', lr: 0.01, seed: s, final: 0.55, acc: 0.78, stage: 'final' as const, rows: curve(0.8 + 0.05 * s, 0.55) })),
        ...seeds.map((s) => ({ label: 'reg', lr: 0.001, seed: s, final: 0.5, acc: regAcc(s), stage: 'final' as const, rows: curve(regPeak(s), 0.5) })),
      ]);
      return getClaim('reg').evaluate(join(root, 'reg'));
    };
    // The spike is max over logged steps 1..50 of train loss - val loss at step 0; the 3.5 at step 60 lies outside.
    expect(EARLY_STEPS).to.equal(50);
    const one: RunRow = { id: 'x', hash: 'x', label: 'reg', method: 'reg', lr: 0.001, seed: 0, status: 'finished', stage: 'final', finalValLoss: 0.5, finalValAcc: 0.8, curve: [{ step: 0, valLoss: 2 }, { step: 100, valLoss: 0.5 }], trainCurve: [5, 10, 50, 60].map((step, i) => ({ step, trainLoss: [2.25, 1.8, 1.2, 3.5][i] })), wallMs: 1 };
    expect(earlySpike(one)).to.equal(0.25); // 2.25 - 2 at step 5; step 60 is outside steps 1-50
    expect(earlySpike(one, 60)).to.equal(1.5);
    expect(earlySpike({ ...one, status: 'diverged' })).to.equal(Infinity);
    expect(earlySpike({ ...one, curve: [] })).to.equal(null);
    const good = write((s) => 0.8 + 0.01 * s + 0.001 * (s % 2), (s) => 0.1 + 0.01 * s);
    expect(good.verdict).to.equal('reproduced');
    // REG - AdamW accuracy: 0, 0.001, 0 -> mean 0.000333; REG - Muon spike: (0.1 - 0.8), (0.11 - 0.85), (0.12 - 0.9) = -0.70, -0.74, -0.78 -> mean -0.74.
    expect(good.figures[0].value).to.be.closeTo(0.001 / 3, 1e-9);
    expect(good.figures[1].value).to.be.closeTo(-0.74, 1e-9);
    expect(good.seeds).to.equal(3);
    // REG spikes more than Muon: not reproduced, whatever the accuracy.
    expect(write((s) => 0.8 + 0.01 * s, (s) => 1.5 + 0.01 * s).verdict).to.equal('not reproduced at this scale');
    // REG's accuracy 5 points under AdamW's: not reproduced.
    expect(write((s) => 0.75 + 0.01 * s + 0.001 * (s % 2), (s) => 0.1 + 0.01 * s).verdict).to.equal('not reproduced at this scale');
  });

  it("results of an earlier design give no verdict: a run folder whose experiment differs from the claim's file today reads 'not run yet'", () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'claims-root-')), 'mars-m-vs-muon');
    const claim = getClaim('mars-m-vs-muon');
    const [, file] = claim.commands(dir)[0];
    const now = loadExperiment(file);
    const record = (experiment: unknown) => {
      mkdirSync(join(dir, 'runs'), { recursive: true });
      writeFileSync(join(dir, 'runs', 'experiment.json'), JSON.stringify({ name: now.name, source: { file, sets: [] }, experiment, grid: [], runs: [], shard: null }));
    };
    record(now);
    expect(staleDesign(claim, dir)).to.equal(null);
    // The committed claim-1 folder's design: 5 final seeds and the first tuning protocol.
    record({ ...now, seeds: [0, 1, 2, 3, 4], tuning: { ...now.tuning, protocol: 1, seeds: 1 } });
    expect(staleDesign(claim, dir)).to.match(/earlier design of this claim \(.*mars-m-vs-muon\.yaml now differs in tuning, seeds\)/);
    const [entry] = evaluateClaims([claim], join(dir, '..'));
    expect(entry.state).to.equal('not run');
    expect(entry.note).to.match(/earlier design/);
    // The kept results' tuned selections are still listed with their edge flags, though they give no verdict.
    const md = claimsMarkdown([{ ...entry, selections: [{ folder: 'runs', label: 'muon-moonlight', setting: 'lr=2.47462e-3', edge: 'edge: lr at the high end (2.47462e-3) of the values tried', selectedAt: 250, steps: 2000, tuningSeeds: 1 }] }]);
    expect(md).to.include('Tuned selections of results kept from an earlier design').and.include('- mars-m-vs-muon: muon-moonlight lr=2.47462e-3 (edge: lr at the high end');
  });

  it('kronecker: reproduced when L⊗R is within the margin of optimal and ahead of Shampoo, not reproduced when behind', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const write = (shampooLead: number, kSeeds: readonly number[] = [0, 1, 2, 3, 4]) => {
      for (const task of ['mnist2-mlp', 'gpt']) {
        const rows: KroneckerRow[] = kSeeds.flatMap((seed) => [10, 20].flatMap((step) => ['adagrad', 'gauss-newton'].map((matrix) => {
          const jitter = 0.001 * seed + 0.0005 * (step / 10);
          return { task, seed, layer: 'w', rows: 4, cols: 4, step, matrix, optimal: 0.95 + jitter, shampoo2: 0.94 + jitter, shampoo: 0.94 + jitter - shampooLead - 0.001 * seed, power_iterations: 5, power_residual: 1e-10, converged: 1, samples: step, train_loss: 1 };
        })));
        mkdirSync(join(root, 'kronecker', task), { recursive: true });
        writeFileSync(join(root, 'kronecker', task, 'kronecker.csv'), kroneckerCsv(rows));
        writeFileSync(join(root, 'kronecker', task, 'kronecker.json'), JSON.stringify({ wallMs: 1000, env: { gitCommit: 'abc' } }));
      }
      return getClaim('kronecker').evaluate(join(root, 'kronecker'));
    };
    expect(write(0.1).verdict).to.equal('reproduced');
    expect(write(-0.1).verdict).to.equal('not reproduced at this scale');
    // Results with fewer seeds than the design's five came from an earlier design: no verdict.
    expect(() => write(0.1, [0, 1, 2])).to.throw(MissingResults, /3 of the design's 5 seeds/);
  });

  describe('auon-cost', () => {
    // Samples with a per-round drift (load) common to every arm and 3% noise per sample.
    const laws = (auonB: number, muonB = 1.5): Record<string, [number, number, number]> => ({ adamw: [0.05, 2e-6, 1.0], auon: [0.1, 4e-6 * 1e4 ** (1 - auonB), auonB], 'hybrid-auon': [0.3, 1e-9, muonB], muon: [0.3, 1e-9, muonB] });
    const samples = (l: Record<string, [number, number, number]>, rounds: number, noise = 0.03, seed = 5): CostSample[] => {
      const r = mt19937.factory({ seed });
      const u = () => (r() + 0.5) / 4294967296;
      const z = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
      const out: CostSample[] = [];
      for (let round = 0; round < rounds; round++) {
        const drift = Math.exp(0.02 * z());
        for (const n of COST_SIZES) for (const [o, [a, c, b]] of Object.entries(l)) out.push({ optimizer: o, n, round, ms: (a + c * (n * n) ** b) * drift * Math.exp(noise * z()) });
      }
      return out;
    };
    const rows = (s: CostSample[], load: { before: number; rounds: number; forced?: boolean }): Measurement[] => {
      const lr = (shape: string, value: number, unit = 'load (1 min)'): Measurement => ({ kind: 'load', name: 'loadavg-1min', optimizer: null, backend: 'wasm-native', shape, median_ms: null, min_ms: null, max_ms: null, mean_ms: null, reps: 0, ratio_to_adamw: null, value, unit });
      const nr = new Set(s.map((x) => x.round)).size;
      return [
        lr('before', load.before),
        lr('threshold', 1.5, load.forced ? 'forced' : 'guarded'),
        ...s.map((x): Measurement => ({ kind: 'cost-rep', name: x.optimizer, optimizer: x.optimizer, backend: 'wasm-native', shape: `${x.n}x${x.n}`, median_ms: x.ms, min_ms: x.ms, max_ms: x.ms, mean_ms: x.ms, reps: 1, ratio_to_adamw: null, value: x.round, unit: 'round' })),
        ...Array.from({ length: nr }, (_, r) => lr(`round ${r}`, load.rounds)),
        lr('after', load.rounds),
      ];
    };
    const evaluateWith = (m: Measurement[]) => {
      const dir = join(mkdtempSync(join(tmpdir(), 'claims-root-')), 'auon-cost');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'bench-partial.csv'), formatCsv(m));
      return { dir, ev: () => getClaim('auon-cost').evaluate(dir) };
    };
    const idle = { before: 0.1, rounds: 1.2 };

    it('the rule on synthetic fits: reproduced (linear AuON, cubic Muon), not reproduced (AuON as Muon), undecided (too few rounds, overlapping intervals)', () => {
      const ok = costVerdict(analyzeCost(samples(laws(1.0), 10), { resamples: 300 }));
      expect(ok).to.include({ verdict: 'reproduced', linear: 'reproduced', faster: 'reproduced', bounded: 'reproduced' });
      const bad = costVerdict(analyzeCost(samples(laws(1.5), 10), { resamples: 300 }));
      expect(bad.verdict).to.equal('not reproduced at this scale');
      expect(bad.linear).to.equal('not reproduced at this scale');
      expect(bad.bounded).to.equal('not reproduced at this scale');
      // AuON 0.06 above AdamW in the exponent and 40% noise: the interval of the difference straddles +0.1.
      const noisy = costVerdict(analyzeCost(samples(laws(1.06, 1.06), 10, 0.4), { resamples: 300 }));
      expect(noisy.linear).to.equal('undecided');
      expect(noisy.faster).to.equal('undecided');
      expect(noisy.verdict).to.equal('undecided');
      const few = costVerdict(analyzeCost(samples(laws(1.0), 3), { resamples: 100 }));
      expect(few.verdict).to.equal('undecided');
      expect(few.reason).to.match(/only 3 timed rounds \(the rule needs 5\)/);
    });

    it('AdamW outside the linear band leaves every part undecided', () => {
      const l = laws(1.0);
      l.adamw = [0.05, 2e-9, 1.4];
      const v = costVerdict(analyzeCost(samples(l, 8), { resamples: 100 }));
      expect(v.verdict).to.equal('undecided');
      expect(v.reason).to.match(/AdamW's exponent .* outside \[0\.9, 1\.1\]/);
    });

    it('evaluate reads the bench CSV, decides, reports the load and writes the ratio plot', () => {
      const { dir, ev } = evaluateWith(rows(samples(laws(1.0), 6), idle));
      const e = ev();
      expect(e.verdict).to.equal('reproduced');
      expect(e.seeds).to.equal(6);
      expect(e.env?.load).to.equal('0.10 before, up to 1.20 after a round, 1.20 at the end');
      expect(e.figures.filter((f) => /AuON \/ AdamW step time at/.test(f.label))).to.have.length(COST_SIZES.length);
      expect(readFileSync(join(dir, 'cost-ratio.svg'), 'utf8')).to.match(/^<svg/);
    });

    it('the load guard: a loaded measurement is not measured unless it was forced, and then the reason says so', () => {
      expect(evaluateWith(rows(samples(laws(1.0), 6), { before: 0.9, rounds: 1.2 })).ev).to.throw(MissingResults, /not measured: machine loaded \(load average 0\.90 before the run/);
      expect(evaluateWith(rows(samples(laws(1.0), 6), { before: 0.1, rounds: 2.5 })).ev).to.throw(MissingResults, /up to 2\.50 after a round/);
      const forced = evaluateWith(rows(samples(laws(1.0), 6), { before: 0.9, rounds: 2.5, forced: true })).ev();
      expect(forced.reason).to.match(/^Measured under load, forced: load average 0\.90 before the run/);
      expect(forced.env?.load).to.match(/forced past the guard/);
      // A folder without samples is not run.
      expect(evaluateWith([]).ev).to.throw(MissingResults);
    });
  });

  it('the report lists every claim, with commands for those not run and verdict text from the rule', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const entries = evaluateClaims(CLAIMS, root);
    expect(entries.map((e) => e.state)).to.deep.equal(CLAIMS.map(() => 'not run'));
    const md = claimsMarkdown(entries);
    expect(md.split('\n').filter((l) => /^\| \d /.test(l))).to.have.length(CLAIMS.length);
    expect(md).to.include('`npx optlab run experiments/claims/configs/muon-vs-adamw.yaml --out');
    expect(md).to.include('`npx optlab kronecker --task mnist2-mlp --seeds 0 1 2 3 4 --out');
    expect(verdictText(entries[0])).to.equal('not run yet');
    // Run counts as the experiment files' headers state them (docs/claims.md's budgets): tuning at the
    // full horizon, 8 trials x 2 tuning seeds per searching entry, then the power analysis's seeds.
    expect(claimCost(getClaim('mars-m-vs-muon'), root)).to.include({ runs: 154, tuningRuns: 16, steps: 308_000 });
    expect(claimCost(getClaim('muon-vs-adamw'), root)).to.include({ runs: 132, tuningRuns: 48, steps: 264_000 });
    expect(claimCost(getClaim('auon-loss-gpt'), root)).to.include({ runs: 156, tuningRuns: 96, steps: 312_000 });
    expect(claimCost(getClaim('auon-loss-vit'), root)).to.include({ runs: 204, tuningRuns: 96, steps: 204_000 });
    expect(claimCost(getClaim('reg-scratch'), root)).to.include({ runs: 58, tuningRuns: 32, steps: 116_000 });
    // reg: 3 x 4 trials x 125 steps on the tuned half, then the best 2 of each rerun at its full 500 (docs/protocol.md), 13 final runs.
    expect(claimCost(getClaim('reg'), root)).to.include({ runs: 31, tuningRuns: 18, steps: 13_000 });
    // The GPT claims together: 500 runs-of-2000-steps equivalents.
    const gpt = ['mars-m-vs-muon', 'auon-loss-gpt', 'reg-scratch', 'muon-vs-adamw'].reduce((a, n) => a + claimCost(getClaim(n), root)!.steps, 0);
    expect(gpt / 2000).to.equal(500);
    expect(claimCost(getClaim('kronecker'), root)).to.equal(null);
    expect(() => getClaim('nope')).to.throw(/unknown claim 'nope'.*kronecker/);
  });
});
