/**
 * Tuning with equal budgets, then the final runs, by the protocol of docs/protocol.md: every
 * optimizer's `search` space gets the same number of trials (grid, quasi-random or coordinate
 * descent) at the tuning horizon (default the full training.steps) on the tuning seeds (default 2);
 * bracketing extends a range while the best trial sits at its edge; with a shorter horizon the best
 * `rerunTop` trials are rerun at the full horizon; the best trial (lowest mean of the deciding metric,
 * `metric`, default the final validation loss) is selected and run with the experiment's seeds;
 * `--until-decided` then adds seeds to optimizers whose verdict against the baseline is undecided
 * (a group-sequential test, experiments/analysis/comparison.ts), up to `--max-seeds`.
 *
 * As AlgoPerf's external tuning ruleset (a fixed number of quasi-random trials per submission, the
 * same for all) and Marin's optimizer study (the same coordinate descent for every optimizer).
 *
 * Everything is planned from the run records in the results folder (`planExperiment`), so a sweep can
 * stop anywhere and resume, and shards (`--shard I/N`) run their slice of each batch. A shard stops
 * when the next batch needs results it does not hold (other shards' trials); `optlab merge` the
 * folders, then `optlab run <file> --resume --out <merged>` (with or without --shard) goes on.
 *
 * Trials: 'grid' crosses the listed values with each range evenly spaced on its scale (the grid's
 * size must equal `trials`); 'quasi-random' takes the all-low and all-high corners, then Halton points
 * 1, 2, ... (bases 2, 3, 5, ... per searched key, in the order written; a point equal to an earlier
 * one is skipped; protocol 1: Halton points alone); 'coordinate-descent'
 * starts at the middle value of every axis (ranges get `points` values) and, one axis at a time, tries
 * the untried values along it from the best trial so far, nearest first, moving to the best; it stops
 * when the budget is spent or a full cycle over the axes brings no improvement (fewer trials then).
 * A trial's score is its mean final validation loss over the tuning seeds, +Infinity when a seed
 * diverged or has none; ties go to the earlier trial.
 *
 * An entry with `settingsFrom: <label>` has no trials: once that entry's tuning is done, its final
 * runs use the selected values (with its own fixed options), as MARS-M reuses Muon's tuned settings.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { compare, baselineLabel, powerPlan, VERDICT_ALPHA } from '../analysis/comparison.js';
import { ConfigError, configName, defaultOutDir, describeValues, entryRuns, expandRuns, metricOf, seedList, settingsSource, tuningHorizon, tuningSeedList, type Experiment, type RunSpec, type SearchSpec } from '../runner/config.js';
import { readExperimentRecord, summarize, writeReport, type ExperimentRecord, type Summary } from '../analysis/report.js';
import { readRecord, runPaths, writeAtomic, type RunStatus } from '../runner/runner.js';
import { runSweep, shardRuns, type SweepOptions, type SweepOutcome } from './sweep.js';
import { edgeOf, searchDims, type SearchDim } from '../runner/search.js';

export { edgeOf, searchDims, type SearchDim };

/** The radical inverse of `index` in `base`: the index-th Halton coordinate (index 1 in base 2 is 1/2, 2 is 1/4, 3 is 3/4). */
export function halton(index: number, base: number): number {
  let f = 1;
  let r = 0;
  for (let i = index; i > 0; i = Math.floor(i / base)) {
    f /= base;
    r += f * (i % base);
  }
  return r;
}

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53];

/** A value of a dimension at u in [0, 1] (ranges on their scale, lists by index). */
export function valueAt(d: SearchDim, u: number): unknown {
  if (d.kind === 'list') return d.values[Math.min(Math.floor(u * d.values.length), d.values.length - 1)];
  const x = d.scale === 'log' ? Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low))) : d.low + u * (d.high - d.low);
  // 6 significant digits: run ids and labels stay readable; rounding never leaves [low, high] by more than the digits.
  return d.integer ? Math.round(x) : Number(x.toPrecision(6));
}

/** The values of an axis: a list as given, a range as `n` points evenly spaced on its scale, both ends included. */
export function axisValues(d: SearchDim, n: number): unknown[] {
  if (d.kind === 'list') return d.values;
  const out = Array.from({ length: n }, (_, i) => valueAt(d, n === 1 ? 0.5 : i / (n - 1)));
  return out.filter((v, i) => out.indexOf(v) === i);
}

