/**
 * The comparison a report opens with: each optimizer's compared configuration (the tuned selection,
 * or the best grid configuration without tuning) against the baseline (`baseline:` of the
 * experiment, default 'adamw'): final and best validation loss with t-intervals over seeds; the
 * difference in final validation loss with its 95% interval, paired by seed (runs of one seed share
 * initial weights and data order, experiments/runner/tasks.ts) and Welch's otherwise; the verdict better /
 * worse / undecided by the protocol of docs/protocol.md (failed seeds rank worst, Holm's correction,
 * sequential p-values after --until-decided, one build per comparison; `compare`); the edge flag of
 * a tuned selection; power and equivalence against `power.margin`; steps and time to the target loss with bootstrap intervals; the speed-up as the
 * baseline's steps to reach the optimizer's final loss over the optimizer's steps (Marin); and the
 * evaluation steps at which the ranking differed from the final one.
 *
 * Every "beats" here carries its budget and scale: the tuning budget (method, trials, horizon, seeds)
 * and the model, steps and seeds of the final runs are in the same table.
 */
import { createObjectCsvStringifier } from 'csv-writer';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type * as vl from 'vega-lite';
import type { Experiment } from '../runner/config.js';
import { describeValues, formatNumber, metricOf, settingsSource, targetLabel, targetOf, tuningHorizon, type RunTarget, type SearchSpec, type TunedFile } from '../runner/config.js';
import { edgeOf, searchDims } from '../runner/search.js';
import type { ConfigSummary, LoadedRun, Summary } from './report.js';
import { SERIES_COLORS } from './colors.js';
import { writeAtomic, type CurveRow } from '../runner/runner.js';
import { bootstrap, CONFIDENCE, difference, holm, mean, rankingFlips, sampleSd, seedsForPower, sequentialP, speedup, stepsToReach, tInterval, tost, type CurvePoint, type Difference, type Estimate, type MeanSummary, type RankingFlip, type Verdict } from './statistics.js';
import { checkSameBuild, runBuildKeys } from '../runner/build.js';
import { ConfigError } from '../runner/config.js';

/** Seed of every bootstrap in a report (reports are reproducible). */
export const REPORT_BOOTSTRAP_SEED = 1;
/** Resamples of every bootstrap in a report. */
export const REPORT_RESAMPLES = 2000;

/** How an optimizer's compared setting was chosen, and what that cost. */
export interface TuningInfo {
  method: string;
  /** Trials per optimizer allowed / used. */
  budget: number;
  used: number;
  steps: number;
  seeds: number[];
  selected: Record<string, unknown> | null;
  selectedScore: number | null;
  /** Tuning runs and their summed training time. */
  runs: number;
  wallMs: number;
  trials: { trial: number; values: Record<string, unknown>; score: number | null; status: string; seeds: number; wallMs: number }[];
  /** The entry whose selected setting this one runs (`settingsFrom`); it then has no trials or tuning cost of its own. */
  settingsFrom?: string;
  /** Trials rerun at the full horizon (tuning horizon shorter than training.steps, protocol 2). */
  reruns: { trial: number; values: Record<string, unknown>; score: number | null; status: string; seeds: number; wallMs: number }[];
  /** Steps of the trials whose scores made the selection. */
  selectedAt: number;
  /** Ranges at whose tried edge the selection sits: the "edge" flag (empty: interior on every range). */
  edge: { key: string; side: 'low' | 'high'; value: number }[];
  /** Each searched range as searched: the smallest and largest value tried (bracketing extensions included). */
  searched: Record<string, { low: number; high: number }>;
  /** The selected trial's final loss per tuning seed at the selection horizon (the pilots of the power analysis). */
  pilot: Map<number, number>;
}

/** One optimizer in the verdict table. */
export interface OptimizerComparison {
  label: string;
  config: ConfigSummary;
  seeds: number[];
  diverged: number;
  final: MeanSummary;
  best: MeanSummary;
  /** Against the baseline; absent for the baseline itself or when there is none. */
  diff?: Difference;
  verdict?: Verdict;
  /** Seeds that reached the target / that finished, and the mean steps and seconds with bootstrap intervals. */
  target?: { reached: number; of: number; steps: Estimate | null; wallSec: Estimate | null };
  /** Baseline steps to reach this optimizer's mean final loss / this optimizer's steps. */
  speedup?: Estimate & { beyondBaseline: boolean; bound: number };
  tuning?: TuningInfo;
  /** Final seeds that failed: diverged, unfinished or without a finite final loss (they rank worst; docs/protocol.md). */
  failedSeeds: number[];
  /** p-value of the difference (the sequential p-value when seeds were added by --until-decided) and Holm's adjustment across the experiment's verdicts. */
  p?: number;
  pHolm?: number;
  /** Two one-sided tests against +-power.margin (experiments with a `power` block). */
  equivalence?: { margin: number; p: number; equivalent: boolean };
  /** Seeds a paired t-test needs to detect power.margin at the stated power, from the pilot sd (or the stated one). */
  power?: { margin: number; power: number; sd: number; sdFrom: string; seedsNeeded: number; seeds: number };
}

/** The whole comparison of a results folder. */
export interface Comparison {
  baseline: string | null;
  /** Why there are no verdicts, when there are none. */
  note?: string;
  /** The rules the verdicts follow, for the report (multiplicity, sequential looks, failures, builds). */
  rules: string[];
  /** The builds of the final runs when they differ (named in the report); verdicts are withheld unless mixed builds are allowed. */
  mixedBuilds?: { message: string; allowed: boolean };
  rows: OptimizerComparison[];
  finalRanking: string[];
  flips: RankingFlip[];
  steps: number;
  /**
   * Runs continued from a checkpoint on another machine, commit or backend (runner.ts
   * RunRecord.resumedOn): their curves are not bit-identical reruns of one build. One line each,
   * 'adamw-1a2b3c4d-s0 (from step 40 on host h, commit abc1234, wasm)'.
   */
  resumedElsewhere: string[];
}

const fin = (x: number | null | undefined): x is number => x !== null && x !== undefined && Number.isFinite(x);

/** Points of a run's curve of one validation column (default the loss; val_acc for an accuracy curve). */
function valPoints(curve: readonly CurveRow[], column: 'val_loss' | 'val_acc' = 'val_loss'): CurvePoint[] {
  return curve.filter((r) => r[column] !== null).map((r) => ({ step: r.step, loss: r[column]! }));
}

/**
 * Step and training time at which a curve first reaches `target` (both interpolated between
 * evaluations): a validation loss (a number: at or below), or a RunTarget (its column, at or below
 * for goal min, at or above for max).
 */
export function reachTarget(curve: readonly CurveRow[], target: number | RunTarget): { step: number; wallMs: number } | null {
  const t: RunTarget = typeof target === 'number' ? { metric: 'val_loss', value: target, goal: 'min' } : target;
  const evals = curve.filter((r) => r[t.metric] !== null);
  const step = stepsToReach(evals.map((r) => ({ step: r.step, loss: r[t.metric]! })), t.value, t.goal);
  if (step === null) return null;
  const k = evals.findIndex((r) => r.step >= step);
  if (k <= 0) return { step, wallMs: evals[Math.max(k, 0)].wall_ms };
  const a = evals[k - 1];
  const b = evals[k];
  return { step, wallMs: a.wall_ms + ((step - a.step) / (b.step - a.step)) * (b.wall_ms - a.wall_ms) };
}

