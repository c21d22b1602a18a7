import { expect } from 'chai';
import { lapackAvailable, lapackEigh, lapackInverseRoot } from '../../kernels/eigh.js';
import { eighTridiagonalQL, inverseRootFromEigh } from '../../optimizers/eigh.js';
import { seeded } from '../shared/problems.js';

/** A symmetric n x n matrix G diag(scale^k) G^T (row-major float64): SPD with a chosen spread of eigenvalues. */
function spd(n: number, seed: number, scale = 1, rank = n): Float64Array {
  const g = seeded(n * rank, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < rank; k++) s += g[i * rank + k] * g[j * rank + k] * Math.pow(scale, k);
    a[i * n + j] = s;
  }
  return a;
}

/** max |A v_k - lambda_k v_k| and max |V V^T - I| for eigenvectors in rows. */
function check(a: ArrayLike<number>, n: number, values: ArrayLike<number>, vectors: ArrayLike<number>): { residual: number; orthogonality: number } {
  let residual = 0;
  let orthogonality = 0;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j] * vectors[k * n + j];
      residual = Math.max(residual, Math.abs(s - values[k] * vectors[k * n + i]));
    }
    for (let l = 0; l < n; l++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += vectors[k * n + j] * vectors[l * n + j];
      orthogonality = Math.max(orthogonality, Math.abs(s - (k === l ? 1 : 0)));
    }
  }
  return { residual, orthogonality };
}

describe('eigh: JavaScript Householder + QL (float64)', () => {
  it('diagonalizes a 2x2 matrix as the closed form says', () => {
    // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/sqrt2 and (1, 1)/sqrt2.
    const { values, vectors } = eighTridiagonalQL([2, 1, 1, 2], 2);
    expect(Array.from(values)).to.have.lengthOf(2);
    expect(values[0]).to.be.closeTo(1, 1e-15);
    expect(values[1]).to.be.closeTo(3, 1e-15);
    expect(Math.abs(vectors[0] + vectors[1])).to.be.lessThan(1e-15);
    expect(Math.abs(vectors[2] - vectors[3])).to.be.lessThan(1e-15);
    expect(Math.abs(vectors[2])).to.be.closeTo(Math.SQRT1_2, 1e-15);
  });

  it('handles n = 0, n = 1, a diagonal and a zero matrix', () => {
    expect(eighTridiagonalQL([], 0).values.length).to.equal(0);
    const one = eighTridiagonalQL([4], 1);
    expect([one.values[0], Math.abs(one.vectors[0])]).to.deep.equal([4, 1]);
    const diag = eighTridiagonalQL([3, 0, 0, 0, 1, 0, 0, 0, 2], 3);
    expect(Array.from(diag.values)).to.deep.equal([1, 2, 3]);
    const zero = eighTridiagonalQL(new Float64Array(16), 4);
    expect(Array.from(zero.values)).to.deep.equal([0, 0, 0, 0]);
    expect(check(new Float64Array(16), 4, zero.values, zero.vectors).orthogonality).to.equal(0);
  });

  it('has eigen-residual and orthogonality at float64 rounding on SPD, indefinite and rank-deficient matrices up to 96', () => {
    const cases: [string, number, Float64Array][] = [
      ['spd 40', 40, spd(40, 1)],
      ['graded 64 (eigenvalues over 16 decades)', 64, spd(64, 2, 0.55)],
      ['rank 5 of 96', 96, spd(96, 3, 1, 5)],
      ['indefinite 33', 33, Float64Array.from(spd(33, 4), (x, i) => x - (i % 34 === 0 ? 20 : 0))],
    ];
    for (const [label, n, a] of cases) {
      const { values, vectors } = eighTridiagonalQL(a, n);
      let scale = 0;
      for (const x of a) scale = Math.max(scale, Math.abs(x));
      const { residual, orthogonality } = check(a, n, values, vectors);
      expect(residual, label).to.be.lessThan(1e-13 * n * scale);
      expect(orthogonality, label).to.be.lessThan(1e-13 * n);
      for (let k = 1; k < n; k++) expect(values[k], label).to.be.at.least(values[k - 1]);
    }
  });

  it('reads only the lower triangle, as torch.linalg.eigh (UPLO L)', () => {
    const a = spd(6, 5);
    const upperGarbage = Float64Array.from(a);
    for (let i = 0; i < 6; i++) for (let j = i + 1; j < 6; j++) upperGarbage[i * 6 + j] = 1e6;
    expect(Array.from(eighTridiagonalQL(upperGarbage, 6).values)).to.deep.equal(Array.from(eighTridiagonalQL(a, 6).values));
  });

  it('rejects non-finite input naming the entry', () => {
    expect(() => eighTridiagonalQL([1, NaN, NaN, 1], 2)).to.throw(/entry \(1, 0\) is NaN/);
  });
});

