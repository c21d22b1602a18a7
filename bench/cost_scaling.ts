/**
 * Suite 'auon-cost' of `optlab bench`: the measurement behind claim 2's cost part
 * (experiments/claims/auon_cost.ts; AuON, arXiv 2509.24320, docs/optimizers/auon.md), and its analysis.
 *
 * Protocol (fixed here, before any measurement):
 * - One optimizer step of AdamW, AuON, Hybrid-AuON and Muon (registry defaults) on one n x n 'matrix'
 *   parameter, n = 256 to 2584 in eleven geometric steps of 2^(1/3) (`COST_SIZES`), N = n^2 parameters
 *   (65,536 to 6.7 million). Below 256 the per-op overhead of an elementwise step is a large part of
 *   its time; at 2584 one Newton-Schulz step (Muon, Hybrid-AuON) costs about 3.7 s on one core.
 * - The native kernels run at one BLAS thread (`COST_THREADS`), so the benchmark occupies one core and
 *   its own share of the load average is 1.
 * - One untimed warm-up round, then `COST_ROUNDS` timed rounds. A round times every (size, optimizer)
 *   pair once, in an order drawn afresh each round (mt19937, seed = round), so load drifts and cache
 *   states fall on every arm and size alike. A sample is the mean time of `inner` consecutive steps,
 *   `inner` chosen in the warm-up so that a sample lasts about `SAMPLE_MS` (at least one step): cheap
 *   steps at small n are not measured at the timer's resolution.
 * - Every sample is recorded (kind 'cost-rep': median_ms = min = max = mean = ms per step, reps = inner,
 *   value = round), and the 1-min load average before the run, after each round and at the end
 *   (kind 'load').
 * - Load guard: the suite refuses to start when the 1-min load average exceeds `LOAD_MAX` (0.5), unless
 *   forced (`--force-load`, or OPTLAB_FORCE_LOAD=1); the claim marks a measurement whose load after a
 *   round exceeded LOAD_MAX + COST_THREADS (0.5 besides the benchmark's own thread) as not measured,
 *   unless it was forced, and then says so.
 *
 * Analysis (`analyzeCost`): per optimizer, time(N) = a + c N^b by weighted nonlinear least squares over
 * all samples (bench/power_law.ts; weights 1/median(t at that size)^2, i.e. relative errors, so the
 * largest size does not decide alone); 95% intervals by a percentile bootstrap over rounds: whole
 * rounds are resampled with replacement, the same draw for every optimizer and size, which keeps the
 * pairing of arms measured side by side (the intervals of differences of exponents come from the same
 * draws). AuON's time as a ratio to AdamW's at each size: the ratio of the medians over rounds, with a
 * bootstrap interval; the slope of log(ratio) against log N says whether that ratio stays bounded.
 *
 * Estimated wall time on an idle 2-core machine: Muon and Hybrid-AuON dominate (5 Newton-Schulz
 * iterations, O(n^3) each). One Muon step on 2048x2048 at one BLAS thread took 1.83 s of CPU time
 * (Hybrid-AuON 1.79 s; process.cpuUsage on this machine's Xeon, which is what its wall time is when
 * idle); summed over the sizes, sum (n/2048)^3 = 4.0, a round costs about 2 x 1.8 s x 4.0 = 14 s, so
 * the warm-up (two steps of every case) and 12 rounds take about 3.4 minutes, 4 with start-up and
 * the analysis. Memory: all sizes are held at once (the rounds interleave them), 68 MiB per tensor
 * slot over the sizes, about 0.5 GiB with weights, gradients and the four methods' state.
 */
import * as tf from '@tensorflow/tfjs-core';
import mt19937 from '@stdlib/random-base-mt19937';
import { loadavg } from 'node:os';
import { buildOptimizer, type Optimizer } from '../optimizers/core.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { enableNativeKernels, nativeStatus } from '../kernels/wasm_kernels.js';
import { flush, type Measurement } from './harness.js';
import { fitPowerLaw, median, quantileOf, slope, type PowerLawFit } from './power_law.js';
import type { BenchContext } from './suites.js';

