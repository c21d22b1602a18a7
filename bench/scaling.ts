/**
 * Suite 'auon-scaling' of `optlab bench`: how one optimizer step grows with the size of a square
 * matrix, for AuON's claim of a linear-time alternative to Newton-Schulz (arXiv 2509.24320; see
 * docs/optimizers/auon.md). One step of AuON, Hybrid-AuON and Muon (AdamW as the elementwise,
 * linear-time reference) on an n x n 'matrix' parameter, n = 128, 256, ..., 2048, timed round-robin
 * per size; then the growth exponent b of time ~ a * (parameters)^b, fitted by least squares on
 * log(median ms) against log(n^2), with a 95% t-interval (df = sizes - 2).
 *
 * Newton-Schulz costs O(n^3) flops per step, exponent 1.5 in the parameter count n^2; an elementwise
 * method costs O(n^2), exponent 1. Small sizes are dominated by per-op overhead, which pulls every
 * fitted exponent down; the local exponent between the two largest sizes shows the trend there.
 */
import * as tf from '@tensorflow/tfjs-core';
import type quantileType from '@stdlib/stats-base-dists-t-quantile';
import { requireOptional } from '../kernels/optional.js';

/** The t quantile, loaded on first use (an optional peer dependency: kernels/optional.ts). */
const quantile = (p: number, df: number): number => requireOptional<typeof quantileType>('@stdlib/stats-base-dists-t-quantile')(p, df);
import { buildOptimizer, type Optimizer } from '../optimizers/core.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { timeRoundRobin, timingMeasurement, withAdamwRatios, type Measurement } from './harness.js';
import type { BenchContext } from './suites.js';

/** Side lengths n of the n x n matrices. */
export const SCALING_SIZES: readonly number[] = [128, 256, 512, 1024, 2048];
/** Methods this suite times (AdamW is the linear reference). */
export const SCALING_OPTIMIZERS: readonly string[] = ['adamw', 'auon', 'hybrid-auon', 'muon'];
/** Measurement kind of the per-size steps. */
export const SCALING_KIND = 'scaling-step';

/** A fitted power law time = a * params^exponent. */
export interface GrowthFit {
  exponent: number;
  /** 95% t-interval of the exponent (NaN with fewer than 3 sizes). */
  lo: number;
  hi: number;
  /** Standard error of the exponent. */
  se: number;
  /** Sizes used. */
  points: number;
  /** Slope between the two largest sizes (log time over log parameters). */
  localExponent: number;
}

/**
 * Least-squares fit of log(ms) = log(a) + b log(params) over points {params, ms}, with b's 95%
 * t-interval: se(b) = sqrt(SSE / (k - 2) / Sxx), half width t_{0.975, k-2} se(b). Throws on fewer
 * than 2 points or a non-positive value.
 */
export function growthExponent(points: readonly { params: number; ms: number }[], level = 0.95): GrowthFit {
  if (points.length < 2) throw new Error(`growthExponent: need at least 2 sizes, got ${points.length}`);
  for (const p of points) if (!(p.params > 0 && p.ms > 0)) throw new Error(`growthExponent: sizes and times must be positive, got params ${p.params}, ${p.ms} ms`);
  const s = [...points].sort((a, b) => a.params - b.params);
  const x = s.map((p) => Math.log(p.params));
  const y = s.map((p) => Math.log(p.ms));
  const k = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / k;
  const my = y.reduce((a, b) => a + b, 0) / k;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < k; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
  }
  const b = sxy / sxx;
  const a = my - b * mx;
  let sse = 0;
  for (let i = 0; i < k; i++) sse += (y[i] - a - b * x[i]) ** 2;
  const se = k > 2 ? Math.sqrt(sse / (k - 2) / sxx) : NaN;
  const half = k > 2 ? quantile(1 - (1 - level) / 2, k - 2) * se : NaN;
  return { exponent: b, lo: b - half, hi: b + half, se, points: k, localExponent: (y[k - 1] - y[k - 2]) / (x[k - 1] - x[k - 2]) };
}

