/**
 * Results of a sweep: `summary.csv` (one row per run, one per optimizer configuration with mean and
 * standard deviation over seeds, and the best learning rate per optimizer), SVG plots (Vega-Lite
 * compiled and rendered by vega without a browser), a self-contained `report.html`, the ranking
 * printed in the terminal, and `merge` of result folders (shards of one sweep).
 *
 * Everything here is a function of the run files listed in `experiment.json`, in grid order, so a
 * merged set of shards gives the same summary as the unsharded sweep (wall-clock columns aside).
 */
import { createObjectCsvWriter } from 'csv-writer';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type * as vl from 'vega-lite';
import type { CommandModule } from 'yargs';
import { compare, diagnosticsSpecs, tunedSensitivitySpec, verdictNotes, verdictTable, writeComparisonFiles, tuningSection, type Comparison } from './comparison.js';
import { configName, formatNumber, type Experiment } from './config.js';
import { readCurve, readRecord, runPaths, writeAtomic, type CurveRow, type RunRecord } from './runner.js';

/** `experiment.json` of a results folder. */
export interface ExperimentRecord {
  name: string;
  /** The experiment file it came from and the overrides applied. */
  source: { file: string; sets: string[] };
  experiment: Experiment;
  /** Every run id of the full grid, in grid order. */
  grid: string[];
  /** The ids this folder holds (the whole grid, a shard, or a merge of shards), in grid order. */
  runs: string[];
  /** 'I/N' for a shard, null otherwise. */
  shard: string | null;
  /** Folders merged into this one. */
  mergedFrom?: string[];
}

/** Reads `experiment.json` of a results folder. */
export function readExperimentRecord(dir: string): ExperimentRecord {
  const path = join(dir, 'experiment.json');
  if (!existsSync(path)) throw new Error(`${dir} is not a results folder (no experiment.json)`);
  return JSON.parse(readFileSync(path, 'utf8')) as ExperimentRecord;
}

/** A run as the report sees it. */
export interface LoadedRun {
  id: string;
  rec: RunRecord;
  curve: CurveRow[];
}

/** One optimizer configuration (one hash) over its seeds. */
export interface ConfigSummary {
  hash: string;
  /** Optimizer entry label. */
  label: string;
  /** Registry name. */
  method: string;
  /** Label plus varied values, e.g. 'muon lr=0.02'. */
  name: string;
  lr: number | null;
  options: Record<string, unknown>;
  runs: LoadedRun[];
  /** Runs that finished or diverged (unfinished ones are left out of the statistics). */
  completed: number;
  diverged: number;
  finalMean: number | null;
  finalStd: number | null;
  bestMean: number | null;
  bestStd: number | null;
  accMean: number | null;
  reached: number;
  stepsToTargetMean: number | null;
  wallToTargetMean: number | null;
  wallMean: number | null;
}

