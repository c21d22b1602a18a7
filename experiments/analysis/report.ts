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
import { join, relative, resolve } from 'node:path';
import type * as vl from 'vega-lite';
import { missingPackages, missingPackagesError } from '../../kernels/optional.js';
import { compare, diagnosticsSpecs, tunedSensitivitySpec, verdictNotes, verdictTable, writeComparisonFiles, tuningSection, type Comparison } from './comparison.js';
import { SERIES_COLORS } from './colors.js';
import { shortNumbers, textTable, wrapParagraph } from './text_table.js';
import { ConfigError, configName, formatNumber, metricOf, targetLabel, targetOf, type Experiment, type RunTarget } from '../runner/config.js';
import { checkSameBackend } from '../runner/preflight.js';
import { describeOutcome, readCurve, readRecord, runPaths, writeAtomic, type CurveRow, type RunEnvironment, type RunRecord } from '../runner/runner.js';

/** `experiment.json` of a results folder. */
export interface ExperimentRecord {
  name: string;
  /** The experiment file it came from, the overrides applied and the `--only` selection. */
  source: { file: string; sets: string[]; only?: string[] };
  experiment: Experiment;
  /** Every run id of the full grid, in grid order. */
  grid: string[];
  /** The ids this folder holds (the whole grid, a shard, or a merge of shards), in grid order. */
  runs: string[];
  /** 'I/N' for a shard, null otherwise. */
  shard: string | null;
  /** Where `--shard auto` found the shard, e.g. 'SLURM_ARRAY_TASK_ID=3 of 8 tasks (SLURM_ARRAY_TASK_COUNT)'. */
  shardSource?: string;
  /** Folders merged into this one. */
  mergedFrom?: string[];
  /** The backend check's whole line (kernels/backend.ts: the choice, skipped backends and why, kernel notes); the terminal shows it shortened. */
  backendCheck?: string;
  /**
   * How the verdicts are to be read (docs/protocol.md): the group-sequential design when seeds were
   * added by `--until-decided` (looks from minSeeds to maxSeeds), and whether final runs of
   * different builds may be compared (`--allow-mixed-builds`).
   */
  protocol?: { sequential?: { minSeeds: number; maxSeeds: number; alpha?: number }; allowMixedBuilds?: boolean };
}

