/**
 * Statistics that decide a comparison: mean, sample standard deviation and Student-t confidence
 * intervals over seeds; the difference of an optimizer to a baseline with its interval, paired by
 * seed when the seeds share data order (a paired t-interval) and Welch's interval otherwise; the
 * verdict better / worse / undecided; a seeded percentile bootstrap for figures without a
 * closed-form interval (steps and time to a target loss, speed-ups); interpolation on loss curves;
 * ranking flips between evaluations; and the error control of docs/protocol.md: p-values, Holm's
 * correction, TOST equivalence, seeds for a given power, alpha spending and sequential p-values.
 *
 * Lower is better everywhere (losses, steps). t quantiles come from
 * `@stdlib/stats-base-dists-t-quantile`; the bootstrap draws from `@stdlib/random-base-mt19937`,
 * whose stream equals numpy's `RandomState(seed)` (the test recomputes a bootstrap with numpy).
 *
 * Warnings: with 3 seeds a t-interval has 2 degrees of freedom (t = 4.30), so only gaps of a few
 * standard deviations are decided; a percentile bootstrap over 3 values has at most 10 distinct
 * resample means and understates the spread. Both are reported with the number of seeds used.
 */
import type mt19937Type from '@stdlib/random-base-mt19937';
import type tQuantileType from '@stdlib/stats-base-dists-t-quantile';
import type tCdfType from '@stdlib/stats-base-dists-t-cdf';
import type normalQuantileType from '@stdlib/stats-base-dists-normal-quantile';
import { requireOptional } from '../../kernels/optional.js';

// Loaded on first use (optional peer dependencies: kernels/optional.ts), so importing optlab does not need them.
const tQuantileLib = (p: number, df: number): number => requireOptional<typeof tQuantileType>('@stdlib/stats-base-dists-t-quantile')(p, df);
const tCdfLib = (x: number, df: number): number => requireOptional<typeof tCdfType>('@stdlib/stats-base-dists-t-cdf')(x, df);
const normalQuantileLib = (p: number, mu: number, sigma: number): number => requireOptional<typeof normalQuantileType>('@stdlib/stats-base-dists-normal-quantile')(p, mu, sigma);
const mt19937 = { factory: (o: { seed: number }) => requireOptional<typeof mt19937Type>('@stdlib/random-base-mt19937').factory(o) };

/** Default confidence level of every interval. */
export const CONFIDENCE = 0.95;

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n - 1 in the denominator); NaN for fewer than two values. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** Quantile p of Student's t distribution with `df` degrees of freedom (df > 0, may be fractional). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`tQuantile: p must lie in (0, 1), got ${p}`);
  if (!(df > 0)) throw new Error(`tQuantile: degrees of freedom must be positive, got ${df}`);
  return tQuantileLib(p, df);
}

/** A point estimate with a two-sided interval at `level`; lo and hi are null when it cannot be formed (too few values). */
export interface Estimate {
  estimate: number;
  lo: number | null;
  hi: number | null;
  level: number;
  /** Values it rests on (seeds, or pairs of seeds). */
  n: number;
}

/** Mean, sample sd and the Student-t interval of the mean over seeds. */
export interface MeanSummary extends Estimate {
  sd: number;
}