/** Everything the report shows. */
export interface Summary {
  exp: ExperimentRecord;
  runs: LoadedRun[];
  missing: string[];
  configs: ConfigSummary[];
  /**
   * The compared configuration per optimizer label: its final-stage configuration when the experiment
   * tunes, else the lowest mean final validation loss among non-diverged (tuning trials never count).
   */
  best: ConfigSummary[];
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const std = (xs: number[]) => {
  const m = mean(xs);
  if (m === null) return null;
  if (xs.length < 2) return 0;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};
const fin = (x: number | null | undefined): x is number => x !== null && x !== undefined && Number.isFinite(x);

/** Loads the runs of a results folder and computes the per-configuration statistics. */
export function summarize(dir: string): Summary {
  const exp = readExperimentRecord(dir);
  const runs: LoadedRun[] = [];
  const missing: string[] = [];
  // The folder's own runs, plus any other run of the same grid found there (shards sharing a folder).
  const mine = new Set(exp.runs);
  for (const id of exp.grid) {
    const p = runPaths(dir, id);
    if (!existsSync(p.json)) {
      if (mine.has(id)) missing.push(id);
      continue;
    }
    const rec = readRecord(p.json);
    runs.push({ id, rec, curve: existsSync(p.csv) ? readCurve(p.csv) : [] });
  }
  const byHash = new Map<string, LoadedRun[]>();
  for (const r of runs) byHash.set(r.rec.hash, [...(byHash.get(r.rec.hash) ?? []), r]);
  const configs: ConfigSummary[] = [];
  for (const [hash, rs] of byHash) {
    const first = rs[0].rec;
    const done = rs.filter((r) => r.rec.status === 'finished' || r.rec.status === 'diverged');
    const ok = done.filter((r) => r.rec.status === 'finished');
    const finals = ok.map((r) => r.rec.result?.finalValLoss).filter(fin);
    const bests = ok.map((r) => r.rec.result?.bestValLoss).filter(fin);
    const hits = ok.filter((r) => fin(r.rec.result?.stepsToTarget));
    const lr = first.config.optimizer.options.lr;
    configs.push({
      hash,
      label: first.label,
      method: first.config.optimizer.name,
      name: configName(first),
      lr: typeof lr === 'number' ? lr : null,
      options: first.config.optimizer.options,
      runs: rs,
      completed: done.length,
      diverged: done.length - ok.length,
      finalMean: mean(finals),
      finalStd: std(finals),
      bestMean: mean(bests),
      bestStd: std(bests),
      accMean: mean(ok.map((r) => r.rec.result?.finalValAcc).filter(fin)),
      reached: hits.length,
      stepsToTargetMean: mean(hits.map((r) => r.rec.result!.stepsToTarget!)),
      wallToTargetMean: mean(hits.map((r) => r.rec.result!.wallMsToTarget!)),
      wallMean: mean(ok.map((r) => r.rec.result?.wallMs).filter(fin)),
    });
  }
  const best: ConfigSummary[] = [];
  for (const label of [...new Set(configs.map((c) => c.label))]) {
    const finals = configs.filter((c) => c.label === label && c.runs.some((r) => r.rec.stage === 'final'));
    const cands = (finals.length ? finals : configs.filter((c) => c.label === label && !c.runs.some((r) => r.rec.stage === 'tune'))).filter((c) => c.finalMean !== null);
    const pool = cands.filter((c) => c.diverged === 0).length ? cands.filter((c) => c.diverged === 0) : cands;
    const b = pool.reduce<ConfigSummary | null>((a, c) => (a === null || c.finalMean! < a.finalMean! ? c : a), null);
    if (b) best.push(b);
  }
  return { exp, runs, missing, configs, best };
}

/** Configurations best first: by mean final validation loss, those without one last. */
export function ranked(configs: readonly ConfigSummary[]): ConfigSummary[] {
  return [...configs].sort((a, b) => (a.finalMean ?? Infinity) - (b.finalMean ?? Infinity) || a.name.localeCompare(b.name));
}

const SUMMARY_COLUMNS = [
  'kind', 'optimizer', 'method', 'config', 'hash', 'run_id', 'seed', 'status', 'runs', 'diverged', 'lr',
  'final_val_loss', 'final_val_loss_std', 'best_val_loss', 'best_val_loss_std', 'final_val_acc',
  'reached_target', 'steps_to_target', 'wall_ms_to_target', 'wall_ms', 'options',
] as const;

/** Columns of summary.csv that measure wall-clock time (they differ between otherwise identical sweeps). */
export const WALL_COLUMNS = ['wall_ms_to_target', 'wall_ms'] as const;

const num = (x: number | null | undefined) => (x === null || x === undefined ? '' : Number.isFinite(x) ? Number(x.toPrecision(7)) : String(x));

/** Rows of summary.csv: every run, then every configuration, then the best learning rate per optimizer. */
export function summaryRows(s: Summary): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const r of s.runs) {
    const res = r.rec.result;
    const lr = r.rec.config.optimizer.options.lr;
    rows.push({
      kind: 'run', optimizer: r.rec.label, method: r.rec.config.optimizer.name, config: configName(r.rec), hash: r.rec.hash, run_id: r.id, seed: r.rec.seed,
      status: r.rec.status, runs: 1, diverged: r.rec.status === 'diverged' ? 1 : 0, lr: typeof lr === 'number' ? lr : '',
      final_val_loss: num(res?.finalValLoss), best_val_loss: num(res?.bestValLoss), final_val_acc: num(res?.finalValAcc),
      reached_target: res ? (fin(res.stepsToTarget) ? 1 : 0) : '', steps_to_target: num(res?.stepsToTarget), wall_ms_to_target: num(res?.wallMsToTarget), wall_ms: num(res?.wallMs),
      options: JSON.stringify(r.rec.config.optimizer.options),
    });
  }
  for (const c of s.configs) {
    rows.push({
      kind: 'config', optimizer: c.label, method: c.method, config: c.name, hash: c.hash, status: `${c.completed}/${c.runs.length} done`, runs: c.runs.length, diverged: c.diverged, lr: c.lr ?? '',
      final_val_loss: num(c.finalMean), final_val_loss_std: num(c.finalStd), best_val_loss: num(c.bestMean), best_val_loss_std: num(c.bestStd), final_val_acc: num(c.accMean),
      reached_target: c.reached, steps_to_target: num(c.stepsToTargetMean), wall_ms_to_target: num(c.wallToTargetMean), wall_ms: num(c.wallMean), options: JSON.stringify(c.options),
    });
  }
  for (const c of s.best) {
    rows.push({ kind: 'best-lr', optimizer: c.label, method: c.method, config: c.name, hash: c.hash, runs: c.runs.length, diverged: c.diverged, lr: c.lr ?? '', final_val_loss: num(c.finalMean), final_val_loss_std: num(c.finalStd), best_val_loss: num(c.bestMean), best_val_loss_std: num(c.bestStd) });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Plots

/** Renders a Vega-Lite spec to SVG (no browser: vega's headless view). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  // Loaded on first use: vega is the slowest import of the CLI and config errors should come fast.
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

interface CurvePoint {
  optimizer: string;
  x: number;
  mean: number;
  lo: number;
  hi: number;
}

/** Mean and ±1 standard deviation over the seeds of a configuration, at each step where every non-diverged seed has a value. */
function meanCurve(c: ConfigSummary, field: 'val_loss' | 'train_loss', xAxis: 'step' | 'wall', key = c.name): CurvePoint[] {
  const ok = c.runs.filter((r) => r.rec.status === 'finished' || r.rec.status === 'running' || r.rec.status === 'interrupted');
  const use = ok.length ? ok : c.runs;
  const steps = new Map<number, { y: number[]; wall: number[] }>();
  for (const r of use) {
    for (const row of r.curve) {
      const y = row[field];
      if (!fin(y)) continue;
      const e = steps.get(row.step) ?? { y: [], wall: [] };
      e.y.push(y);
      e.wall.push(row.wall_ms / 1000);
      steps.set(row.step, e);
    }
  }
  const pts: CurvePoint[] = [];
  for (const [step, e] of [...steps].sort((a, b) => a[0] - b[0])) {
    const m = mean(e.y)!;
    const s = std(e.y)!;
    pts.push({ optimizer: key, x: xAxis === 'step' ? step : mean(e.wall)!, mean: m, lo: m - s, hi: m + s });
  }
  return pts;
}

/** A y range that shows where the curves differ: from the lowest band to the highest value after the first tenth of training. */
function yDomain(series: CurvePoint[][], steps: number, field: 'val_loss' | 'train_loss', configs: ConfigSummary[]): [number, number] | undefined {
  const all = series.flat();
  if (all.length === 0) return undefined;
  const lo = Math.min(...all.map((p) => p.lo));
  let hi = -Infinity;
  configs.forEach((c) => {
    const curve = meanCurve(c, field, 'step');
    const after = curve.find((p) => p.x >= steps * 0.1 && p.x > 0);
    if (after) hi = Math.max(hi, after.hi);
  });
  const max = Math.max(...all.map((p) => p.hi));
  if (!(hi > lo)) hi = max;
  const pad = (hi - lo) * 0.04;
  return [Number((lo - pad).toPrecision(4)), Number((Math.min(hi, max) + pad).toPrecision(4))];
}

/** What a plot's colours mean: `domain` fixes one colour per optimizer across all plots, `legend` orders the entries, `names` relabels them. */
interface Colors {
  domain: string[];
  legend: string[];
  names?: Record<string, string>;
}

function colorEncoding(c: Colors) {
  return {
    field: 'optimizer',
    type: 'nominal' as const,
    title: null,
    scale: { domain: c.domain, scheme: c.domain.length > 10 ? 'category20' : 'tableau10' },
    legend: { values: c.legend, ...(c.names ? { labelExpr: `${JSON.stringify(c.names)}[datum.label]` } : {}) },
  };
}

function curveSpec(title: string, xTitle: string, yTitle: string, pts: CurvePoint[], colors: Colors, domain?: [number, number], xLog = false): vl.TopLevelSpec {
  const color = colorEncoding(colors);
  const y = { type: 'quantitative' as const, scale: { zero: false, ...(domain ? { domain } : {}) } };
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, ...(xLog ? { scale: { type: 'log' as const } } : {}) };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 560,
    height: 340,
    background: 'white',
    data: { values: pts },
    encoding: { x },
    layer: [
      { mark: { type: 'area', opacity: 0.18, clip: true }, encoding: { color, y: { field: 'lo', ...y, title: yTitle }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 2, clip: true, point: { size: 18, filled: true } }, encoding: { color, y: { field: 'mean', ...y, title: yTitle } } },
    ],
    // Solid legend symbols: the band's opacity would otherwise make them too pale to match.
    config: { font: 'sans-serif', legend: { labelLimit: 260, symbolOpacity: 1, symbolType: 'stroke', symbolStrokeWidth: 3 } },
  } as vl.TopLevelSpec;
}