/** Side lengths n of the n x n matrices: 256 * 2^(k/3), k = 0..10, rounded to multiples of 8. */
export const COST_SIZES: readonly number[] = [256, 320, 408, 512, 648, 816, 1024, 1288, 1624, 2048, 2584];
/** Timed rounds (after one warm-up round). */
export const COST_ROUNDS = 12;
/** Methods timed; AdamW is the elementwise, linear-time reference. */
export const COST_OPTIMIZERS: readonly string[] = ['adamw', 'auon', 'hybrid-auon', 'muon'];
/** BLAS threads of the native kernels during the suite. */
export const COST_THREADS = 1;
/** Target duration of one sample (ms): cheap steps are repeated `inner` times within it. */
export const SAMPLE_MS = 20;
/** Most steps averaged into one sample. */
export const MAX_INNER = 64;
/** Highest 1-min load average of other processes a measurement may see (the README's rule). */
export const LOAD_MAX = 0.5;
/** Measurement kind of one sample (ms per step in median_ms, round in value, steps averaged in reps). */
export const COST_KIND = 'cost-rep';
/** Measurement kind of a load-average reading (shape 'before', 'round k', 'after'; 'threshold' holds the guard's limit, unit 'forced' or 'guarded'). */
export const LOAD_KIND = 'load';

/** Options of `auonCost` (tests shrink them). */
export interface CostOptions {
  sizes?: readonly number[];
  rounds?: number;
  /** Measure even when the load average exceeds LOAD_MAX. @default OPTLAB_FORCE_LOAD === '1' */
  force?: boolean;
  /** Reads the 1-min load average. @default os.loadavg()[0] */
  load?: () => number;
  sampleMs?: number;
}

/** True when the user forced measuring under load (OPTLAB_FORCE_LOAD=1, set by `--force-load`). */
export function forcedByEnv(): boolean {
  return process.env.OPTLAB_FORCE_LOAD === '1';
}

/** Throws when the load average `load` exceeds LOAD_MAX and the run is not forced. */
export function checkLoad(load: number, force: boolean): void {
  if (load > LOAD_MAX && !force) {
    throw new Error(`auon-cost: the 1-min load average is ${load.toFixed(2)}, above ${LOAD_MAX}: other processes would distort the timings. Wait for an idle machine, or pass --force-load (OPTLAB_FORCE_LOAD=1) to measure anyway; the claim then reports the load.`);
  }
}

const loadRow = (backend: string, at: string, value: number, unit = 'load (1 min)'): Measurement => ({ kind: LOAD_KIND, name: 'loadavg-1min', optimizer: null, backend, shape: at, median_ms: null, min_ms: null, max_ms: null, mean_ms: null, reps: 0, ratio_to_adamw: null, value: Number(value.toFixed(3)), unit });

