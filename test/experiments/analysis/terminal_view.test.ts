/**
 * The first screen as a researcher reads it: terminal tables within 120 columns, one-seed output that
 * says it has no interval (and claims no speed-up), tuning trials apart from final runs, a message when
 * --only leaves the baseline out, one short backend line; and the report's plots as headless Chromium
 * lays them out at 1400 px.
 */
import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { formatRanking, summarize, writeReport, type ExperimentRecord } from '../../../experiments/analysis/report.js';
import { browserPlots, findChromium } from '../../../experiments/analysis/report_screenshot.js';
import { shortNumbers, textTable, TERMINAL_WIDTH, wrapText } from '../../../experiments/analysis/text_table.js';
import { backendLines } from '../../../experiments/runner/preflight.js';
import { CURVE_COLUMNS, runPaths, summarizeCurve, writeRecord, type CurveRow, type RunRecord } from '../../../experiments/runner/runner.js';
import { removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

/** Twelve optimizer entries, two with long labels, one lr with many digits (as a tuned file writes it). */
const TWELVE = [
  { name: 'adamw', lr: 1.77828e-3 }, { name: 'sgd', lr: 0.3 }, { name: 'muon', lr: 0.02 }, { name: 'muon-moonlight', lr: 3e-3 },
  { name: 'mars', lr: 3e-3 }, { name: 'mars-m', lr: 3e-3 }, { name: 'auon' }, { name: 'hybrid-auon' }, { name: 'reg', lr: 3e-3 },
  { name: 'shampoo', lr: 3e-3, grafting: 'adam' }, { name: 'muon', label: 'muon-keller-scaled-long-label', lr: 0.0316228 },
  { name: 'adamw', label: 'adamw-weight-decay-0.05-long', lr: 1.33352e-3, weightDecay: 0.05 },
];

const DOC = (seeds: number[], over: Record<string, unknown> = {}) =>
  tinyExperiment({ name: 'first-screen', optimizers: TWELVE, seeds, target: { valLoss: 3.5 }, training: { steps: 40, batchSize: 2, logEvery: 5, evalEvery: 10 }, ...over });

/**
 * A results folder written by hand: every run finished, validation loss falling to a level set by its
 * optimizer and seed, two diagnostics per route (one spanning six decades), two routes for half the
 * optimizers; `stage` marks runs as tuning trials.
 */
function folder(doc: Record<string, unknown>, opts: { only?: string[]; tune?: (i: number) => boolean } = {}): string {
  const dir = tempDir();
  const exp = applyOverrides(doc, []);
  const specs = expandRuns(exp);
  const grid = specs.map((r) => r.id);
  const rec: ExperimentRecord = { name: exp.name, source: { file: 'fake.yaml', sets: [], ...(opts.only ? { only: opts.only } : {}) }, experiment: exp, grid, runs: grid, shard: null };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(rec));
  specs.forEach((spec, i) => {
    const o = exp.optimizers.findIndex((x) => (x.label ?? x.name) === spec.label);
    const end = 3.2 + 0.01 * o + 0.004 * spec.seed;
    const routes = o % 2 ? [spec.label] : [spec.label, 'adamw'];
    const diagCols = routes.flatMap((r) => [`${r}/update_rms`, `${r}/cond_max`]);
    const rows: CurveRow[] = [0, 10, 20, 30, 40].map((step) => ({ step, seen: step * 32, train_loss: step ? 4 - step * 0.02 : null, val_loss: 4.2 - (4.2 - end) * Math.min(1, step / 30), val_acc: null, lr_scale: 1, grad_norm: 1, update_rms: 0.01, wall_ms: step * 10 }));
    const diag = (step: number, k: number) => (k % 2 ? 10 ** (1 + (6 * step) / 40) * (1 + o / 12) : 1e-3 * (1 + o / 3 + step / 40));
    const lines = [[...CURVE_COLUMNS, ...diagCols].join(','), ...rows.map((r) => [r.step, r.seen, r.train_loss ?? '', r.val_loss ?? '', '', r.lr_scale, r.grad_norm, r.update_rms, r.wall_ms, ...diagCols.map((_, k) => (r.step ? diag(r.step, k) : ''))].join(','))];
    writeFileSync(runPaths(dir, spec.id).csv, lines.join('\n') + '\n');
    const tune = opts.tune?.(i) === true;
    const r: RunRecord = {
      ...spec, ...(tune ? { stage: 'tune', trial: 0 } : {}), experiment: exp.name, status: 'finished', step: 40,
      env: { gitCommit: 'abc', gitDirty: false, optlabVersion: '0.1.0', tfjsVersion: '4.22.0', node: 'v20', platform: 'linux', cpu: 'cpu', cores: 2, memoryGiB: 8, hostname: 'h', backend: 'wasm' },
      result: summarizeCurve(rows, exp.target?.valLoss, undefined, false),
    };
    writeRecord(runPaths(dir, spec.id).json, r);
  });
  return dir;
}