/** Tuning trials, selection and cost of one optimizer from the tuning-stage runs in a summary. */
export function tuningInfo(s: Summary, label: string): TuningInfo | undefined {
  const t = s.exp.experiment.tuning;
  if (!t) return undefined;
  const exp = s.exp.experiment;
  const i = exp.optimizers.findIndex((o) => (o.label ?? o.name) === label);
  if (i >= 0 && exp.optimizers[i].settingsFrom !== undefined) {
    const src = exp.optimizers[settingsSource(exp, i)];
    const from = tuningInfo(s, src.label ?? src.name);
    return from && { ...from, used: 0, runs: 0, wallMs: 0, trials: [], reruns: [], settingsFrom: src.label ?? src.name };
  }
  const horizon = tuningHorizon(exp);
  const full = exp.training.steps;
  const metric = metricOf(exp);
  // A failed seed scores the worst value of the metric's goal.
  const worst = metric.goal === 'max' ? -Infinity : Infinity;
  const better = (a: number, b: number) => (metric.goal === 'max' ? a > b : a < b);
  const tune = s.configs.filter((c) => c.label === label && c.runs.some((r) => r.rec.stage === 'tune'));
  const summarizeTrial = (c: (typeof tune)[number]) => {
    const runs = c.runs.filter((r) => r.rec.stage === 'tune');
    const done = runs.every((r) => r.rec.status === 'finished' || r.rec.status === 'diverged');
    const losses = runs.map((r) => (r.rec.status === 'finished' && fin(r.rec.result?.[metric.field]) ? r.rec.result![metric.field]! : worst));
    return {
      trial: runs[0].rec.trial ?? -1,
      values: runs[0].rec.grid,
      score: done ? mean(losses) : null,
      status: done ? (losses.every(Number.isFinite) ? 'finished' : 'diverged') : 'unfinished',
      seeds: runs.length,
      wallMs: runs.reduce((a, r) => a + (r.rec.result?.wallMs ?? 0), 0),
      perSeed: new Map(runs.map((r, k) => [r.rec.seed, losses[k]])),
      steps: runs[0].rec.config.training.steps,
    };
  };
  const all = tune.map(summarizeTrial);
  // With a horizon shorter than the full one, the trials at the full horizon are the reruns of the shortlist.
  const isRerun = (x: (typeof all)[number]) => horizon < full && x.steps === full;
  const trials = all.filter((x) => !isRerun(x)).sort((a, b) => a.trial - b.trial);
  const reruns = all.filter(isRerun).sort((a, b) => a.trial - b.trial);
  // The final runs name the selected trial; before they exist, the selection rule of experiments/sweep/tuning.ts
  // (lowest finite score at the deciding horizon, ties to the earlier trial) applies once every trial has its score.
  const final = s.configs.find((c) => c.label === label && c.runs.some((r) => r.rec.stage === 'final'));
  const selectedTrial = final?.runs.find((r) => r.rec.stage === 'final')?.rec.trial;
  const deciding = reruns.length ? reruns : trials;
  const complete = deciding.length > 0 && deciding.every((x) => x.score !== null);
  const argmin = complete ? deciding.reduce<(typeof trials)[number] | undefined>((b, x) => (Number.isFinite(x.score!) && (!b || better(x.score!, b.score!)) ? x : b), undefined) : undefined;
  const sel = selectedTrial !== undefined ? (deciding.find((x) => x.trial === selectedTrial) ?? trials.find((x) => x.trial === selectedTrial)) : argmin;
  const steps = trials[0]?.steps ?? horizon;
  const dims = i >= 0 ? searchDims(exp.optimizers[i].search as Record<string, SearchSpec> | undefined) : [];
  const tried = trials.map((x) => x.values);
  const searched = Object.fromEntries(
    dims.filter((d) => d.kind === 'range').flatMap((d) => {
      const xs = tried.map((v) => v[d.key]).filter((x): x is number => typeof x === 'number');
      return xs.length ? [[d.key, { low: Math.min(...xs), high: Math.max(...xs) }]] : [];
    }),
  );
  const strip = ({ perSeed: _p, steps: _s, ...x }: (typeof all)[number]) => x;
  return {
    method: t.method,
    budget: t.trials,
    used: trials.length,
    steps,
    seeds: [...new Set(tune.flatMap((c) => c.runs.map((r) => r.rec.seed)))].sort((a, b) => a - b),
    selected: sel?.values ?? null,
    selectedScore: sel?.score ?? null,
    runs: tune.reduce((a, c) => a + c.runs.length, 0),
    wallMs: all.reduce((a, x) => a + x.wallMs, 0),
    trials: trials.map(strip),
    reruns: reruns.map(strip),
    selectedAt: reruns.length ? full : steps,
    edge: sel ? edgeOf(dims, tried, sel.values) : [],
    searched,
    pilot: sel ? new Map([...sel.perSeed].filter(([, v]) => Number.isFinite(v))) : new Map(),
  };
}

/** An edge flag in words: 'edge: lr at the high end (0.016) of the values tried', or '' when interior. */
export function edgeText(t: TuningInfo | undefined): string {
  if (!t || !t.edge.length) return '';
  return `edge: ${t.edge.map((e) => `${e.key} at the ${e.side} end (${formatNumber(e.value)}) of the values tried`).join(', ')}`;
}

/** The baseline label: the experiment's `baseline`, else 'adamw' when an optimizer has that label, else none. */
export function baselineLabel(exp: Experiment): string | null {
  if (exp.baseline) return exp.baseline;
  return exp.optimizers.some((o) => (o.label ?? o.name) === 'adamw') ? 'adamw' : null;
}

/**
 * The power analysis before the final runs (experiments with a `power` block): per optimizer other
 * than the baseline, the sd of per-seed differences, stated (`power.sd`) or from the pilots (the
 * selected settings' tuning seeds at the deciding horizon, paired with the baseline's; at least 2),
 * and the seeds a paired t-test needs to detect `power.margin` at `power.power`. Labels without an
 * sd are left out.
 */
export function powerPlan(s: Summary): Map<string, { sd: number; sdFrom: string; seedsNeeded: number }> {
  const exp = s.exp.experiment;
  const pw = exp.power;
  const out = new Map<string, { sd: number; sdFrom: string; seedsNeeded: number }>();
  const baseline = baselineLabel(exp);
  if (!pw || baseline === null) return out;
  const basePilot = tuningInfo(s, baseline)?.pilot;
  for (const o of exp.optimizers) {
    const label = o.label ?? o.name;
    if (label === baseline) continue;
    const pilot = tuningInfo(s, label)?.pilot;
    const pairs = pilot && basePilot ? [...pilot].filter(([sd]) => basePilot.has(sd)).map(([sd, v]) => v - basePilot.get(sd)!) : [];
    const pilotSd = pairs.length >= 2 ? sampleSd(pairs) : NaN;
    const [sd, sdFrom] = pw.sd !== undefined ? [pw.sd, 'stated (power.sd)'] : pilotSd > 0 ? [pilotSd, `pilot: ${pairs.length} tuning seeds of the selected settings`] : [NaN, ''];
    if (Number.isFinite(sd)) out.set(label, { sd, sdFrom, seedsNeeded: seedsForPower(sd, pw.margin, pw.power, VERDICT_ALPHA) });
  }
  return out;
}