/** mean ± t_{(1+level)/2, n-1} sd / sqrt(n): the t-interval of a mean (no interval for n < 2). */
export function tInterval(xs: readonly number[], level = CONFIDENCE): MeanSummary {
  const n = xs.length;
  const m = mean(xs);
  const sd = sampleSd(xs);
  if (n < 2) return { estimate: m, sd, lo: null, hi: null, level, n };
  const half = tQuantile((1 + level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { estimate: m, sd, lo: m - half, hi: m + half, level, n };
}

/** How a difference was estimated. */
export type DifferenceMethod = 'paired-t' | 'welch-t';

/** An optimizer minus its baseline, with the interval, the method and the seeds used. */
export interface Difference extends Estimate {
  method: DifferenceMethod;
  /** Seeds in the paired difference (paired-t), or the seeds of each side (welch-t). */
  seeds: number[];
  baselineSeeds: number[];
  /** Two-sided p-value of the difference being 0 (paired t-test or Welch's test); 1 without an interval. */
  p: number;
  /** The per-seed differences in seed order (paired-t only; empty for welch-t). */
  diffs: number[];
}

/**
 * The difference `a - b` of two sets of per-seed values with an interval. Paired (a t-interval of the
 * per-seed differences over the seeds both have) when `paired` and at least two seeds are shared;
 * otherwise Welch's interval with Welch-Satterthwaite degrees of freedom.
 */
export function difference(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>, paired: boolean, level = CONFIDENCE): Difference {
  const shared = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  if (paired && shared.length >= 2) {
    const diffs = shared.map((s) => a.get(s)! - b.get(s)!);
    const d = tInterval(diffs, level);
    return { estimate: d.estimate, lo: d.lo, hi: d.hi, level, n: d.n, method: 'paired-t', seeds: shared, baselineSeeds: shared, p: tTestP(diffs), diffs };
  }
  const xa = [...a.values()];
  const xb = [...b.values()];
  const est = mean(xa) - mean(xb);
  const base = { estimate: est, level, n: Math.min(xa.length, xb.length), method: 'welch-t' as const, seeds: [...a.keys()].sort((x, y) => x - y), baselineSeeds: [...b.keys()].sort((x, y) => x - y), diffs: [] };
  if (xa.length < 2 || xb.length < 2) return { ...base, lo: null, hi: null, p: 1 };
  const va = sampleSd(xa) ** 2 / xa.length;
  const vb = sampleSd(xb) ** 2 / xb.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { ...base, lo: est, hi: est, p: est === 0 ? 1 : 0 };
  const df = (va + vb) ** 2 / (va ** 2 / (xa.length - 1) + vb ** 2 / (xb.length - 1));
  const half = tQuantile((1 + level) / 2, df) * se;
  return { ...base, lo: est - half, hi: est + half, p: 2 * (1 - tCdf(Math.abs(est / se), df)) };
}

/** Better, worse or undecided against the baseline. */
export type Verdict = 'better' | 'worse' | 'undecided';

/** 'better' when the whole interval of (optimizer - baseline) lies below 0, 'worse' above 0, else (or without an interval) 'undecided'. */
export function verdictOf(d: Pick<Estimate, 'lo' | 'hi'>): Verdict {
  if (d.lo === null || d.hi === null) return 'undecided';
  if (d.hi < 0) return 'better';
  if (d.lo > 0) return 'worse';
  return 'undecided';
}

/** Quantile p of sorted values with linear interpolation between order statistics (Hyndman-Fan type 7, numpy's default). */
export function quantileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  // Exact order statistics and equal neighbours need no interpolation (keeps +-Infinity, censored values, intact).
  if (h === lo || sorted[hi] === sorted[lo]) return sorted[lo];
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Options of `bootstrap`. */
export interface BootstrapOptions {
  /** Resamples. @default 2000 */
  resamples?: number;
  /** Seed of the MT19937 generator, a positive 32-bit integer (numpy's RandomState(seed) gives the same stream). @default 1 */
  seed?: number;
  /** @default 0.95 */
  level?: number;
  /**
   * Keep resamples whose statistic is +-Infinity (censored: e.g. a speed-up whose baseline never
   * reaches the loss, a time-to-target of a run that never reaches it) as infinite values in the
   * quantiles, so the interval agrees with an infinite point estimate; NaN resamples are still
   * dropped. @default false (every non-finite resample dropped)
   */
  keepInfinite?: boolean;
}

/**
 * Percentile bootstrap of `statistic` over `groups` of values resampled with replacement, all groups
 * with the same index draws when `paired` (groups then have equal length: values of one seed share an
 * index). Index i of a group of n is floor(u n / 2^32) for the generator's next 32-bit output u. The
 * estimate is the statistic on the data; resamples where it is not finite are dropped (counted in
 * `dropped`), except infinite ones with `keepInfinite` (kept, counted in `censored`); the interval is
 * the type-7 quantiles (1-level)/2 and (1+level)/2 of the rest.
 */
export function bootstrap(groups: readonly (readonly number[])[], statistic: (groups: number[][]) => number, opts: BootstrapOptions & { paired?: boolean } = {}): Estimate & { dropped: number; censored: number } {
  const resamples = opts.resamples ?? 2000;
  const level = opts.level ?? CONFIDENCE;
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`bootstrap: resamples must be a positive integer, got ${resamples}`);
  if (opts.paired && new Set(groups.map((g) => g.length)).size > 1) throw new Error(`bootstrap: paired groups must have equal lengths, got ${groups.map((g) => g.length).join(', ')}`);
  const estimate = statistic(groups.map((g) => [...g]));
  const n = Math.min(...groups.map((g) => g.length));
  if (groups.some((g) => g.length === 0)) return { estimate, lo: null, hi: null, level, n: 0, dropped: 0, censored: 0 };
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 1 || seed > 4294967295) throw new Error(`bootstrap: seed must be an integer in [1, 2^32 - 1], got ${seed}`);
  const rand = mt19937.factory({ seed });
  const draw = (len: number) => Math.floor((rand() * len) / 4294967296);
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let sample: number[][];
    if (opts.paired) {
      const idx = Array.from({ length: groups[0].length }, () => draw(groups[0].length));
      sample = groups.map((g) => idx.map((i) => g[i]));
    } else {
      sample = groups.map((g) => Array.from({ length: g.length }, () => g[draw(g.length)]));
    }
    const v = statistic(sample);
    if (Number.isFinite(v) || (opts.keepInfinite && (v === Infinity || v === -Infinity))) stats.push(v);
  }
  stats.sort((a, b) => a - b);
  const dropped = resamples - stats.length;
  const censored = stats.filter((v) => !Number.isFinite(v)).length;
  if (stats.length === 0 || n < 2) return { estimate, lo: null, hi: null, level, n, dropped, censored };
  return { estimate, lo: quantileSorted(stats, (1 - level) / 2), hi: quantileSorted(stats, (1 + level) / 2), level, n, dropped, censored };
}