const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length));

describe('the first screen and the report as a researcher reads them', function () {
  this.timeout(300_000);
  after(removeTempDirs);

  it('textTable wraps headers, then labels, to the width; numbers keep their column; shortNumbers rounds labels to 3 digits', () => {
    const t = textTable(['optimizer', 'a long header of a number column', 'setting'], [['muon-moonlight', '2.471', 'lr=1.78e-3 beta2=0.99 weightDecay=0.1']], [false, true, false], { width: 40 });
    expect(widest(t)).to.be.at.most(40);
    expect(t).to.include('2.471').and.include('weightDecay=0.1');
    expect(t.split('\n')[0]).to.match(/^optimizer\s+a long/);
    expect(wrapText('aaaa bbbb cccc', 9, '  ')).to.deep.equal(['aaaa bbbb', '  cccc']);
    expect(shortNumbers('adamw lr=1.77828e-3 beta2=0.99 eps=1e-8 width=64')).to.equal('adamw lr=1.78e-3 beta2=0.99 eps=1e-8 width=64');
  });

  it('one seed: every line fits 120 columns, rows say "1 seed: no interval", no stray dashes, no speed-up claim', () => {
    const out = formatRanking(summarize(folder(DOC([0]))));
    expect(widest(out), out).to.be.at.most(TERMINAL_WIDTH);
    const verdicts = out.slice(0, out.indexOf('first-screen: 12 configurations'));
    expect(verdicts.split('\n').filter((l) => !l.startsWith('1 seed') && l.includes('  1 seed: no interval'))).to.have.length(11);
    expect(out).to.include('1 seed: no interval, so no verdict and no speed-up; use seeds >= 2');
    expect(out).to.not.match(/\d -(\s|$)/m);
    expect(out).to.not.match(/undecided|\(unpaired\)|baseline never reaches|\dx\b/);
    expect(out).to.include('lr=1.78e-3').and.not.include('1.77828');
    expect(out).to.include('tuning budget: all: hand-set (no tuning budget)');
    // The two steps-to-target figures are named apart.
    expect(out).to.include('(interpolated)').and.include('first eval <=');
  });

  it('three seeds: intervals as ± half-widths, verdicts, every line within 120 columns', () => {
    const out = formatRanking(summarize(folder(DOC([0, 1, 2]))));
    expect(widest(out), out).to.be.at.most(TERMINAL_WIDTH);
    expect(out).to.match(/3\.2\d\d ± 0\.\d{3}/);
    expect(out).to.match(/\+0\.\d{4} ± 0\.\d{4}/);
    expect(out).to.not.include('no interval');
  });

  it('tuning trials are ranked in their own table, never merged with a final run of the same setting', () => {
    // Every third run is a tuning trial with the hash of the final runs beside it (as with --only).
    const doc = DOC([0, 1], { optimizers: TWELVE.slice(0, 3) });
    const dir = folder(doc, { tune: (i) => i % 2 === 1 });
    const s = summarize(dir);
    expect(s.configs.filter((c) => c.runs.some((r) => r.rec.stage === 'tune')).every((c) => c.runs.every((r) => r.rec.stage === 'tune'))).to.equal(true);
    const out = formatRanking(s);
    const [ranking, trials] = out.split('tuning trials (each at its tuning horizon');
    expect(trials).to.include('(trial 0)');
    expect(ranking.split('first-screen: ')[1]).to.not.include('trial');
    expect(widest(out)).to.be.at.most(TERMINAL_WIDTH);
  });

  it('--only without the baseline says there are no verdicts and why', () => {
    // What `optlab run quick.yaml --only sgd,muon` records: the experiment with the selected entries only.
    const out = formatRanking(summarize(folder(DOC([0, 1], { optimizers: [TWELVE[1], TWELVE[2]] }), { only: ['sgd', 'muon'] })));
    expect(out).to.include("no verdicts: --only sgd,muon leaves out the baseline ('adamw' unless the experiment sets baseline:); add it to --only");
    const one = formatRanking(summarize(folder(DOC([0], { optimizers: [TWELVE[2]] }), { only: ['muon'] })));
    expect(one).to.include('no verdicts: --only muon leaves out the baseline');
    const all = formatRanking(summarize(folder(DOC([0], { optimizers: [TWELVE[0], TWELVE[2]] }))));
    expect(all).to.not.include('no verdicts');
  });

  it('the backend line is at most 120 characters, points to the full check, and keeps what to set as a hint that says it changes rounding', () => {
    // The backend line as kernels/backend.ts composes it with OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU (kernels/blas_family.ts's note).
    const long = 'backend: wasm+native, OpenBLAS 0.3.21 (Haswell kernels, verified, from OPENBLAS_CORETYPE=Haswell), 2 threads (skipped: @tensorflow/tfjs-node-gpu not installed; tensorflow (tfjs-node) is installed but wasm+native trains the GPT faster here (README, Backends); --backend tensorflow uses it); wider SkylakeX kernels pass the check here: OPTLAB_BLAS_CORE=SkylakeX selects them for optlab (kernel sets round differently, so results change in the last bits)';
    const { line, hints } = backendLines(long, 'results/quick/experiment.json');
    // Too long with the provenance: it goes (the hint and the record keep it), the thread count stays.
    expect(line).to.equal('backend: wasm+native, OpenBLAS 0.3.21 (Haswell kernels, verified), 2 threads (details in results/quick/experiment.json)');
    expect(line.length).to.be.at.most(120);
    expect(hints).to.have.length(1);
    expect(hints[0]).to.include('OPTLAB_BLAS_CORE=SkylakeX').and.include('round differently');
    expect(backendLines('backend: cpu (requested)', 'x').line).to.equal('backend: cpu (requested)');
    expect(backendLines(`backend: ${'w'.repeat(200)}`, 'x').line.length).to.be.at.most(120);
  });

  it('report plots at 1400 px in headless Chromium: at least 600 px wide, legends inside and uncut, tick labels apart', async function () {
    const chromium = findChromium();
    if (!chromium) {
      console.log('      pending: no Chromium found (apt-get install chromium on Debian, or set $CHROMIUM to its path)');
      this.skip();
    }
    const dir = folder(DOC([0, 1]));
    await writeReport(dir);
    const got = browserPlots(join(dir, 'report.html'), chromium!, 1400);
    const diag = got.plots.filter((p) => p.file.startsWith('diag-'));
    expect(diag.map((p) => p.file)).to.deep.equal(['diag-cond_max.svg', 'diag-update_rms.svg']);
    expect(got.problems).to.deep.equal([]);
    // One plot per row: every diagnostics plot starts at the same x.
    expect(new Set(diag.map((p) => p.left)).size).to.equal(1);
  });
});