const key = (values: Record<string, unknown>) => JSON.stringify(Object.entries(values).sort(([a], [b]) => a.localeCompare(b)));

/** Grid trials: lists crossed with ranges of n points each, where the grid's size must equal `trials`. */
export function gridTrials(dims: readonly SearchDim[], trials: number, path: string): Record<string, unknown>[] {
  const lists = dims.filter((d) => d.kind === 'list').reduce((a, d) => a * (d as { values: unknown[] }).values.length, 1);
  const ranges = dims.filter((d) => d.kind === 'range').length;
  const n = ranges === 0 ? 1 : Math.round(Math.pow(trials / lists, 1 / ranges));
  const size = lists * Math.pow(n, ranges);
  if (size !== trials || n < 1) {
    throw new ConfigError(`${path}: a grid over this search space has ${ranges ? `${lists} x n^${ranges} points` : `${lists} points`}, which cannot equal tuning.trials (${trials}); change trials or use method quasi-random`, 'tuning.trials');
  }
  let out: Record<string, unknown>[] = [{}];
  for (const d of dims) out = out.flatMap((o) => axisValues(d, n).map((v) => ({ ...o, [d.key]: v })));
  if (new Set(out.map(key)).size !== out.length) throw new ConfigError(`${path}: integer ranges too narrow for ${n} distinct grid points`, path);
  return out;
}

/**
 * Quasi-random trials, skipping repeats. With `ends` (tuning protocol 2, the default): the point with
 * every dimension at its low end, the point with every dimension at its high end, then Halton points
 * 1, 2, ...; so 4 trials of one log range try 0, 1, 1/2 and 1/4 of it, both ends included. Without
 * (protocol 1): Halton points 1, 2, ... alone (1/2, 1/4, 3/4, 1/8: the top quarter never tried).
 */
export function quasiRandomTrials(dims: readonly SearchDim[], trials: number, path: string, ends = true): Record<string, unknown>[] {
  if (dims.length > PRIMES.length) throw new ConfigError(`${path}: at most ${PRIMES.length} searched keys`, path);
  const out: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  const corner = (u: number) => Object.fromEntries(dims.map((d) => [d.key, valueAt(d, u)]));
  const lead = ends ? [corner(0), corner(1)] : [];
  for (let i = ends ? -1 : 1; out.length < trials; i++) {
    if (i > 1000 * trials) throw new ConfigError(`${path}: the search space has fewer than tuning.trials (${trials}) distinct points`, 'tuning.trials');
    const v = i < 1 ? lead[i + 1] : Object.fromEntries(dims.map((d, k) => [d.key, valueAt(d, halton(i, PRIMES[k]))]));
    if (seen.has(key(v))) continue;
    seen.add(key(v));
    out.push(v);
  }
  return out;
}

/** A trial's score: mean final validation loss over its seeds, +Infinity unless every seed finished with a finite loss. */
export type Scorer = (runs: readonly RunSpec[]) => { done: boolean; score: number };

/**
 * Coordinate descent over the axes' values, replayed from the scores known so far: returns the trials
 * in evaluation order and whether the search is over. The batch that still needs results is the
 * trailing trials that are not `done`.
 */
export function coordinateDescent(dims: readonly SearchDim[], points: number, trials: number, score: (values: Record<string, unknown>) => { done: boolean; score: number }): { trials: Record<string, unknown>[]; finished: boolean } {
  const axes = dims.map((d) => axisValues(d, points));
  const at = (idx: number[]) => Object.fromEntries(dims.map((d, k) => [d.key, axes[k][idx[k]]]));
  const order: number[][] = [axes.map((a) => Math.floor((a.length - 1) / 2))];
  const tried = new Set([order[0].join(',')]);
  const evaluated = (): boolean => order.every((idx) => score(at(idx)).done);
  const best = (): number[] => order.reduce((b, idx) => (score(at(idx)).score < score(at(b)).score ? idx : b), order[0]);
  let stale = 0;
  for (let axis = 0; ; axis = (axis + 1) % dims.length) {
    if (!evaluated()) return { trials: order.map(at), finished: false };
    if (order.length >= trials || stale >= dims.length) return { trials: order.map(at), finished: true };
    const from = best();
    const candidates = axes[axis]
      .map((_, j) => j)
      .filter((j) => !tried.has(from.map((x, k) => (k === axis ? j : x)).join(',')))
      .sort((a, b) => Math.abs(a - from[axis]) - Math.abs(b - from[axis]) || a - b)
      .slice(0, trials - order.length);
    for (const j of candidates) {
      const idx = from.map((x, k) => (k === axis ? j : x));
      tried.add(idx.join(','));
      order.push(idx);
    }
    const after = candidates.length && evaluated() ? best() : from;
    // An axis with nothing new, or whose batch is evaluated without a better trial, counts towards convergence.
    if (!candidates.length || (evaluated() && after.join(',') === from.join(','))) stale += 1;
    else if (evaluated()) stale = 0;
  }
}