/** Learning-rate sensitivity: mean final validation loss against lr per optimizer (best over other varied keys), ±1 sd. */
function lrSensitivity(s: Summary, labels: string[]): { spec: vl.TopLevelSpec; points: number } | null {
  const pts: (CurvePoint & { n: number })[] = [];
  for (const label of [...new Set(s.configs.map((c) => c.label))]) {
    const byLr = new Map<number, ConfigSummary>();
    for (const c of s.configs) {
      if (c.label !== label || c.lr === null || c.finalMean === null) continue;
      const prev = byLr.get(c.lr);
      if (!prev || c.finalMean < prev.finalMean!) byLr.set(c.lr, c);
    }
    if (new Set(s.configs.filter((c) => c.label === label && c.lr !== null).map((c) => c.lr)).size < 2) continue;
    for (const [lr, c] of [...byLr].sort((a, b) => a[0] - b[0])) pts.push({ optimizer: label, x: lr, mean: c.finalMean!, lo: c.finalMean! - c.finalStd!, hi: c.finalMean! + c.finalStd!, n: c.runs.length - c.diverged });
  }
  if (pts.length === 0) return null;
  const color = colorEncoding({ domain: labels, legend: [...new Set(pts.map((p) => p.optimizer))] });
  const y = { type: 'quantitative' as const, scale: { zero: false } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Learning-rate sensitivity (final validation loss, mean ± sd over seeds; diverged runs left out)',
    width: 560,
    height: 340,
    background: 'white',
    data: { values: pts },
    encoding: { x: { field: 'x', type: 'quantitative', title: 'learning rate', scale: { type: 'log' } }, color },
    layer: [
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y, title: 'final validation loss' }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 2, point: true }, encoding: { y: { field: 'mean', ...y, title: 'final validation loss' } } },
    ],
    config: { font: 'sans-serif' },
  } as vl.TopLevelSpec;
  return { spec, points: pts.length };
}

