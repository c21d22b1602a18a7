/**
 * Update diagnostics: what an optimizer did to the weights at one step, per route, as host numbers
 * keyed `<route>/<metric>` (`muon/ns_orth_error`, `adamw/update_rms`).
 *
 * A training loop asks for them on log steps only (`Optimizer.step(grads, {diagnose: true})`, then
 * `Optimizer.diagnostics()`); other steps run exactly as without diagnostics. On a diagnosed step the
 * optimizer measures every parameter's actual change and gives transforms a probe
 * (`StepContext.probe`) to report what only they see (the Newton-Schulz output, MARS's correction
 * norm, AuON's brake). Measurements are reduced inside the step's tf.tidy to scalars or small Gram
 * matrices, kept until `diagnostics()` reads them in one download and frees them.
 *
 * Metrics (METRICS below lists each with how parameters of a route combine):
 *   update_rms            sqrt(sum ||dW||^2 / sum size) over the route, dW = W_after - W_before (wd included)
 *   update_weight_ratio   sqrt(sum ||dW||_F^2) / sqrt(sum ||W_before||_F^2) over the route
 *   update_spectral_norm  largest ||dW||_2 of the route's parameters (matrix view; a vector's L2 norm)
 *   ns_sv_min, ns_sv_max  smallest / largest singular value of the orthogonalized direction O (Muon,
 *                         Moonlight, MARS-M, Hybrid-AuON, mars-shampoo, NorMuon, AdaMuon, Scion's spectral
 *                         LMOs), before any shape factor or radius, over the route. A rank-deficient
 *                         momentum gives sigma_min = 0: matrices fed by a LayerNorm with equal gains
 *                         have a structural null direction (LN outputs sum to 0), so read sv_min with it.
 *   ns_orth_error         how far O's nonzero singular values are from 1: sqrt(sum s^4 (s^2 - 1)^2 / sum s^4)
 *                         = ||G^2 - G||_F / ||G||_F for G = O^T O (0 exactly when O = U V^T on its row
 *                         space; null directions do not count); exact (no eigenvalues); largest over the route
 *   correction_norm       mean ||c_t||_F of MARS / MARS-M's corrected gradient before clipping
 *   clip_fraction         fraction of the route's parameters whose c_t was clipped (||c_t|| > 1) at the step
 *   auon_scale            mean 1 / (r + 1e-8), the factor AuON's cosh brake r applies to the direction
 *   reg_row_spread, reg_col_spread  largest max/min ratio of row (column) norms of REG's RACS output
 *   cond_max              largest condition number of Shampoo's damped factors, from the eigenvalues
 *                         of each factor's last root (optimizers/shampoo.ts)
 *   shampoo_root_failures failed root computations so far, summed over the route's factors
 *   soap_basis_failures   SOAP's failed eigendecompositions and QRs so far (one counter per optimizer)
 *   dion_qr_fallbacks     Dion's failed Cholesky factorizations so far (one counter per optimizer)
 *
 * Singular values and spectral norms come from the Gram matrix of the smaller side, read to the host,
 * by LANCZOS_STEPS Lanczos iterations (exact for matrices with at most that many rows or columns;
 * otherwise the extreme Ritz values, which approach the extreme eigenvalues from inside the spectrum).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from './core.js';
import { eighTridiagonalQL } from './eigh.js';

/** How the values of a route's parameters combine into the route's number. */
export type Aggregate = 'max' | 'min' | 'mean' | 'sum';