/** 'auon-cost': the protocol of the file comment; emits every sample and the load as it goes. */
export async function auonCost(ctx: BenchContext, opts: CostOptions = {}): Promise<void> {
  const sizes = opts.sizes ?? COST_SIZES;
  const rounds = opts.rounds ?? COST_ROUNDS;
  const force = opts.force ?? forcedByEnv();
  const readLoad = opts.load ?? (() => loadavg()[0]);
  const sampleMs = opts.sampleMs ?? SAMPLE_MS;
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`auon-cost: rounds must be a positive integer, got ${rounds}`);
  const names = COST_OPTIMIZERS.filter((n) => n === 'adamw' || ctx.optimizers.includes(n));
  for (const n of names) if (!OPTIMIZERS[n]) throw new Error(`auon-cost: optimizer '${n}' is not in the registry`);
  const before = readLoad();
  checkLoad(before, force);
  ctx.emit(loadRow(ctx.backend, 'before', before));
  ctx.emit(loadRow(ctx.backend, 'threshold', LOAD_MAX + COST_THREADS, force ? 'forced' : 'guarded'));
  const native = nativeStatus().active;
  const threadsBefore = nativeStatus().threads;
  if (native) await enableNativeKernels({ threads: COST_THREADS });
  const cases: { n: number; name: string; step: () => void; inner: number }[] = [];
  const held: { w: tf.Variable; g: tf.Tensor; opts: Optimizer[] }[] = [];
  try {
    for (const n of sizes) {
      // tidy frees the initial value tf.variable copies from (a variable survives tidy).
      const w = tf.tidy(() => tf.variable(tf.randomNormal([n, n], 0, 0.02, 'float32', 11), true, `bench.cost.${n}`));
      const g = tf.randomNormal([n, n], 0, 1, 'float32', 12);
      const grads = new Map([['w', g]]);
      const built = names.map((name) => buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], OPTIMIZERS[name]()));
      held.push({ w, g, opts: built });
      names.forEach((name, i) => cases.push({ n, name, step: () => built[i].step(grads), inner: 1 }));
    }
    // Warm-up round: allocation and first-call costs; sets each case's inner repetitions.
    ctx.progress(`  auon-cost: warm-up round over ${sizes.length} sizes x ${names.length} optimizers`);
    for (const c of cases) {
      c.step();
      await flush();
      const t1 = performance.now();
      c.step();
      await flush();
      const dt = Math.max(performance.now() - t1, 1e-3);
      c.inner = Math.max(1, Math.min(MAX_INNER, Math.ceil(sampleMs / dt)));
    }
    for (let r = 0; r < rounds; r++) {
      const rand = mt19937.factory({ seed: r + 1 });
      const order = cases.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor((rand() * (i + 1)) / 4294967296);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const t0 = performance.now();
      for (const i of order) {
        const c = cases[i];
        const s0 = performance.now();
        for (let k = 0; k < c.inner; k++) c.step();
        await flush();
        const ms = (performance.now() - s0) / c.inner;
        const v = Number(ms.toFixed(4));
        ctx.emit({ kind: COST_KIND, name: c.name, optimizer: c.name, backend: ctx.backend, shape: `${c.n}x${c.n}`, median_ms: v, min_ms: v, max_ms: v, mean_ms: v, reps: c.inner, ratio_to_adamw: null, value: r, unit: 'round' });
      }
      const load = readLoad();
      ctx.emit(loadRow(ctx.backend, `round ${r}`, load));
      ctx.progress(`  auon-cost: round ${r + 1}/${rounds} in ${((performance.now() - t0) / 1000).toFixed(1)} s, load average ${load.toFixed(2)}`);
    }
    ctx.emit(loadRow(ctx.backend, 'after', readLoad()));
  } finally {
    for (const h of held) {
      for (const o of h.opts) o.dispose();
      tf.dispose([h.w, h.g]);
    }
    if (native) await enableNativeKernels({ threads: threadsBefore });
  }
}

/** One recorded sample: ms per step of `optimizer` on an n x n matrix in timed round `round`. */
export interface CostSample {
  optimizer: string;
  n: number;
  round: number;
  ms: number;
}

/** The samples of suite 'auon-cost' in measurements (one backend: the first found, or `backend`). */
export function costSamples(ms: readonly Measurement[], backend?: string): CostSample[] {
  const rows = ms.filter((m) => m.kind === COST_KIND && m.median_ms !== null);
  const b = backend ?? rows[0]?.backend;
  return rows.filter((m) => m.backend === b).map((m) => {
    const [r, c] = m.shape.split('x').map(Number);
    if (r !== c || !(r > 0)) throw new Error(`auon-cost: shape '${m.shape}' is not n x n`);
    if (m.value === null || !Number.isInteger(m.value)) throw new Error(`auon-cost: sample of ${m.name} at ${m.shape} has no round`);
    return { optimizer: m.name, n: r, round: m.value, ms: m.median_ms! };
  });
}

