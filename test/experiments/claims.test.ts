import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestLr, combine, MissingResults, pairedDifference, readRuns, stepsToReach, tInterval, verdictBelow } from '../../experiments/claims/claim.js';
import { CLAIMS, getClaim } from '../../experiments/claims/index.js';
import { claimsMarkdown, evaluateClaims, verdictText } from '../../experiments/claims/report.js';
import { kroneckerCsv, type KroneckerRow } from '../../experiments/kronecker.js';
import { formatCsv } from '../../bench/report.js';
import type { Measurement } from '../../bench/harness.js';

/** A results folder as `optlab run` leaves it: experiment.json, and per run <id>.json and <id>.csv (validation every 100 steps). */
function fakeSweep(dir: string, runs: { label: string; method?: string; lr: number; seed: number; final: number; status?: string }[]): void {
  mkdirSync(dir, { recursive: true });
  const ids = runs.map((r) => `${r.label}-${String(r.lr).replace('.', '')}-s${r.seed}`);
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ name: 'fake', source: { file: 'fake.yaml', sets: [] }, experiment: { name: 'fake' }, grid: ids, runs: ids, shard: null }));
  runs.forEach((r, i) => {
    const rec = { id: ids[i], hash: `${r.label}${r.lr}`, label: r.label, seed: r.seed, status: r.status ?? 'finished', step: 300, config: { optimizer: { name: r.method ?? r.label, options: { lr: r.lr } } }, result: { finalValLoss: r.final, finalValAcc: null, wallMs: 1000 }, env: { gitCommit: 'abc', cpu: 'test cpu', cores: 2 } };
    writeFileSync(join(dir, `${ids[i]}.json`), JSON.stringify(rec));
    // Validation falls linearly from final + 1 at step 100 to final at step 300.
    const rows = [100, 200, 300].map((s) => `${s},${s * 10},,${(r.final + (300 - s) / 200).toFixed(6)},,1,,,${s}`);
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

  it('reads runs, picks the best lr by mean final loss, pairs by seed; diverged runs never win and void the interval', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    fakeSweep(dir, [
      { label: 'a', lr: 0.1, seed: 0, final: 1.5 }, { label: 'a', lr: 0.1, seed: 1, final: 1.6 },
      { label: 'a', lr: 0.2, seed: 0, final: 1.2 }, { label: 'a', lr: 0.2, seed: 1, final: 1.0, status: 'diverged' },
      { label: 'b', lr: 0.1, seed: 0, final: 1.4 }, { label: 'b', lr: 0.1, seed: 1, final: 1.45 },
    ]);
    const rows = readRuns(dir);
    expect(rows).to.have.length(6);
    const a = bestLr(rows, 'a');
    expect(a.lr).to.equal(0.1); // lr 0.2 has a diverged seed: its mean is +Infinity
    expect(a.tried).to.equal(2);
    const d = pairedDifference(a.runs, bestLr(rows, 'b').runs, (r) => r.finalValLoss, 'a - b');
    expect(d.value).to.be.closeTo(0.125, 1e-12); // (0.1 + 0.15) / 2
    expect(d.n).to.equal(2);
    const withDiverged = pairedDifference(rows.filter((r) => r.label === 'a' && r.lr === 0.2), bestLr(rows, 'b').runs, (r) => r.finalValLoss, 'x');
    expect(Number.isNaN(withDiverged.lo!)).to.equal(true);
    // Linear interpolation between evaluations: the curve is final+1, final+0.5, final at 100, 200, 300.
    expect(stepsToReach(rows[0].curve, 1.5 + 0.75)).to.be.closeTo(150, 1e-9);
    expect(stepsToReach(rows[0].curve, 0.1)).to.equal(null);
  });

  it('an unfinished or missing sweep is reported as missing results, not evaluated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'claims-'));
    expect(() => readRuns(dir)).to.throw(MissingResults);
    fakeSweep(dir, [{ label: 'a', lr: 0.1, seed: 0, final: 1, status: 'running' }]);
    expect(() => readRuns(dir)).to.throw(MissingResults, /1 of 1 runs not finished/);
  });
});