/** The value one bracketing step beyond `v` on `side` of a range: log ranges x or / factor, linear ones (high - low) / 4 x (factor - 1) (integers at least 1). */
export function stepBeyond(d: Extract<SearchDim, { kind: 'range' }>, v: number, side: 'low' | 'high', factor: number): number {
  const sign = side === 'high' ? 1 : -1;
  let x = d.scale === 'log' ? (side === 'high' ? v * factor : v / factor) : v + sign * ((d.high - d.low) / 4) * (factor - 1);
  if (d.integer) x = Math.round(x) === v ? v + sign : Math.round(x);
  return d.integer ? x : Number(x.toPrecision(6));
}

/** Settings of the bracketing step (TuningConfig['bracket']). */
export interface BracketConfig {
  enabled: boolean;
  maxExtensions: number;
  factor: number;
}

/**
 * Bracketing, replayed from the scores known: while the best trial (lowest finite score, ties to the
 * earlier) sits at the smallest or largest value tried of a range, one trial steps beyond that edge
 * (`stepBeyond`, the first such range in the order written). Stops when the best is interior, when
 * the step beyond was tried already (a diverged trial there bounds the range), when `reject` names a
 * reason (the method refuses the value), or after `maxExtensions` extension trials. Returns the
 * extension trials so far and whether bracketing is over (false while a trial still needs results).
 */
export function bracketTrials(
  dims: readonly SearchDim[],
  initial: readonly Record<string, unknown>[],
  cfg: BracketConfig,
  score: (values: Record<string, unknown>) => { done: boolean; score: number },
  reject: (values: Record<string, unknown>) => string | null = () => null,
): { extensions: Record<string, unknown>[]; finished: boolean; note?: string } {
  const extensions: Record<string, unknown>[] = [];
  if (!cfg.enabled) return { extensions, finished: true };
  for (;;) {
    const all = [...initial, ...extensions];
    const scores = all.map(score);
    if (!scores.every((x) => x.done)) return { extensions, finished: false };
    if (extensions.length >= cfg.maxExtensions) return { extensions, finished: true };
    let b = -1;
    scores.forEach((x, k) => {
      if (Number.isFinite(x.score) && (b < 0 || x.score < scores[b].score)) b = k;
    });
    if (b < 0) return { extensions, finished: true };
    const best = all[b];
    const edges = edgeOf(dims, all, best);
    const seen = new Set(all.map(key));
    let next: Record<string, unknown> | null = null;
    for (const e of edges) {
      const d = dims.find((x) => x.key === e.key) as Extract<SearchDim, { kind: 'range' }>;
      const v = { ...best, [e.key]: stepBeyond(d, e.value, e.side, cfg.factor) };
      if (!seen.has(key(v))) {
        next = v;
        break;
      }
    }
    if (!next) return { extensions, finished: true };
    const why = reject(next);
    if (why) return { extensions, finished: true, note: `bracketing stopped: ${describeValues(next)} is rejected (${why})` };
    extensions.push(next);
  }
}

/** What a results folder says about a run. */
export interface RunState {
  status: string;
  finalValLoss: number | null;
  /** Final validation accuracy (experiments whose `metric` is val_acc). */
  finalValAcc?: number | null;
}

/** One tuning trial of an optimizer. */
export interface Trial {
  trial: number;
  values: Record<string, unknown>;
  runs: RunSpec[];
  done: boolean;
  score: number;
}