/** Every metric a transform may report through the probe, with its aggregation over a route. */
export const METRICS: Readonly<Record<string, { aggregate: Aggregate; doc: string }>> = {
  ns_sv_min: { aggregate: 'min', doc: 'smallest singular value of the orthogonalized direction' },
  ns_sv_max: { aggregate: 'max', doc: 'largest singular value of the orthogonalized direction' },
  ns_orth_error: { aggregate: 'max', doc: '||G^2 - G||_F / ||G||_F, G = O^T O: spread of the nonzero singular values of the orthogonalized direction from 1' },
  correction_norm: { aggregate: 'mean', doc: "Frobenius norm of MARS's corrected gradient before clipping" },
  clip_fraction: { aggregate: 'mean', doc: 'fraction of parameters whose corrected gradient was clipped' },
  auon_scale: { aggregate: 'mean', doc: "1 / (r + 1e-8), AuON's brake factor on the direction" },
  reg_row_spread: { aggregate: 'max', doc: 'max / min row norm of the RACS output' },
  reg_col_spread: { aggregate: 'max', doc: 'max / min column norm of the RACS output' },
  cond_max: { aggregate: 'max', doc: "largest condition number of Shampoo's damped factors (from the eigenvalues of the last root)" },
  shampoo_root_failures: { aggregate: 'sum', doc: 'failed root computations of Shampoo so far (the previous root stayed)' },
  soap_basis_failures: { aggregate: 'max', doc: "failed eigendecompositions and QRs of SOAP's bases so far (the previous basis stayed)" },
  dion_qr_fallbacks: { aggregate: 'max', doc: "Dion's failed Cholesky factorizations so far (another orthonormalization was used)" },
};

/** Metrics the optimizer itself measures on every route. */
export const UPDATE_METRICS = ['update_rms', 'update_weight_ratio', 'update_spectral_norm'] as const;

/** Metric names a `singularValues` probe produces for a prefix. */
export const svMetrics = (prefix: string) => [`${prefix}_sv_min`, `${prefix}_sv_max`, `${prefix}_orth_error`];

/** What a transform may report on a diagnosed step (`StepContext.probe`); call inside the step's tidy. */
export interface DiagnosticsProbe {
  /** A scalar measurement of parameter p; `metric` must be a key of METRICS. */
  scalar(p: Parameter, metric: string, value: tf.Scalar): void;
  /** Singular-value extremes of `m` (matrix view of any rank >= 2 tensor) as `${prefix}_sv_min`, `_sv_max`, `_orth_error`. */
  singularValues(p: Parameter, prefix: 'ns', m: tf.Tensor): void;
}

/** Gram matrix of the smaller side of a matrix view: m^T m or m m^T, whichever is smaller. */
export function smallGram(m: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const x = (m.rank === 2 ? m : tf.reshape(m, [-1, m.shape[m.rank - 1]])) as tf.Tensor2D;
    const [r, c] = x.shape;
    return c <= r ? tf.matMul(tf.transpose(x), x) : tf.matMul(x, tf.transpose(x));
  });
}

/**
 * Extreme eigenvalues of a symmetric n x n matrix (row-major) by `steps` Lanczos iterations from a
 * fixed start, with full reorthogonalization (so the Krylov basis stays orthogonal in float64); the
 * extreme Ritz values (eigenvalues of the tridiagonal matrix, float64 Jacobi) converge to the extreme
 * eigenvalues much faster than power iteration. Exact (up to rounding) when steps >= n.
 */
export function lanczosExtremes(matrix: ArrayLike<number>, n: number, steps = LANCZOS_STEPS): { min: number; max: number } {
  // One element type for the hot loops (callers pass Float32Array or Float64Array views).
  const a = Float64Array.from(matrix);
  const m = Math.min(steps, n);
  const basis: Float64Array[] = [];
  let v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = 1.1 + Math.cos(1.7 * i + 0.3);
  scaleInPlace(v, 1 / Math.sqrt(dot(v, v, n)), n);
  const alpha: number[] = [];
  const beta: number[] = [];
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]));
  if (scale === 0) return { min: 0, max: 0 };
  const w = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    basis.push(v);
    matVec(a, v, w, n);
    alpha.push(dot(w, v, n));
    // Full reorthogonalization against every basis vector (twice is enough in float64).
    for (let pass = 0; pass < 2; pass++) for (const q of basis) axpy(-dot(w, q, n), q, w, n);
    const norm = Math.sqrt(dot(w, w, n));
    if (j === m - 1 || norm <= 1e-12 * scale * n) break;
    beta.push(norm);
    v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = w[i] / norm;
  }
  const k = alpha.length;
  const t = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    t[i * k + i] = alpha[i];
    if (i + 1 < k) t[i * k + i + 1] = t[(i + 1) * k + i] = beta[i];
  }
  // A non-finite update (a diverging run) has no spectrum: report NaN, never throw from a diagnostic.
  if (!t.every(Number.isFinite)) return { min: NaN, max: NaN };
  const values = eighTridiagonalQL(t, k).values;
  return { min: Math.min(...values), max: Math.max(...values) };
}

