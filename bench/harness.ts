/**
 * The measuring part of `optlab bench`: timing with warm-up and repetitions, the JSON line every
 * measurement becomes, and ratios to AdamW taken from the same run.
 *
 * Timing rules:
 * - Each timed call is wrapped so that the work has finished when the clock stops: wasm and cpu run
 *   kernels synchronously in Node; on other backends (webgpu, tensorflow) one tiny read waits for the
 *   queue.
 * - Methods compared with each other are timed round-robin (rep 1 of every method, then rep 2, ...),
 *   so load from other processes on a shared machine drifts over all of them alike and their ratios
 *   stay fair.
 * - Repetitions stop at `maxReps`, or earlier once `budgetMs` is spent and `minReps` are done: cheap
 *   cases get many repetitions, cpu cases few; a function that takes seconds per call gets one or two.
 */
import * as tf from '@tensorflow/tfjs-core';

/** One measurement, printed as one JSON line by `optlab bench --json` and one CSV row. */
export interface Measurement {
  /** What was measured: 'optimizer-step', 'state-bytes', 'newton-schulz', 'ns-batching', 'inverse-root', 'gpt-fwd-bwd', 'gpt-train-step', 'vit-train-step'. */
  kind: string;
  /** Optimizer registry name for steps and state; otherwise the computation ('gpt-train-step', 'newton-schulz', ...). */
  name: string;
  /** Optimizer involved, if any (ratios to AdamW are taken over this field). */
  optimizer: string | null;
  /** Backend label: 'cpu', 'wasm', 'wasm-native', 'webgpu', ... */
  backend: string;
  /** Shape measured: '512x512', 'gpt-params', 'b16xT64', '2x128x384', ... */
  shape: string;
  /** Median wall time in ms over the repetitions (null for non-timing figures). */
  median_ms: number | null;
  /** Fastest repetition in ms. */
  min_ms: number | null;
  /** Slowest repetition in ms. */
  max_ms: number | null;
  /** Mean in ms: the amortized cost of methods with periodic work (Shampoo's root every k steps). */
  mean_ms: number | null;
  /** Timed repetitions (after warm-up). */
  reps: number;
  /** This figure over AdamW's in the same run, same backend and shape (null where it does not apply). */
  ratio_to_adamw: number | null;
  /** A non-timing figure or a throughput: bytes/param, tokens/s, images/s. */
  value: number | null;
  /** Unit of `value`. */
  unit: string | null;
}

/** Repetition policy. */
export interface RepOptions {
  /** Untimed calls first (allocation, kernel compilation, caches). @default 2 */
  warmup?: number;
  /** At least this many timed calls. @default 3 */
  minReps?: number;
  /** At most this many timed calls. @default 15 */
  maxReps?: number;
  /** Stop timing a function after minReps once this much time went into its timed calls. @default 2000 */
  budgetMs?: number;
  /** A function whose first warm-up call takes longer than this is "slow" (see timeRoundRobin). @default 1000 */
  slowMs?: number;
  /** Time a slow function may take in timed calls. @default 10000 */
  slowBudgetMs?: number;
}

/** Summary statistics of timed repetitions. */
export interface Timing {
  median: number;
  min: number;
  max: number;
  mean: number;
  reps: number;
}

const SYNC_BACKENDS = new Set(['cpu', 'wasm']);

/** Waits until queued kernels have finished (a no-op on the synchronous cpu and wasm backends). */
export async function flush(): Promise<void> {
  if (SYNC_BACKENDS.has(tf.getBackend())) return;
  const t = tf.tidy(() => tf.add(tf.zeros([1]), 1));
  await t.data();
  t.dispose();
}

/** Median, min, max and mean of samples in ms. */
export function summarize(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length, reps: s.length };
}

/**
 * Times several functions round-robin with one repetition policy; returns their timings by key.
 * Each function runs one unit of work (one optimizer step, one forward+backward). A function whose
 * first warm-up call exceeds `slowMs` is warmed up once only and timed `floor(slowBudgetMs / first)`
 * times, at least once and at most `minReps`; one whose first call exceeds `slowBudgetMs` is timed by
 * that call alone (Shampoo's per-step roots on 1024-wide factors take tens of seconds on wasm).
 */