/** Reads `experiment.json` of a results folder; a missing folder or file, or an unreadable one, throws a ConfigError naming it. */
export function readExperimentRecord(dir: string): ExperimentRecord {
  const path = join(dir, 'experiment.json');
  if (!existsSync(dir)) throw new ConfigError(`${dir}: no such folder`);
  if (!existsSync(path)) throw new ConfigError(`${dir} is not a results folder (no experiment.json; optlab run writes one)`);
  let rec: ExperimentRecord;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8')) as ExperimentRecord;
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!rec || !Array.isArray(rec.grid) || !Array.isArray(rec.runs) || !rec.experiment) throw new ConfigError(`${path}: not an optlab experiment record (no grid, runs or experiment)`);
  return rec;
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
  // One configuration per hash and stage: a tuning trial and a final run of the same setting (as
  // with --only, or a tuning horizon equal to the final steps) stay apart.
  const byHash = new Map<string, LoadedRun[]>();
  // Tuning runs and final runs of one configuration stay apart (a full-horizon tuning trial has the final runs' hash):
  // the seeds that chose a setting never score it.
  for (const r of runs) {
    const k = `${r.rec.hash}${r.rec.stage === 'tune' ? ' tune' : ''}`;
    byHash.set(k, [...(byHash.get(k) ?? []), r]);
  }
  const configs: ConfigSummary[] = [];
  for (const rs of byHash.values()) {
    const first = rs[0].rec;
    const hash = first.hash;
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
    // A tuned entry's final configuration is compared even when every seed failed (failures are part of the verdict).
    if (finals.length) {
      best.push(finals.reduce((a, c) => ((c.finalMean ?? Infinity) < (a.finalMean ?? Infinity) ? c : a)));
      continue;
    }
    const untuned = configs.filter((c) => c.label === label && !c.runs.some((r) => r.rec.stage === 'tune'));
    const cands = untuned.filter((c) => c.finalMean !== null);
    const pool = cands.filter((c) => c.diverged === 0).length ? cands.filter((c) => c.diverged === 0) : cands;
    const b = pool.reduce<ConfigSummary | null>((a, c) => (a === null || c.finalMean! < a.finalMean! ? c : a), null);
    if (b) best.push(b);
    else if (untuned.length === 1) best.push(untuned[0]);
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
  'reached_target', 'steps_to_target', 'wall_ms_to_target', 'wall_ms', 'outcome', 'options',
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
      // Without a finished run's figures (they have their own columns, and its time differs between identical sweeps).
      outcome: r.rec.status === 'finished' ? 'finished' : describeOutcome(r.rec.status, r.rec, `logs/${r.id}.log`),
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

/** Plot area of the loss and learning-rate plots in pixels (the legend and axes come on top). */
export const PLOT_SIZE = { width: 760, height: 380 };
/** Font sizes of every report plot: readable at 100 % zoom in a 1400 px window. */
export const PLOT_FONTS = { font: 'sans-serif', title: { fontSize: 15, subtitleFontSize: 12 }, axis: { labelFontSize: 12, titleFontSize: 12 }, legend: { labelFontSize: 12, titleFontSize: 12 } };

/** Renders a Vega-Lite spec to SVG (no browser: vega's headless view). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  // Loaded on first use: vega is the slowest import of the CLI and config errors should come fast.
  const missing = missingPackages(['vega', 'vega-lite']);
  if (missing.length) throw missingPackagesError(missing);
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A point of a plotted series: its x, and the mean and mean ± sd over seeds. */
export interface CurvePoint {
  optimizer: string;
  x: number;
  mean: number;
  lo: number;
  hi: number;
}

/** Mean and ±1 standard deviation over the seeds of a configuration, at each step where every non-diverged seed has a value. */
function meanCurve(c: ConfigSummary, field: 'val_loss' | 'train_loss' | 'val_acc', xAxis: 'step' | 'wall', key = c.name): CurvePoint[] {
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

/**
 * A y range that shows where the curves differ: from the lowest band to the highest value after the
 * first tenth of training. `cut` is set when values above the range (the early curve) are hidden.
 */
export function yDomain(series: CurvePoint[][], steps: number, field: 'val_loss' | 'train_loss', configs: ConfigSummary[]): { domain: [number, number]; cut?: { at: number; max: number } } | undefined {
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
  const pad = (hi - lo) * 0.04 || Math.max(Math.abs(lo) * 0.02, 1e-3);
  const domain: [number, number] = [Number((lo - pad).toPrecision(4)), Number((Math.min(hi, max) + pad).toPrecision(4))];
  const maxMean = Math.max(...all.map((p) => p.mean));
  return maxMean > domain[1] ? { domain, cut: { at: domain[1], max: maxMean } } : { domain };
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
    scale: { domain: c.domain, ...(c.domain.length > SERIES_COLORS.length ? { scheme: 'category20' } : { range: [...SERIES_COLORS] }) },
    legend: { values: c.legend, ...(c.names ? { labelExpr: `${JSON.stringify(c.names)}[datum.label]` } : {}) },
  };
}

function curveSpec(title: string, xTitle: string, yTitle: string, pts: CurvePoint[], colors: Colors, y0?: { domain: [number, number]; cut?: { at: number; max: number } }, xLog = false): vl.TopLevelSpec {
  const color = colorEncoding(colors);
  const domain = y0?.domain;
  const y = { type: 'quantitative' as const, scale: { zero: false, ...(domain ? { domain } : {}) } };
  const x = { field: 'x', type: 'quantitative' as const, title: xTitle, ...(xLog ? { scale: { type: 'log' as const } } : {}) };
  const cut = y0?.cut;
  const cutNote = cut ? `y axis cut at ${formatNumber(cut.at)}: the early curve (up to ${formatNumber(Number(cut.max.toPrecision(4)))}) is above the plot` : undefined;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: cutNote ? { text: title, subtitle: cutNote, subtitleColor: '#a33' } : title,
    width: PLOT_SIZE.width,
    height: PLOT_SIZE.height,
    background: 'white',
    data: { values: pts },
    encoding: { x },
    layer: [
      { mark: { type: 'area', opacity: 0.18, clip: true }, encoding: { color, y: { field: 'lo', ...y, title: yTitle }, y2: { field: 'hi' } } },
      { mark: { type: 'line', strokeWidth: 2, clip: true, point: { size: 18, filled: true } }, encoding: { color, y: { field: 'mean', ...y, title: yTitle } } },
      // A cut axis says so on the plot too: a dashed top edge and an arrow where the curve leaves it.
      ...(cut
        ? [
            { data: { values: [{}] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#a33' }, encoding: { y: { value: 0 } } },
            { data: { values: [{}] }, mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 3, color: '#a33', fontSize: 11 }, encoding: { x: { value: 0 }, y: { value: 0 }, text: { value: `▲ cut at ${formatNumber(cut.at)}` } } },
          ]
        : []),
    ],
    // Solid legend symbols: the band's opacity would otherwise make them too pale to match.
    config: { ...PLOT_FONTS, legend: { ...PLOT_FONTS.legend, labelLimit: 0, symbolOpacity: 1, symbolType: 'stroke', symbolStrokeWidth: 3 } },
  } as vl.TopLevelSpec;
}

/** A point of the lr-sensitivity plot: a configuration's mean final loss, or a learning rate at which every seed diverged. */
export interface LrPoint extends CurvePoint {
  /** Seeds that finished. */
  n: number;
  /** Seeds that diverged. */
  diverged: number;
  /** Every seed diverged (no loss to plot: marked at the top edge). */
  allDiverged: boolean;
  note: string;
}

/**
 * Learning-rate sensitivity: mean final validation loss against lr per optimizer (best over other
 * varied keys), ±1 sd; a learning rate whose runs all diverged is marked × at the top edge, and one
 * where some seeds diverged is labelled with how many.
 */
export function lrSensitivityPoints(s: Summary): LrPoint[] {
  const pts: LrPoint[] = [];
  for (const label of [...new Set(s.configs.map((c) => c.label))]) {
    const mine = s.configs.filter((c) => c.label === label && c.lr !== null);
    if (new Set(mine.map((c) => c.lr)).size < 2) continue;
    for (const lr of [...new Set(mine.map((c) => c.lr!))].sort((a, b) => a - b)) {
      const at = mine.filter((c) => c.lr === lr);
      const ok = at.filter((c) => c.finalMean !== null).sort((a, b) => a.finalMean! - b.finalMean!);
      const c = ok[0];
      if (c) {
        pts.push({ optimizer: label, x: lr, mean: c.finalMean!, lo: c.finalMean! - c.finalStd!, hi: c.finalMean! + c.finalStd!, n: c.completed - c.diverged, diverged: c.diverged, allDiverged: false, note: c.diverged ? `${c.diverged}/${c.completed} diverged` : '' });
      } else if (at.some((x) => x.diverged > 0)) {
        const d = at.reduce((a, x) => a + x.diverged, 0);
        pts.push({ optimizer: label, x: lr, mean: NaN, lo: NaN, hi: NaN, n: 0, diverged: d, allDiverged: true, note: 'diverged' });
      }
    }
  }
  return pts;
}

function lrSensitivity(s: Summary, labels: string[]): { spec: vl.TopLevelSpec; points: number } | null {
  const pts = lrSensitivityPoints(s);
  if (pts.length === 0) return null;
  const finite = pts.filter((p) => !p.allDiverged);
  const color = colorEncoding({ domain: labels, legend: [...new Set(pts.map((p) => p.optimizer))] });
  // An explicit y range: with one finite point vega would show a single tick.
  const lo = finite.length ? Math.min(...finite.map((p) => p.lo)) : 0;
  const hi = finite.length ? Math.max(...finite.map((p) => p.hi)) : 1;
  const pad = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.02, 1e-3);
  const y = { type: 'quantitative' as const, scale: { zero: false, domain: [Number((lo - pad).toPrecision(4)), Number((hi + pad).toPrecision(4))], nice: false }, axis: { tickCount: 5 } };
  const anyDiverged = pts.some((p) => p.diverged > 0);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Learning-rate sensitivity (final validation loss, mean ± sd over finished seeds)', ...(anyDiverged ? { subtitle: '× at the top: every seed diverged at that learning rate; "k/n diverged": k of n seeds diverged and are left out of the mean' } : {}) },
    width: PLOT_SIZE.width,
    height: PLOT_SIZE.height,
    background: 'white',
    encoding: { x: { field: 'x', type: 'quantitative', title: 'learning rate', scale: { type: 'log' } }, color },
    layer: [
      { data: { values: finite }, mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', ...y, title: 'final validation loss' }, y2: { field: 'hi' } } },
      { data: { values: finite }, mark: { type: 'line', strokeWidth: 2, point: true }, encoding: { y: { field: 'mean', ...y, title: 'final validation loss' } } },
      { data: { values: finite.filter((p) => p.note) }, mark: { type: 'text', dy: -10, fontSize: 10 }, encoding: { y: { field: 'mean', ...y }, text: { field: 'note' } } },
      { data: { values: pts.filter((p) => p.allDiverged) }, mark: { type: 'point', shape: 'cross', size: 140, filled: true, angle: 45 }, encoding: { y: { value: 8 } } },
      { data: { values: pts.filter((p) => p.allDiverged) }, mark: { type: 'text', dy: 16, fontSize: 10 }, encoding: { y: { value: 8 }, text: { field: 'note' } } },
    ],
    config: PLOT_FONTS,
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
  const plots: [string, string, string, 'val_loss' | 'train_loss' | 'val_acc', 'step' | 'wall'][] = [
    ['val-loss-vs-step.svg', `Validation loss (${what}${seeds})`, 'step', 'val_loss', 'step'],
    ['val-loss-vs-time.svg', `Validation loss against training time (${what}${seeds})`, 'training time (s)', 'val_loss', 'wall'],
    ['train-loss-vs-step.svg', `Training loss, averaged between log rows (${what}${seeds})`, 'step', 'train_loss', 'step'],
  ];
  // Classification tasks (every model but the character GPT), and any experiment decided by accuracy, get accuracy curves.
  const hasAcc = shown.some((c) => c.runs.some((r) => r.curve.some((row) => fin(row.val_acc))));
  if (hasAcc && (s.exp.experiment.model.kind !== 'gpt' || metricOf(s.exp.experiment).name === 'val_acc' || targetOf(s.exp.experiment)?.metric === 'val_acc')) plots.push(['val-acc-vs-step.svg', `Validation accuracy (${what}${seeds})`, 'step', 'val_acc', 'step']);
  mkdirSync(join(dir, 'plots'), { recursive: true });
  for (const [file, title, xTitle, field, xAxis] of plots) {
    const series = shown.map((c) => meanCurve(c, field, xAxis, key(c)));
    // Accuracy rises: its y axis is vega's own (yDomain cuts the early, high part of a loss curve).
    const domain = field === 'val_acc' ? undefined : yDomain(shown.map((c) => meanCurve(c, field, 'step')), steps, field, shown);
    const svg = await renderSvg(curveSpec(title, xTitle, field === 'val_loss' ? 'validation loss' : field === 'val_acc' ? 'validation accuracy' : 'training loss', series.flat(), colors, domain));
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
  for (const [file, spec] of diagnosticsSpecs(s, labels)) {
    const svg = await renderSvg(spec);
    writeFileSync(join(dir, 'plots', file), svg);
    out.set(file, svg);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tables

const f3 = (x: number | null) => (x === null ? '-' : x.toFixed(3));
const secs = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
/** A target in words for the experiment table: 'validation loss 1.5', 'validation accuracy 0.9 (at or above)'. */
const targetText = (t: RunTarget) => `validation ${t.metric === 'val_acc' ? 'accuracy' : 'loss'} ${t.value}${(t.goal === 'max') !== (t.metric === 'val_acc') ? ` (${t.goal === 'max' ? 'at or above' : 'at or below'})` : t.metric === 'val_acc' ? ' (at or above)' : ''}`;
const isTuning = (c: ConfigSummary) => c.runs.some((r) => r.rec.stage === 'tune');

/** Header of the ranking's steps-to-target column: the first evaluation at or below a loss target ('first eval <= 1.5'), at or above a max-goal one ('first eval val_acc >= 0.9'); the verdict table interpolates. */
export const firstEvalHeader = (target: number | RunTarget) =>
  typeof target === 'number' || (target.metric === 'val_loss' && target.goal === 'min') ? `first eval <= ${typeof target === 'number' ? target : target.value} (step)` : `first eval ${target.metric} ${target.goal === 'max' ? '>=' : '<='} ${target.value} (step)`;

/**
 * The ranking: configurations by mean final validation loss. `tuning` false (the default): the
 * final and untuned configurations; true: the tuning trials (each at its tuning horizon), which
 * never mix with the runs they select.
 */
export function rankingRows(s: Summary, tuning = false): { header: string[]; rows: string[][]; right: boolean[] } {
  const target = targetOf(s.exp.experiment);
  const acc = s.configs.some((c) => c.accMean !== null);
  // Tuning trials: the score that selected (the mean final loss at the tuning horizon), no target columns.
  const more = !tuning;
  const header = ['#', tuning ? 'tuning trial' : 'optimizer', ...(tuning ? ['steps'] : []), 'final val (mean ± sd)', ...(more ? ['best val'] : []), ...(acc && more ? ['val acc'] : []), ...(target !== undefined && more ? [firstEvalHeader(target), `time to ${targetLabel(target)}`] : []), 'time/run', 'seeds', 'diverged'];
  const rows = ranked(s.configs.filter((c) => isTuning(c) === tuning)).map((c, i) => [
    String(i + 1),
    tuning ? `${c.name} (trial ${c.runs[0].rec.trial ?? '?'})` : c.name,
    ...(tuning ? [String(c.runs[0].rec.config.training.steps)] : []),
    c.finalMean === null ? '-' : c.completed - c.diverged > 1 ? `${f3(c.finalMean)} ± ${f3(c.finalStd)}` : f3(c.finalMean),
    ...(more ? [f3(c.bestMean)] : []),
    ...(acc && more ? [c.accMean === null ? '-' : `${(100 * c.accMean).toFixed(1)}%`] : []),
    ...(target !== undefined && more ? [c.reached ? `${Math.round(c.stepsToTargetMean!)}${c.reached < c.completed - c.diverged ? ` (${c.reached}/${c.completed - c.diverged})` : ''}` : 'never', secs(c.wallToTargetMean)] : []),
    secs(c.wallMean),
    `${c.completed}/${c.runs.length}`,
    String(c.diverged),
  ]);
  return { header, rows, right: header.map((h) => h !== 'optimizer' && h !== 'tuning trial') };
}

/**
 * Why a folder with runs has no verdicts, when it has none and the comparison's own note does not say
 * it: `--only` left the baseline out (the default baseline 'adamw', or the experiment's `baseline:`),
 * or a single optimizer has finished runs.
 */
export function missingVerdictText(s: Summary, cmp: Comparison): string | null {
  const only = s.exp.source.only;
  const labels = [...new Set(s.configs.map((c) => c.label))];
  if (only?.length && (cmp.baseline === null || !labels.includes(cmp.baseline))) {
    return `no verdicts: --only ${only.join(',')} leaves out the baseline (${cmp.baseline ? `'${cmp.baseline}'` : "'adamw' unless the experiment sets baseline:"}); add it to --only to compare against it`;
  }
  if (cmp.rows.length === 1 && labels.length >= 1) return `no verdicts: only ${cmp.rows[0].label} has finished runs to compare`;
  return null;
}

/**
 * The verdict table, compact (intervals as ± half-widths where symmetric, no best-loss column: the
 * ranking has it), its tuning-budget column moved under it (one line, optimizers grouped by budget)
 * and the columns without a value in any row (intervals with one seed) left out; `short` rounds the
 * numbers of the settings (the terminal).
 */
function verdictLayout(cmp: Comparison, e: Experiment, short: boolean): { header: string[]; rows: string[][]; right: boolean[]; budget: string } {
  const v = verdictTable(cmp, e, true);
  const b = v.header.indexOf('tuning budget');
  const set = v.header.indexOf('setting');
  const rows = v.rows.map((r) => r.map((x, i) => (i === set && short ? shortNumbers(x) : x)));
  const budgets = new Map<string, string[]>();
  for (const r of rows) budgets.set(r[b], [...(budgets.get(r[b]) ?? []), r[0]]);
  const empty = v.header.map((_, i) => i !== 0 && rows.every((r) => r[i] === '' || (r[0] === cmp.baseline && r[i] === 'baseline')) && rows.some((r) => r[0] !== cmp.baseline));
  const drop = <T,>(xs: T[]) => xs.filter((_, i) => i !== b && !empty[i]);
  const budget = [...budgets].map(([text, labels]) => `${budgets.size === 1 ? 'all' : labels.join(', ')}: ${text}`).join('; ');
  return { header: drop(v.header), rows: rows.map(drop), right: drop(v.right), budget: `tuning budget: ${budget}` };
}

/** The verdict table for the terminal: compact intervals, numbers in labels shortened, the tuning budgets under the table. */
function terminalVerdicts(cmp: Comparison, e: Experiment): string[] {
  const v = verdictLayout(cmp, e, true);
  return [textTable(v.header, v.rows, v.right), wrapParagraph(v.budget), ...verdictNotes(cmp, e).map((l) => wrapParagraph(l))];
}

/** The ranking table printed at the end of a sweep: verdicts, the ranking, tuning trials apart, every line at most 120 characters. */
export function formatRanking(s: Summary, backendWarning?: string | null, cmp: Comparison = compare(s)): string {
  const short = (t: { header: string[]; rows: string[][]; right: boolean[] }) => textTable(t.header, t.rows.map((r) => r.map((x, i) => (i === 1 ? shortNumbers(x) : x))), t.right);
  const finals = s.configs.filter((c) => !isTuning(c));
  const trials = s.configs.length - finals.length;
  const missing = missingVerdictText(s, cmp);
  const parts = [
    ...(cmp.rows.length > 1 ? [`${s.exp.name}: verdicts${cmp.baseline ? ` against ${cmp.baseline}` : ''}`, ...terminalVerdicts(cmp, s.exp.experiment), ''] : []),
    ...(missing ? [wrapParagraph(missing), ''] : []),
    wrapParagraph(`${s.exp.name}: ${finals.length} configurations${trials ? ` and ${trials} tuning trials` : ''}, ${s.runs.length} runs (${s.exp.experiment.training.steps} steps each${trials ? ', tuning trials fewer' : ''})`),
    short(rankingRows(s)),
    ...(trials ? ['', `tuning trials (each at its tuning horizon; they chose the settings above and are not compared with them):`, short(rankingRows(s, true))] : []),
  ];
  const lrs = s.exp.experiment.tuning ? [] : s.best.filter((c) => c.lr !== null && s.configs.filter((x) => x.label === c.label).length > 1);
  if (lrs.length) parts.push(wrapParagraph(`best lr: ${lrs.map((c) => `${c.label} ${formatNumber(c.lr!)}`).join(', ')}`));
  if (backendWarning) parts.push(wrapParagraph(backendWarning));
  const inc = incompleteText(s);
  if (inc) parts.push(wrapParagraph(`INCOMPLETE: ${inc}`));
  return parts.join('\n');
}

/** Runs that are not finished or diverged, and runs of the folder never started; null when the results are complete. */
export function incompleteText(s: Summary): string | null {
  const unfinished = s.runs.filter((r) => r.rec.status !== 'finished' && r.rec.status !== 'diverged');
  if (unfinished.length === 0 && s.missing.length === 0) return null;
  const total = s.runs.length + s.missing.length;
  const by = (st: string) => unfinished.filter((r) => r.rec.status === st);
  const parts = [
    ...(['failed', 'interrupted', 'running', 'pending'] as const).map((st) => [st === 'pending' ? 'not started' : st, by(st)] as const).filter(([, rs]) => rs.length).map(([name, rs]) => `${rs.length} ${name} (${rs.map((r) => r.id).join(', ')})`),
    ...(s.missing.length ? [`${s.missing.length} without results (${s.missing.join(', ')})`] : []),
  ];
  return `${total - unfinished.length - s.missing.length} of ${total} runs finished or diverged; ${parts.join('; ')}. Statistics use the finished runs only.`;
}

const esc = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function htmlTable(header: string[], rows: string[][], right: boolean[], cls = ''): string {
  const th = header.map((h, i) => `<th${right[i] ? ' class="r"' : ''}>${esc(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c, i) => `<td${right[i] ? ' class="r"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

/** The distinct environments of the runs (code, versions, machine, backend), each with its runs. */
export function environments(s: Summary): { env: RunEnvironment; runs: string[] }[] {
  const out = new Map<string, { env: RunEnvironment; runs: string[] }>();
  for (const r of s.runs) {
    const e = r.rec.env;
    if (!e) continue;
    const key = JSON.stringify(e);
    const cur = out.get(key) ?? { env: e, runs: [] };
    cur.runs.push(r.id);
    out.set(key, cur);
  }
  return [...out.values()];
}

/** Options of `reportHtml` and `writeReport`. */
export interface ReportOptions {
  /** The sweep is still running: the page reloads itself every `refreshSeconds`. */
  live?: boolean;
  /** @default 10 */
  refreshSeconds?: number;
  /** Compare runs from different backends instead of refusing (ConfigError). */
  allowMixedBackends?: boolean;
  /** Give verdicts on final runs of different builds (--allow-mixed-builds), naming the builds; without it such verdicts are withheld. */
  allowMixedBuilds?: boolean;
}

/**
 * A self-contained HTML page: a banner when runs are missing or unfinished, the settings, ranking,
 * plots (inline SVG), best learning rates, every run's outcome, the routing tables, a text sample
 * per GPT run and the environment.
 */
export function reportHtml(dir: string, s: Summary, plots: Map<string, string>, opts: ReportOptions & { backendWarning?: string | null } = {}, cmp: Comparison = compare(s)): string {
  const e = s.exp.experiment;
  const rk = rankingRows(s);
  const missingVerdict = missingVerdictText(s, cmp);
  const runRows = s.runs.map((r) => {
    const res = r.rec.result;
    // A finished run's figures have their own columns.
    const outcome = r.rec.status === 'finished' ? 'finished' : describeOutcome(r.rec.status, r.rec, `logs/${r.id}.log`);
    return [esc(r.id), esc(configName(r.rec)), String(r.rec.seed), `<span class="st ${esc(r.rec.status)}">${esc(outcome)}</span>`, String(r.rec.step), f3(res?.finalValLoss ?? null), f3(res?.bestValLoss ?? null), secs(res?.wallMs ?? null), esc(r.rec.env?.backend ?? '-'), `<a href="${esc(`${r.id}.csv`)}">csv</a> <a href="${esc(`${r.id}.json`)}">json</a> <a href="logs/${esc(r.id)}.log">log</a>`];
  });
  const settings: [string, string][] = [
    ['model', JSON.stringify(e.model)],
    ['data', JSON.stringify(e.data)],
    ['training', JSON.stringify(e.training)],
    ['schedule', JSON.stringify(e.schedule)],
    ['seeds', JSON.stringify(e.seeds)],
    ['optimizers', e.optimizers.map((o) => JSON.stringify(o)).join('\n')],
    ['target', targetOf(e) ? targetText(targetOf(e)!) : 'none'],
    ['source', `${s.exp.source.file}${s.exp.source.sets.length ? ` --set ${s.exp.source.sets.join(' --set ')}` : ''}${s.exp.source.only?.length ? ` --only ${s.exp.source.only.join(',')}` : ''}`],
    ...(s.exp.shard ? [['shard', `${s.exp.shard}${s.exp.shardSource ? ` (${s.exp.shardSource})` : ''}`] as [string, string]] : []),
    ...(s.exp.mergedFrom ? [['merged from', s.exp.mergedFrom.join(', ')] as [string, string]] : []),
  ];
  const envs = environments(s);
  const envRows = envs.map(({ env: v, runs }) => [
    esc(v.backend ?? '-'), esc(`${v.gitCommit?.slice(0, 10) ?? 'n/a'}${v.gitDirty ? ' (dirty)' : ''}`), esc(v.optlabVersion), esc(v.tfjsVersion), esc(v.node), esc(`${v.cpu} x${v.cores}, ${v.memoryGiB} GiB`), esc(v.platform), esc(v.hostname), String(runs.length),
  ]);
  // One routing table per distinct routing (configurations of one method usually share it).
  const routings = new Map<string, { names: string[]; rows: NonNullable<RunRecord['routing']> }>();
  for (const c of s.configs) {
    const rt = c.runs.find((r) => r.rec.routing)?.rec.routing;
    if (!rt) continue;
    const key = JSON.stringify(rt);
    const cur = routings.get(key) ?? { names: [], rows: rt };
    if (!cur.names.includes(c.name)) cur.names.push(c.name);
    routings.set(key, cur);
  }
  const routingHtml = [...routings.values()]
    .map(({ names, rows }) => `<details><summary>${esc(names.join(', '))} <span class="dim">(${rows.length} parameters: ${esc([...new Set(rows.map((r) => r.route))].join(', '))})</span></summary>\n${htmlTable(['parameter', 'role', 'shape', 'route', 'transforms'], rows.map((r) => [esc(r.parameter), esc(r.role), esc(`[${r.shape.join(',')}]`), esc(r.route), `<code>${esc(r.transforms)}</code>`]), [false, false, false, false, false])}</details>`)
    .join('\n');
  const samples = s.runs.filter((r) => r.rec.sample);
  const sample0 = samples[0]?.rec.sample;
  const samplesHtml = samples.map((r) => `<h3>${esc(configName(r.rec))} s${r.rec.seed} <span class="dim">(final val ${f3(r.rec.result?.finalValLoss ?? null)})</span></h3><pre class="sample">${esc(r.rec.sample!.text)}</pre>`).join('\n');
  const inc = incompleteText(s);
  const refresh = opts.refreshSeconds ?? 10;
  const banner = [
    ...(opts.live ? [`<div class="banner live">Live: the sweep is running; this page reloads every ${refresh} s (written ${esc(new Date().toLocaleString())}).</div>`] : []),
    ...(inc ? [`<div class="banner incomplete"><b>Incomplete.</b> ${esc(inc)}</div>`] : []),
    ...(opts.backendWarning ? [`<div class="banner incomplete">${esc(opts.backendWarning)}</div>`] : []),
  ].join('\n');
  const bestRows = s.best.filter((c) => !e.tuning && c.lr !== null && s.configs.filter((x) => x.label === c.label).length > 1).map((c) => [esc(c.label), formatNumber(c.lr!), f3(c.finalMean), String(s.configs.filter((x) => x.label === c.label).length)]);
  const fig = ([file, svg]: [string, string]) => `<figure>${svg}<figcaption><a href="plots/${esc(file)}">${esc(file)}</a></figcaption></figure>`;
  const figs = [...plots].filter(([f]) => !f.startsWith('diag-')).map(fig).join('\n');
  const diagFigs = [...plots].filter(([f]) => f.startsWith('diag-')).map(fig).join('\n');
  const vt = verdictLayout(cmp, e, false);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${opts.live ? `<meta http-equiv="refresh" content="${refresh}">` : ''}<title>${esc(s.exp.name)} — optlab report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f4f4}.r{text-align:right;font-variant-numeric:tabular-nums}figure{display:inline-block;margin:0.5em}
figcaption{font-size:12px;color:#666}code{background:#f4f4f4;padding:1px 4px}
table.settings th{background:none;width:8em;font-weight:bold}table.settings td{font-family:monospace;font-size:13px;white-space:pre-wrap;word-break:break-word}
.banner{padding:0.6em 1em;margin:1em 0;border-radius:4px}.banner.incomplete{background:#fdecea;border:1px solid #e0a8a0}.banner.live{background:#e8f1fb;border:1px solid #a8c4e0}
.st.failed,.st.interrupted{color:#a00}.st.diverged{color:#a60}.dim{color:#777;font-weight:normal;font-size:90%}
pre.sample{background:#f8f8f8;border:1px solid #e4e4e4;padding:0.6em;white-space:pre-wrap;font-size:13px}details{margin:0.4em 0}summary{cursor:pointer}
.diag figure{display:block;margin:0.8em 0}td.r,th.r{white-space:nowrap}table.verdicts td:nth-child(-n+2){white-space:nowrap}table.runs td:nth-child(9),table.runs td:nth-child(10){white-space:nowrap}
</style></head><body>
<h1>${esc(s.exp.name)}</h1>
${banner}
${e.description ? `<p>${esc(e.description)}</p>` : ''}
${cmp.rows.length > 1 ? `<h2>Verdicts${cmp.baseline ? ` against ${esc(cmp.baseline)}` : ''}</h2>\n${htmlTable(vt.header, vt.rows.map((r) => r.map(esc)), vt.right, 'verdicts')}\n<p>${esc(vt.budget)}</p>\n${verdictNotes(cmp, e).map((l) => `<p>${esc(l)}</p>`).join('\n')}\n<p>Per optimizer in <a href="verdicts.csv">verdicts.csv</a>; tuning trials in <a href="tuning.csv">tuning.csv</a>.</p>` : ''}
<table class="settings"><tbody>
${settings.map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}
</tbody></table>
${missingVerdict ? `<p class="banner incomplete">${esc(missingVerdict)}</p>` : ''}
<h2>Ranking</h2>
<p>Configurations by mean final validation loss over seeds (${s.runs.length} runs; summary in <a href="summary.csv">summary.csv</a>)${s.configs.some(isTuning) ? '; tuning trials are in the Tuning section' : ''}.${targetOf(e) ? ` ${esc(firstEvalHeader(targetOf(e)!))}: the first evaluation ${targetOf(e)!.goal === 'max' ? 'at or above' : 'at or below'} the target (the verdict table interpolates between evaluations).` : ''}</p>
${htmlTable(rk.header, rk.rows.map((r) => r.map(esc)), rk.right)}
<h2>Plots</h2>
${figs}
${diagFigs ? `<h2>Diagnostics</h2>\n<p>Per route, mean over the compared configuration's seeds at each logged step (optimizers/diagnostics.ts).</p>\n<div class="diag">${diagFigs}</div>` : ''}
${tuningSection(s, cmp, esc, htmlTable)}
${bestRows.length ? `<h2>Best learning rate per optimizer</h2>\n${htmlTable(['optimizer', 'lr', 'final val (mean)', 'configurations tried'], bestRows, [false, true, true, true])}` : ''}
<h2>Runs</h2>
${htmlTable(['run', 'configuration', 'seed', 'outcome', 'step', 'final val', 'best val', 'time', 'backend', 'files'], runRows, [false, false, true, false, true, true, true, true, false, false], 'runs')}
${routingHtml ? `<h2>Routing</h2>\n<p>Which part of each optimizer updates which parameter (roles are set by the model).</p>\n${routingHtml}` : ''}
${samplesHtml ? `<h2>Samples</h2>\n<p>${sample0!.text.length} characters from each finished model after the prompt ${esc(JSON.stringify(sample0!.prompt))}, temperature ${sample0!.temperature}, sampler seed ${sample0!.seed}.</p>\n${samplesHtml}` : ''}
<h2>Environment</h2>
${envRows.length ? htmlTable(['backend', 'git', 'optlab', 'tfjs', 'node', 'machine', 'platform', 'host', 'runs'], envRows, [false, false, false, false, false, false, false, false, true]) : '<p>No run has started.</p>'}
<p style="font-size:12px;color:#666">Generated by optlab report from ${esc(relative(process.cwd(), dir) || '.')}.</p>
</body></html>
`;
}

/** Writes summary.csv, plots/*.svg and report.html; returns the ranking text. Throws a ConfigError when runs of different backends meet, unless allowed. */
export async function writeReport(dir: string, opts: ReportOptions = {}): Promise<{ summary: Summary; ranking: string }> {
  const s = summarize(dir);
  const backendWarning = checkSameBackend(s.runs.map((r) => ({ id: r.id, backend: r.rec.env?.backend })), opts.allowMixedBackends === true, `the comparison in ${dir}`);
  const rows = summaryRows(s);
  const tmp = join(dir, `summary.csv.tmp-${process.pid}`);
  await createObjectCsvWriter({ path: tmp, header: SUMMARY_COLUMNS.map((c) => ({ id: c, title: c })) }).writeRecords(rows);
  writeAtomic(join(dir, 'summary.csv'), readFileSync(tmp));
  rmSync(tmp, { force: true });
  const plots = await writePlots(dir, s);
  const cmp = compare(s, opts.allowMixedBuilds !== undefined ? { allowMixedBuilds: opts.allowMixedBuilds } : {});
  writeComparisonFiles(dir, s, cmp);
  writeAtomic(join(dir, 'report.html'), reportHtml(dir, s, plots, { ...opts, backendWarning }, cmp));
  return { summary: s, ranking: formatRanking(s, backendWarning, cmp) };
}

/**
 * Merges result folders of one experiment (its shards, or reruns) into `out`: run files are copied,
 * `experiment.json` lists the union of runs in grid order, then the report is written. A run found
 * in several folders is taken from the one where it got furthest (finished or diverged over
 * interrupted over the rest; the first folder on a tie), with a warning; so is a folder named twice.
 * Folders of different grids, or runs of different backends (unless allowed), throw a ConfigError
 * before anything is written.
 */
export async function mergeResults(dirs: readonly string[], out: string, opts: { allowMixedBackends?: boolean; warn?: (line: string) => void } = {}): Promise<{ summary: Summary; ranking: string; warnings: string[] }> {
  if (dirs.length === 0) throw new ConfigError('merge: name at least one results folder');
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    opts.warn?.(w);
  };
  const seen = new Map<string, string>();
  const unique: string[] = [];
  for (const d of dirs) {
    const key = resolve(d);
    if (seen.has(key)) {
      warn(`warning: merge: ${d} is named twice (as ${seen.get(key)}); its runs are counted once`);
      continue;
    }
    seen.set(key, d);
    unique.push(d);
  }
  const recs = unique.map(readExperimentRecord);
  const grid = recs[0].grid;
  // A tuned experiment's grid grows stage by stage: folders at different stages agree on a prefix.
  const longest = recs.reduce((a, r) => (r.grid.length > a.length ? r.grid : a), grid);
  recs.forEach((r, i) => {
    const prefix = r.grid.length <= longest.length && r.grid.every((id, k) => longest[k] === id);
    const staged = r.experiment.tuning !== undefined && JSON.stringify(r.experiment) === JSON.stringify(recs[0].experiment);
    if (r.grid.join('\n') !== grid.join('\n') && !(staged && prefix)) {
      const what = r.name !== recs[0].name ? `experiment '${r.name}', not '${recs[0].name}'` : 'a different grid of the same experiment (other --set, --only or seeds)';
      throw new ConfigError(`merge: ${unique[i]} holds ${what} (${unique[0]}); only shards or reruns of one experiment grid merge`);
    }
  });
  const have = new Map<string, { dir: string; rec: RunRecord }>();
  const rank = (st: string) => (st === 'finished' || st === 'diverged' ? 2 : st === 'interrupted' ? 1 : 0);
  unique.forEach((d, i) => {
    for (const id of recs[i].runs) {
      const p = runPaths(d, id);
      if (!existsSync(p.json)) continue;
      const rec = readRecord(p.json);
      const prev = have.get(id);
      if (prev) {
        const keep = rank(rec.status) > rank(prev.rec.status) ? d : prev.dir;
        warn(`warning: merge: run ${id} is in both ${prev.dir} (${prev.rec.status}) and ${d} (${rec.status}); keeping the one in ${keep}`);
        if (keep === prev.dir) continue;
      }
      have.set(id, { dir: d, rec });
    }
  });
  checkSameBackend([...have].map(([id, h]) => ({ id, backend: h.rec.env?.backend })), opts.allowMixedBackends === true, `merging ${unique.join(', ')}`);
  mkdirSync(join(out, 'logs'), { recursive: true });
  mkdirSync(join(out, 'checkpoints'), { recursive: true });
  for (const [id, { dir }] of have) {
    const from = runPaths(dir, id);
    const to = runPaths(out, id);
    if (resolve(from.json) === resolve(to.json)) continue;
    for (const k of ['json', 'csv', 'ckpt', 'log'] as const) if (existsSync(from[k])) copyFileSync(from[k], to[k]);
  }
  const runs = longest.filter((id) => have.has(id));
  const merged: ExperimentRecord = { ...recs[0], grid: longest, runs, shard: null, mergedFrom: [...unique] };
  delete merged.shardSource;
  writeAtomic(join(out, 'experiment.json'), JSON.stringify(merged, null, 1) + '\n');
  return { ...(await writeReport(out, { allowMixedBackends: opts.allowMixedBackends })), warnings };
}

/** True when every run the folder lists has ended (or never will without a new `optlab run`): none is pending or running. */
function sweepEnded(s: Summary): boolean {
  return s.missing.length === 0 && s.runs.every((r) => r.rec.status !== 'running' && r.rec.status !== 'pending');
}

/**
 * `optlab report --watch`: rewrites the report every `every` seconds while the folder's runs are
 * pending or running (the page reloads itself meanwhile), then once more as a final report. Waits
 * for experiment.json when the sweep has not written it yet. Ctrl-C stops watching.
 */
export async function watchReport(dir: string, opts: { every?: number; allowMixedBackends?: boolean; log?: (line: string) => void } = {}): Promise<Summary> {
  const every = Math.max(1, opts.every ?? 10);
  const log = opts.log ?? ((l: string) => console.log(l));
  const sleep = () => new Promise((r) => setTimeout(r, every * 1000));
  let stop = false;
  const onSigint = () => {
    stop = true;
  };
  process.on('SIGINT', onSigint);
  try {
    let waited = false;
    while (!existsSync(join(dir, 'experiment.json'))) {
      if (stop) throw new ConfigError(`${dir}: stopped waiting for experiment.json`);
      if (!waited) log(`waiting for ${join(dir, 'experiment.json')} (optlab run writes it when the sweep starts)`);
      waited = true;
      await sleep();
    }
    let last = '';
    for (;;) {
      const s = summarize(dir);
      const ended = sweepEnded(s) || stop;
      await writeReport(dir, { live: !ended, refreshSeconds: every, allowMixedBackends: opts.allowMixedBackends });
      const counts = [...new Set(s.runs.map((r) => r.rec.status))].map((st) => `${s.runs.filter((r) => r.rec.status === st).length} ${st}`).join(', ');
      if (counts !== last) log(`${new Date().toLocaleTimeString()} ${dir}: ${counts || 'no runs yet'}`);
      last = counts;
      if (ended) return summarize(dir);
      await sleep();
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
