/**
 * The cost model of claim 2 (experiments/claims/auon_cost.ts): time(N) = a + c * N^b, fitted by
 * weighted nonlinear least squares, where N is a parameter count, `a` the per-step overhead (ms),
 * `c` the cost per parameter^b and `b` the growth exponent.
 *
 * Method (variable projection): for a fixed b the model is linear in (a, c), so the best (a, c) solve a
 * 2x2 weighted least-squares system, with a >= 0 and c >= 0 enforced (a negative overhead or cost
 * is not a cost model; on a constraint the other coefficient is refitted alone). What remains is
 * the one-dimensional residual S(b), minimized by a grid over [bMin, bMax] (step 0.05) and then a
 * golden-section search inside the best grid cell. The grid makes the search global on the bounded
 * interval, so no start value is needed and a minimum on a bound is reported (`atBound`) instead of
 * being mistaken for an interior optimum. N is scaled by its largest value before powers are taken,
 * so N^b does not overflow or lose precision at b = 2.5 and N = 10^7.
 *
 * No npm package fits this job better: ml-levenberg-marquardt needs start values and has no bounds
 * on the coefficients; the separable structure makes a dedicated solver both shorter and global.
 */

/** One observation: parameter count (or any positive size) x, time y, weight w (default 1). */
export interface PowerLawPoint {
  x: number;
  y: number;
  w?: number;
}

/** A fitted time(x) = a + c x^b. */
export interface PowerLawFit {
  /** Constant term (ms): per-step overhead. */
  a: number;
  /** Coefficient of x^b (ms per x^b). */
  c: number;
  /** Growth exponent. */
  b: number;
  /** Weighted residual sum of squares at the optimum. */
  sse: number;
  /** Observations used. */
  points: number;
  /** True when the optimum of b lies on bMin or bMax (the data do not determine b inside the range). */
  atBound: boolean;
}

/** Search range and resolution of `fitPowerLaw`. */
export interface PowerLawOptions {
  /** Smallest exponent considered. @default 0.3 */
  bMin?: number;
  /** Largest exponent considered. @default 2.5 */
  bMax?: number;
  /** Grid step of the global search over b (golden section refines inside the best cell pair). @default 0.05 */
  gridStep?: number;
}

/**
 * Best non-negative (a, c') of y ~ a + c' u, for fixed u_k = (x_k/xmax)^b at the distinct sizes k,
 * from the per-size sums W_k = sum w, WY_k = sum w y, WYY_k = sum w y^2 (exactly the weighted least
 * squares over all points, at the cost of one term per size); returns them with the residual.
 */
function solveLinear(u: Float64Array, W: Float64Array, WY: Float64Array, WYY: Float64Array): { a: number; c: number; sse: number } {
  let sw = 0, su = 0, suu = 0, sy = 0, suy = 0;
  for (let k = 0; k < u.length; k++) {
    sw += W[k];
    su += W[k] * u[k];
    suu += W[k] * u[k] * u[k];
    sy += WY[k];
    suy += WY[k] * u[k];
  }
  const sseOf = (a: number, c: number) => {
    let s = 0;
    for (let k = 0; k < u.length; k++) {
      const f = a + c * u[k];
      s += WYY[k] - 2 * f * WY[k] + f * f * W[k];
    }
    return Math.max(0, s);
  };
  const det = sw * suu - su * su;
  let a = det > 0 ? (suu * sy - su * suy) / det : NaN;
  let c = det > 0 ? (sw * suy - su * sy) / det : NaN;
  if (!(a >= 0) || !(c >= 0)) {
    // The unconstrained optimum left the feasible quadrant: the constrained one lies on an edge.
    const cOnly = suu > 0 ? Math.max(0, suy / suu) : 0; // a = 0
    const aOnly = Math.max(0, sy / sw); // c = 0
    [a, c] = sseOf(0, cOnly) <= sseOf(aOnly, 0) ? [0, cOnly] : [aOnly, 0];
  }
  return { a, c, sse: sseOf(a, c) };
}

/**
 * Weighted least-squares fit of y = a + c x^b over `points` (a >= 0, c >= 0, b in [bMin, bMax]);
 * see the file comment for the method. Throws on fewer than 3 points, fewer than 2 distinct x, or a
 * non-positive or non-finite x, y or w.
 */