/** Options of `compare`. */
export interface CompareOptions {
  /** Compare final runs of different builds (--allow-mixed-builds); the report then names the builds. Default: the experiment record's protocol.allowMixedBuilds. */
  allowMixedBuilds?: boolean;
}

/** Family level of the verdicts (Holm's correction keeps the family-wise error of one experiment's verdicts at it). */
export const VERDICT_ALPHA = 0.05;

/**
 * Computes the verdict table of a summary (its `best` configurations: one per optimizer label), by
 * the protocol of docs/protocol.md:
 * - a final seed that diverged, did not finish or has no finite final loss is a failure: it ranks
 *   worst, its steps to the target are infinite, and a method with a failure is never called better
 *   (its difference is estimated on the seeds both finished; 'worse' stays possible);
 * - each difference's p-value (paired t-test; the sequential p-value of the recorded
 *   --until-decided design, whose looks add one seed at a time) goes through Holm's correction across
 *   the experiment's verdicts; better / worse when the adjusted p-value is below 0.05;
 * - with a `power` block: TOST equivalence within +-margin, and the seeds needed for the margin;
 * - final runs of different builds give no verdicts unless mixed builds are allowed.
 */
export function compare(s: Summary, opts: CompareOptions = {}): Comparison {
  const exp = s.exp.experiment;
  const baseline = baselineLabel(exp);
  const target = targetOf(exp);
  const boot = { resamples: REPORT_RESAMPLES, seed: REPORT_BOOTSTRAP_SEED };
  const metric = metricOf(exp);
  const value = (r: LoadedRun) => r.rec.result![metric.field]!;
  const finals = (c: ConfigSummary) => c.runs.filter((r) => r.rec.stage !== 'tune');
  const finished = (c: ConfigSummary) => finals(c).filter((r) => r.rec.status === 'finished' && fin(r.rec.result?.[metric.field]) && fin(r.rec.result?.finalValLoss));
  const finalsBySeed = (c: ConfigSummary) => new Map(finished(c).map((r) => [r.rec.seed, value(r)]));
  const base = baseline === null ? undefined : s.best.find((c) => c.label === baseline);
  const rules: string[] = [];
  const allowMixed = opts.allowMixedBuilds ?? s.exp.protocol?.allowMixedBuilds ?? false;
  let mixedBuilds: Comparison['mixedBuilds'];
  try {
    const msg = checkSameBuild(s.best.flatMap((c) => finals(c).filter((r) => r.rec.env)), allowMixed, 'the final runs of this comparison');
    if (msg) mixedBuilds = { message: msg, allowed: true };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    mixedBuilds = { message: e.message, allowed: false };
  }
  const rows: OptimizerComparison[] = s.best.map((c) => {
    const ok = finished(c);
    const okSeeds = new Set(ok.map((r) => r.rec.seed));
    const row: OptimizerComparison = {
      label: c.label,
      config: c,
      seeds: ok.map((r) => r.rec.seed).sort((a, b) => a - b),
      diverged: c.diverged,
      final: tInterval(ok.map(value)),
      best: tInterval(ok.map((r) => r.rec.result!.bestValLoss).filter(fin)),
      tuning: tuningInfo(s, c.label),
      failedSeeds: [...new Set(finals(c).filter((r) => !okSeeds.has(r.rec.seed)).map((r) => r.rec.seed))].sort((a, b) => a - b),
    };
    if (target !== undefined) {
      // AlgoPerf's rule: a seed that fails or never reaches the target takes infinitely long.
      const all = finals(c);
      const hits = all.map((r) => (okSeeds.has(r.rec.seed) ? reachTarget(r.curve, target) : null));
      const reached = hits.filter((h) => h !== null).length;
      const stepsOf = hits.map((h) => (h ? h.step : Infinity));
      const secsOf = hits.map((h) => (h ? h.wallMs / 1000 : Infinity));
      row.target = {
        reached,
        of: all.length,
        steps: all.length ? bootstrap([stepsOf], ([g]) => mean(g), { ...boot, keepInfinite: true }) : null,
        wallSec: all.length ? bootstrap([secsOf], ([g]) => mean(g), { ...boot, keepInfinite: true }) : null,
      };
    }
    if (base && c !== base) {
      row.diff = difference(finalsBySeed(c), finalsBySeed(base), true);
      const baseRuns = finished(base);
      const steps = ok[0]?.rec.result?.steps ?? exp.training.steps;
      if (ok.length && baseRuns.length) {
        // On the deciding metric: the baseline's mean curve of it, reached in the direction of its goal.
        // Resample seeds: jointly over shared seeds when both have the same seeds (paired), else each side on its own.
        // A resample whose baseline never reaches the optimizer's final value is censored: kept as an infinite speed-up.
        const shared = row.diff.method === 'paired-t';
        const mine = shared ? row.diff.seeds.map((sd) => ok.find((r) => r.rec.seed === sd)!) : ok;
        const theirs = shared ? row.diff.seeds.map((sd) => baseRuns.find((r) => r.rec.seed === sd)!) : baseRuns;
        const stat = ([a, b]: number[][]) => speedup(b.map((k) => valPoints(theirs[k].curve, metric.name)), a.map((k) => value(mine[k])), steps, metric.goal) ?? Infinity;
        const idx = (n: number) => Array.from({ length: n }, (_, k) => k);
        const est = bootstrap([idx(mine.length), idx(theirs.length)], stat, { ...boot, paired: shared, keepInfinite: true });
        const point = speedup(theirs.map((r) => valPoints(r.curve, metric.name)), mine.map(value), steps, metric.goal);
        const baseSteps = baseRuns[0].rec.result?.steps ?? steps;
        row.speedup = { ...est, estimate: point ?? Infinity, beyondBaseline: point === null, bound: baseSteps / steps };
      }
    }
    return row;
  });
  // p-values: the fixed-sample paired (or Welch) test, or the sequential p-value of the --until-decided design.
  const design = s.exp.protocol?.sequential;
  const compared = rows.filter((r) => r.diff);
  for (const r of compared) {
    const d = r.diff!;
    r.p = design && d.method === 'paired-t' && d.diffs.length >= design.minSeeds ? sequentialP(d.diffs, { ...design, maxSeeds: Math.max(design.maxSeeds, d.diffs.length) }) : d.p;
  }
  const adjusted = holm(compared.map((r) => r.p!));
  compared.forEach((r, k) => {
    r.pHolm = adjusted[k];
    const side: Verdict = (metric.goal === 'max' ? r.diff!.estimate > 0 : r.diff!.estimate < 0) ? 'better' : 'worse';
    let v: Verdict = r.diff!.lo !== null && r.pHolm < VERDICT_ALPHA ? side : 'undecided';
    if (v === 'better' && r.failedSeeds.length) v = 'undecided';
    if (mixedBuilds && !mixedBuilds.allowed) v = 'undecided';
    r.verdict = v;
  });
  // Power and equivalence against the margin that matters.
  const pw = exp.power;
  const baseRow = rows.find((r) => r.label === baseline);
  if (pw) {
    const plan = powerPlan(s);
    for (const r of compared) {
      const pre = plan.get(r.label);
      const post = r.diff!.diffs.length >= 2 ? sampleSd(r.diff!.diffs) : NaN;
      const [sd, sdFrom] = pre ? [pre.sd, pre.sdFrom] : post > 0 ? [post, `the ${r.diff!.diffs.length} final seeds (after the fact)`] : [NaN, ''];
      if (Number.isFinite(sd)) r.power = { margin: pw.margin, power: pw.power, sd, sdFrom, seedsNeeded: seedsForPower(sd, pw.margin, pw.power, VERDICT_ALPHA), seeds: r.diff!.n };
      if (r.diff!.method === 'paired-t' && r.diff!.diffs.length >= 2) {
        const t = tost(r.diff!.diffs, pw.margin, VERDICT_ALPHA);
        r.equivalence = { margin: pw.margin, p: t.p, equivalent: t.equivalent && r.verdict === 'undecided' && !r.failedSeeds.length };
      }
    }
  }
  rules.push(
    `metric: the final ${metric.name} (goal ${metric.goal}) decides tuning and verdicts${metric.name === 'val_loss' ? '' : `; speed-ups are on the baseline's mean ${metric.name} curve`}${target && target.metric !== metric.name ? `; the target is on ${target.metric} (${target.goal === 'max' ? 'at or above' : 'at or below'} ${target.value})` : ''}.`,
    `verdicts: a ${design ? `group-sequential test (--until-decided looks at ${design.minSeeds}..${design.maxSeeds} seeds, Pocock-type alpha spending; sequential p-values)` : 'paired t-test per optimizer against the baseline'}, Holm-corrected across the ${compared.length} verdicts of this experiment at family level ${VERDICT_ALPHA}; intervals shown are unadjusted 95% t-intervals.`,
    'failures: a final seed that diverged or did not finish ranks worst (infinite time to target); an optimizer with a failed seed is never called better (its difference uses the seeds both finished), a baseline failure does not stop a "better".',
  );
  if (pw) rules.push(`power: margin ${pw.margin} at ${Math.round(pw.power * 100)}% power (paired t-test, alpha ${VERDICT_ALPHA}); "equivalent" when two one-sided tests put the difference within +-${pw.margin} (alpha ${VERDICT_ALPHA}).`);
  if (mixedBuilds) rules.push(mixedBuilds.allowed ? `mixed builds allowed (--allow-mixed-builds): ${mixedBuilds.message}` : `verdicts withheld: ${mixedBuilds.message}`);
  const curves = new Map<string, CurvePoint[]>();
  for (const c of s.best) {
    const ok = finished(c);
    if (!ok.length) continue;
    const per = ok.map((r) => valPoints(r.curve));
    const steps = [...new Set(per.flatMap((p) => p.map((q) => q.step)))].filter((st) => per.every((p) => p.some((q) => q.step === st))).sort((a, b) => a - b);
    curves.set(c.label, steps.map((st) => ({ step: st, loss: mean(per.map((p) => p.find((q) => q.step === st)!.loss)) })));
  }
  const { final, flips } = rankingFlips(curves);
  const note = baseline === null ? "no baseline: set `baseline:` to an optimizer's label (default 'adamw' when present)" : !base ? `baseline '${baseline}' has no finished configuration yet` : undefined;
  const resumedElsewhere = s.runs
    .filter((r) => r.rec.resumedOn?.length)
    .map((r) => `${r.rec.id} (${r.rec.resumedOn!.map((e) => `from step ${e.step} on host ${e.hostname}, commit ${String(e.gitCommit ?? '?').slice(0, 7)}${e.gitDirty ? ' (dirty)' : ''}, ${e.backend}`).join('; ')})`);
  return { baseline, note, rules, ...(mixedBuilds ? { mixedBuilds } : {}), rows, finalRanking: final, flips, steps: exp.training.steps, resumedElsewhere };
}

