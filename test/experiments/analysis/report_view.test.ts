import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, ConfigError, expandRuns, type RunSpec } from '../../../experiments/runner/config.js';
import { closestPair, deltaE2000, SERIES_COLORS } from '../../../experiments/analysis/colors.js';
import { lrSensitivityPoints, mergeResults, summarize, watchReport, writeReport, type ExperimentRecord } from '../../../experiments/analysis/report.js';
import { browserLayout, findChromium } from '../../../experiments/analysis/report_screenshot.js';
import { CURVE_COLUMNS, runPaths, summarizeCurve, writeRecord, type CurveRow, type RunRecord, type RunStatus } from '../../../experiments/runner/runner.js';
import { removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

/** One fabricated run: its status, backend and validation curve (step -> loss). */
interface FakeRun {
  status: RunStatus;
  backend?: string;
  val?: [number, number][];
}

/** A results folder written by hand (no training): experiment.json, and a record and curve per given run. */
function fakeFolder(doc: Record<string, unknown>, runs: Record<number, FakeRun>, dir = tempDir()): { dir: string; specs: RunSpec[] } {
  const exp = applyOverrides(doc, []);
  const specs = expandRuns(exp);
  const grid = specs.map((r) => r.id);
  const rec: ExperimentRecord = { name: exp.name, source: { file: 'fake.yaml', sets: [] }, experiment: exp, grid, runs: grid, shard: null };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'experiment.json'), JSON.stringify(rec));
  for (const [k, f] of Object.entries(runs)) {
    const spec = specs[Number(k)];
    const rows: CurveRow[] = (f.val ?? []).map(([step, v]) => ({ step, seen: step * 64, train_loss: step ? v : null, val_loss: v, val_acc: null, lr_scale: 1, grad_norm: 1, update_rms: 0.01, wall_ms: step * 10 }));
    const lines = [CURVE_COLUMNS.join(','), ...rows.map((r) => [r.step, r.seen, r.train_loss ?? '', r.val_loss ?? '', '', r.lr_scale, r.grad_norm, r.update_rms, r.wall_ms].join(','))];
    writeFileSync(runPaths(dir, spec.id).csv, lines.join('\n') + '\n');
    const diverged = f.status === 'diverged';
    const r: RunRecord = {
      ...spec, experiment: exp.name, status: f.status, step: rows.at(-1)?.step ?? 0,
      env: { gitCommit: 'abc', gitDirty: false, optlabVersion: '0.1.0', tfjsVersion: '4.22.0', node: 'v20', platform: 'linux', cpu: 'cpu', cores: 2, memoryGiB: 8, hostname: 'h', ...(f.backend ? { backend: f.backend } : {}) },
      ...(f.status === 'finished' || diverged ? { result: summarizeCurve(rows, exp.target?.valLoss, undefined, diverged) } : {}),
      ...(diverged ? { divergedAt: 10, lastFinite: { step: 5, trainLoss: 3, valLoss: null } } : {}),
      ...(f.status === 'interrupted' ? { signal: 'SIGKILL', checkpointStep: 5 } : {}),
      ...(f.status === 'finished' ? { routing: [{ parameter: 'wte', role: 'embedding', shape: [65, 16], route: 'adamw', transforms: 'adam > lr=0.01' }], sample: { prompt: '\n', text: 'ROMEO: hello', temperature: 0.8, seed: 0 } } : {}),
    };
    writeRecord(runPaths(dir, spec.id).json, r);
  }
  return { dir, specs };
}

const curve = (end: number): [number, number][] => [[0, 4.2], [5, 3.9], [10, 3.2], [15, end], [20, end - 0.05]];
const LR_DOC = tinyExperiment({ optimizers: [{ name: 'adamw', lr: [0.01, 1e3] }, { name: 'sgd', lr: [0.1, 0.3] }], training: { steps: 20, batchSize: 2, logEvery: 5, evalEvery: 5 } });

/** Numbers on the y axis of a vega SVG (tick labels of the axis titled `title`). */
function yTicks(svg: string, title: string): number[] {
  const axis = svg.split('<g class="mark-group role-axis"').find((part) => part.includes(`aria-label="Y-axis titled '${title}'`)) ?? '';
  return [...axis.matchAll(/<text[^>]*>([-\d.]+)<\/text>/g)].map((m) => Number(m[1]));
}

