import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fans, newtonSchulz, newtonSchulzBatched, NS_POLAR_EXPRESS, orthogonalize, orthogonalizeMany, shapeScale } from '../../optimizers/linalg.js';
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

  it('gives NS(G) for c G at any scale float32 holds (1e20 G once came back as zeros), for one matrix and a stack, both coefficient sets', () => {
    const g = tf.tensor2d(seeded(16 * 24, 6), [16, 24]);
    const peak = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]);
    for (const coefficients of ['classic', 'polar-express'] as const) {
      const base = tf.tidy(() => newtonSchulz(g, { coefficients }).dataSync());
      for (const c of [1, 1e10, 1e20, 1e30, 3e38 / peak, 2 ** 100]) {
        const one = tf.tidy(() => newtonSchulz(tf.mul(g, c) as tf.Tensor2D, { coefficients }).dataSync());
        expect(Array.from(one).every(Number.isFinite), `c=${c}`).to.equal(true);
        expect(maxAbsDiff(one, base), `${coefficients} c=${c}`).to.be.lessThan(1e-4);
        const many = tf.tidy(() => newtonSchulzBatched(tf.stack([g, tf.mul(g, c)]) as tf.Tensor3D, { coefficients }).dataSync());
        expect(maxAbsDiff(many.subarray(base.length), base), `batched ${coefficients} c=${c}`).to.be.lessThan(1e-4);
      }
    }
    g.dispose();
  });

  it('normalizes by a power of two, so a power-of-two scale gives a bit-identical result', () => {
    const g = tf.tensor2d(seeded(12 * 20, 8), [12, 20]);
    const base = tf.tidy(() => Array.from(newtonSchulz(g).dataSync()));
    for (const c of [2 ** 10, 2 ** 40, 2 ** 110]) expect(tf.tidy(() => Array.from(newtonSchulz(tf.mul(g, c) as tf.Tensor2D).dataSync())), `c=2^${Math.log2(c)}`).to.deep.equal(base);
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

  it('polar-express uses the published full-precision table: float32 agrees with the float64 iteration to 5e-6 on 16x16', () => {
    // KellerJordan/modded-nanogpt train_gpt.py `polar_express_coeffs`, as printed there. Rounded to 5
    // decimals (the table optlab used to ship) the float32 result is 8.7e-5 off this iteration.
    const published = [
      [8.156554524902461, -22.48329292557795, 15.878769915207462],
      [4.042929935166739, -2.808917465908714, 0.5000178451051316],
      [3.8916678022926607, -2.772484153217685, 0.5060648178503393],
      [3.285753657755655, -2.3681294933425376, 0.46449024233003106],
      [2.3465413258596377, -1.7097828382687081, 0.42323551169305323],
    ];
    expect(NS_POLAR_EXPRESS.map((r) => [...r])).to.deep.equal(published);
    const n = 16;
    const g = seeded(n * n, 77);
    const mul = (a: Float64Array, b: Float64Array) => {
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
      return c;
    };
    const tr = (a: Float64Array) => Float64Array.from(a, (_, k) => a[(k % n) * n + Math.floor(k / n)]);
    const norm = Math.sqrt(g.reduce((acc, x) => acc + x * x, 0));
    let x = Float64Array.from(g, (v) => v / (1.02 * norm + 1e-6));
    for (const [a, b, c] of published) {
      const A = mul(x, tr(x));
      const AA = mul(A, A);
      const B = Float64Array.from(A, (v, k) => b * v + c * AA[k]);
      const bx = mul(B, x);
      x = Float64Array.from(x, (v, k) => a * v + bx[k]);
    }
    const ours = tf.tidy(() => newtonSchulz(tf.tensor2d(g, [n, n]), { coefficients: 'polar-express' }).dataSync());
    expect(maxAbsDiff(ours, x)).to.be.lessThan(5e-6);
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

describeBackends('linalg: batched Newton-Schulz', () => {
  for (const [r, c] of [[12, 5], [5, 12], [7, 7]] as const) {
    for (const coefficients of ['classic', 'polar-express'] as const) {
      it(`equals newtonSchulz per matrix on a stack of 3 ${r}x${c} matrices (${r > c ? 'tall' : r < c ? 'wide' : 'square'}, ${coefficients})`, () => {
        // Different scales per matrix: the Frobenius normalization must be per matrix, not over the stack.
        const scales = [1, 40, 0.01];
        const before = tf.memory().numTensors;
        const [batched, single] = tf.tidy(() => {
          const gs = scales.map((k, i) => tf.mul(tf.tensor2d(seeded(r * c, 90 + i), [r, c]), k) as tf.Tensor2D);
          const out = newtonSchulzBatched(tf.stack(gs) as tf.Tensor3D, { coefficients });
          expect(out.shape).to.deep.equal([3, r, c]);
          return [out.dataSync().slice(), Float32Array.from(gs.flatMap((g) => Array.from(newtonSchulz(g, { coefficients }).dataSync())))];
        });
        expect(tf.memory().numTensors).to.equal(before);
        expect(maxAbsDiff(batched, single)).to.be.lessThan(1e-5);
        expect(Math.max(...Array.from(single, Math.abs))).to.be.greaterThan(0.1);
      });
    }
  }

  it('maps a zero matrix in the stack to zero without touching its neighbours', () => {
    const out = tf.tidy(() => {
      const g = tf.stack([tf.zeros([4, 6]), tf.tensor2d(seeded(24, 7), [4, 6])]) as tf.Tensor3D;
      return newtonSchulzBatched(g).arraySync() as number[][][];
    });
    expect(out[0].flat().every((v) => v === 0)).to.equal(true);
    expect(Math.max(...out[1].flat().map(Math.abs))).to.be.greaterThan(0.1);
  });

  it('orthogonalizeMany equals orthogonalize on each conv kernel and keeps shapes; checks its inputs', () => {
    tf.tidy(() => {
      const ks = [0, 1].map((i) => tf.tensor4d(seeded(2 * 2 * 3 * 5, 120 + i), [2, 2, 3, 5]));
      const many = orthogonalizeMany(ks);
      ks.forEach((k, i) => {
        expect(many[i].shape).to.deep.equal([2, 2, 3, 5]);
        expect(maxAbsDiff(many[i].dataSync(), orthogonalize(k).dataSync())).to.be.lessThan(1e-5);
      });
      expect(orthogonalizeMany([])).to.deep.equal([]);
      expect(() => orthogonalizeMany([tf.zeros([2, 3]), tf.zeros([3, 2])])).to.throw(/shapes differ/);
      expect(() => newtonSchulzBatched(tf.zeros([2, 3]) as never)).to.throw(/expected a stack of matrices/);
      expect(() => newtonSchulzBatched(tf.zeros([2, 3, 3]) as tf.Tensor3D, { coefficients: 'polar-express', steps: 6 })).to.throw(/polar-express coefficients exist for 5 steps/);
    });
  });
});
