import { expect } from 'chai';
import { lapackQRAvailable } from '../../kernels/eigh.js';
import { choleskyUpper, householderQR, qrFactor, upperTriangularInverse } from '../../optimizers/qr.js';
import { seeded } from '../shared/problems.js';

function check(a: Float32Array, m: number, n: number, f: typeof householderQR): void {
  const { q, r } = f(a, m, n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * r[k * n + j];
      expect(Math.abs(s - a[i * n + j])).to.be.below(1e-12);
    }
  }
  for (let a1 = 0; a1 < n; a1++) {
    expect(r[a1 * n + a1]).to.be.at.least(0);
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += q[i * n + a1] * q[i * n + b];
      expect(Math.abs(s - (a1 === b ? 1 : 0))).to.be.below(1e-12);
      if (b < a1) expect(r[a1 * n + b]).to.equal(0);
    }
  }
}

describe('host QR and Cholesky (optimizers/qr.ts)', () => {
  it('Householder QR: A = Q R, Q^T Q = I, R upper with a non-negative diagonal (tall and square)', () => {
    check(seeded(7 * 4, 1), 7, 4, householderQR);
    check(seeded(5 * 5, 2), 5, 5, householderQR);
  });

  (lapackQRAvailable() ? it : it.skip)('LAPACK dgeqrf + dorgqr gives the same factors as the JavaScript QR (signs normalized)', () => {
    check(seeded(40 * 12, 3), 40, 12, qrFactor);
    const a = seeded(9 * 6, 4);
    const x = qrFactor(a, 9, 6);
    const y = householderQR(a, 9, 6);
    for (let i = 0; i < x.q.length; i++) expect(Math.abs(x.q[i] - y.q[i])).to.be.below(1e-12);
  });

  it('Cholesky: R^T R = A for a positive definite A; null when it is not; the triangular inverse inverts', () => {
    const g = seeded(6 * 3, 5);
    const a = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 6; k++) a[i * 3 + j] += g[k * 3 + i] * g[k * 3 + j];
    const r = choleskyUpper(a, 3)!;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += r[k * 3 + i] * r[k * 3 + j];
      expect(Math.abs(s - a[i * 3 + j])).to.be.below(1e-12);
    }
    const inv = upperTriangularInverse(r, 3)!;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += r[i * 3 + k] * inv[k * 3 + j];
      expect(Math.abs(s - (i === j ? 1 : 0))).to.be.below(1e-12);
    }
    expect(choleskyUpper([1, 2, 2, 1], 2)).to.equal(null);
  });
});