function matVec(a: Float64Array, x: Float64Array, out: Float64Array, n: number): void {
  for (let r = 0; r < n; r++) {
    let s = 0;
    const row = r * n;
    for (let c = 0; c < n; c++) s += a[row + c] * x[c];
    out[r] = s;
  }
}

function dot(x: Float64Array, y: Float64Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i] * y[i];
  return s;
}

function axpy(alpha: number, x: Float64Array, y: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}

function scaleInPlace(x: Float64Array, alpha: number, n: number): void {
  for (let i = 0; i < n; i++) x[i] *= alpha;
}

/** Lanczos iterations of the diagnostics' eigenvalue estimates. */
export const LANCZOS_STEPS = 16;

/** Extreme singular values of a matrix from its Gram matrix G (n x n, row-major): square roots of G's extreme eigenvalues (clamped at 0). */
export function singularValueRange(gram: ArrayLike<number>, n: number, steps = LANCZOS_STEPS): { min: number; max: number } {
  const e = lanczosExtremes(gram, n, steps);
  return { min: Math.sqrt(Math.max(e.min, 0)), max: Math.sqrt(Math.max(e.max, 0)) };
}

interface RouteAcc {
  sqDelta: tf.Scalar[];
  sqWeight: tf.Scalar[];
  size: number;
  grams: tf.Tensor2D[];
  scalars: Map<string, tf.Scalar[]>;
  svGrams: Map<string, { gram: tf.Tensor2D; err2: tf.Scalar; norm2: tf.Scalar }[]>;
}

/**
 * Collects one diagnosed step's measurements (the optimizer owns it; transforms see it as a
 * DiagnosticsProbe). Everything it keeps is freed by `read()` or `dispose()`.
 */
export class DiagnosticsRecorder implements DiagnosticsProbe {
  private readonly routes = new Map<string, RouteAcc>();

  constructor(private readonly routeOf: (p: Parameter) => string) {}

  private acc(p: Parameter): RouteAcc {
    const label = this.routeOf(p);
    let a = this.routes.get(label);
    if (!a) {
      a = { sqDelta: [], sqWeight: [], size: 0, grams: [], scalars: new Map(), svGrams: new Map() };
      this.routes.set(label, a);
    }
    return a;
  }

  /** The optimizer's measurement of one parameter's change dW = after - before (inside the step's tidy). */
  change(p: Parameter, before: tf.Tensor, delta: tf.Tensor): void {
    const a = this.acc(p);
    a.sqDelta.push(tf.keep(tf.sum(tf.square(delta))));
    a.sqWeight.push(tf.keep(tf.sum(tf.square(before))));
    a.size += delta.size;
    a.grams.push(tf.keep(delta.rank >= 2 ? smallGram(delta) : (tf.reshape(tf.sum(tf.square(delta)), [1, 1]) as tf.Tensor2D)));
  }

  scalar(p: Parameter, metric: string, value: tf.Scalar): void {
    if (!(metric in METRICS)) throw new Error(`diagnostics: unknown metric '${metric}' from parameter '${p.name}'; add it to METRICS in optimizers/diagnostics.ts`);
    const a = this.acc(p);
    const list = a.scalars.get(metric) ?? [];
    list.push(tf.keep(tf.reshape(value, []) as tf.Scalar));
    a.scalars.set(metric, list);
  }