/** A point of a metric's curve: `loss` is the metric's value (the validation loss, or the accuracy of a val_acc curve). */
export interface CurvePoint {
  step: number;
  loss: number;
}

/**
 * The first step at which a curve reaches `loss` in the direction of `goal`: value <= loss for 'min'
 * (default; a loss), value >= loss for 'max' (an accuracy); interpolated linearly between the two
 * evaluations around the crossing; the first point's step when it already is there; null when the
 * curve never reaches it. Non-finite points end the curve (divergence).
 */
export function stepsToReach(curve: readonly CurvePoint[], loss: number, goal: 'min' | 'max' = 'min'): number | null {
  let prev: CurvePoint | undefined;
  for (const p of curve) {
    if (!Number.isFinite(p.loss)) return null;
    if (goal === 'max' ? p.loss >= loss : p.loss <= loss) {
      if (!prev) return p.step;
      return prev.step + ((prev.loss - loss) / (prev.loss - p.loss)) * (p.step - prev.step);
    }
    prev = p;
  }
  return null;
}

/** Mean of curves at the steps every one of them has (a finite value at that step). */
export function meanCurve(curves: readonly (readonly CurvePoint[])[]): CurvePoint[] {
  if (curves.length === 0) return [];
  const maps = curves.map((c) => new Map(c.filter((p) => Number.isFinite(p.loss)).map((p) => [p.step, p.loss])));
  const steps = [...maps[0].keys()].filter((s) => maps.every((m) => m.has(s))).sort((a, b) => a - b);
  return steps.map((step) => ({ step, loss: mean(maps.map((m) => m.get(step)!)) }));
}

/**
 * Speed-up of an optimizer over the baseline as Marin's optimizer study reports it: the steps the
 * baseline's mean curve needs to reach the optimizer's mean final value of the metric (interpolated;
 * in the direction of `goal`: 'min' for a loss, the default, 'max' for an accuracy), divided by the
 * optimizer's steps. Null when the baseline never reaches that value within its curve (the speed-up
 * then exceeds baselineSteps / steps).
 */
export function speedup(baselineCurves: readonly (readonly CurvePoint[])[], finalLosses: readonly number[], steps: number, goal: 'min' | 'max' = 'min'): number | null {
  const reach = stepsToReach(meanCurve(baselineCurves), mean(finalLosses), goal);
  return reach === null ? null : reach / steps;
}

/** One evaluation step whose ranking differs from the ranking at the last evaluation. */
export interface RankingFlip {
  step: number;
  /** Labels best first at that step. */
  ranking: string[];
}

/**
 * Rankings (by mean loss, lower first) at every evaluation step all entries share, compared with the
 * ranking at the last shared step; returns the earlier steps whose order differs (Marin's
 * observation that rankings flip during the learning-rate decay) and the final ranking.
 */