const f3 = (x: number | null | undefined) => (fin(x) ? x.toFixed(3) : '');
const f4s = (x: number | null | undefined) => (fin(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(4)}` : '');

/** The interval of an estimate as '[lo, hi]'; empty without one (a blank cell, not a dash). */
function interval(e: Pick<Estimate, 'lo' | 'hi'> | null | undefined, f: (x: number) => string): string {
  return e && fin(e.lo) && fin(e.hi) ? `[${f(e.lo)}, ${f(e.hi)}]` : '';
}

/** A number and its interval in one cell, without a trailing blank when there is no interval. */
const withInterval = (x: string, e: Pick<Estimate, 'lo' | 'hi'> | null | undefined, f: (v: number) => string) => [x, interval(e, f)].filter(Boolean).join(' ');

/** An estimate with its interval as 'x ± h' when the interval is symmetric at the shown digits (t-intervals), else 'x [lo, hi]', else 'x'. */
function plusMinus(e: Pick<Estimate, 'estimate' | 'lo' | 'hi'> | null | undefined, digits: number, signed = false): string {
  if (!e || !fin(e.estimate)) return '';
  const f = (x: number) => `${signed && x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
  if (!fin(e.lo) || !fin(e.hi)) return f(e.estimate);
  const up = e.hi - e.estimate;
  return Math.abs(up - (e.estimate - e.lo)) < 0.5 * 10 ** -digits ? `${f(e.estimate)} ± ${up.toFixed(digits)}` : `${f(e.estimate)} [${f(e.lo)}, ${f(e.hi)}]`;
}

/** Header of the verdict table's steps-to-target column (interpolated; the ranking's column is the first evaluation that reaches it): 'steps to 1.5' for a loss, 'steps to val_acc 0.9' otherwise. */
export const stepsToTargetHeader = (target: number | RunTarget) => `steps to ${typeof target === 'number' ? target : targetLabel(target)} (interpolated)`;

/** Whether the difference's 95% interval lies on the better side of 0 for the metric's goal (below 0 for min, above for max): the condition for a '> Nx*' speed-up. */
function intervalBeats(r: OptimizerComparison, exp: Experiment): boolean {
  return metricOf(exp).goal === 'max' ? fin(r.diff?.lo) && r.diff!.lo! > 0 : fin(r.diff?.hi) && r.diff!.hi! < 0;
}

/** Why a row has no interval, in its verdict cell: one seed on either side has none. */
export function noIntervalReason(r: OptimizerComparison, base: OptimizerComparison | undefined): string | null {
  if (!r.diff || (fin(r.diff.lo) && fin(r.diff.hi))) return null;
  const n = Math.min(r.seeds.length, base?.seeds.length ?? r.seeds.length);
  return n < 2 ? `${n} seed: no interval` : 'no interval';
}

/** The budget of a label's settings taken from the experiment's tuned-settings file, when they are. */
function tunedFileBudget(exp: Experiment, label: string): string | null {
  if (!exp.tuned || !existsSync(exp.tuned)) return null;
  const doc = JSON.parse(readFileSync(exp.tuned, 'utf8')) as TunedFile;
  if (!doc.settings?.[label]) return null;
  const t = doc.provenance?.tuning as { method?: string; trials?: number; steps?: number; horizon?: number } | undefined;
  const steps = t?.horizon ?? t?.steps ?? ((doc.provenance?.scale as { training?: { steps?: number } } | undefined)?.training?.steps ?? '?');
  const edge = (doc.provenance?.searched as Record<string, { edge?: unknown[] }> | undefined)?.[label]?.edge?.length ? ', edge' : '';
  return `${basename(exp.tuned)}: ${t?.method ?? '?'} ${t?.trials ?? '?'} trials @ ${steps} steps${edge}`;
}

/** What a tuning budget was, in one cell. */
export function budgetCell(t: TuningInfo | undefined, exp: Experiment, label = ''): string {
  if (!t) return exp.tuning ? 'not tuned' : (tunedFileBudget(exp, label) ?? 'hand-set (no tuning budget)');
  if (t.settingsFrom) return `none of its own: ${t.settingsFrom}'s selected setting (settingsFrom)`;
  const trials = t.used > t.budget ? `${t.budget}+${t.used - t.budget} bracketing` : `${t.used}/${t.budget}`;
  const rerun = t.reruns.length ? `, top ${t.reruns.length} rerun @ ${t.selectedAt}` : '';
  return `${t.method} ${trials} trials x ${t.seeds.length} seed${t.seeds.length === 1 ? '' : 's'} @ ${t.steps} steps${rerun}`;
}

/**
 * Rows of the verdict table (header first), as plain strings. A cell without an interval is the
 * estimate alone; a row without an interval says why in its verdict cell ('1 seed: no interval') and
 * makes no speed-up claim; '> Nx*' (the baseline never reached this final value) is shown only when the
 * difference's interval lies on the better side of 0 (below for a metric minimized, above for one maximized). `compact` (the terminal): intervals as '± half-width' where
 * symmetric, the difference and its interval in one column, no best-loss column.
 */
export function verdictTable(c: Comparison, exp: Experiment, compact = false): { header: string[]; rows: string[][]; right: boolean[] } {
  const target = targetOf(exp);
  // The compact headers name an interval only when some row has one.
  const ci = c.rows.some((r) => fin(r.final.lo) && fin(r.final.hi)) ? ' ± 95% CI' : '';
  const metricLabel = metricOf(exp).name === 'val_loss' ? 'val' : metricOf(exp).name;
  const header = [
    'optimizer', 'setting', compact ? `final ${metricLabel}${ci}` : `final ${metricLabel} [95% CI]`, ...(compact ? [] : ['best val']),
    ...(c.baseline ? [...(compact ? [`diff vs ${c.baseline}${ci}`] : [`diff vs ${c.baseline}`, '95% CI']), 'verdict', 'speed-up'] : []),
    ...(target !== undefined ? [stepsToTargetHeader(target)] : []), 'seeds', 'tuning budget',
  ];
  const base = c.rows.find((r) => r.label === c.baseline);
  // Baseline first, then by the metric towards its goal; optimizers with failed seeds after those without.
  const sign = metricOf(exp).goal === 'max' ? -1 : 1;
  const order = [...c.rows].sort((a, b) => (a.label === c.baseline ? -1 : b.label === c.baseline ? 1 : Number(a.failedSeeds.length > 0) - Number(b.failedSeeds.length > 0) || sign * ((a.final.estimate || sign * Infinity) - (b.final.estimate || sign * Infinity))));
  const speed = (r: OptimizerComparison) => {
    const s = r.speedup;
    if (!s) return '';
    if (s.beyondBaseline) return intervalBeats(r, exp) ? `> ${s.bound.toFixed(2)}x*` : '';
    return fin(s.lo) && fin(s.hi) ? `${s.estimate.toFixed(2)}x ${interval(s, (x) => x.toFixed(2))}` : '';
  };
  const stepsCell = (x: number) => (fin(x) ? String(Math.round(x)) : 'inf');
  const rows = order.map((r) => [
    r.label,
    r.tuning?.selected ? `${describeValues(r.tuning.selected)}${r.tuning.edge.length ? ' (edge)' : ''}` : settingOf(r.config),
    compact ? plusMinus(r.final, 3) : withInterval(f3(r.final.estimate), r.final, (x) => x.toFixed(3)),
    ...(compact ? [] : [f3(r.best.estimate)]),
    ...(c.baseline
      ? r.label === c.baseline
        ? ['baseline', ...(compact ? [] : ['']), '', '']
        : [...(compact ? [plusMinus(r.diff, 4, true)] : [f4s(r.diff?.estimate), interval(r.diff, (x) => f4s(x))]), noIntervalReason(r, base) ?? verdictCell(r), speed(r)]
      : []),
    ...(target !== undefined ? [r.target && r.target.reached ? `${withInterval(stepsCell(r.target.steps!.estimate), r.target.steps, stepsCell)}${r.target.reached < r.target.of ? ` (${r.target.reached}/${r.target.of})` : ''}` : 'never'] : []),
    `${r.seeds.length}${r.failedSeeds.length ? ` (+${r.failedSeeds.length} failed)` : ''}`,
    budgetCell(r.tuning, exp, r.label),
  ]);
  return { header, rows, right: header.map((h) => !['optimizer', 'setting', 'verdict', 'tuning budget'].includes(h)) };
}

/** The verdict in one cell: the verdict, with why it is undecided when failures or mixed builds decide it, and an equivalence. */
function verdictCell(r: OptimizerComparison): string {
  const v = r.verdict ?? 'undecided';
  const why = [
    ...(r.diff?.method === 'welch-t' ? ['unpaired'] : []),
    ...(r.failedSeeds.length ? [`${r.failedSeeds.length} failed`] : []),
    ...(r.equivalence?.equivalent ? [`equivalent within ${r.equivalence.margin}`] : []),
    ...(r.pHolm !== undefined && fin(r.pHolm) ? [`p=${r.pHolm < 0.001 ? r.pHolm.toExponential(1) : r.pHolm.toFixed(3)} Holm`] : []),
  ];
  return `${v}${why.length ? ` (${why.join(', ')})` : ''}`;
}

/** The compared setting of an untuned configuration: its grid values, or 'as written'. */
function settingOf(c: ConfigSummary): string {
  const g = c.runs[0]?.rec.grid ?? {};
  return Object.keys(g).length ? describeValues(g) : typeof c.lr === 'number' ? `lr=${formatNumber(c.lr)}` : 'as written';
}

/** Text lines under the verdict table: seeds, scale, pairing, flips. */
export function verdictNotes(c: Comparison, exp: Experiment): string[] {
  const lines: string[] = [];
  if (c.note) lines.push(c.note);
  const minSeeds = Math.min(...c.rows.map((r) => r.seeds.length));
  if (c.baseline && c.rows.length > 1 && minSeeds < 2) lines.push(`${minSeeds} seed: no interval, so no verdict and no speed-up; use seeds >= 2 (e.g. --set seeds=3) for verdicts.`);
  if (c.rows.some((r) => r.speedup?.beyondBaseline && intervalBeats(r, exp))) lines.push(`*: the baseline never reached this optimizer's final ${metricOf(exp).name === 'val_loss' ? 'loss' : metricOf(exp).name} in its ${c.steps} steps; the speed-up is at least the ratio shown.`);
  const m = exp.model as Record<string, unknown>;
  const tg = targetOf(exp);
  lines.push(
    `scale: ${m.kind} ${JSON.stringify(Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'kind')))}, ${exp.data.kind}, ${exp.training.steps} steps of batch ${exp.training.batchSize}; ` +
      `a verdict holds for this budget and scale only. Intervals: 95% t-intervals over seeds (differences paired by seed: a seed fixes initial weights and data order); steps to target and speed-up: percentile bootstrap (${REPORT_RESAMPLES} resamples, seed ${REPORT_BOOTSTRAP_SEED}).` +
      (tg ? ` Steps to ${targetLabel(tg)} (interpolated): per seed, the step where the validation ${tg.metric === 'val_loss' ? '' : `${tg.metric} `}curve crosses the target${tg.goal === 'max' ? ' (at or above)' : ''}, interpolated between evaluations, then the mean.` : ''),
  );
  lines.push(...c.rules);
  for (const r of c.rows) {
    if (r.power) lines.push(`power, ${r.label}: detecting ${r.power.margin} at ${Math.round(r.power.power * 100)}% power takes ${r.power.seedsNeeded} seeds (sd of per-seed differences ${r.power.sd.toPrecision(3)}, ${r.power.sdFrom}); ${r.power.seeds} were run.`);
    const e = edgeText(r.tuning);
    if (e) lines.push(`${r.label}: the selection sits at an edge (${e.slice(6)}): the optimum may lie beyond it; widen the range or raise tuning.bracket.maxExtensions.`);
    if (r.tuning && !r.tuning.settingsFrom && r.tuning.seeds.length < 2) lines.push(`${r.label}: the selection was decided on ${r.tuning.seeds.length} tuning seed (the protocol asks for at least 2).`);
    if (r.tuning && !r.tuning.settingsFrom && r.tuning.selectedAt < c.steps) lines.push(`${r.label}: selected at the tuning horizon of ${r.tuning.selectedAt} of ${c.steps} steps (no full-horizon rerun: short-horizon bias is possible, docs/protocol.md).`);
  }
  if (!exp.tuning) lines.push(`no tuning block: settings are as written${exp.tuned ? ' or read from the tuned file (its budget above)' : ''} (or the best of a grid chosen on the same seeds that score it, which favours grids)`);
  if (c.resumedElsewhere.length) {
    lines.push(`mixed builds: ${c.resumedElsewhere.length} run${c.resumedElsewhere.length === 1 ? '' : 's'} continued from a checkpoint on another machine, commit or backend, so reruns of one build would not reproduce them bit for bit: ${c.resumedElsewhere.join(', ')}`);
  }
  if (c.flips.length) {
    const last = c.flips[c.flips.length - 1];
    lines.push(`ranking flip: at step ${last.step} the order was ${last.ranking.join(' < ')}; at the end ${c.finalRanking.join(' < ')} (${c.flips.length} of the earlier evaluations differ)`);
  }
  return lines;
}

/** One trial of one optimizer for the lr-sensitivity plot. */
interface SensitivityPoint {
  optimizer: string;
  lr: number;
  loss: number;
  selected: boolean;
}

/**
 * Learning-rate sensitivity of a tuned experiment: every tuning trial's score against its lr (trials
 * that diverged are left out), the selected trial of each optimizer ringed.
 */
export function tunedSensitivitySpec(s: Summary, colors: string[]): vl.TopLevelSpec | null {
  const pts: SensitivityPoint[] = [];
  for (const label of colors) {
    const t = tuningInfo(s, label);
    if (!t) continue;
    for (const x of t.trials) {
      const lr = (x.values.lr as number | undefined) ?? (s.configs.find((c) => c.label === label && c.runs.some((r) => r.rec.trial === x.trial))?.lr ?? undefined);
      if (typeof lr !== 'number' || !fin(x.score)) continue;
      pts.push({ optimizer: label, lr, loss: x.score, selected: t.selected !== null && JSON.stringify(t.selected) === JSON.stringify(x.values) });
    }
  }
  if (pts.length === 0) return null;
  // The loss plots' colours (one per label, experiment order); a short y title (a rotated title longer than the plot pads the figure).
  const color = { field: 'optimizer', type: 'nominal' as const, title: null, scale: { domain: colors, ...(colors.length > SERIES_COLORS.length ? { scheme: 'category20' } : { range: [...SERIES_COLORS] }) } };
  const x = { field: 'lr', type: 'quantitative' as const, title: 'learning rate', scale: { type: 'log' as const }, axis: { labelOverlap: 'greedy' as const } };
  const y = { field: 'loss', type: 'quantitative' as const, title: 'tuning score', scale: { zero: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Learning-rate sensitivity: every tuning trial; ringed: the selected setting', subtitle: 'tuning score: final validation loss at the tuning horizon, mean over the tuning seeds' },
    width: 760,
    height: 380,
    background: 'white',
    data: { values: pts },
    layer: [
      { mark: { type: 'point', filled: true, size: 60, opacity: 1 }, encoding: { x, y, color } },
      { transform: [{ filter: 'datum.selected' }], mark: { type: 'point', filled: false, size: 260, strokeWidth: 2.5 }, encoding: { x, y, color } },
    ],
    config: { font: 'sans-serif', title: { fontSize: 15, subtitleFontSize: 12 }, axis: { labelFontSize: 12, titleFontSize: 12 }, legend: { labelLimit: 0, labelFontSize: 12 } },
  } as vl.TopLevelSpec;
}

/** Width and height in pixels of each diagnostics plot (one per metric, the report's full width). */
export const DIAGNOSTICS_PLOT = { width: 860, height: 200 };

/**
 * The diagnostics plots: one per metric name, at the report's full width, each line an optimizer's
 * route (mean over the compared configuration's seeds at each logged step). Colour: the optimizer
 * (the same colour per label as the loss plots, from `labels`); solid: the optimizer's own route,
 * dashed: its other routes (auxiliary AdamW, 1-D parameters; the Routing section names them); the
 * legend lists every series in full. A metric spanning more than two decades gets a
 * log axis whose labels skip ticks rather than overlap. Returns file name -> spec.
 */
export function diagnosticsSpecs(s: Summary, labels: string[] = [...new Set(s.configs.map((c) => c.label))]): Map<string, vl.TopLevelSpec> {
  const byMetric = new Map<string, { optimizer: string; route: string; series: string; step: number; value: number }[]>();
  for (const c of s.best) {
    const runs = c.runs.filter((r) => r.rec.status === 'finished');
    const keys = [...new Set(runs.flatMap((r) => r.curve.flatMap((row) => Object.keys(row.diag ?? {}))))];
    for (const k of keys) {
      const slash = k.indexOf('/');
      const route = k.slice(0, slash);
      const metric = k.slice(slash + 1);
      // An optimizer with one route for this metric is named alone ('reg', not 'reg · reg').
      const routes = new Set(keys.filter((x) => x.endsWith(`/${metric}`)).map((x) => x.slice(0, x.indexOf('/'))));
      const at = new Map<number, number[]>();
      for (const r of runs) for (const row of r.curve) if (fin(row.diag?.[k])) at.set(row.step, [...(at.get(row.step) ?? []), row.diag![k]!]);
      const list = byMetric.get(metric) ?? [];
      // The optimizer's own route (named after its method or label) is solid, the others (auxiliary AdamW, 1-D routes) dashed.
      const part = routes.size === 1 || route === c.method || route === c.label ? 'own update' : 'auxiliary route (AdamW, 1-D)';
      for (const [step, vs] of [...at].sort((a, b) => a[0] - b[0])) list.push({ optimizer: c.label, route: part, series: routes.size > 1 ? `${c.label} · ${route}` : c.label, step, value: mean(vs) });
      byMetric.set(metric, list);
    }
  }
  const out = new Map<string, vl.TopLevelSpec>();
  for (const [metric, values] of [...byMetric].sort((a, b) => a[0].localeCompare(b[0]))) {
    const shown = labels.filter((l) => values.some((v) => v.optimizer === l));
    const domain = labels.length <= SERIES_COLORS.length ? labels : shown;
    const dashed = values.some((v) => v.series !== v.optimizer);
    const positive = values.every((v) => v.value > 0);
    const spread = positive ? Math.max(...values.map((v) => v.value)) / Math.min(...values.map((v) => v.value)) : 1;
    const log = spread > 100;
    const counts = values.every((v) => Number.isInteger(v.value));
    out.set(`diag-${metric}.svg`, {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: metric, anchor: 'start', fontSize: 14 },
      width: DIAGNOSTICS_PLOT.width,
      height: DIAGNOSTICS_PLOT.height,
      background: 'white',
      data: { values },
      mark: { type: 'line', strokeWidth: 2, clip: true },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: {
          field: 'value', type: 'quantitative', title: null,
          scale: log ? { type: 'log' } : { zero: false },
          axis: { labelOverlap: 'greedy', labelSeparation: 4, tickCount: 6, ...(log ? { format: spread > 1e6 ? '.0e' : '~g' } : counts ? { format: 'd', tickMinStep: 1 } : {}) },
        },
        color: { field: 'optimizer', type: 'nominal', title: 'optimizer', scale: { domain, ...(domain.length > SERIES_COLORS.length ? { scheme: 'category20' } : { range: [...SERIES_COLORS] }) }, legend: { values: shown, labelLimit: 0, orient: 'right' } },
        detail: { field: 'series', type: 'nominal' },
        ...(dashed ? { strokeDash: { field: 'route', type: 'nominal', title: 'route', scale: { domain: ['own update', 'auxiliary route (AdamW, 1-D)'], range: [[1, 0], [5, 3]] }, legend: { labelLimit: 0, orient: 'right', symbolStrokeWidth: 2 } } } : {}),
      },
      config: { font: 'sans-serif', legend: { symbolType: 'stroke', symbolStrokeWidth: 3, labelFontSize: 12, titleFontSize: 12 }, axis: { labelFontSize: 12, titleFontSize: 12 } },
    } as vl.TopLevelSpec);
  }
  return out;
}