export function fitPowerLaw(points: readonly PowerLawPoint[], opts: PowerLawOptions = {}): PowerLawFit {
  const bMin = opts.bMin ?? 0.3;
  const bMax = opts.bMax ?? 2.5;
  const step = opts.gridStep ?? 0.05;
  if (!(bMax > bMin && step > 0)) throw new Error(`fitPowerLaw: need bMin < bMax and gridStep > 0, got ${bMin}, ${bMax}, ${step}`);
  if (points.length < 3) throw new Error(`fitPowerLaw: need at least 3 points for 3 coefficients, got ${points.length}`);
  for (const p of points) {
    const w = p.w ?? 1;
    if (!(p.x > 0 && Number.isFinite(p.x) && p.y > 0 && Number.isFinite(p.y) && w > 0 && Number.isFinite(w))) throw new Error(`fitPowerLaw: x, y and w must be positive and finite, got x ${p.x}, y ${p.y}, w ${w}`);
  }
  if (new Set(points.map((p) => p.x)).size < 2) throw new Error('fitPowerLaw: need at least 2 distinct sizes x');
  const xmax = Math.max(...points.map((p) => p.x));
  const xs = [...new Set(points.map((p) => p.x))];
  const lx = Float64Array.from(xs, (x) => Math.log(x / xmax));
  const W = new Float64Array(xs.length);
  const WY = new Float64Array(xs.length);
  const WYY = new Float64Array(xs.length);
  const index = new Map(xs.map((x, k) => [x, k]));
  for (const p of points) {
    const k = index.get(p.x)!;
    const w = p.w ?? 1;
    W[k] += w;
    WY[k] += w * p.y;
    WYY[k] += w * p.y * p.y;
  }
  const u = new Float64Array(xs.length);
  const at = (b: number) => {
    for (let k = 0; k < u.length; k++) u[k] = Math.exp(b * lx[k]);
    return solveLinear(u, W, WY, WYY);
  };
  const cells = Math.max(1, Math.round((bMax - bMin) / step));
  let best = 0;
  let bestS = Infinity;
  for (let k = 0; k <= cells; k++) {
    const s = at(bMin + ((bMax - bMin) * k) / cells).sse;
    if (s < bestS) [best, bestS] = [k, s];
  }
  // Golden-section search on the cells either side of the best grid point.
  let lo = bMin + ((bMax - bMin) * Math.max(0, best - 1)) / cells;
  let hi = bMin + ((bMax - bMin) * Math.min(cells, best + 1)) / cells;
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = hi - g * (hi - lo);
  let x2 = lo + g * (hi - lo);
  let f1 = at(x1).sse;
  let f2 = at(x2).sse;
  for (let it = 0; it < 60 && hi - lo > 1e-10; it++) {
    if (f1 <= f2) {
      [hi, x2, f2] = [x2, x1, f1];
      x1 = hi - g * (hi - lo);
      f1 = at(x1).sse;
    } else {
      [lo, x1, f1] = [x1, x2, f2];
      x2 = lo + g * (hi - lo);
      f2 = at(x2).sse;
    }
  }
  let b = (lo + hi) / 2;
  let r = at(b);
  // The grid end points themselves, which golden section never evaluates exactly.
  for (const e of [bMin, bMax]) {
    const re = at(e);
    if (re.sse < r.sse) [b, r] = [e, re];
  }
  const tol = 1e-6;
  return { a: r.a, c: r.c / Math.exp(b * Math.log(xmax)), b, sse: r.sse, points: points.length, atBound: b - bMin < tol || bMax - b < tol };
}

/** The fitted model's time at x (ms). */
export function powerLawAt(f: Pick<PowerLawFit, 'a' | 'c' | 'b'>, x: number): number {
  return f.a + f.c * x ** f.b;
}

/** Ordinary least-squares slope of y on x (NaN with fewer than 2 distinct x). */
export function slope(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`slope: ${x.length} x values, ${y.length} y values`);
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    sxy += (x[i] - mx) * (y[i] - my);
  }
  return sxx > 0 ? sxy / sxx : NaN;
}

/** The q-quantile (0..1) of values by linear interpolation between order statistics (numpy's default). */
export function quantileOf(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantileOf: no values');
  const s = [...values].sort((p, r) => p - r);
  const h = (s.length - 1) * q;
  const i = Math.floor(h);
  return i + 1 < s.length ? s[i] + (h - i) * (s[i + 1] - s[i]) : s[i];
}

/** Median of values (throws when empty). */
export function median(values: readonly number[]): number {
  return quantileOf(values, 0.5);
}