/** The plan of one optimizer entry. */
export interface EntryPlan {
  index: number;
  label: string;
  trials: Trial[];
  /** The search method is done (every trial it will ask for has results). */
  tuned: boolean;
  selected?: Trial;
  /** Why there is no selection although tuning is done. */
  note?: string;
  finalRuns: RunSpec[];
  /** Label of the entry whose selected setting this one runs (its `settingsFrom`, followed to the entry that searches). */
  settingsFrom?: string;
  /** Trials that bracketing added beyond the initial ones (they are also in `trials`, at the end). */
  extensions?: number;
  /** The best trials rerun at the full horizon (horizon < training.steps); the selection is the best of them. */
  reruns?: Trial[];
  /** Steps of the trials whose scores made the selection (the full horizon, or the tuning horizon under protocol 1). */
  selectedAt?: number;
  /** Ranges at whose tried edge the selection sits (bracketing capped or off): the "edge" flag. */
  edge?: { key: string; side: 'low' | 'high'; value: number }[];
}

/** The plan of a whole experiment given the results so far. */
export interface Plan {
  entries: EntryPlan[];
  /** Runs the next step needs (tuning trials or final runs) that have no finished or diverged record. */
  needed: RunSpec[];
  /** Every run the plan knows, in order (the experiment's grid so far). */
  known: RunSpec[];
}

const DONE = new Set(['finished', 'diverged']);

/**
 * A scorer over a lookup of run states: the mean of the deciding metric (`metric`, default the final
 * validation loss), negated when its goal is max, so lower is better; +Infinity unless every seed
 * finished with a finite value.
 */
export function scorer(lookup: (id: string) => RunState | undefined, metric: ReturnType<typeof metricOf> = metricOf({})): Scorer {
  const sign = metric.goal === 'max' ? -1 : 1;
  return (runs) => {
    const states = runs.map((r) => lookup(r.id));
    const done = states.every((s) => s !== undefined && DONE.has(s.status));
    const value = (s: RunState) => (metric.field === 'finalValAcc' ? (s.finalValAcc ?? null) : s.finalValLoss);
    const losses = states.map((s) => {
      const v = s && s.status === 'finished' ? value(s) : null;
      return v !== null && Number.isFinite(v) ? sign * v : Infinity;
    });
    return { done, score: done ? losses.reduce((a, b) => a + b, 0) / losses.length : Infinity };
  };
}

/**
 * Plans an experiment with a tuning block from the run states known: every optimizer's trials so far,
 * its selection when tuning is done, and its final runs (the experiment's seeds plus the seeds
 * --until-decided added, `extraSeeds` by configuration hash). Without a tuning block every grid
 * configuration is "final".
 */
export function planExperiment(exp: Experiment, lookup: (id: string) => RunState | undefined, extraSeeds: ReadonlyMap<string, readonly number[]> = new Map()): Plan {
  const score = scorer(lookup, metricOf(exp));
  const more = (hash: string) => (extraSeeds.get(hash) ?? []).filter((s) => !seedList(exp).includes(s));
  if (!exp.tuning) {
    const known = expandRuns(exp);
    const configs = [...new Map(known.map((r) => [r.hash, r])).values()];
    const extra = configs.flatMap((r) => (more(r.hash).length ? entryRuns(exp, exp.optimizers.findIndex((o) => (o.label ?? o.name) === r.label), r.grid, more(r.hash)) : []));
    const all = [...known, ...extra];
    const entries = exp.optimizers.map((o, i) => ({ index: i, label: o.label ?? o.name, trials: [], tuned: true, finalRuns: all.filter((r) => r.label === (o.label ?? o.name)) }));
    return { entries, needed: all.filter((r) => !score([r]).done), known: all };
  }
  const own: (EntryPlan | null)[] = exp.optimizers.map((o, i) => (o.settingsFrom !== undefined ? null : planSearch(exp, i, score, more)));
  // Entries that borrow a setting: no trials; final runs once the source's tuning is done.
  const entries: EntryPlan[] = own.map((p, i) => {
    if (p) return p;
    const o = exp.optimizers[i];
    const src = own[settingsSource(exp, i)]!;
    const plan: EntryPlan = { index: i, label: o.label ?? o.name, trials: [], tuned: src.tuned, finalRuns: [], settingsFrom: src.label };
    if (src.tuned && src.selected) {
      plan.selected = src.selected;
      const at = { stage: 'final' as const, trial: src.selected.trial, settingsFrom: src.label };
      const base = entryRuns(exp, i, src.selected.values, seedList(exp), at);
      plan.finalRuns = [...base, ...entryRuns(exp, i, src.selected.values, more(base[0].hash), at)];
    } else if (src.tuned) plan.note = `no setting to run: ${src.label}, whose setting it takes, has none (${src.note ?? 'no selection'})`;
    return plan;
  });
  const known = entries.flatMap((e) => [...e.trials.flatMap((x) => x.runs), ...(e.reruns ?? []).flatMap((x) => x.runs), ...e.finalRuns]);
  const unique = [...new Map(known.map((r) => [r.id, r])).values()];
  const needed = unique.filter((r) => !score([r]).done);
  return { entries, needed, known: unique };
}