const num = (x: number | null | undefined) => (x === null || x === undefined ? '' : Number.isFinite(x) ? Number(x.toPrecision(7)) : String(x));

/** One row of verdicts.csv per compared optimizer. */
export function verdictRows(c: Comparison, exp: Experiment): Record<string, unknown>[] {
  return c.rows.map((r) => ({
    optimizer: r.label, method: r.config.method, hash: r.config.hash,
    setting: r.tuning?.selected ? describeValues(r.tuning.selected) : settingOf(r.config),
    edge: r.tuning?.edge.length ? r.tuning.edge.map((e) => `${e.key}:${e.side}`).join(' ') : '',
    seeds: r.seeds.join(' '), diverged: r.diverged, failed_seeds: r.failedSeeds.join(' '),
    metric: metricOf(exp).name, [metricOf(exp).name === 'val_loss' ? 'final_val_loss' : `final_${metricOf(exp).name}`]: num(r.final.estimate), final_sd: num(r.final.sd), final_lo: num(r.final.lo), final_hi: num(r.final.hi),
    best_val_loss: num(r.best.estimate), best_sd: num(r.best.sd), best_lo: num(r.best.lo), best_hi: num(r.best.hi),
    baseline: c.baseline ?? '', diff: num(r.diff?.estimate), diff_lo: num(r.diff?.lo), diff_hi: num(r.diff?.hi), diff_method: r.diff?.method ?? '', p: num(r.p), p_holm: num(r.pHolm), verdict: r.label === c.baseline ? 'baseline' : (r.verdict ?? ''),
    equivalent: r.equivalence ? (r.equivalence.equivalent ? 1 : 0) : '', tost_p: num(r.equivalence?.p), seeds_needed: r.power?.seedsNeeded ?? '', power_sd: num(r.power?.sd),
    mixed_builds: c.mixedBuilds ? (c.mixedBuilds.allowed ? 'allowed' : 'withheld') : '',
    speedup: num(r.speedup?.estimate), speedup_lo: num(r.speedup?.lo), speedup_hi: num(r.speedup?.hi), speedup_beyond_baseline: r.speedup ? (r.speedup.beyondBaseline ? 1 : 0) : '',
    target: targetOf(exp)?.value ?? '', ...(targetOf(exp) && targetOf(exp)!.metric !== 'val_loss' ? { target_metric: targetOf(exp)!.metric } : {}), reached_target: r.target ? `${r.target.reached}/${r.target.of}` : '',
    steps_to_target: num(r.target?.steps?.estimate), steps_lo: num(r.target?.steps?.lo), steps_hi: num(r.target?.steps?.hi),
    wall_s_to_target: num(r.target?.wallSec?.estimate), wall_s_lo: num(r.target?.wallSec?.lo), wall_s_hi: num(r.target?.wallSec?.hi),
    tuning_method: r.tuning?.method ?? '', tuning_budget: r.tuning?.budget ?? '', tuning_trials: r.tuning?.used ?? '', tuning_steps: r.tuning?.steps ?? '', selected_at_steps: r.tuning?.selectedAt ?? '',
    tuning_seeds: r.tuning?.seeds.join(' ') ?? '', tuning_runs: r.tuning?.runs ?? '', tuning_wall_ms: num(r.tuning?.wallMs),
  }));
}