/** The load record of a run of suite 'auon-cost'. */
export interface CostLoad {
  before: number | null;
  after: number | null;
  /** After each timed round, in order. */
  rounds: number[];
  /** Highest load allowed after a round (LOAD_MAX + the benchmark's own threads), as recorded. */
  threshold: number;
  forced: boolean;
}

/** Reads the load rows of suite 'auon-cost'; null when there are none. */
export function costLoad(ms: readonly Measurement[]): CostLoad | null {
  const rows = ms.filter((m) => m.kind === LOAD_KIND && m.value !== null);
  if (rows.length === 0) return null;
  const at = (s: string) => rows.find((m) => m.shape === s)?.value ?? null;
  const th = rows.find((m) => m.shape === 'threshold');
  const rounds = rows.filter((m) => m.shape.startsWith('round ')).sort((p, q) => Number(p.shape.slice(6)) - Number(q.shape.slice(6))).map((m) => m.value!);
  return { before: at('before'), after: at('after'), rounds, threshold: th?.value ?? LOAD_MAX + COST_THREADS, forced: th?.unit === 'forced' };
}

/** Why the load makes the measurement unusable ('' when it stayed within the guard). */
export function loadProblem(l: CostLoad): string {
  const out: string[] = [];
  if (l.before !== null && l.before > LOAD_MAX) out.push(`load average ${l.before.toFixed(2)} before the run (limit ${LOAD_MAX})`);
  const worst = Math.max(...l.rounds, -Infinity);
  if (worst > l.threshold) out.push(`load average up to ${worst.toFixed(2)} after a round (limit ${l.threshold.toFixed(1)}: ${LOAD_MAX} besides the benchmark's own thread${COST_THREADS === 1 ? '' : 's'})`);
  return out.join('; ');
}

/** A value with its bootstrap interval. */
export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

/** Everything the claim reads from one run. */
export interface CostAnalysis {
  sizes: number[];
  rounds: number;
  optimizers: string[];
  /** Fit of time(N) = a + c N^b per optimizer (N = n^2, ms), with b's interval. */
  fits: Record<string, { fit: PowerLawFit; b: Interval }>;
  /** Median ms per step by optimizer and size (index as `sizes`). */
  medians: Record<string, number[]>;
  /** b[first] - b[second] for each ordered pair asked in `differences`, keyed 'first-second'. */
  differences: Record<string, Interval>;
  /** `ratioOf`'s median time over `baseline`'s at each size. */
  ratio: (Interval & { n: number })[];
  /** Least-squares slope of log(ratio) against log N: 0 for a bounded ratio growing like the baseline. */
  ratioSlope: Interval;
  ratioOf: string;
  baseline: string;
  resamples: number;
  level: number;
}

/** Options of `analyzeCost`. */
export interface AnalyzeOptions {
  resamples?: number;
  seed?: number;
  level?: number;
  ratioOf?: string;
  baseline?: string;
  /** Ordered pairs [p, q] whose difference of exponents b_p - b_q gets an interval. */
  differences?: readonly (readonly [string, string])[];
}

/**
 * The analysis of the file comment over `samples`. Every optimizer needs samples at 3 or more sizes
 * and every (optimizer, size) in every round present; throws naming what is missing otherwise.
 * Intervals are percentile intervals over `resamples` (default 2000) bootstrap draws of whole rounds
 * (mt19937 seeded `seed`, default 1), at `level` (default 0.95). With one round every interval has
 * zero width: the caller must not decide from it (the claim requires 5 rounds).
 */