/** Writes plots/*.svg; returns file name -> SVG text. */
export async function writePlots(dir: string, s: Summary): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const shown = s.best.length ? s.best : s.configs;
  // One colour per optimizer label in every plot (experiment order); legends list the shown configurations best first.
  const labels = [...new Set(s.configs.map((c) => c.label))];
  const byLabel = new Set(shown.map((c) => c.label)).size === shown.length;
  const key = (c: ConfigSummary) => (byLabel ? c.label : c.name);
  const colors: Colors = {
    domain: byLabel ? labels : shown.map((c) => c.name),
    legend: ranked(shown).map(key),
    names: byLabel && shown.some((c) => c.name !== c.label) ? Object.fromEntries(shown.map((c) => [c.label, c.name])) : undefined,
  };
  const steps = s.exp.experiment.training.steps;
  const what = s.exp.experiment.tuning ? 'tuned setting per optimizer, ' : s.configs.length > shown.length ? 'best configuration per optimizer, ' : '';
  const nSeeds = Math.max(0, ...shown.map((c) => c.runs.length));
  const seeds = nSeeds > 1 ? `mean ± sd over ${nSeeds} seeds` : 'one seed';
  const plots: [string, string, string, 'val_loss' | 'train_loss', 'step' | 'wall'][] = [
    ['val-loss-vs-step.svg', `Validation loss (${what}${seeds})`, 'step', 'val_loss', 'step'],
    ['val-loss-vs-time.svg', `Validation loss against training time (${what}${seeds})`, 'training time (s)', 'val_loss', 'wall'],
    ['train-loss-vs-step.svg', `Training loss, averaged between log rows (${what}${seeds})`, 'step', 'train_loss', 'step'],
  ];
  mkdirSync(join(dir, 'plots'), { recursive: true });
  for (const [file, title, xTitle, field, xAxis] of plots) {
    const series = shown.map((c) => meanCurve(c, field, xAxis, key(c)));
    const domain = yDomain(shown.map((c) => meanCurve(c, field, 'step')), steps, field, shown);
    const svg = await renderSvg(curveSpec(title, xTitle, field === 'val_loss' ? 'validation loss' : 'training loss', series.flat(), colors, domain));
    writeFileSync(join(dir, 'plots', file), svg);
    out.set(file, svg);
  }
  const tuned = s.exp.experiment.tuning ? tunedSensitivitySpec(s, labels) : null;
  const lr = tuned ? { spec: tuned } : lrSensitivity(s, labels);
  if (lr) {
    const svg = await renderSvg(lr.spec);
    writeFileSync(join(dir, 'plots', 'lr-sensitivity.svg'), svg);
    out.set('lr-sensitivity.svg', svg);
  }
  for (const [file, spec] of diagnosticsSpecs(s)) {
    const svg = await renderSvg(spec);
    writeFileSync(join(dir, 'plots', file), svg);
    out.set(file, svg);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tables

function table(header: string[], rows: string[][], right: boolean[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(header), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

const f3 = (x: number | null) => (x === null ? '-' : x.toFixed(3));
const secs = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

function rankingRows(s: Summary): { header: string[]; rows: string[][]; right: boolean[] } {
  const target = s.exp.experiment.target?.valLoss;
  const header = ['#', 'optimizer', 'final val (mean ± sd)', 'best val', ...(s.configs.some((c) => c.accMean !== null) ? ['val acc'] : []), ...(target !== undefined ? [`steps to ${target}`, `time to ${target}`] : []), 'time/run', 'seeds', 'diverged'];
  const tuning = (c: ConfigSummary) => c.runs.some((r) => r.rec.stage === 'tune');
  const rows = ranked(s.configs).map((c, i) => [
    String(i + 1),
    tuning(c) ? `${c.name} (tuning trial, ${c.runs[0].rec.config.training.steps} steps)` : c.name,
    c.finalMean === null ? '-' : c.completed - c.diverged > 1 ? `${f3(c.finalMean)} ± ${f3(c.finalStd)}` : f3(c.finalMean),
    f3(c.bestMean),
    ...(s.configs.some((x) => x.accMean !== null) ? [c.accMean === null ? '-' : `${(100 * c.accMean).toFixed(1)}%`] : []),
    ...(target !== undefined ? [c.reached ? `${Math.round(c.stepsToTargetMean!)}${c.reached < c.completed - c.diverged ? ` (${c.reached}/${c.completed - c.diverged})` : ''}` : 'never', secs(c.wallToTargetMean)] : []),
    secs(c.wallMean),
    `${c.completed}/${c.runs.length}`,
    String(c.diverged),
  ]);
  return { header, rows, right: header.map((h) => h !== 'optimizer') };
}

/** The ranking table printed at the end of a sweep. */
export function formatRanking(s: Summary, cmp: Comparison = compare(s)): string {
  const { header, rows, right } = rankingRows(s);
  const v = verdictTable(cmp, s.exp.experiment);
  const parts = [
    ...(cmp.rows.length > 1 ? [`${s.exp.name}: verdicts${cmp.baseline ? ` against ${cmp.baseline}` : ''}`, table(v.header, v.rows, v.right), ...verdictNotes(cmp, s.exp.experiment), ''] : []),
    `${s.exp.name}: ${s.configs.length} configurations, ${s.runs.length} runs (${s.exp.experiment.training.steps} steps each)`,
    table(header, rows, right),
  ];
  const lrs = s.exp.experiment.tuning ? [] : s.best.filter((c) => c.lr !== null && s.configs.filter((x) => x.label === c.label).length > 1);
  if (lrs.length) parts.push(`best lr: ${lrs.map((c) => `${c.label} ${formatNumber(c.lr!)}`).join(', ')}`);
  const backends = [...new Set(s.runs.map((r) => r.rec.env?.backend).filter((b) => b !== undefined))];
  if (backends.length > 1) parts.push(`warning: runs used different backends (${backends.join(', ')}); their numbers differ in the last bits`);
  const unfinished = s.runs.filter((r) => r.rec.status !== 'finished' && r.rec.status !== 'diverged');
  if (unfinished.length || s.missing.length) parts.push(`not finished: ${[...unfinished.map((r) => `${r.id} (${r.rec.status})`), ...s.missing.map((m) => `${m} (not started)`)].join(', ')}`);
  return parts.join('\n');
}

const esc = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function htmlTable(header: string[], rows: string[][], right: boolean[]): string {
  const th = header.map((h, i) => `<th${right[i] ? ' class="r"' : ''}>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${right[i] ? ' class="r"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

/** A self-contained HTML page: settings, ranking, plots (inline SVG), best learning rates, runs, environment. */
export function reportHtml(dir: string, s: Summary, plots: Map<string, string>, cmp: Comparison = compare(s)): string {
  const e = s.exp.experiment;
  const rk = rankingRows(s);
  const runRows = s.runs.map((r) => {
    const res = r.rec.result;
    return [esc(r.id), esc(configName(r.rec)), String(r.rec.seed), esc(r.rec.status), String(r.rec.step), f3(res?.finalValLoss ?? null), f3(res?.bestValLoss ?? null), secs(res?.wallMs ?? null), `<a href="${esc(`${r.id}.csv`)}">csv</a> <a href="${esc(`${r.id}.json`)}">json</a>`];
  });
  const env = s.runs.find((r) => r.rec.env)?.rec.env;
  const settings: [string, unknown][] = [
    ['model', JSON.stringify(e.model)],
    ['data', JSON.stringify(e.data)],
    ['training', JSON.stringify(e.training)],
    ['schedule', JSON.stringify(e.schedule)],
    ['seeds', JSON.stringify(e.seeds)],
    ['optimizers', e.optimizers.map((o) => JSON.stringify(o)).join('\n')],
    ['target', e.target ? `validation loss ${e.target.valLoss}` : 'none'],
    ['source', `${s.exp.source.file}${s.exp.source.sets.length ? ` --set ${s.exp.source.sets.join(' --set ')}` : ''}`],
    ...(s.exp.mergedFrom ? [['merged from', s.exp.mergedFrom.join(', ')] as [string, unknown]] : []),
    ...(env ? [['environment', `optlab ${env.optlabVersion}, git ${env.gitCommit?.slice(0, 10) ?? 'n/a'}${env.gitDirty ? ' (dirty)' : ''}, tfjs ${env.tfjsVersion}, backend ${[...new Set(s.runs.map((r) => r.rec.env?.backend ?? '?'))].join(' + ')}, node ${env.node}, ${env.cpu} x${env.cores}`] as [string, unknown]] : []),
  ];
  const bestRows = s.best.filter((c) => !e.tuning && c.lr !== null && s.configs.filter((x) => x.label === c.label).length > 1).map((c) => [esc(c.label), formatNumber(c.lr!), f3(c.finalMean), String(s.configs.filter((x) => x.label === c.label).length)]);
  const fig = ([file, svg]: [string, string]) => `<figure>${svg}<figcaption><a href="plots/${esc(file)}">${esc(file)}</a></figcaption></figure>`;
  const figs = [...plots].filter(([f]) => !f.startsWith('diag-')).map(fig).join('\n');
  const diagFigs = [...plots].filter(([f]) => f.startsWith('diag-')).map(fig).join('\n');
  const vt = verdictTable(cmp, e);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(s.exp.name)} — optlab report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}.r{text-align:right;font-variant-numeric:tabular-nums}figure{display:inline-block;margin:0.5em}
figcaption{font-size:12px;color:#666}.small figure svg{max-width:380px;height:auto}code{background:#f4f4f4;padding:1px 4px}dt{font-weight:bold;float:left;width:8em}dd{margin-left:9em;font-family:monospace;font-size:13px;white-space:pre-wrap}
</style></head><body>
<h1>${esc(s.exp.name)}</h1>
${e.description ? `<p>${esc(e.description)}</p>` : ''}
${cmp.rows.length > 1 ? `<h2>Verdicts${cmp.baseline ? ` against ${esc(cmp.baseline)}` : ''}</h2>\n${htmlTable(vt.header, vt.rows.map((r) => r.map(esc)), vt.right)}\n${verdictNotes(cmp, e).map((l) => `<p>${esc(l)}</p>`).join('\n')}\n<p>Per optimizer in <a href="verdicts.csv">verdicts.csv</a>; tuning trials in <a href="tuning.csv">tuning.csv</a>.</p>` : ''}
<dl>${settings.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
<h2>Ranking</h2>
<p>Configurations by mean final validation loss over seeds (${s.runs.length} runs; summary in <a href="summary.csv">summary.csv</a>).</p>
${htmlTable(rk.header, rk.rows.map((r) => r.map(esc)), rk.right)}
${s.missing.length ? `<p>Not started: ${esc(s.missing.join(', '))}</p>` : ''}
<h2>Plots</h2>
${figs}
${diagFigs ? `<h2>Diagnostics</h2>\n<p>Per route, mean over the compared configuration's seeds at each logged step (optimizers/diagnostics.ts).</p>\n<div class="small">${diagFigs}</div>` : ''}
${tuningSection(s, cmp, esc, htmlTable)}
${bestRows.length ? `<h2>Best learning rate per optimizer</h2>\n${htmlTable(['optimizer', 'lr', 'final val (mean)', 'configurations tried'], bestRows, [false, true, true, true])}` : ''}
<h2>Runs</h2>
${htmlTable(['run', 'configuration', 'seed', 'status', 'step', 'final val', 'best val', 'time'], runRows, [false, false, true, false, true, true, true, true])}
<p style="font-size:12px;color:#666">Generated by optlab report from ${esc(relative(process.cwd(), dir) || '.')}.</p>
</body></html>
`;
}

/** Writes summary.csv, plots/*.svg and report.html; returns the ranking text. */
export async function writeReport(dir: string): Promise<{ summary: Summary; ranking: string }> {
  const s = summarize(dir);
  const rows = summaryRows(s);
  const tmp = join(dir, `summary.csv.tmp-${process.pid}`);
  await createObjectCsvWriter({ path: tmp, header: SUMMARY_COLUMNS.map((c) => ({ id: c, title: c })) }).writeRecords(rows);
  writeAtomic(join(dir, 'summary.csv'), readFileSync(tmp));
  rmSync(tmp, { force: true });
  const plots = await writePlots(dir, s);
  const cmp = compare(s);
  writeComparisonFiles(dir, s, cmp);
  writeAtomic(join(dir, 'report.html'), reportHtml(dir, s, plots, cmp));
  return { summary: s, ranking: formatRanking(s, cmp) };
}

/**
 * Merges result folders of one experiment (its shards, or reruns) into `out`: run files are copied,
 * `experiment.json` lists the union of runs in grid order, then the report is written.
 */
export async function mergeResults(dirs: readonly string[], out: string): Promise<{ summary: Summary; ranking: string }> {
  if (dirs.length === 0) throw new Error('merge: name at least one results folder');
  const recs = dirs.map(readExperimentRecord);
  const grid = recs[0].grid;
  // A tuned experiment's grid grows stage by stage: folders at different stages agree on a prefix.
  const longest = recs.reduce((a, r) => (r.grid.length > a.length ? r.grid : a), grid);
  recs.forEach((r, i) => {
    const prefix = r.grid.length <= longest.length && r.grid.every((id, k) => longest[k] === id);
    const staged = r.experiment.tuning !== undefined && JSON.stringify(r.experiment) === JSON.stringify(recs[0].experiment);
    if (r.grid.join('\n') !== grid.join('\n') && !(staged && prefix)) throw new Error(`merge: ${dirs[i]} holds a different experiment grid than ${dirs[0]} (another experiment file or other --set overrides)`);
  });
  mkdirSync(join(out, 'logs'), { recursive: true });
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  const have = new Map<string, { dir: string; status: string }>();
  const rank = (st: string) => (st === 'finished' || st === 'diverged' ? 2 : st === 'interrupted' ? 1 : 0);
  dirs.forEach((d, i) => {
    for (const id of recs[i].runs) {
      const p = runPaths(d, id);
      if (!existsSync(p.json)) continue;
      const st = readRecord(p.json).status;
      const prev = have.get(id);
      if (!prev || rank(st) > rank(prev.status)) have.set(id, { dir: d, status: st });
    }
  });
  for (const [id, { dir }] of have) {
    const from = runPaths(dir, id);
    const to = runPaths(out, id);
    if (from.json === to.json) continue;
    for (const k of ['json', 'csv', 'ckpt', 'log'] as const) if (existsSync(from[k])) copyFileSync(from[k], to[k]);
  }
  const runs = longest.filter((id) => have.has(id));
  const merged: ExperimentRecord = { ...recs[0], grid: longest, runs, shard: null, mergedFrom: [...dirs] };
  writeAtomic(join(out, 'experiment.json'), JSON.stringify(merged, null, 1) + '\n');
  return writeReport(out);
}

/** `optlab report <dir>` */
export const reportCommand: CommandModule<object, { dir: string }> = {
  command: 'report <dir>',
  describe: 'Rewrite summary.csv, plots and report.html of a results folder and print the ranking',
  builder: (y) => y.positional('dir', { type: 'string', demandOption: true, describe: 'results folder (holds experiment.json)' }) as never,
  handler: async (args) => {
    const { ranking } = await writeReport(args.dir);
    console.log(`${ranking}\n\nreport: ${join(args.dir, 'report.html')}`);
  },
};

/** `optlab merge <dir..> --out DIR` */
export const mergeCommand: CommandModule<object, { dirs: string[]; out: string }> = {
  command: 'merge <dirs..>',
  describe: 'Merge result folders of one experiment (e.g. --shard outputs) and write the combined report',
  builder: (y) =>
    y
      .positional('dirs', { type: 'string', array: true, demandOption: true, describe: 'results folders' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the merged results' }) as never,
  handler: async (args) => {
    const { ranking } = await mergeResults(args.dirs, args.out);
    console.log(`${ranking}\n\nreport: ${join(args.out, 'report.html')}`);
  },
};