/**
 * Writes verdicts.csv, tuning.csv (every trial of every optimizer; empty without tuning),
 * comparison.json and, for a tuned experiment, tuned.json: the selected settings by label with their
 * provenance (experiment, budget, scale, machine, commit, cost, verdicts), the format an experiment's
 * `tuned:` key reads (experiments/tuned/).
 */
export function writeComparisonFiles(dir: string, s: Summary, c: Comparison): void {
  const exp = s.exp.experiment;
  const vr = verdictRows(c, exp);
  const vcols = Object.keys(vr[0] ?? { optimizer: '' });
  const vs = createObjectCsvStringifier({ header: vcols.map((k) => ({ id: k, title: k })) });
  writeAtomic(join(dir, 'verdicts.csv'), vs.getHeaderString()! + vs.stringifyRecords(vr));
  const tr = exp.optimizers.flatMap((o) => {
    const label = o.label ?? o.name;
    const info = tuningInfo(s, label);
    return (info?.trials ?? []).map((t) => ({
      optimizer: label, trial: t.trial, values: JSON.stringify(t.values), score: num(t.score), status: t.status, seeds: t.seeds, wall_ms: num(t.wallMs),
      selected: info!.selected !== null && JSON.stringify(info!.selected) === JSON.stringify(t.values) ? 1 : 0,
    }));
  });
  const tcols = ['optimizer', 'trial', 'values', 'score', 'status', 'seeds', 'wall_ms', 'selected'];
  const ts = createObjectCsvStringifier({ header: tcols.map((k) => ({ id: k, title: k })) });
  writeAtomic(join(dir, 'tuning.csv'), ts.getHeaderString()! + ts.stringifyRecords(tr));
  const json = {
    baseline: c.baseline, note: c.note ?? null, finalRanking: c.finalRanking, flips: c.flips, resumedElsewhere: c.resumedElsewhere,
    optimizers: c.rows.map((r) => ({ label: r.label, hash: r.config.hash, seeds: r.seeds, diverged: r.diverged, final: r.final, best: r.best, diff: r.diff ?? null, verdict: r.verdict ?? null, speedup: r.speedup ?? null, target: r.target ?? null, tuning: r.tuning ? { ...r.tuning, pilot: Object.fromEntries(r.tuning.pilot) } : null, failedSeeds: r.failedSeeds, p: r.p ?? null, pHolm: r.pHolm ?? null, equivalence: r.equivalence ?? null, power: r.power ?? null })), rules: c.rules, mixedBuilds: c.mixedBuilds ?? null,
  };
  writeAtomic(join(dir, 'comparison.json'), JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1) + '\n');
  if (exp.tuning) {
    const env = s.runs.find((r) => r.rec.env)?.rec.env;
    const infos = exp.optimizers.map((o) => [o.label ?? o.name, tuningInfo(s, o.label ?? o.name)] as const);
    const settings = Object.fromEntries(infos.filter(([, t]) => t?.selected).map(([l, t]) => [l, t!.selected!]));
    const tuned = {
      settings,
      provenance: {
        experiment: s.exp.name,
        command: `optlab run ${s.exp.source.file}${s.exp.source.sets.map((x) => ` --set ${x}`).join('')}`,
        tuning: exp.tuning,
        scale: { model: exp.model, data: exp.data, training: exp.training, schedule: exp.schedule, finalSeeds: exp.seeds },
        fixed: Object.fromEntries(exp.optimizers.map((o) => [o.label ?? o.name, Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'search' && k !== 'label'))])),
        cost: Object.fromEntries(infos.filter(([, t]) => t).map(([l, t]) => [l, { trials: t!.used, runs: t!.runs, trainingSeconds: Number((t!.wallMs / 1000).toFixed(1)), selectedScore: t!.selectedScore }])),
        finalStage: c.rows.length ? `${c.rows.length} optimizers with finished final runs` : 'not finished: no finished final runs in this folder (no verdicts)',
        verdicts: verdictRows(c, exp).map((v) => ({ optimizer: v.optimizer, setting: v.setting, edge: v.edge, final_val_loss: v.final_val_loss, final_lo: v.final_lo, final_hi: v.final_hi, diff: v.diff, diff_lo: v.diff_lo, diff_hi: v.diff_hi, p_holm: v.p_holm, verdict: v.verdict, seeds: v.seeds, failed_seeds: v.failed_seeds })),
        // Per label: the ranges as searched (bracketing included), the horizon that made the choice, and the edge flag.
        searched: Object.fromEntries(infos.filter(([, t]) => t && !t.settingsFrom).map(([l, t]) => [l, { ranges: t!.searched, selectedAt: t!.selectedAt, trials: t!.used, reruns: t!.reruns.length, edge: t!.edge }])),
        builds: [...new Set(s.runs.filter((r) => r.rec.stage === 'final').flatMap((r) => runBuildKeys(r.rec)))],
        machine: env ? { cpu: env.cpu, cores: env.cores, backend: [...new Set(s.runs.map((r) => r.rec.env?.backend).filter(Boolean))].join(' + '), node: env.node, tfjs: env.tfjsVersion } : null,
        commit: env?.gitCommit ?? null,
        dirty: env?.gitDirty ?? null,
        finishedAt: s.runs.map((r) => r.rec.finishedAt ?? '').sort().at(-1) ?? null,
      },
    };
    writeAtomic(join(dir, 'tuned.json'), JSON.stringify(tuned, null, 1) + '\n');
  }
}