/** Tuning runs of entry `i` with `values` as trial `trial`, at `steps` (default the tuning horizon). */
function tuneRuns(exp: Experiment, i: number, values: Record<string, unknown>, trial: number, steps = tuningHorizon(exp)): RunSpec[] {
  return entryRuns(exp, i, values, tuningSeedList(exp.tuning!), { steps, stage: 'tune', trial });
}

/**
 * The trial values of entry `i` so far: the search method's, then (protocol 2) bracketing's
 * extensions; `finished` once neither will ask for more. Protocol 1 (recorded experiments without
 * `tuning.protocol`): Halton from index 1 and no bracketing.
 */
function searchValues(exp: Experiment, i: number, score: Scorer): { values: Record<string, unknown>[]; finished: boolean; extensions: number; note?: string } {
  const t = exp.tuning!;
  const legacy = (t.protocol ?? 1) < 2;
  const path = `optimizers[${i}].search`;
  const dims = searchDims(exp.optimizers[i].search as Record<string, SearchSpec>);
  const memo = new Map<string, ReturnType<Scorer>>();
  const scoreOf = (v: Record<string, unknown>) => {
    const k = key(v);
    if (!memo.has(k)) memo.set(k, score(tuneRuns(exp, i, v, -1)));
    return memo.get(k)!;
  };
  let values: Record<string, unknown>[];
  let finished = true;
  if (t.method === 'coordinate-descent') ({ trials: values, finished } = coordinateDescent(dims, t.points, t.trials, scoreOf));
  else values = t.method === 'grid' ? gridTrials(dims, t.trials, path) : quasiRandomTrials(dims, t.trials, path, !legacy);
  if (legacy || !finished) return { values, finished, extensions: 0 };
  const reject = (v: Record<string, unknown>) => {
    try {
      tuneRuns(exp, i, v, -1);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  };
  const br = bracketTrials(dims, values, t.bracket ?? { enabled: false, maxExtensions: 0, factor: 2 }, scoreOf, reject);
  return { values: [...values, ...br.extensions], finished: br.finished, extensions: br.extensions.length, ...(br.note ? { note: br.note } : {}) };
}

/**
 * The plan of an entry that searches: its trials, then (a horizon shorter than training.steps,
 * protocol 2) the best `rerunTop` rerun at the full horizon, the selection (lowest score at the
 * deciding horizon, ties to the earlier trial), its edge flag, and its final runs.
 */
function planSearch(exp: Experiment, i: number, score: Scorer, more: (hash: string) => number[]): EntryPlan {
  const t = exp.tuning!;
  const o = exp.optimizers[i];
  const steps = tuningHorizon(exp);
  const full = exp.training.steps;
  const search = searchValues(exp, i, score);
  const trials: Trial[] = search.values.map((v, k) => {
    const runs = tuneRuns(exp, i, v, k);
    return { trial: k, values: v, runs, ...score(runs) };
  });
  const searched = search.finished && trials.every((x) => x.done);
  const plan: EntryPlan = { index: i, label: o.label ?? o.name, trials, tuned: searched, finalRuns: [], extensions: search.extensions, selectedAt: steps, ...(search.note ? { note: search.note } : {}) };
  if (!searched) return plan;
  const rank = (xs: Trial[]) => xs.filter((x) => Number.isFinite(x.score)).sort((a, b) => a.score - b.score || a.trial - b.trial);
  const ranked = rank(trials);
  let best: Trial | undefined = ranked[0];
  if (best && (t.protocol ?? 1) >= 2 && steps < full) {
    // The short horizon only shortlists: the best rerunTop trials run the full horizon, and the best of those is selected.
    plan.reruns = ranked.slice(0, t.rerunTop ?? 2).map((x) => {
      const runs = tuneRuns(exp, i, x.values, x.trial, full);
      return { trial: x.trial, values: x.values, runs, ...score(runs) };
    });
    plan.selectedAt = full;
    plan.tuned = plan.reruns.every((x) => x.done);
    best = plan.tuned ? rank(plan.reruns)[0] : undefined;
    if (plan.tuned && !best) plan.note = `every one of the ${plan.reruns.length} trials rerun at the full horizon (${full} steps) diverged; no setting to run`;
  }
  if (best) {
    const edge = edgeOf(searchDims(o.search as Record<string, SearchSpec>), search.values, best.values);
    if (edge.length) plan.edge = edge;
  }
  if (plan.tuned && !best && !plan.note) plan.note = `every one of ${trials.length} trials diverged or failed; no setting to run`;
  else if (best && plan.tuned) {
    plan.selected = best;
    const base = entryRuns(exp, i, best.values, seedList(exp), { stage: 'final', trial: best.trial });
    plan.finalRuns = [...base, ...entryRuns(exp, i, best.values, more(base[0].hash), { stage: 'final', trial: best.trial })];
  }
  return plan;
}

/**
 * What an experiment's tuning costs before any result is known, per the protocol: for every entry
 * that searches, `trials` x tuning seeds at the tuning horizon, plus (horizon < training.steps,
 * protocol 2) `rerunTop` x tuning seeds at the full horizon; bracketing may add up to
 * `bracket.maxExtensions` x tuning seeds more at the horizon (`extensionRuns`, an upper bound).
 * Coordinate descent may stop before `trials`; the count is its budget.
 */
export function tuningCost(exp: Experiment): { runs: number; steps: number; extensionRuns: number; extensionSteps: number } {
  const t = exp.tuning;
  if (!t) return { runs: 0, steps: 0, extensionRuns: 0, extensionSteps: 0 };
  const searching = exp.optimizers.filter((o) => o.settingsFrom === undefined).length;
  const seeds = tuningSeedList(t).length;
  const horizon = tuningHorizon(exp);
  const full = exp.training.steps;
  const v2 = (t.protocol ?? 1) >= 2;
  const reruns = v2 && horizon < full ? Math.min(t.rerunTop ?? 2, t.trials) : 0;
  const ext = v2 && t.bracket?.enabled ? t.bracket.maxExtensions : 0;
  return {
    runs: searching * seeds * (t.trials + reruns),
    steps: searching * seeds * (t.trials * horizon + reruns * full),
    extensionRuns: searching * seeds * ext,
    extensionSteps: searching * seeds * ext * horizon,
  };
}

/** Run states from the records of a results folder (ids without a record are unknown). */
export function folderLookup(dir: string, only?: ReadonlySet<string>): (id: string) => RunState | undefined {
  return (id) => {
    if (only && !only.has(id)) return undefined;
    const p = runPaths(dir, id).json;
    if (!existsSync(p)) return undefined;
    const r = readRecord(p);
    return { status: r.status, finalValLoss: r.result?.finalValLoss ?? null, finalValAcc: r.result?.finalValAcc ?? null };
  };
}


/** Final seeds found in a folder's records beyond the experiment's, by configuration hash (--until-decided added them). */
export function extraSeedsIn(dir: string, ids: readonly string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const id of ids) {
    const p = runPaths(dir, id).json;
    if (!existsSync(p)) continue;
    const r = readRecord(p);
    if (r.stage === 'tune') continue;
    out.set(r.hash, [...(out.get(r.hash) ?? []), r.seed]);
  }
  return out;
}