  singularValues(p: Parameter, prefix: 'ns', m: tf.Tensor): void {
    if (m.rank < 2) return;
    const a = this.acc(p);
    const list = a.svGrams.get(prefix) ?? [];
    const gram = tf.keep(smallGram(m));
    const [err2, norm2] = tf.tidy(() => [tf.sum(tf.square(tf.sub(tf.matMul(gram, gram), gram))), tf.sum(tf.square(gram))]) as tf.Scalar[];
    list.push({ gram, err2: tf.keep(err2), norm2: tf.keep(norm2) });
    a.svGrams.set(prefix, list);
  }

  /** Reads every measurement (one download), reduces each route's values and frees the tensors. */
  read(): Record<string, number> {
    const parts: tf.Tensor[] = [];
    const slots: { take: (values: Float32Array, at: number) => void; size: number }[] = [];
    const out: Record<string, number> = {};
    for (const [label, a] of this.routes) {
      const sums = { delta: 0, weight: 0 };
      const specs: number[] = [];
      const push = (t: tf.Tensor, take: (v: Float32Array, at: number) => void) => {
        parts.push(t);
        slots.push({ take, size: t.size });
      };
      for (const s of a.sqDelta) push(s, (v, at) => (sums.delta += v[at]));
      for (const s of a.sqWeight) push(s, (v, at) => (sums.weight += v[at]));
      for (const g of a.grams) push(g, (v, at) => specs.push(singularValueRange(v.subarray(at, at + g.size), g.shape[0]).max));
      for (const [metric, list] of a.scalars) {
        const values: number[] = [];
        for (const s of list) push(s, (v, at) => values.push(v[at]));
        slots.push({ take: () => (out[`${label}/${metric}`] = aggregate(values, METRICS[metric].aggregate)), size: 0 });
      }
      for (const [prefix, list] of a.svGrams) {
        const mins: number[] = [];
        const maxs: number[] = [];
        const errs: number[] = [];
        for (const { gram: g, err2, norm2 } of list) {
          push(g, (v, at) => {
            const r = singularValueRange(v.subarray(at, at + g.size), g.shape[0]);
            mins.push(r.min);
            maxs.push(r.max);
          });
          const e = { err2: 0 };
          push(err2, (v, at) => (e.err2 = v[at]));
          push(norm2, (v, at) => errs.push(v[at] > 0 ? Math.sqrt(e.err2 / v[at]) : 0));
        }
        slots.push({
          take: () => {
            out[`${label}/${prefix}_sv_min`] = Math.min(...mins);
            out[`${label}/${prefix}_sv_max`] = Math.max(...maxs);
            out[`${label}/${prefix}_orth_error`] = Math.max(...errs);
          },
          size: 0,
        });
      }
      slots.push({
        take: () => {
          out[`${label}/update_rms`] = Math.sqrt(sums.delta / Math.max(a.size, 1));
          out[`${label}/update_weight_ratio`] = Math.sqrt(sums.delta) / Math.sqrt(sums.weight);
          out[`${label}/update_spectral_norm`] = specs.length ? Math.max(...specs) : NaN;
        },
        size: 0,
      });
    }
    let values: Float32Array = new Float32Array(0);
    if (parts.length) {
      const all = tf.tidy(() => tf.concat(parts.map((t) => tf.reshape(t, [-1]))));
      values = all.dataSync() as Float32Array;
      all.dispose();
    }
    let at = 0;
    for (const s of slots) {
      s.take(values, at);
      at += s.size;
    }
    this.dispose();
    return out;
  }

  /** Frees every kept tensor. */
  dispose(): void {
    for (const a of this.routes.values()) {
      tf.dispose([...a.sqDelta, ...a.sqWeight, ...a.grams, ...[...a.scalars.values()].flat(), ...[...a.svGrams.values()].flat().flatMap((x) => [x.gram, x.err2, x.norm2])]);
    }
    this.routes.clear();
  }
}

function aggregate(values: number[], how: Aggregate): number {
  if (values.length === 0) return NaN;
  if (how === 'max') return Math.max(...values);
  if (how === 'min') return Math.min(...values);
  if (how === 'sum') return values.reduce((a, b) => a + b, 0);
  return values.reduce((a, b) => a + b, 0) / values.length;
}
