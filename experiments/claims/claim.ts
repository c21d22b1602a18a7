/**
 * What a claim is: one paper's central statement in our words, the commands that measure it at CPU
 * scale, and a rule, fixed before measuring, that turns the measured numbers into a verdict:
 * 'reproduced', 'not reproduced at this scale', or 'undecided' (with the number of seeds behind it).
 * Verdicts are computed from result files; nothing here knows an expected outcome.
 *
 * The claims that compare training runs read them through `readRuns` only (one small function over the
 * runner's run JSONs and curves) and compare each optimizer's final runs (`finalRuns`): the setting
 * the tuning machinery selected (experiments/sweep/tuning.ts), run with the experiment's seeds.
 */
import type quantileType from '@stdlib/stats-base-dists-t-quantile';
import { requireOptional } from '../../kernels/optional.js';

/** The t quantile, loaded on first use (an optional peer dependency: kernels/optional.ts). */
const quantile = (p: number, df: number): number => requireOptional<typeof quantileType>('@stdlib/stats-base-dists-t-quantile')(p, df);
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readExperimentRecord } from '../analysis/report.js';
import { stepsToReach as statsStepsToReach } from '../analysis/statistics.js';
import { readCurve, readRecord, runPaths, type RunEnvironment } from '../runner/runner.js';
import { extraSeedsIn, folderLookup, planExperiment } from '../sweep/tuning.js';

/** The three verdicts. */
export type Verdict = 'reproduced' | 'not reproduced at this scale' | 'undecided';

/** One measured figure, with its 95% interval when it has one. */
export interface Figure {
  label: string;
  value: number;
  lo?: number;
  hi?: number;
  unit?: string;
  /** Number of seeds (or repetitions) behind the figure. */
  n?: number;
}

/** A claim's verdict and the numbers it came from. */
export interface Evaluation {
  verdict: Verdict;
  /** Seeds behind the verdict (the smallest over its parts). */
  seeds: number;
  figures: Figure[];
  /** How many of the first figures the summary table shows (all when omitted). */
  headline?: number;
  /** One or two sentences: which part of the rule decided. */
  reason: string;
  /** Wall time of the commands (s), commit and machine of the results, when recorded. */
  wallS?: number;
  env?: Partial<RunEnvironment> & { backend?: string; load?: string; machines?: string; commits?: string; resumed?: string };
}

/** A result folder a claim needs is missing; the report lists the claim as not run with its commands. */
export class MissingResults extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingResults';
  }
}

/** A claim that cannot run yet (a runner feature is missing); the reason is shown in the report. */
export class Blocked extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Blocked';
  }
}

/** One paper's claim. `dir` below is the claim's results folder, results/claims/<name>. */
export interface Claim {
  /** Registry key, also the results folder name. */
  name: string;
  /** The claim's number in issue 16. */
  number: number;
  /** Authors, title. */
  paper: string;
  /** arXiv id. */
  arxiv: string;
  /** The paper's statement in our words. */
  statement: string;
  /** What we run. */
  setup: string;
  /** Where our setup departs from the paper's. */
  differences: string;
  /** The decision rule, stated before measuring. */
  rule: string;
  /**
   * Estimated wall time on the project's 2-core machine, for claims whose commands are not `optlab
   * run` experiments (the others' estimate is computed from their files: experiments/claims/cost.ts).
   */
  estimate?: string;
  /** True for claims that compare tuned training runs (tuning machinery, experiments/sweep/tuning.ts). */
  needsTuning: boolean;
  /** `optlab` argument lists that produce the results in `dir`. */
  commands(dir: string): string[][];
  /** Reads the results in `dir` and applies the rule; throws MissingResults when they are absent. */
  evaluate(dir: string): Evaluation;
}

/** Mean and 95% t-interval of a sample (NaN bounds with fewer than two values). */
export function tInterval(xs: readonly number[], level = 0.95): Figure & { sd: number } {
  const n = xs.length;
  if (n === 0) throw new Error('tInterval: no values');
  const m = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { label: '', value: m, lo: NaN, hi: NaN, n, sd: NaN };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
  const half = quantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { label: '', value: m, lo: m - half, hi: m + half, n, sd };
}

/**
 * The verdict of a one-sided claim "x < threshold" from x's interval: reproduced when the whole
 * interval is below `reproducedBelow`, not reproduced when it is all above `refutedAbove`, undecided
 * otherwise (and always with fewer than two values).
 */
export function verdictBelow(x: Figure, reproducedBelow: number, refutedAbove: number): Verdict {
  if (x.lo === undefined || x.hi === undefined || Number.isNaN(x.lo) || Number.isNaN(x.hi)) return 'undecided';
  if (x.hi < reproducedBelow) return 'reproduced';
  if (x.lo > refutedAbove) return 'not reproduced at this scale';
  return 'undecided';
}