/** The report's tuning section: per optimizer its budget, cost, selection and every trial. */
export function tuningSection(s: Summary, c: Comparison, esc: (x: unknown) => string, htmlTable: (h: string[], rows: string[][], right: boolean[]) => string): string {
  const t = s.exp.experiment.tuning;
  if (!t) return '';
  const parts = [`<h2>Tuning</h2>\n<p>Every optimizer: ${esc(t.method)}, ${t.trials} trials, ${esc(c.rows[0]?.tuning?.steps ?? t.steps ?? s.exp.experiment.training.steps)} steps, tuning seeds ${esc(c.rows[0]?.tuning?.seeds.join(', ') ?? '')}; selected by the mean final validation loss over the tuning seeds${(t.protocol ?? 1) >= 2 && (c.rows[0]?.tuning?.steps ?? 0) < s.exp.experiment.training.steps ? ` of the best ${t.rerunTop} trials rerun at the full horizon` : ''}, then run with the final seeds at ${s.exp.experiment.training.steps} steps (docs/protocol.md).</p>`];
  for (const o of s.exp.experiment.optimizers) {
    const r = { label: o.label ?? o.name };
    const tu = tuningInfo(s, r.label);
    if (!tu) continue;
    if (tu.settingsFrom) {
      parts.push(`<h3>${esc(r.label)}</h3><p>No trials of its own: its final runs use the setting selected for ${esc(tu.settingsFrom)} (${esc(tu.selected ? describeValues(tu.selected) : 'not selected yet')}) with its own fixed options (settingsFrom).</p>`);
      continue;
    }
    const rows = tu.trials.map((x) => {
      const sel = tu.selected !== null && JSON.stringify(tu.selected) === JSON.stringify(x.values) && !tu.reruns.length;
      return [String(x.trial), esc(describeValues(x.values)), x.score === null ? '-' : Number.isFinite(x.score) ? x.score.toFixed(4) : 'diverged', esc(x.status), `${(x.wallMs / 1000).toFixed(1)} s`, sel ? '<b>selected</b>' : ''];
    });
    const ranges = Object.entries(tu.searched).map(([k, v]) => `${k} ${formatNumber(v.low)}..${formatNumber(v.high)}`).join(', ');
    const extra = tu.used > tu.budget ? ` (${tu.used - tu.budget} of them extend the range: bracketing)` : '';
    const rerunRows = tu.reruns.map((x) => [String(x.trial), esc(describeValues(x.values)), x.score === null ? '-' : Number.isFinite(x.score) ? x.score.toFixed(4) : 'diverged', esc(x.status), `${(x.wallMs / 1000).toFixed(1)} s`, tu.selected !== null && JSON.stringify(tu.selected) === JSON.stringify(x.values) ? '<b>selected</b>' : '']);
    const edge = edgeText(tu);
    parts.push(
      `<h3>${esc(r.label)}</h3><p>${tu.used} trials for a budget of ${tu.budget}${esc(extra)}, ${tu.runs} runs, ${(tu.wallMs / 1000).toFixed(1)} s of training; searched ${esc(ranges || '-')}; the selection was made at ${tu.selectedAt} steps${tu.reruns.length ? ` (the best ${tu.reruns.length} trials at ${tu.steps} steps rerun at the full horizon)` : ''}.${edge ? ` <b>${esc(edge)}</b>.` : ''}</p>\n${htmlTable(['trial', 'values', 'score', 'status', 'time', ''], rows, [true, false, true, false, true, false])}` +
        (rerunRows.length ? `\n<p>Reruns at the full horizon (${s.exp.experiment.training.steps} steps):</p>\n${htmlTable(['trial', 'values', 'score', 'status', 'time', ''], rerunRows, [true, false, true, false, true, false])}` : ''),
    );
  }
  return parts.join('\n');
}