export function rankingFlips(curves: ReadonlyMap<string, readonly CurvePoint[]>): { final: string[]; flips: RankingFlip[] } {
  const labels = [...curves.keys()];
  if (labels.length < 2) return { final: labels, flips: [] };
  const maps = labels.map((l) => new Map(curves.get(l)!.filter((p) => Number.isFinite(p.loss)).map((p) => [p.step, p.loss])));
  const steps = [...maps[0].keys()].filter((s) => s > 0 && maps.every((m) => m.has(s))).sort((a, b) => a - b);
  if (steps.length === 0) return { final: labels, flips: [] };
  const order = (s: number) => labels.map((l, i) => ({ l, v: maps[i].get(s)! })).sort((a, b) => a.v - b.v || a.l.localeCompare(b.l)).map((x) => x.l);
  const final = order(steps[steps.length - 1]);
  const flips = steps.slice(0, -1).map((s) => ({ step: s, ranking: order(s) })).filter((f) => f.ranking.join('\n') !== final.join('\n'));
  return { final, flips };
}

// ---------------------------------------------------------------------------------------------
// Error control: p-values, Holm's correction, equivalence, power, sequential looks
// (the protocol of docs/protocol.md).

/** Student's t CDF at `x` with `df` degrees of freedom (`@stdlib/stats-base-dists-t-cdf`). */
export function tCdf(x: number, df: number): number {
  if (!(df > 0)) throw new Error(`tCdf: degrees of freedom must be positive, got ${df}`);
  return tCdfLib(x, df);
}

/** Quantile p of the standard normal distribution (`@stdlib/stats-base-dists-normal-quantile`). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must lie in (0, 1), got ${p}`);
  return normalQuantileLib(p, 0, 1);
}

/**
 * Two-sided p-value of the one-sample t-test of mean(xs) = 0 (the paired test when xs are per-seed
 * differences). 1 for fewer than two values; 0 when every value is the same non-zero number; 1 when
 * all are zero.
 */
export function tTestP(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 1;
  const m = mean(xs);
  const se = sampleSd(xs) / Math.sqrt(n);
  if (se === 0) return m === 0 ? 1 : 0;
  return 2 * (1 - tCdf(Math.abs(m / se), n - 1));
}

/**
 * Holm's step-down adjusted p-values (Holm 1979): sort the m p-values ascending, the k-th smallest
 * (k = 1..m) becomes max over j <= k of min(1, (m - j + 1) p_(j)); returned in the input's order.
 * Rejecting every hypothesis whose adjusted p-value is below alpha controls the family-wise error
 * at alpha. NaN entries are left NaN and do not count in m.
 */
export function holm(ps: readonly number[]): number[] {
  const idx = ps.map((p, i) => [p, i] as const).filter(([p]) => !Number.isNaN(p)).sort((a, b) => a[0] - b[0]);
  const m = idx.length;
  const out = ps.map(() => NaN);
  let run = 0;
  idx.forEach(([p, i], k) => {
    run = Math.max(run, Math.min(1, (m - k) * p));
    out[i] = run;
  });
  return out;
}

/**
 * Two one-sided tests (Schuirmann 1987) that the mean of `xs` (per-seed differences) lies within
 * (-margin, margin): the p-value is the larger of the two one-sided t-test p-values; equivalence is
 * shown at level alpha when p < alpha, which is the (1 - 2 alpha) t-interval lying inside the margins.
 * Throws on a non-positive margin; p = 1 for fewer than two values.
 */
export function tost(xs: readonly number[], margin: number, alpha = 1 - CONFIDENCE): { p: number; equivalent: boolean; lo: number | null; hi: number | null } {
  if (!(margin > 0)) throw new Error(`tost: the equivalence margin must be positive, got ${margin}`);
  const n = xs.length;
  if (n < 2) return { p: 1, equivalent: false, lo: null, hi: null };
  const m = mean(xs);
  const se = sampleSd(xs) / Math.sqrt(n);
  const ci = tInterval(xs, 1 - 2 * alpha);
  if (se === 0) {
    const p = Math.abs(m) < margin ? 0 : 1;
    return { p, equivalent: p < alpha, lo: ci.lo, hi: ci.hi };
  }
  const pLow = 1 - tCdf((m + margin) / se, n - 1); // H0: mean <= -margin
  const pHigh = tCdf((m - margin) / se, n - 1); // H0: mean >= +margin
  const p = Math.max(pLow, pHigh);
  return { p, equivalent: p < alpha, lo: ci.lo, hi: ci.hi };
}