/** All parts reproduced: reproduced; any part not reproduced: not reproduced; otherwise undecided. */
export function combine(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.some((v) => v === 'not reproduced at this scale')) return 'not reproduced at this scale';
  if (verdicts.length > 0 && verdicts.every((v) => v === 'reproduced')) return 'reproduced';
  return 'undecided';
}

/** One finished (or diverged) training run as the claims read it. */
export interface RunRow {
  id: string;
  /** Configuration hash (runs that differ only in seed share it). */
  hash: string;
  /** Optimizer entry label ('muon-moonlight', 'mars-m-exact'). */
  label: string;
  method: string;
  lr: number | null;
  seed: number;
  status: string;
  /** 'tune' (a tuning trial), 'final' (the selected setting), or absent (an experiment without tuning). */
  stage?: 'tune' | 'final';
  /** For final runs of an entry with settingsFrom: the entry whose selected setting they run. */
  settingsFrom?: string;
  finalValLoss: number | null;
  finalValAcc: number | null;
  /** Validation loss by step (step 0: before training). */
  curve: { step: number; valLoss: number }[];
  /** Training loss by logged step (the mean since the previous logged step). */
  trainCurve: { step: number; trainLoss: number }[];
  env?: RunEnvironment;
  /** Machines, commits or backends that continued the run from a checkpoint (runner.ts RunRecord.resumedOn). */
  resumedOn?: RunEnvironment[];
  wallMs: number | null;
}

/**
 * The runs of a results folder written by `optlab run` (experiment.json, <id>.json, <id>.csv): the
 * one place claims read training results. Throws MissingResults when the folder or a run is absent
 * or unfinished, and for a tuned experiment when the plan from its results still needs runs (tuning
 * or final runs not yet started).
 */
export function readRuns(dir: string): RunRow[] {
  if (!existsSync(join(dir, 'experiment.json'))) throw new MissingResults(`no results in ${dir} (experiment.json missing)`);
  const exp = readExperimentRecord(dir);
  if (exp.experiment.tuning) {
    const plan = planExperiment(exp.experiment, folderLookup(dir), extraSeedsIn(dir, exp.grid));
    if (plan.needed.length) throw new MissingResults(`${dir}: the tuned experiment still needs ${plan.needed.length} runs (${plan.needed.slice(0, 3).map((r) => `${r.id} (${r.stage})`).join(', ')}${plan.needed.length > 3 ? ', ...' : ''}); continue it with --resume`);
  }
  const rows: RunRow[] = [];
  const unfinished: string[] = [];
  for (const id of exp.grid) {
    const p = runPaths(dir, id);
    if (!existsSync(p.json)) {
      unfinished.push(`${id} (not started)`);
      continue;
    }
    const rec = readRecord(p.json);
    if (rec.status !== 'finished' && rec.status !== 'diverged') {
      unfinished.push(`${id} (${rec.status})`);
      continue;
    }
    const lr = rec.config.optimizer.options.lr;
    const rowsCsv = existsSync(p.csv) ? readCurve(p.csv) : [];
    const curve = rowsCsv.filter((r) => r.val_loss !== null && Number.isFinite(r.val_loss)).map((r) => ({ step: r.step, valLoss: r.val_loss as number }));
    const trainCurve = rowsCsv.filter((r) => r.train_loss !== null).map((r) => ({ step: r.step, trainLoss: r.train_loss as number }));
    rows.push({
      id, hash: rec.hash, label: rec.label, method: rec.config.optimizer.name, lr: typeof lr === 'number' ? lr : null, seed: rec.seed, status: rec.status,
      ...(rec.stage ? { stage: rec.stage } : {}), ...(rec.settingsFrom ? { settingsFrom: rec.settingsFrom } : {}),
      finalValLoss: rec.result?.finalValLoss ?? null, finalValAcc: rec.result?.finalValAcc ?? null, curve, trainCurve, env: rec.env, resumedOn: rec.resumedOn, wallMs: rec.result?.wallMs ?? null,
    });
  }
  if (unfinished.length) throw new MissingResults(`${dir}: ${unfinished.length} of ${exp.grid.length} runs not finished: ${unfinished.slice(0, 3).join(', ')}${unfinished.length > 3 ? ', ...' : ''}`);
  return rows;
}

/**
 * The compared runs of one optimizer entry: its final-stage runs (the selected setting with the
 * experiment's seeds), or, in an experiment without tuning, its runs when they share one
 * configuration. Throws MissingResults when there are none, Error when an untuned entry has several
 * configurations (a grid chosen on the seeds it is scored on is what the tuning machinery replaces).
 */