describe('eigh: inverse roots with Meta\'s shift', () => {
  it('gives A^{-1/4} of an SPD matrix ((A^{-1/4})^4 A = I)', () => {
    const n = 20;
    const a = spd(n, 6);
    for (let i = 0; i < n; i++) a[i * n + i] += 0.5;
    const r = inverseRootFromEigh(a, n, 0.25, 0, { solver: 'js' });
    expect(r.failure).to.equal(null);
    const x = Float64Array.from(r.root!);
    const mul = (p: Float64Array, q: ArrayLike<number>) => {
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += p[i * n + k] * q[k * n + j];
      return c;
    };
    const m = mul(mul(mul(mul(x, x), x), x), a);
    let err = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(m[i * n + j] - (i === j ? 1 : 0)));
    expect(err).to.be.lessThan(1e-5); // float32 root
  });

  it('shifts eigenvalues by -min + eps when min < eps (a singular matrix gets a finite root)', () => {
    // diag(0, 1, 4): min 0 < eps 1e-2, so lambda' = (0.01, 1.01, 4.01) and the root is diag(lambda'^{-1/2}).
    const r = inverseRootFromEigh([0, 0, 0, 0, 1, 0, 0, 0, 4], 3, 0.5, 1e-2, { solver: 'js' });
    expect(Array.from(r.values)).to.deep.equal([0.01, 1.01, 4.01]);
    const d = [0, 4, 8].map((i) => r.root![i]);
    [0.01, 1.01, 4.01].forEach((l, k) => expect(d[k]).to.be.closeTo(Math.fround(1 / Math.sqrt(l)), 1e-6));
    // No shift when min >= eps: diag(1, 4) with eps 1e-2 is damped to (1.01, 4.01) only.
    const s = inverseRootFromEigh([1, 0, 0, 4], 2, 1, 1e-2, { solver: 'js' });
    expect(s.root![0]).to.be.closeTo(1 / 1.01, 1e-7);
    expect(s.root![3]).to.be.closeTo(1 / 4.01, 1e-7);
  });

  it('reports a failure for a non-finite matrix instead of throwing', () => {
    const r = inverseRootFromEigh([1, Infinity, Infinity, 1], 2, 0.25, 1e-12, { solver: 'js' });
    expect(r.root).to.equal(null);
    expect(r.failure).to.match(/Infinity/);
  });
});

(lapackAvailable() ? describe : describe.skip)('eigh: LAPACK ssyevd/dsyevd through the addon', () => {
  it('agrees with the JavaScript solver (float64: eigenvalues to 1e-12 relative, same roots)', () => {
    for (const [n, scale] of [[7, 1], [50, 0.7], [130, 1]] as const) {
      const a = spd(n, 10 + n, scale);
      const js = eighTridiagonalQL(a, n);
      const la = lapackEigh(a, n);
      if (!('values' in la)) throw new Error(`dsyevd failed with code ${la.code}`);
      const top = js.values[n - 1];
      for (let k = 0; k < n; k++) expect(Math.abs(la.values[k] - js.values[k]), `n=${n} k=${k}`).to.be.lessThan(1e-12 * top);
      const { residual, orthogonality } = check(a, n, la.values, la.vectors);
      expect(residual).to.be.lessThan(1e-12 * top * n);
      expect(orthogonality).to.be.lessThan(1e-12 * n);
      const rj = inverseRootFromEigh(a, n, 0.25, 1e-6, { solver: 'js' });
      const rl = inverseRootFromEigh(a, n, 0.25, 1e-6, { solver: 'lapack', precision: 'float64' });
      let diff = 0;
      let size = 0;
      for (let i = 0; i < n * n; i++) {
        diff = Math.max(diff, Math.abs(rj.root![i] - rl.root![i]));
        size = Math.max(size, Math.abs(rj.root![i]));
      }
      expect(diff, `n=${n}`).to.be.lessThan(1e-6 * size);
    }
  });

  it('float32 ssyevd: eigenvalues within float32 rounding of the float64 ones', () => {
    const n = 64;
    const a = spd(n, 21);
    const d = lapackEigh(a, n);
    const s = lapackEigh(Float32Array.from(a), n);
    if (!('values' in d) || !('values' in s)) throw new Error('syevd failed');
    expect(s.values).to.be.instanceOf(Float32Array);
    for (let k = 0; k < n; k++) expect(Math.abs(s.values[k] - d.values[k])).to.be.lessThan(1e-5 * d.values[n - 1]);
  });

  it('returns codes, not exceptions, for non-finite input; throws on bad sizes', () => {
    const bad = lapackInverseRoot([1, NaN, NaN, 1], 2, 0.5, 0, 'float32');
    expect(bad).to.deep.equal({ code: -1002 });
    expect(inverseRootFromEigh([1, NaN, NaN, 1], 2, 0.5, 0, { solver: 'lapack' }).failure).to.match(/non-finite/);
    expect(() => lapackEigh(new Float64Array(5), 2)).to.throw(/expected 2x2 = 4 values/);
  });
});