/**
 * Runs a tuned experiment (or any experiment with --until-decided) batch by batch: plan from the
 * results, run the runs the plan needs (this shard's slice), repeat; then the seeds --until-decided
 * adds; then the report. Without --resume, results already in the folder are ignored and replaced.
 */
export async function runStaged(file: string, exp: Experiment, opts: SweepOptions): Promise<SweepOutcome> {
  const dir = opts.out ?? defaultOutDir(exp);
  const maxSeeds = opts.maxSeeds ?? 10;
  if (opts.untilDecided) checkUntilDecided(exp, maxSeeds);
  const recordFile = join(dir, 'experiment.json');
  const prev = opts.resume && existsSync(recordFile) ? readExperimentRecord(dir) : undefined;
  const ran = new Set<string>();
  const base = folderLookup(dir);
  const lookup = opts.resume ? base : (id: string) => (ran.has(id) ? base(id) : undefined);
  const extra = prev ? extraSeedsIn(dir, prev.grid) : new Map<string, number[]>();
  // The grid is what the current plan knows (an edited search leaves its old trials out of the report).
  const grid: string[] = [];
  const extend = (ids: readonly string[]) => {
    const have = new Set(grid);
    for (const id of ids) if (!have.has(id)) grid.push(id);
  };

  let plan = planExperiment(exp, lookup, extra);
  if (opts.dryRun) return listNextBatch(exp, plan, dir, opts.shard);
  const writeRecordFile = () => {
    mkdirSync(dir, { recursive: true });
    // Runs with a record here that belong to this sweep (without --resume: those it ran).
    const held = grid.filter((id) => (opts.resume || ran.has(id)) && existsSync(runPaths(dir, id).json));
    const protocol = recordedProtocol(exp, opts, maxSeeds);
    const record: ExperimentRecord = { name: exp.name, source: { file, sets: opts.sets ?? [] }, experiment: exp, grid, runs: held, shard: opts.shard ?? null, ...(Object.keys(protocol).length ? { protocol } : {}) };
    writeAtomic(recordFile, JSON.stringify(record, null, 1) + '\n');
  };

  const statuses: Record<string, RunStatus> = {};
  let interrupted = false;
  let waiting = 0;
  let stopped = '';
  let powerShown = false;
  for (let round = 0; ; round++) {
    plan = planExperiment(exp, lookup, extra);
    extend(plan.known.map((r) => r.id));
    if (plan.needed.length === 0) {
      if (!opts.untilDecided) break;
      writeRecordFile();
      const more = seedsToAdd(summarize(dir), maxSeeds);
      if (more.size === 0) break;
      for (const [hash, seeds] of more) extra.set(hash, [...(extra.get(hash) ?? []), ...seeds]);
      console.log(`until decided: adding seed ${[...new Set([...more.values()].flat())].join(', ')} to ${more.size} configurations`);
      continue;
    }
    const mine = shardRuns(plan.needed, opts.shard);
    if (!powerShown && exp.power && plan.needed.some((r) => r.stage === 'final')) {
      powerShown = true;
      writeRecordFile();
      printPowerPlan(exp, dir, opts.untilDecided ? maxSeeds : null);
    }
    const todo = mine.filter((r) => !ran.has(r.id));
    if (todo.length === 0) {
      waiting = plan.needed.length - mine.length;
      if (mine.length) stopped = `runs failed: ${mine.map((r) => r.id).join(', ')} (see ${join(dir, 'logs')})`;
      break;
    }
    writeRecordFile();
    const out = await runSweep(file, { ...opts, runs: todo, grid, report: false, print: false });
    for (const r of todo) ran.add(r.id);
    Object.assign(statuses, out.statuses);
    // A file-system fault ends the staged sweep too: the next batch would meet it again.
    if (out.fault) return { dir, statuses, interrupted: false, fault: out.fault };
    if (out.interrupted) {
      interrupted = true;
      break;
    }
  }
  writeRecordFile();
  await endStaged(file, plan, dir, opts, { waiting, stopped });
  return { dir, statuses, interrupted };
}