export function finalRuns(rows: readonly RunRow[], label: string): RunRow[] {
  const mine = rows.filter((r) => r.label === label);
  if (mine.length === 0) throw new MissingResults(`no runs labelled '${label}'`);
  const finals = mine.filter((r) => r.stage === 'final');
  if (finals.length) return finals;
  if (mine.some((r) => r.stage === 'tune')) throw new MissingResults(`'${label}' has tuning runs but no final runs yet`);
  if (new Set(mine.map((r) => r.hash)).size > 1) throw new Error(`'${label}' has ${new Set(mine.map((r) => r.hash)).size} configurations and no tuning stage; a claim compares one setting per optimizer (use a tuning block)`);
  return mine;
}

/** The learning rate of a label's final runs ('lr=...' for labels), or '?' when it has none. */
export function lrOf(runs: readonly RunRow[]): string {
  const lr = runs[0]?.lr;
  return lr === null || lr === undefined ? '?' : Number(lr.toPrecision(3)).toString();
}

/**
 * Paired difference a - b of a per-run figure over the seeds both have (same seed: same initial
 * weights and batches), with its 95% t-interval. A diverged run makes the figure +Infinity, and the
 * interval then has no finite bounds: such a comparison is reported, not averaged.
 */
export function pairedDifference(a: readonly RunRow[], b: readonly RunRow[], figure: (r: RunRow) => number | null, label: string, unit?: string): Figure {
  const bySeed = new Map(b.map((r) => [r.seed, r]));
  const diffs: number[] = [];
  for (const r of a) {
    const o = bySeed.get(r.seed);
    if (!o) continue;
    const x = r.status === 'finished' ? figure(r) : Infinity;
    const y = o.status === 'finished' ? figure(o) : Infinity;
    if (x === null || y === null) continue;
    diffs.push(x - y);
  }
  if (diffs.length === 0) throw new MissingResults(`${label}: no seed in common`);
  if (diffs.some((d) => !Number.isFinite(d))) return { label, value: NaN, lo: NaN, hi: NaN, n: diffs.length, unit };
  const t = tInterval(diffs);
  return { label, value: t.value, lo: t.lo, hi: t.hi, n: t.n, unit };
}

/** Mean over seeds of the validation curves of `runs` (steps every run has). */
export function meanCurve(runs: readonly RunRow[]): { step: number; valLoss: number }[] {
  const steps = new Map<number, number[]>();
  for (const r of runs) for (const p of r.curve) steps.set(p.step, [...(steps.get(p.step) ?? []), p.valLoss]);
  return [...steps].filter(([, v]) => v.length === runs.length).sort((x, y) => x[0] - y[0]).map(([step, v]) => ({ step, valLoss: v.reduce((a, b) => a + b, 0) / v.length }));
}

/** First step where a curve reaches `loss`, linearly interpolated between evaluations; null if never. */
export function stepsToReach(curve: readonly { step: number; valLoss: number }[], loss: number): number | null {
  return statsStepsToReach(curve.map((p) => ({ step: p.step, loss: p.valLoss })), loss);
}

/** Environment of the first run, with the summed wall time of all runs (s). */
export function runsEnvironment(rows: readonly RunRow[]): Pick<Evaluation, 'env' | 'wallS'> {
  const env = rows.find((r) => r.env)?.env;
  // Runs of one claim may come from several machines and commits (a sweep split over a cluster, or
  // resumed elsewhere): name each with its run count rather than the first run's alone.
  const count = (key: (e: RunEnvironment) => string | null) => {
    const m = new Map<string, number>();
    for (const r of rows) if (r.env) {
      const k = key(r.env);
      if (k) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const machines = count((e) => `${e.cpu} x${e.cores}`);
  const resumed = rows.filter((r) => r.resumedOn?.length).length;
  const commits = count((e) => (e.gitCommit ? `${e.gitCommit.slice(0, 10)}${e.gitDirty ? ' (dirty)' : ''}` : null));
  const list = (m: Map<string, number>) => [...m].map(([k, n]) => `${k} (${n} run${n === 1 ? '' : 's'})`).join(', ');
  return {
    env: env && {
      ...env,
      ...(machines.size > 1 ? { machines: list(machines) } : {}),
      ...(commits.size > 1 ? { commits: list(commits) } : {}),
      ...(resumed ? { resumed: `${resumed} run${resumed === 1 ? '' : 's'} continued elsewhere from a checkpoint (run JSON resumedOn)` } : {}),
    },
    wallS: rows.reduce((a, r) => a + (r.wallMs ?? 0), 0) / 1000,
  };
}
