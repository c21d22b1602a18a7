/**
 * Dense QR and Cholesky factorizations on the host, in float64 (QR by LAPACK `dgeqrf` + `dorgqr` through
 * the native addon when it is built, `qrFactor`; else the JavaScript Householder QR below), for the methods that orthonormalize a
 * basis every few steps: SOAP's power-iteration refresh of Shampoo's eigenbasis (optimizers/soap.ts) and
 * Dion's column orthonormalization (optimizers/dion.ts). The caller reads the matrix back from the
 * backend (a synchronous download), factors it here and uploads the result, as Shampoo does with its
 * roots (optimizers/eigh.ts); tfjs's own `tf.linalg.qr` runs one op per Householder column on the
 * backend, hundreds of kernel launches for a 128-column matrix.
 *
 * Sign convention: R has a non-negative diagonal (Q's columns are the Gram-Schmidt basis of A's columns).
 * LAPACK's `geqrf`, which torch.linalg.qr calls, may flip columns of Q; SOAP and Dion are invariant to
 * such flips (docs/optimizers/soap.md, docs/optimizers/dion.md).
 */

import { lapackQR, lapackQRAvailable } from '../kernels/eigh.js';

/** A reduced QR factorization: A (m x n, m >= n) = Q (m x n, orthonormal columns) R (n x n, upper). */
export interface QR {
  /** m x n, row-major. */
  q: Float64Array;
  /** n x n upper triangular, row-major, non-negative diagonal. */
  r: Float64Array;
}

/**
 * Reduced QR of an m x n matrix (row-major, m >= n) by Householder reflections in float64 (Golub & Van
 * Loan, Algorithm 5.2.1, with the reflections accumulated backwards). Throws on non-finite input or
 * m < n. A zero column gives a zero diagonal entry of R and a unit basis column (the reflection is
 * the identity there).
 */
export function householderQR(a: ArrayLike<number>, m: number, n: number): QR {
  if (a.length !== m * n) throw new Error(`householderQR: expected ${m}x${n} = ${m * n} values, got ${a.length}`);
  if (m < n) throw new Error(`householderQR: needs rows >= columns, got ${m}x${n}`);
  // Column-major working copy: column j is w[j*m .. j*m+m), so the inner loops run over contiguous memory.
  const w = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const x = a[i * n + j];
      if (!Number.isFinite(x)) throw new Error(`householderQR: entry (${i}, ${j}) is ${x}`);
      w[j * m + i] = x;
    }
  }
  const vs: Float64Array[] = [];
  const betas = new Float64Array(n);
  const r = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const col = k * m;
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += w[col + i] * w[col + i];
    const norm = Math.sqrt(norm2);
    const v = new Float64Array(m - k);
    let beta = 0;
    if (norm > 0) {
      const x0 = w[col + k];
      // v = x - alpha e1 with alpha = -sign(x0) ||x|| (no cancellation); H x = alpha e1.
      const alpha = x0 >= 0 ? -norm : norm;
      v[0] = x0 - alpha;
      for (let i = k + 1; i < m; i++) v[i - k] = w[col + i];
      let vv = 0;
      for (let i = 0; i < v.length; i++) vv += v[i] * v[i];
      beta = vv > 0 ? 2 / vv : 0;
      // Apply H = I - beta v v^T to columns k..n-1.
      for (let j = k; j < n; j++) {
        const cj = j * m;
        let s = 0;
        for (let i = k; i < m; i++) s += v[i - k] * w[cj + i];
        s *= beta;
        for (let i = k; i < m; i++) w[cj + i] -= s * v[i - k];
      }
    }
    vs.push(v);
    betas[k] = beta;
    for (let j = k; j < n; j++) r[k * n + j] = w[j * m + k];
  }
  // Q = H_0 H_1 ... H_{n-1} [I_n; 0], accumulated backwards (column-major in `qc`).
  const qc = new Float64Array(m * n);
  for (let j = 0; j < n; j++) qc[j * m + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k];
    const beta = betas[k];
    if (beta === 0) continue;
    for (let j = k; j < n; j++) {
      const cj = j * m;
      let s = 0;
      for (let i = k; i < m; i++) s += v[i - k] * qc[cj + i];
      s *= beta;
      for (let i = k; i < m; i++) qc[cj + i] -= s * v[i - k];
    }
  }
  // Make diag(R) non-negative: flip row k of R and column k of Q together.
  const q = new Float64Array(m * n);
  for (let k = 0; k < n; k++) {
    const flip = r[k * n + k] < 0 ? -1 : 1;
    if (flip < 0) for (let j = k; j < n; j++) r[k * n + j] = -r[k * n + j];
    for (let i = 0; i < m; i++) q[i * n + k] = flip * qc[k * m + i];
  }
  return { q, r };
}

/**
 * Upper Cholesky factor R of a symmetric n x n matrix (row-major; the upper triangle is read), A = R^T R,
 * in float64; null when A is not numerically positive definite (a pivot <= 0 or non-finite), as
 * `torch.linalg.cholesky_ex` reports `info > 0`.
 */
export function choleskyUpper(a: ArrayLike<number>, n: number): Float64Array | null {
  if (a.length !== n * n) throw new Error(`choleskyUpper: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  const r = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= r[k * n + j] * r[k * n + j];
    if (!(d > 0) || !Number.isFinite(d)) return null;
    const rjj = Math.sqrt(d);
    r[j * n + j] = rjj;
    for (let i = j + 1; i < n; i++) {
      let s = a[j * n + i];
      for (let k = 0; k < j; k++) s -= r[k * n + j] * r[k * n + i];
      r[j * n + i] = s / rjj;
    }
  }
  return r;
}

/** Inverse of an n x n upper triangular matrix (row-major), by back substitution in float64; null when a diagonal entry is 0 or the result is not finite. */
export function upperTriangularInverse(r: ArrayLike<number>, n: number): Float64Array | null {
  const x = new Float64Array(n * n);
  for (let j = n - 1; j >= 0; j--) {
    const d = r[j * n + j];
    if (d === 0 || !Number.isFinite(d)) return null;
    x[j * n + j] = 1 / d;
    for (let i = j - 1; i >= 0; i--) {
      let s = 0;
      for (let k = i + 1; k <= j; k++) s += r[i * n + k] * x[k * n + j];
      x[i * n + j] = -s / r[i * n + i];
    }
  }
  for (let i = 0; i < n * n; i++) if (!Number.isFinite(x[i])) return null;
  return x;
}

/**
 * Reduced QR of an m x n matrix (row-major, m >= n) in float64 with a non-negative diagonal of R:
 * LAPACK `dgeqrf` + `dorgqr` through the native addon when it has them (`OPTLAB_LAPACK=0` turns LAPACK
 * off), else `householderQR`. Throws on non-finite input.
 */
export function qrFactor(a: ArrayLike<number>, m: number, n: number): QR {
  if (!lapackQRAvailable()) return householderQR(a, m, n);
  const res = lapackQR(a, m, n);
  if ('code' in res) {
    if (res.code === -1002) throw new Error('qrFactor: the matrix has non-finite entries');
    return householderQR(a, m, n);
  }
  const { q, r } = res;
  for (let k = 0; k < n; k++) {
    if (!(r[k * n + k] < 0)) continue;
    for (let j = k; j < n; j++) r[k * n + j] = -r[k * n + j];
    for (let i = 0; i < m; i++) q[i * n + k] = -q[i * n + k];
  }
  return { q, r };
}