export function analyzeCost(samples: readonly CostSample[], opts: AnalyzeOptions = {}): CostAnalysis {
  const resamples = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  const ratioOf = opts.ratioOf ?? 'auon';
  const baseline = opts.baseline ?? 'adamw';
  const pairs = opts.differences ?? [['muon', 'auon'], ['auon', 'adamw']];
  const sizes = [...new Set(samples.map((s) => s.n))].sort((p, q) => p - q);
  const rounds = [...new Set(samples.map((s) => s.round))].sort((p, q) => p - q);
  const optimizers = [...new Set(samples.map((s) => s.optimizer))];
  if (sizes.length < 3) throw new Error(`auon-cost: need samples at 3 or more sizes for a + c N^b, got ${sizes.length}`);
  for (const o of [ratioOf, baseline, ...pairs.flat()]) if (!optimizers.includes(o)) throw new Error(`auon-cost: no samples of ${o}`);
  // table[o][round][size] = ms
  const table = new Map<string, number[][]>(optimizers.map((o) => [o, rounds.map(() => sizes.map(() => NaN))]));
  for (const s of samples) table.get(s.optimizer)![rounds.indexOf(s.round)][sizes.indexOf(s.n)] = s.ms;
  for (const [o, t] of table) t.forEach((row, r) => row.forEach((v, k) => {
    if (Number.isNaN(v)) throw new Error(`auon-cost: ${o} has no sample at ${sizes[k]}x${sizes[k]} in round ${rounds[r]}`);
  }));
  const params = sizes.map((n) => n * n);
  const stats = (pick: readonly number[]) => {
    const medians: Record<string, number[]> = {};
    const fits: Record<string, PowerLawFit> = {};
    for (const o of optimizers) {
      const t = table.get(o)!;
      medians[o] = sizes.map((_, k) => median(pick.map((r) => t[r][k])));
      const points = pick.flatMap((r) => sizes.map((_, k) => ({ x: params[k], y: t[r][k], w: 1 / medians[o][k] ** 2 })));
      fits[o] = fitPowerLaw(points);
    }
    const ratio = sizes.map((_, k) => medians[ratioOf][k] / medians[baseline][k]);
    return { medians, fits, ratio, ratioSlope: slope(params.map(Math.log), ratio.map(Math.log)) };
  };
  const all = stats(rounds.map((_, i) => i));
  const rand = mt19937.factory({ seed: opts.seed ?? 1 });
  const boot: ReturnType<typeof stats>[] = [];
  for (let k = 0; k < resamples; k++) boot.push(stats(rounds.map(() => Math.floor((rand() * rounds.length) / 4294967296))));
  const q = (xs: number[], value: number): Interval => ({ value, lo: quantileOf(xs, (1 - level) / 2), hi: quantileOf(xs, 1 - (1 - level) / 2) });
  const fits: CostAnalysis['fits'] = {};
  for (const o of optimizers) fits[o] = { fit: all.fits[o], b: q(boot.map((s) => s.fits[o].b), all.fits[o].b) };
  const differences: Record<string, Interval> = {};
  for (const [p, r] of pairs) differences[`${p}-${r}`] = q(boot.map((s) => s.fits[p].b - s.fits[r].b), all.fits[p].b - all.fits[r].b);
  return {
    sizes,
    rounds: rounds.length,
    optimizers,
    fits,
    medians: all.medians,
    differences,
    ratio: sizes.map((n, k) => ({ n, ...q(boot.map((s) => s.ratio[k]), all.ratio[k]) })),
    ratioSlope: q(boot.map((s) => s.ratioSlope), all.ratioSlope),
    ratioOf,
    baseline,
    resamples,
    level,
  };
}

const f2 = (x: number) => x.toFixed(2);

