/**
 * Symmetric eigendecomposition and inverse p-th roots on the host, for Shampoo's roots (docs/optimizers/shampoo.md):
 * LAPACK `ssyevd`/`dsyevd` through the native addon (kernels/eigh.ts) where it is built, else a
 * JavaScript float64 solver: Householder tridiagonalization and the implicit QL algorithm with
 * Wilkinson-type shifts, EISPACK's `tred2` and `tql2` (Bowdler, Martin, Reinsch & Wilkinson, Numer. Math.
 * 11, 1968; as transcribed in the public-domain JAMA `EigenvalueDecomposition.java`). O(n^3) with small
 * constants, against the O(n^3) per sweep times ~10 sweeps of cyclic Jacobi.
 *
 * The JavaScript solver stores the transformation transposed (row k = column k of EISPACK's V), so that
 * every inner loop runs over contiguous memory; the result then has eigenvector k in row k, as LAPACK's
 * column-major output read row-major.
 */
import { lapackAvailable, lapackCodeMessage, lapackInverseRoot, lapackStatus } from '../kernels/eigh.js';

/** Eigenvalues ascending and eigenvectors as rows (row k of `vectors`, row-major n x n, belongs to `values[k]`). */
export interface Eigh {
  values: Float64Array;
  vectors: Float64Array;
}

/**
 * Eigendecomposition of a symmetric n x n matrix (row-major; the lower triangle is read) in float64 by
 * Householder tridiagonalization + implicit QL. Throws when QL has not converged after 60 iterations on
 * one eigenvalue (never seen on finite input) or the input is not finite. The input is not modified.
 */