/** Growth fits per optimizer and backend from the 'scaling-step' measurements (shape 'n x n'). */
export function scalingFits(ms: readonly Measurement[]): { optimizer: string; backend: string; fit: GrowthFit; sizes: number[] }[] {
  const steps = ms.filter((m) => m.kind === SCALING_KIND && m.median_ms !== null);
  const out: { optimizer: string; backend: string; fit: GrowthFit; sizes: number[] }[] = [];
  for (const backend of [...new Set(steps.map((m) => m.backend))]) {
    for (const name of [...new Set(steps.filter((m) => m.backend === backend).map((m) => m.name))]) {
      const pts = steps.filter((m) => m.backend === backend && m.name === name).map((m) => {
        const [r, c] = m.shape.split('x').map(Number);
        return { params: r * c, ms: m.median_ms! };
      });
      if (pts.length < 2) continue;
      out.push({ optimizer: name, backend, fit: growthExponent(pts), sizes: pts.map((p) => Math.round(Math.sqrt(p.params))).sort((a, b) => a - b) });
    }
  }
  return out;
}

/** Markdown section: step time per size and the fitted exponents, per backend ('' without scaling measurements). */
export function scalingMarkdown(ms: readonly Measurement[]): string {
  const fits = scalingFits(ms);
  if (fits.length === 0) return '';
  const out = ['## Step time against matrix size (suite auon-scaling)', '', 'One step on an n x n matrix, median ms; exponent b of time ~ parameters^b by least squares on log-log (95% t-interval); local: between the two largest sizes. Newton-Schulz is O(n^3) = parameters^1.5; elementwise methods parameters^1.', ''];
  for (const backend of [...new Set(fits.map((f) => f.backend))]) {
    const mine = fits.filter((f) => f.backend === backend);
    const sizes = [...new Set(mine.flatMap((f) => f.sizes))].sort((a, b) => a - b);
    out.push(`\`${backend}\`:`, '', `| optimizer | ${sizes.map((n) => `${n}x${n}`).join(' | ')} | exponent (95% CI) | local |`, `|---|${sizes.map(() => '---').join('|')}|---|---|`);
    for (const f of mine) {
      const cells = sizes.map((n) => {
        const m = ms.find((x) => x.kind === SCALING_KIND && x.backend === backend && x.name === f.optimizer && x.shape === `${n}x${n}`);
        return m?.median_ms === null || m === undefined ? '—' : m.median_ms.toFixed(m.median_ms >= 100 ? 0 : 2);
      });
      out.push(`| ${f.optimizer} | ${cells.join(' | ')} | ${f.fit.exponent.toFixed(2)} (${f.fit.lo.toFixed(2)}–${f.fit.hi.toFixed(2)}) | ${f.fit.localExponent.toFixed(2)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** 'auon-scaling': one step of each scaling optimizer on n x n matrices, round-robin per size. */
export async function auonScaling(ctx: BenchContext, sizes: readonly number[] = SCALING_SIZES): Promise<void> {
  const names = SCALING_OPTIMIZERS.filter((n) => n === 'adamw' || ctx.optimizers.includes(n));
  for (const n of names) if (!OPTIMIZERS[n]) throw new Error(`auon-scaling: optimizer '${n}' is not in the registry`);
  for (const size of sizes) {
    ctx.progress(`  step time on ${size}x${size}: ${names.join(', ')}`);
    // tidy frees the initial value tf.variable copies from (a variable survives tidy).
    const w = tf.tidy(() => tf.variable(tf.randomNormal([size, size], 0, 0.02, 'float32', 11), true, `bench.scaling.${size}`));
    const g = tf.randomNormal([size, size], 0, 1, 'float32', 12);
    const grads = new Map([['w', g]]);
    const opts = new Map<string, Optimizer>(names.map((n) => [n, buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], OPTIMIZERS[n]())]));
    try {
      const t = await timeRoundRobin(new Map([...opts].map(([n, o]) => [n, () => o.step(grads)])), ctx.reps);
      const group = [...t].map(([n, timing]) => timingMeasurement(SCALING_KIND, n, ctx.backend, `${size}x${size}`, timing, { optimizer: n }));
      for (const m of withAdamwRatios(group)) ctx.emit(m);
    } finally {
      for (const o of opts.values()) o.dispose();
      tf.dispose([w, g]);
    }
  }
}