/** Markdown section of suite 'auon-cost' for bench/report.ts ('' without its samples or with too few sizes). */
export function costMarkdown(ms: readonly Measurement[]): string {
  const samples = costSamples(ms);
  if (new Set(samples.map((s) => s.n)).size < 3) return '';
  const a = analyzeCost(samples, { resamples: 500 });
  const load = costLoad(ms);
  const out = ['## Step cost against parameter count (suite auon-cost)', '', `One step on an n x n matrix, median ms over ${a.rounds} round${a.rounds === 1 ? '' : 's'} (rounds interleave every size and optimizer in a fresh order); fit time = a + c N^b (N = n^2) by weighted least squares, b's 95% interval by a bootstrap over rounds (${a.resamples} draws).${load ? ` Load average (1 min): ${load.before?.toFixed(2) ?? '?'} before, up to ${f2(Math.max(...load.rounds, 0))} after a round${load.forced ? ' (forced past the guard)' : ''}.` : ''}`, ''];
  out.push(`| optimizer | ${a.sizes.map((n) => `${n}`).join(' | ')} | a (ms) | b (95% CI) |`, `|---|${a.sizes.map(() => '---').join('|')}|---|---|`);
  for (const o of a.optimizers) {
    const f = a.fits[o];
    out.push(`| ${o} | ${a.medians[o].map((v) => v.toFixed(v >= 100 ? 0 : 2)).join(' | ')} | ${f2(f.fit.a)} | ${f2(f.b.value)} (${f2(f.b.lo)}–${f2(f.b.hi)})${f.fit.atBound ? ' at bound' : ''} |`);
  }
  out.push(`| ${a.ratioOf} / ${a.baseline} | ${a.ratio.map((r) => f2(r.value)).join(' | ')} | | slope ${f2(a.ratioSlope.value)} (${f2(a.ratioSlope.lo)}–${f2(a.ratioSlope.hi)}) |`, '');
  return out.join('\n');
}

/** An SVG of `ratioOf`'s time over `baseline`'s against N (log axes) with the bootstrap intervals. */
export function costRatioSvg(a: CostAnalysis, title = `${a.ratioOf} step time / ${a.baseline} step time against parameter count`): string {
  const W = 560, H = 320, L = 60, R = 20, T = 36, B = 46;
  const xs = a.ratio.map((r) => Math.log10(r.n * r.n));
  const ys = a.ratio.flatMap((r) => [r.lo, r.hi, r.value]).filter((v) => v > 0).map(Math.log10);
  const [x0, x1] = [Math.min(...xs) - 0.05, Math.max(...xs) + 0.05];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 0.2) [y0, y1] = [(y0 + y1) / 2 - 0.1, (y0 + y1) / 2 + 0.1];
  [y0, y1] = [y0 - 0.05 * (y1 - y0), y1 + 0.05 * (y1 - y0)];
  const px = (v: number) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const py = (v: number) => H - B - ((Math.log10(v) - y0) / (y1 - y0)) * (H - T - B);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`];
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`);
  for (const r of a.ratio) {
    const x = px(Math.log10(r.n * r.n));
    parts.push(`<line x1="${x}" y1="${H - B}" x2="${x}" y2="${H - B + 4}" stroke="black"/><text x="${x}" y="${H - B + 16}" text-anchor="middle">${r.n}²</text>`);
    parts.push(`<line x1="${x}" y1="${py(r.lo)}" x2="${x}" y2="${py(r.hi)}" stroke="#4c78a8" stroke-width="2"/>`);
  }
  for (let e = Math.ceil(y0 * 4) / 4; e <= y1; e += 0.25) parts.push(`<text x="${L - 6}" y="${py(10 ** e) + 4}" text-anchor="end">${(10 ** e).toPrecision(2)}</text><line x1="${L - 3}" y1="${py(10 ** e)}" x2="${L}" y2="${py(10 ** e)}" stroke="black"/>`);
  parts.push(`<polyline fill="none" stroke="#4c78a8" stroke-width="1.5" points="${a.ratio.map((r) => `${px(Math.log10(r.n * r.n))},${py(r.value)}`).join(' ')}"/>`);
  for (const r of a.ratio) parts.push(`<circle cx="${px(Math.log10(r.n * r.n))}" cy="${py(r.value)}" r="3" fill="#4c78a8"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">parameters N = n² (log scale); bars: ${Math.round(a.level * 100)}% bootstrap over ${a.rounds} rounds</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">time ratio (log scale)</text>`, '</svg>');
  return parts.join('\n') + '\n';
}