export function eighTridiagonalQL(a: ArrayLike<number>, n: number): Eigh {
  if (a.length !== n * n) throw new Error(`eighTridiagonalQL: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  // T holds EISPACK's V transposed: V[r][c] = T[c*n + r]. The lower triangle of V is the row-major
  // lower triangle of A, i.e. T's upper triangle; copy it symmetric so either read is the same.
  const T = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = a[i * n + j];
      if (!Number.isFinite(x)) throw new Error(`eighTridiagonalQL: entry (${i}, ${j}) is ${x}`);
      T[i * n + j] = x;
      T[j * n + i] = x;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: T };
  tred2(T, d, e, n);
  tql2(T, d, e, n);
  return { values: d, vectors: T };
}

/** Householder reduction to tridiagonal form, accumulating the transformation (EISPACK tred2). */
function tred2(T: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  // V[r][c] is T[c*n + r] throughout.
  for (let j = 0; j < n; j++) d[j] = T[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = T[j * n + i - 1];
        T[j * n + i] = 0;
        T[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        T[i * n + j] = f; // V[j][i]
        const row = j * n; // column j of V
        g = e[j] + T[row + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          const v = T[row + k];
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const row = j * n;
        for (let k = j; k <= i - 1; k++) T[row + k] -= f * e[k] + g * d[k];
        d[j] = T[row + i - 1];
        T[row + i] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    T[i * n + n - 1] = T[i * n + i];
    T[i * n + i] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n; // column i+1 of V
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = T[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += T[next + k] * T[row + k];
        for (let k = 0; k <= i; k++) T[row + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) T[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = T[j * n + n - 1];
    T[j * n + n - 1] = 0;
  }
  T[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e), rotating the accumulated vectors; sorts ascending (EISPACK tql2). */
function tql2(T: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error(`eighTridiagonalQL: QL did not converge on eigenvalue ${l} of ${n}`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          // Columns i and i+1 of V are rows i and i+1 of T.
          const ri = i * n;
          const rj = ri + n;
          for (let k = 0; k < n; k++) {
            const hk = T[rj + k];
            const vk = T[ri + k];
            T[rj + k] = s * vk + c * hk;
            T[ri + k] = c * vk - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
  // Selection sort, ascending, moving the vectors along.
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    let p = d[i];
    for (let j = i + 1; j < n; j++) {
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    }
    if (k !== i) {
      d[k] = d[i];
      d[i] = p;
      const ri = i * n;
      const rk = k * n;
      for (let j = 0; j < n; j++) {
        const t = T[ri + j];
        T[ri + j] = T[rk + j];
        T[rk + j] = t;
      }
    }
  }
}

/** Which eigensolver computed a root. */
export type EighSolver = 'lapack' | 'js';

/** Options of `inverseRootFromEigh`. */
export interface EighRootOptions {
  /**
   * 'float32': LAPACK `ssyevd` and float32 arithmetic, as Meta's default (float32 factors); 'float64':
   * `dsyevd`. The JavaScript solver always computes in float64. @default 'float32'
   */
  precision?: 'float32' | 'float64';
  /** 'auto': LAPACK when the addon is available, else JavaScript; 'lapack' throws without it. @default 'auto' */
  solver?: 'auto' | 'lapack' | 'js';
  /** Retry a failed float32 LAPACK eigh in float64 (Meta's `retry_double_precision`). @default true */
  retryFloat64?: boolean;
}

/** A root, or why there is none. */
export interface EighRoot {
  /** (A + eps I)^(-exponent), float32 row-major; null when the computation failed. */
  root: Float32Array | null;
  /** Eigenvalues of A + eps I before Meta's shift, ascending (empty when the eigensolver failed). */
  values: Float64Array;
  /** The solver that ran last. */
  solver: EighSolver;
  /** Why `root` is null; null on success. */
  failure: string | null;
}

/** The solver `inverseRootFromEigh` picks for `solver: 'auto'`, and a line saying why. */
export function eighSolver(): { solver: EighSolver; message: string } {
  return lapackAvailable() ? { solver: 'lapack', message: lapackStatus() } : { solver: 'js', message: `JavaScript Householder + QL in float64 (${lapackStatus()})` };
}

/**
 * (A + eps I)^(-exponent) of a symmetric PSD n x n matrix (row-major) by eigendecomposition, as Meta's
 * Distributed Shampoo computes roots (`matrix_inverse_root` with its default `EigenConfig` and
 * `PerturbationConfig(perturb_before_computation=True)`; docs/optimizers/shampoo.md): (L, Q) = eigh(A + eps I); when
 * min(L) < eps, L <- L - min(L) + eps; X = Q diag(L^-exponent) Q^T. A failure (non-finite input, no
 * convergence, a non-finite root) is returned, never thrown; the caller keeps its previous root and
 * counts it. Runs on the host: the caller reads A back from the backend.
 */
export function inverseRootFromEigh(a: ArrayLike<number>, n: number, exponent: number, eps: number, opts: EighRootOptions = {}): EighRoot {
  const precision = opts.precision ?? 'float32';
  const solver = opts.solver ?? 'auto';
  const useLapack = solver === 'lapack' || (solver === 'auto' && lapackAvailable());
  if (useLapack) {
    if (!lapackAvailable()) throw new Error(`inverseRootFromEigh: solver 'lapack' requested but ${lapackStatus()}`);
    let r = lapackInverseRoot(a, n, exponent, eps, precision);
    if ('code' in r && precision === 'float32' && (opts.retryFloat64 ?? true) && r.code > 0) r = lapackInverseRoot(a, n, exponent, eps, 'float64');
    if ('code' in r) return { root: null, values: new Float64Array(0), solver: 'lapack', failure: lapackCodeMessage(r.code) };
    return { root: r.root, values: r.values, solver: 'lapack', failure: null };
  }
  let eig: Eigh;
  try {
    const m = Float64Array.from(a);
    for (let i = 0; i < n; i++) m[i * n + i] += eps;
    eig = eighTridiagonalQL(m, n);
  } catch (e) {
    return { root: null, values: new Float64Array(0), solver: 'js', failure: (e as Error).message };
  }
  const { values, vectors } = eig;
  const lmin = n > 0 ? values[0] : 0;
  const f = new Float64Array(n);
  for (let k = 0; k < n; k++) f[k] = Math.pow(lmin < eps ? values[k] - lmin + eps : values[k], -exponent);
  // X_ij = sum_k U_ik f_k U_jk with U = V^T (row i of U: component i of every eigenvector): dot products
  // of contiguous rows, upper triangle only, mirrored.
  const U = new Float64Array(n * n);
  const Uf = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const v = vectors[k * n + i];
      U[i * n + k] = v;
      Uf[i * n + k] = v * f[k];
    }
  }
  const root = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = i; j < n; j++) {
      const rj = j * n;
      let x = 0;
      for (let k = 0; k < n; k++) x += Uf[ri + k] * U[rj + k];
      if (!Number.isFinite(x)) return { root: null, values, solver: 'js', failure: 'the inverse root has non-finite entries' };
      root[ri + j] = x;
      root[rj + i] = x;
    }
  }
  return { root, values, solver: 'js', failure: null };
}