export async function timeRoundRobin(fns: ReadonlyMap<string, () => void>, opts: RepOptions = {}): Promise<Map<string, Timing>> {
  const warmup = opts.warmup ?? 2;
  const minReps = opts.minReps ?? 3;
  const maxReps = Math.max(minReps, opts.maxReps ?? 15);
  const budget = opts.budgetMs ?? 2000;
  const slowMs = opts.slowMs ?? 1000;
  const slowBudget = opts.slowBudgetMs ?? 10000;
  const runs = [...fns].map(([key, fn]) => ({ key, fn, samples: [] as number[], spent: 0, min: minReps, max: maxReps }));
  for (const r of runs) {
    for (let i = 0; i < Math.max(1, warmup); i++) {
      const t0 = performance.now();
      r.fn();
      await flush();
      const dt = performance.now() - t0;
      if (i === 0 && dt > slowBudget) {
        // Longer than the whole slow budget: this call is the one sample (nothing left to warm up
        // in a call that long; another would cost tens of seconds).
        r.samples.push(dt);
        r.spent = dt;
        r.min = r.max = 1;
        break;
      }
      if (i === 0 && dt > slowMs) {
        r.min = r.max = Math.max(1, Math.min(minReps, Math.floor(slowBudget / dt)));
        break;
      }
    }
  }
  for (let pass = 0; pass < maxReps; pass++) {
    const due = runs.filter((r) => r.samples.length < r.min || (r.samples.length < r.max && r.spent < budget));
    if (due.length === 0) break;
    for (const r of due) {
      const t0 = performance.now();
      r.fn();
      await flush();
      const dt = performance.now() - t0;
      r.samples.push(dt);
      r.spent += dt;
    }
  }
  return new Map(runs.map((r) => [r.key, summarize(r.samples)]));
}

/** Times one function (see timeRoundRobin). */
export async function timeIt(fn: () => void, opts: RepOptions = {}): Promise<Timing> {
  return (await timeRoundRobin(new Map([['x', fn]]), opts)).get('x')!;
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/** A timing measurement; `ratio_to_adamw` is filled by `withAdamwRatios`. */
export function timingMeasurement(
  kind: string,
  name: string,
  backend: string,
  shape: string,
  t: Timing,
  extra: { optimizer?: string; value?: number; unit?: string } = {},
): Measurement {
  return {
    kind,
    name,
    optimizer: extra.optimizer ?? null,
    backend,
    shape,
    median_ms: round(t.median),
    min_ms: round(t.min),
    max_ms: round(t.max),
    mean_ms: round(t.mean),
    reps: t.reps,
    ratio_to_adamw: null,
    value: extra.value === undefined ? null : round(extra.value),
    unit: extra.unit ?? null,
  };
}

/** A non-timing figure (state bytes per parameter). */
export function valueMeasurement(kind: string, name: string, backend: string, shape: string, value: number, unit: string, optimizer?: string): Measurement {
  return { kind, name, optimizer: optimizer ?? null, backend, shape, median_ms: null, min_ms: null, max_ms: null, mean_ms: null, reps: 0, ratio_to_adamw: null, value: round(value), unit };
}

/**
 * Fills `ratio_to_adamw` for a group of measurements of one kind, backend and shape, taken together:
 * each median (or value, for non-timing figures) over that of the member whose optimizer is AdamW.
 * Leaves null when AdamW is not in the group.
 */
export function withAdamwRatios(group: Measurement[]): Measurement[] {
  const base = group.find((m) => m.optimizer === 'adamw');
  const figure = (m: Measurement): number | null => m.median_ms ?? m.value;
  const b = base ? figure(base) : null;
  return group.map((m) => {
    const f = figure(m);
    return { ...m, ratio_to_adamw: b && f !== null ? round(f / b) : null };
  });
}
