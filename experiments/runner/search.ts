/**
 * Search spaces of a tuned experiment as dimensions, and where a selection sits in them: shared by
 * the planner (experiments/sweep/tuning.ts, which brackets edge selections) and the verdicts
 * (experiments/analysis/comparison.ts, which flag a selection still at an edge; docs/protocol.md).
 */
import { defaultScale, type SearchSpec } from './config.js';

/** One searched hyperparameter: a list of values or a range on a log or linear scale. */
export type SearchDim = { key: string; kind: 'list'; values: unknown[] } | { key: string; kind: 'range'; low: number; high: number; scale: 'log' | 'linear'; integer: boolean };

/** The search dimensions of an optimizer entry, in the order written. */
export function searchDims(search: Record<string, SearchSpec> | undefined): SearchDim[] {
  return Object.entries(search ?? {}).map(([key, v]) =>
    Array.isArray(v) ? { key, kind: 'list' as const, values: v } : { key, kind: 'range' as const, low: v.low, high: v.high, scale: v.scale ?? defaultScale(key), integer: v.integer ?? false },
  );
}

/** Which end of the values tried a selection sits at, per range key ('low' or 'high'); empty when interior on every range. */
export function edgeOf(dims: readonly SearchDim[], tried: readonly Record<string, unknown>[], values: Record<string, unknown>): { key: string; side: 'low' | 'high'; value: number }[] {
  const out: { key: string; side: 'low' | 'high'; value: number }[] = [];
  for (const d of dims) {
    if (d.kind !== 'range') continue;
    const v = values[d.key];
    const xs = tried.map((t) => t[d.key]).filter((x): x is number => typeof x === 'number');
    if (typeof v !== 'number' || xs.length < 2) continue;
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    if (lo === hi) continue;
    if (v === hi) out.push({ key: d.key, side: 'high', value: v });
    else if (v === lo) out.push({ key: d.key, side: 'low', value: v });
  }
  return out;
}