describe('claims: verdicts computed from result files', () => {
  const seeds = [0, 1, 2];
  const muonVsAdamw = (muonFinal: (s: number) => number) => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    fakeSweep(join(root, 'muon-vs-adamw', 'runs'), [
      ...seeds.flatMap((s) => [0.0005, 0.001].map((lr) => ({ label: 'adamw', lr, seed: s, final: lr === 0.001 ? 1.5 + 0.01 * s : 1.7 }))),
      ...seeds.flatMap((s) => [0.02].map((lr) => ({ label: 'muon', lr, seed: s, final: muonFinal(s) }))),
    ]);
    return getClaim('muon-vs-adamw').evaluate(join(root, 'muon-vs-adamw'));
  };

  it('muon-vs-adamw: reproduced, not reproduced or undecided as the numbers say', () => {
    const better = muonVsAdamw((s) => 1.4 + 0.01 * s + 0.002 * (s % 2));
    expect(better.verdict).to.equal('reproduced');
    expect(better.seeds).to.equal(3);
    expect(better.figures[0].value).to.be.closeTo(-0.1 + 0.002 / 3, 1e-9);
    // AdamW's mean curve (1.51 + (300 - s)/200) reaches Muon's mean final (1.4107) never within the run.
    expect(better.figures[1].unit).to.equal('never within the run');
    expect(muonVsAdamw((s) => 1.6 + 0.01 * s).verdict).to.equal('not reproduced at this scale');
    expect(muonVsAdamw((s) => [1.49, 1.53, 1.5][s]).verdict).to.equal('undecided');
  });

  it('kronecker: reproduced when L⊗R is within the margin of optimal and ahead of Shampoo, not reproduced when behind', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const write = (shampooLead: number) => {
      for (const task of ['mnist2-mlp', 'gpt']) {
        const rows: KroneckerRow[] = seeds.flatMap((seed) => [10, 20].flatMap((step) => ['adagrad', 'gauss-newton'].map((matrix) => {
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
  });

  it('auon-cost: the verdict follows the fitted exponents of the bench CSV', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const dir = join(root, 'auon-cost');
    mkdirSync(dir, { recursive: true });
    const m = (name: string, n: number, ms: number): Measurement => ({ kind: 'scaling-step', name, optimizer: name, backend: 'wasm-native', shape: `${n}x${n}`, median_ms: ms, min_ms: ms, max_ms: ms, mean_ms: ms, reps: 3, ratio_to_adamw: null, value: null, unit: null });
    const sizes = [128, 256, 512, 1024, 2048];
    const write = (auonExp: number) => writeFileSync(join(dir, 'bench-partial.csv'), formatCsv(['adamw', 'auon', 'hybrid-auon', 'muon'].flatMap((o) => sizes.map((n, i) => m(o, n, 1e-3 * (n * n) ** (o === 'auon' ? auonExp : o === 'adamw' ? 1 : 1.5) * (1 + 0.01 * (i % 2)))))));
    write(1.0);
    expect(getClaim('auon-cost').evaluate(dir).verdict).to.equal('reproduced');
    write(1.5);
    expect(getClaim('auon-cost').evaluate(dir).verdict).to.equal('not reproduced at this scale');
  });

  it('the report lists every claim, with commands for those not run and verdict text from the rule', () => {
    const root = mkdtempSync(join(tmpdir(), 'claims-root-'));
    const entries = evaluateClaims(CLAIMS, root);
    expect(entries.map((e) => e.state)).to.deep.equal(CLAIMS.map(() => 'not run'));
    const md = claimsMarkdown(entries);
    expect(md.split('\n').filter((l) => /^\| \d /.test(l))).to.have.length(CLAIMS.length);
    expect(md).to.include('`npx optlab run experiments/claims/configs/muon-vs-adamw.yaml --out');
    expect(md).to.include('`npx optlab kronecker --task mnist2-mlp --seeds 0 1 2 --out');
    expect(verdictText(entries[0])).to.equal('not run yet');
    expect(() => getClaim('nope')).to.throw(/unknown claim 'nope'.*kronecker/);
  });
});