/** `--dry-run` of a staged experiment: the next batch (later ones depend on its results) and the protocol's cost. */
function listNextBatch(exp: Experiment, plan: Plan, dir: string, shard: string | undefined): SweepOutcome {
  const mine = shardRuns(plan.needed, shard);
  console.log(`${exp.name}: next batch ${mine.length} runs${shard ? ` (shard ${shard} of ${plan.needed.length})` : ''} -> ${dir}; later batches depend on their results`);
  if (exp.tuning) console.log(protocolCostLine(exp));
  for (const r of mine) console.log(`${r.id}  ${configName(r)} s${r.seed}  (${r.stage ?? 'run'}${r.trial !== undefined ? ` trial ${r.trial}` : ''}, ${r.config.training.steps} steps)`);
  return { dir, statuses: {}, interrupted: false };
}

/** The end of a staged sweep: the plan's notes, what other shards or failed runs hold back, the report. */
async function endStaged(file: string, plan: Plan, dir: string, opts: SweepOptions, held: { waiting: number; stopped: string }): Promise<void> {
  for (const e of plan.entries) if (e.note) console.log(`${e.label}: ${e.note}`);
  if (held.waiting) console.log(`shard ${opts.shard}: the next step needs ${held.waiting} runs of other shards; merge the folders (optlab merge) and continue with: optlab run ${file} --resume --out <merged folder>`);
  if (held.stopped) console.log(held.stopped);
  const { ranking } = await writeReport(dir);
  if (opts.print !== false) console.log(`\n${ranking}\n\nreport: ${join(dir, 'report.html')}`);
}