describe('report', function () {
  this.timeout(300_000);
  after(removeTempDirs);

  it('marks a sweep with missing or unfinished runs incomplete, in the page and the ranking, and names only recorded backends', async () => {
    // runs: adamw 0.01 finished, adamw 1e3 interrupted (killed), sgd 0.1 failed before choosing a backend, sgd 0.3 never started
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) }, 1: { status: 'interrupted', backend: 'wasm', val: curve(3.1).slice(0, 2) }, 2: { status: 'failed' } });
    const { ranking } = await writeReport(dir);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.include('<div class="banner incomplete"><b>Incomplete.</b> 1 of 4 runs finished or diverged; 1 failed');
    expect(html).to.include('1 interrupted').and.include('1 without results');
    expect(ranking).to.match(/INCOMPLETE: 1 of 4 runs finished or diverged/);
    expect(html).to.include('interrupted by SIGKILL at step 5 (resumes from step 5)');
    expect(html).to.not.match(/backend [^<]*\?/);
    expect(html).to.match(/<h2>Environment<\/h2>\n<table><thead><tr><th>backend<\/th>[^]*<td>wasm<\/td>[^]*<td class="r">2<\/td>/);
  });

  it('lays the settings out as label | value rows, the routing table, a text sample and no live banner once complete', async () => {
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) }, 1: { status: 'finished', backend: 'wasm', val: curve(3.1) }, 2: { status: 'finished', backend: 'wasm', val: curve(2.9) }, 3: { status: 'finished', backend: 'wasm', val: curve(2.95) } });
    await writeReport(dir);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.match(/<table class="settings"><tbody>\n<tr><th scope="row">model<\/th><td>\{&quot;kind&quot;:&quot;gpt&quot;/);
    expect(html).to.not.include('<dl>');
    expect(html).to.include('<h2>Routing</h2>').and.include('<td>wte</td><td>embedding</td><td>[65,16]</td><td>adamw</td>');
    expect(html).to.include('<h2>Samples</h2>').and.include('<pre class="sample">ROMEO: hello</pre>').and.include('temperature 0.8, sampler seed 0');
    expect(html).to.not.include('Incomplete').and.not.include('http-equiv="refresh"');
  });

  it('the header block is aligned in a real browser (headless Chromium)', async function () {
    const chromium = findChromium();
    if (!chromium) this.skip(); // apt-get install chromium
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) } });
    await writeReport(dir);
    const layout = browserLayout(join(dir, 'report.html'), chromium!);
    expect(layout.boxes.map((b) => b.label)).to.deep.equal(['model', 'data', 'training', 'schedule', 'seeds', 'optimizers', 'target', 'source']);
    expect(layout.problems).to.deep.equal([]);
  });

  it('the lr plot marks a learning rate where every seed diverged, and shows several y ticks around a single point', async () => {
    const { dir } = fakeFolder(tinyExperiment({ optimizers: [{ name: 'adamw', lr: [0.01, 1e3] }], training: { steps: 20, batchSize: 2, logEvery: 5, evalEvery: 5 } }), {
      0: { status: 'finished', backend: 'wasm', val: curve(3.0) },
      1: { status: 'diverged', backend: 'wasm', val: [[0, 4.2], [5, NaN]] },
    });
    const s = summarize(dir);
    const pts = lrSensitivityPoints(s);
    expect(pts.map((p) => [p.x, p.allDiverged, p.note])).to.deep.equal([[0.01, false, ''], [1e3, true, 'diverged']]);
    await writeReport(dir);
    const svg = readFileSync(join(dir, 'plots', 'lr-sensitivity.svg'), 'utf8');
    expect(svg).to.include('>diverged<').and.include('every seed diverged at that learning rate');
    expect(yTicks(svg, 'final validation loss').length).to.be.at.least(3);
  });

  it('the validation plot says when its y axis cuts off the early curve', async () => {
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: [[0, 9.5], [5, 3.3], [10, 3.2], [15, 3.1], [20, 3.0]] } });
    await writeReport(dir);
    const svg = readFileSync(join(dir, 'plots', 'val-loss-vs-step.svg'), 'utf8');
    expect(svg).to.match(/y axis cut at 3\.[0-9]+: the early curve \(up to 9\.5\) is above the plot/);
    expect(svg).to.include('▲ cut at');
    expect(Math.max(...yTicks(svg, 'validation loss'))).to.be.below(4);
  });

  it('ten series get colours at least 25 CIEDE2000 units apart, twelve at least 24.5 (vega tableau10: red and pink 18)', async () => {
    // Sharma, Wu & Dalal (2005) test pairs 1 and 7: 2.0425 and 2.0000 (rounded to 4 decimals).
    expect(deltaE2000([50, 2.6772, -79.7751], [50, 0, -82.7485])).to.be.closeTo(2.0425, 5e-5);
    expect(deltaE2000([50, 0, 0], [50, -1, 2])).to.be.closeTo(2.3669, 5e-5);
    expect(SERIES_COLORS.length).to.equal(12);
    expect(closestPair(SERIES_COLORS.slice(0, 10)).deltaE).to.be.at.least(25);
    expect(closestPair(SERIES_COLORS).deltaE).to.be.at.least(24.5);
    const tableau10 = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
    expect(closestPair(tableau10).deltaE).to.be.below(20);
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) }, 2: { status: 'finished', backend: 'wasm', val: curve(2.9) } });
    await writeReport(dir);
    const svg = readFileSync(join(dir, 'plots', 'val-loss-vs-step.svg'), 'utf8');
    expect(svg).to.include(`stroke="${SERIES_COLORS[0]}"`).and.include(`stroke="${SERIES_COLORS[1]}"`);
  });

  it('refuses to compare runs from different backends unless allowed, saying how much they were seen to differ', async () => {
    const { dir } = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) }, 1: { status: 'finished', backend: 'wasm-native', val: curve(3.1) } });
    let err: unknown;
    try {
      await writeReport(dir);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.match(/mixes backends \(wasm: 1 run .*; wasm-native: 1 run .*\); runs of quick.yaml on wasm and wasm-native/);
    const { ranking } = await writeReport(dir, { allowMixedBackends: true });
    expect(ranking).to.match(/warning: the comparison in .* mixes backends/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).to.include('mixes backends');
  });

  it('report --watch rewrites a live page while runs are running, then a final one', async () => {
    const { dir, specs } = fakeFolder(LR_DOC, { 0: { status: 'running', backend: 'wasm', val: curve(3.0).slice(0, 2) }, 1: { status: 'finished', backend: 'wasm', val: curve(3.1) }, 2: { status: 'finished', backend: 'wasm', val: curve(2.9) }, 3: { status: 'finished', backend: 'wasm', val: curve(2.95) } });
    const lines: string[] = [];
    const watching = watchReport(dir, { every: 1, log: (l) => lines.push(l) });
    const html = () => (existsSync(join(dir, 'report.html')) ? readFileSync(join(dir, 'report.html'), 'utf8') : '');
    const t0 = Date.now();
    while (!html().includes('http-equiv="refresh"')) {
      if (Date.now() - t0 > 60_000) throw new Error('no live report');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(html()).to.include('Live: the sweep is running');
    fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) } }, dir);
    const s = await watching;
    expect(s.runs.map((r) => r.rec.status)).to.deep.equal(['finished', 'finished', 'finished', 'finished']);
    expect(html()).to.not.include('http-equiv="refresh"');
    expect(lines.join('\n')).to.include('1 running').and.include('4 finished');
    expect(specs.length).to.equal(4);
  });

  it('report and merge misuse print one line and exit 2; merging a folder twice warns', async () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
    const empty = tempDir();
    const r1 = cli('report', empty);
    expect(r1.status).to.equal(2);
    expect(r1.stderr.trim()).to.equal(`error: ${empty} is not a results folder (no experiment.json; optlab run writes one)`);
    const r2 = cli('report', join(empty, 'nope'));
    expect([r2.status, r2.stderr.trim()]).to.deep.equal([2, `error: ${join(empty, 'nope')}: no such folder`]);
    const a = fakeFolder(LR_DOC, { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) } }).dir;
    const b = fakeFolder(tinyExperiment({ name: 'other' }), { 0: { status: 'finished', backend: 'wasm', val: curve(3.0) } }).dir;
    const r3 = cli('merge', a, b, '--out', join(empty, 'm'));
    expect(r3.status).to.equal(2);
    expect(r3.stderr.trim().split('\n')).to.have.length(1);
    expect(r3.stderr).to.match(/^error: merge: .* holds experiment 'other', not 'tiny'/);
    expect(existsSync(join(empty, 'm'))).to.equal(false);
    const warnings: string[] = [];
    const out = join(tempDir(), 'twice');
    const m = await mergeResults([a, a], out, { warn: (w) => warnings.push(w) });
    expect(warnings).to.deep.equal([`warning: merge: ${a} is named twice (as ${a}); its runs are counted once`]);
    expect(m.summary.runs.length).to.equal(1);
  });
});
