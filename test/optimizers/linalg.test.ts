import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fans, newtonSchulz, orthogonalize, shapeScale } from '../../optimizers/linalg.js';
import { describeBackends } from '../shared/backends.js';
import { seeded } from '../shared/problems.js';

/** Eigenvalues of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations, in float64. */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number): number[] {
  const m = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => a[i * n + j]));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i][j] * m[i][j];
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p][q]) < 1e-300) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p];
          const mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k];
          const mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
      }
    }
  }
  return m.map((row, i) => row[i]).sort((x, y) => x - y);
}

/** Singular values of a rows x cols matrix from the eigenvalues of its smaller Gram matrix, in float64. */
export function singularValues(x: ArrayLike<number>, rows: number, cols: number): number[] {
  const n = Math.min(rows, cols);
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      if (rows <= cols) for (let k = 0; k < cols; k++) s += x[i * cols + k] * x[j * cols + k];
      else for (let k = 0; k < rows; k++) s += x[k * cols + i] * x[k * cols + j];
      gram[i * n + j] = s;
      gram[j * n + i] = s;
    }
  }
  return symmetricEigenvalues(gram, n).map((e) => Math.sqrt(Math.max(e, 0)));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('linalg helpers (no backend)', () => {
  it('the Jacobi singular values recover a known spectrum', () => {
    // diag(3, 2, 1) padded to 3 x 5: singular values 1, 2, 3
    const x = new Float64Array(15);
    x[0] = 3;
    x[6] = 2;
    x[12] = 1;
    const s = singularValues(x, 3, 5);
    expect(s[0]).to.be.closeTo(1, 1e-12);
    expect(s[1]).to.be.closeTo(2, 1e-12);
    expect(s[2]).to.be.closeTo(3, 1e-12);
  });

  it('shapeScale follows fan_out/fan_in (Keller) and max(fan_in, fan_out) (Moonlight) of the matrix view', () => {
    // Dense [in=16, out=64] is PyTorch [64, 16]: Keller sqrt(max(1, 64/16)) = 2; the transpose gets 1.
    expect(shapeScale([16, 64], 'keller')).to.equal(2);
    expect(shapeScale([64, 16], 'keller')).to.equal(1);
    // Moonlight is symmetric: 0.2 * sqrt(64) = 1.6 either way.
    expect(shapeScale([16, 64], 'moonlight')).to.be.closeTo(1.6, 1e-12);
    expect(shapeScale([64, 16], 'moonlight')).to.be.closeTo(1.6, 1e-12);
    // conv [kh=1, kw=1, in=2, out=8] viewed as 2 x 8: Keller sqrt(8/2) = 2 (the reference's kh/kw rule would give 1)
    expect(fans([1, 1, 2, 8])).to.deep.equal([2, 8]);
    expect(shapeScale([1, 1, 2, 8], 'keller')).to.equal(2);
    expect(() => shapeScale([4, 4], 'other' as never)).to.throw(/unknown rule/);
  });
});

describeBackends('linalg: Newton-Schulz', () => {
  const shapes: [number, number][] = [[64, 32], [32, 64], [32, 32]];
  for (const [r, c] of shapes) {
    it(`output singular values lie in [0.6, 1.2] for a random ${r}x${c} input (classic and polar-express)`, () => {
      const g = tf.tensor2d(seeded(r * c, 100 + r + c), [r, c]);
      for (const coefficients of ['classic', 'polar-express'] as const) {
        const o = tf.tidy(() => newtonSchulz(g, { coefficients }));
        expect(o.shape).to.deep.equal([r, c]);
        const s = singularValues(o.dataSync(), r, c);
        o.dispose();
        expect(s[0], `${coefficients} smallest`).to.be.at.least(0.6);
        expect(s[s.length - 1], `${coefficients} largest`).to.be.at.most(1.2);
      }
      g.dispose();
    });
  }

  it('is invariant to the scale of its input', () => {
    const g = tf.tensor2d(seeded(32 * 64, 5), [32, 64]);
    const base = tf.tidy(() => newtonSchulz(g).dataSync());
    for (const k of [1e-3, 7, 1e3]) {
      const scaled = tf.tidy(() => newtonSchulz(tf.mul(g, k) as tf.Tensor2D).dataSync());
      expect(maxAbsDiff(scaled, base), `scale ${k}`).to.be.lessThan(1e-4);
    }
    g.dispose();
  });

  it('maps zero to zero (no NaN)', () => {
    for (const coefficients of ['classic', 'polar-express'] as const) {
      const o = tf.tidy(() => newtonSchulz(tf.zeros([8, 4]) as tf.Tensor2D, { coefficients }).dataSync());
      expect(Array.from(o).every((v) => v === 0), coefficients).to.equal(true);
    }
  });

  it('commutes with transposition, so tall and wide layouts agree', () => {
    const g = tf.tensor2d(seeded(24 * 10, 9), [24, 10]);
    const a = tf.tidy(() => tf.transpose(newtonSchulz(g)).dataSync());
    const b = tf.tidy(() => newtonSchulz(tf.transpose(g)).dataSync());
    expect(maxAbsDiff(a, b)).to.be.lessThan(1e-5);
    g.dispose();
  });

  it('polar-express differs from classic and refuses more than 5 steps', () => {
    const g = tf.tensor2d(seeded(16 * 8, 3), [16, 8]);
    const a = tf.tidy(() => newtonSchulz(g).dataSync());
    const b = tf.tidy(() => newtonSchulz(g, { coefficients: 'polar-express' }).dataSync());
    expect(maxAbsDiff(a, b)).to.be.greaterThan(1e-3);
    expect(() => tf.tidy(() => newtonSchulz(g, { coefficients: 'polar-express', steps: 6 }))).to.throw(/5 steps/);
    g.dispose();
  });

  it('orthogonalize works on the (kh*kw*in) x out view of a conv kernel and keeps its shape', () => {
    const k = tf.tensor4d(seeded(2 * 2 * 3 * 4, 4), [2, 2, 3, 4]);
    const viaConv = tf.tidy(() => orthogonalize(k));
    const viaMatrix = tf.tidy(() => newtonSchulz(tf.reshape(k, [12, 4]) as tf.Tensor2D).dataSync());
    expect(viaConv.shape).to.deep.equal([2, 2, 3, 4]);
    expect(maxAbsDiff(viaConv.dataSync(), viaMatrix)).to.equal(0);
    viaConv.dispose();
    k.dispose();
  });
});