/** The protocol's cost in one line, e.g. 'protocol: 16 tuning runs (4,800 steps), up to 16 more if bracketing extends ranges, then 6 final runs (1,800 steps)'. */
export function protocolCostLine(exp: Experiment): string {
  const c = tuningCost(exp);
  const finals = exp.optimizers.length * seedList(exp).length;
  return `protocol (docs/protocol.md): ${c.runs} tuning runs (${c.steps.toLocaleString('en-US')} steps)${c.extensionRuns ? `, up to ${c.extensionRuns} more (${c.extensionSteps.toLocaleString('en-US')} steps) if bracketing extends ranges` : ''}, then ${finals} final runs (${(finals * exp.training.steps).toLocaleString('en-US')} steps)`;
}

/** --until-decided needs a baseline, at least 2 seeds to start the sequential test from, and --max-seeds at least the seeds. */
function checkUntilDecided(exp: Experiment, maxSeeds: number): void {
  if (baselineLabel(exp) === null) throw new ConfigError("--until-decided: the experiment has no baseline (set `baseline:` to an optimizer's label; default 'adamw' when present)", 'baseline');
  if (!Number.isInteger(maxSeeds) || maxSeeds < seedList(exp).length) throw new ConfigError(`--max-seeds ${maxSeeds}: must be an integer at least the number of seeds (${seedList(exp).length})`);
  if (seedList(exp).length < 2) throw new ConfigError(`--until-decided: the sequential test starts from the experiment's seeds and needs at least 2 (seeds: ${JSON.stringify(exp.seeds)}); docs/protocol.md`, 'seeds');
}

/** How later reports read this folder's verdicts: the sequential design of --until-decided, --allow-mixed-builds. */
function recordedProtocol(exp: Experiment, opts: SweepOptions, maxSeeds: number): NonNullable<ExperimentRecord['protocol']> {
  return {
    ...(opts.untilDecided ? { sequential: { minSeeds: seedList(exp).length, maxSeeds, alpha: VERDICT_ALPHA } } : {}),
    ...(opts.allowMixedBuilds ? { allowMixedBuilds: true } : {}),
  };
}

/** Before the final runs start: per optimizer, the seeds `power.margin` needs, from the pilots (or the stated sd). */
function printPowerPlan(exp: Experiment, dir: string, maxSeeds: number | null): void {
  const pw = exp.power!;
  const pp = powerPlan(summarize(dir));
  for (const [label, x] of pp) console.log(`power: ${label} vs ${baselineLabel(exp)}: detecting ${pw.margin} at ${Math.round(pw.power * 100)}% power takes ${x.seedsNeeded} seeds (sd ${x.sd.toPrecision(3)}, ${x.sdFrom}); the experiment runs ${seedList(exp).length}${maxSeeds !== null ? ` (--until-decided up to ${maxSeeds})` : ''}`);
  if (!pp.size) console.log(`power: no sd for the margin ${pw.margin} yet (state power.sd, or use 2 or more tuning seeds); the report computes it from the final seeds`);
}

/**
 * The seeds --until-decided adds this round: for every optimizer whose verdict is undecided and that
 * has fewer than `maxSeeds` final seeds, the next seed (one above every final seed in the folder),
 * for it and for the baseline when the baseline lacks it (so the pair stays paired). By hash.
 */
export function seedsToAdd(s: Summary, maxSeeds: number): Map<string, number[]> {
  const cmp = compare(s);
  const base = cmp.rows.find((r) => r.label === cmp.baseline);
  const out = new Map<string, number[]>();
  if (!base) return out;
  const all = cmp.rows.flatMap((r) => r.config.runs.map((x) => x.rec.seed));
  const next = Math.max(-1, ...all) + 1;
  for (const r of cmp.rows) {
    if (r === base || r.verdict !== 'undecided') continue;
    if (r.config.runs.length >= maxSeeds) continue;
    out.set(r.config.hash, [next]);
    if (!base.config.runs.some((x) => x.rec.seed === next)) out.set(base.config.hash, [next]);
  }
  return out;
}