/**
 * Seeds (pairs, for a paired comparison) a two-sided t-test at `alpha` needs to detect a true mean
 * difference of `margin` with probability `power`, given the sd of the per-seed differences: the
 * smallest n >= 2 with n >= ((t_{1-alpha/2, n-1} + t_{power, n-1}) sd / margin)^2 (the usual
 * t-approximation of the noncentral t power, iterated in n). Example: sd 0.0094, margin 0.005, 80%
 * power at alpha 0.05 gives 30. Throws on a non-positive sd or margin or a power outside (0, 1).
 */
export function seedsForPower(sd: number, margin: number, power = 0.8, alpha = 1 - CONFIDENCE): number {
  if (!(sd > 0) || !Number.isFinite(sd)) throw new Error(`seedsForPower: the sd must be positive and finite, got ${sd}`);
  if (!(margin > 0)) throw new Error(`seedsForPower: the margin must be positive, got ${margin}`);
  if (!(power > 0 && power < 1)) throw new Error(`seedsForPower: power must lie in (0, 1), got ${power}`);
  const need = (n: number) => ((tQuantile(1 - alpha / 2, n - 1) + tQuantile(power, n - 1)) * (sd / margin)) ** 2;
  let n = 2;
  while (n < need(n)) {
    n += 1;
    if (n > 1e6) throw new Error(`seedsForPower: more than 10^6 seeds (sd ${sd}, margin ${margin})`);
  }
  return n;
}

/** The smallest mean difference a two-sided t-test at `alpha` over `n` seeds detects with probability `power` (the inverse of seedsForPower). */
export function detectableEffect(sd: number, n: number, power = 0.8, alpha = 1 - CONFIDENCE): number {
  if (n < 2) return Infinity;
  return (tQuantile(1 - alpha / 2, n - 1) + tQuantile(power, n - 1)) * (sd / Math.sqrt(n));
}

/** A group-sequential design of `--until-decided`: looks at n = minSeeds, minSeeds + 1, ..., maxSeeds seeds. */
export interface SequentialDesign {
  minSeeds: number;
  maxSeeds: number;
  /** Family level spent over all looks. @default 0.05 */
  alpha?: number;
}

/**
 * Alpha spent at each look of a sequential design, by the Lan-DeMets Pocock-type spending function
 * alpha(t) = alpha ln(1 + (e - 1) t) with information fraction t = n / maxSeeds: look k gets
 * alpha(t_k) - alpha(t_{k-1}) (the first look alpha(t_1)). The amounts add up to alpha.
 */
export function spentAlpha(d: SequentialDesign): number[] {
  const alpha = d.alpha ?? 1 - CONFIDENCE;
  if (!(Number.isInteger(d.minSeeds) && d.minSeeds >= 2 && Number.isInteger(d.maxSeeds) && d.maxSeeds >= d.minSeeds)) {
    throw new Error(`sequential design: need integers 2 <= minSeeds <= maxSeeds, got ${d.minSeeds}, ${d.maxSeeds}`);
  }
  const spend = (n: number) => alpha * Math.log(1 + (Math.E - 1) * (n / d.maxSeeds));
  const out: number[] = [];
  for (let n = d.minSeeds; n <= d.maxSeeds; n++) out.push(spend(n) - (n === d.minSeeds ? 0 : spend(n - 1)));
  return out;
}

/**
 * The sequential p-value of per-seed differences observed look by look (their first minSeeds, then
 * one more each look, in the order given): min over the looks so far of p_k alpha / alpha_k, with
 * p_k the paired t-test p-value on the first n_k values and alpha_k the alpha spent at look k. By
 * the union bound over looks P(p <= u) <= u under the null for every stopping rule, so p < alpha is
 * a decision with false-decision rate at most alpha (conservative: the looks are correlated), and
 * the p-values of several comparisons can go through Holm's correction. Looks beyond maxSeeds are
 * not allowed (throws); fewer than minSeeds values give 1.
 */
export function sequentialP(diffs: readonly number[], d: SequentialDesign): number {
  const alpha = d.alpha ?? 1 - CONFIDENCE;
  if (diffs.length > d.maxSeeds) throw new Error(`sequentialP: ${diffs.length} seeds exceed the design's maxSeeds (${d.maxSeeds})`);
  const spent = spentAlpha(d);
  let p = 1;
  for (let n = d.minSeeds; n <= diffs.length; n++) p = Math.min(p, (tTestP(diffs.slice(0, n)) * alpha) / spent[n - d.minSeeds]);
  return Math.min(1, p);
}
