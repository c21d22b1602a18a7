import { expect } from 'chai';
import mt19937 from '@stdlib/random-base-mt19937';
import { fitPowerLaw, median, powerLawAt, quantileOf, slope } from '../../bench/power_law.js';
// Ten sizes n = 256..2048 in steps of 2^(1/3) (the scipy case below was computed on them).
const N = [256, 320, 408, 512, 648, 816, 1024, 1288, 1624, 2048].map((n) => n * n);

/** Standard normal draws (Box-Muller over mt19937). */
function normals(seed: number): () => number {
  const r = mt19937.factory({ seed });
  const u = () => (r() + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

describe('bench/power_law.ts: time = a + c N^b', () => {
  it('recovers a, c and b exactly from noiseless data (overhead, n^2 and n^3 laws)', () => {
    for (const [a, c, b] of [[0.4, 3e-7, 1.25], [0, 2e-6, 1], [2, 1e-9, 1.5]]) {
      const f = fitPowerLaw(N.map((x) => ({ x, y: a + c * x ** b })));
      expect(f.b).to.be.closeTo(b, 1e-6);
      expect(f.a).to.be.closeTo(a, 1e-6 * (1 + a));
      expect(f.c / c).to.be.closeTo(1, 1e-4);
      expect(f.atBound).to.equal(false);
      expect(powerLawAt(f, N[3])).to.be.closeTo(a + c * N[3] ** b, 1e-6);
    }
  });

  it('matches scipy.optimize.curve_fit with sigma = y (weights 1/y^2) on a noisy case', () => {
    // x = n^2 over the sizes of N, y = (0.4 + 3e-7 x^1.25) * [1.03, 0.98, 1.01, 0.97, 1.02, 1.0, 0.99, 1.04, 0.96, 1.01];
    // scipy 1.17.1 curve_fit(a + c x^b, p0 [0.3, 1e-7, 1.2], sigma=y): a 0.41318545124029904,
    // c 2.800382800395724e-07, b 1.254600377079172.
    const noise = [1.03, 0.98, 1.01, 0.97, 1.02, 1.0, 0.99, 1.04, 0.96, 1.01];
    const y = N.map((x, i) => (0.4 + 3e-7 * x ** 1.25) * noise[i]);
    const f = fitPowerLaw(N.map((x, i) => ({ x, y: y[i], w: 1 / y[i] ** 2 })));
    expect(f.b).to.be.closeTo(1.254600377079172, 1e-6);
    expect(f.a).to.be.closeTo(0.41318545124029904, 1e-5);
    expect(f.c / 2.800382800395724e-7).to.be.closeTo(1, 1e-4);
  });

  it('recovers b within the noise from repeated noisy samples, and a bootstrap interval over repetitions covers it', () => {
    const z = normals(7);
    const [a, c, b] = [0.3, 5e-7, 1.3];
    const reps = 10;
    // rows[r][k]: repetition r at size k, 5% multiplicative noise.
    const rows = Array.from({ length: reps }, () => N.map((x) => (a + c * x ** b) * Math.exp(0.05 * z())));
    const fitOf = (pick: number[]) => {
      const med = N.map((_, k) => median(pick.map((r) => rows[r][k])));
      return fitPowerLaw(pick.flatMap((r) => N.map((x, k) => ({ x, y: rows[r][k], w: 1 / med[k] ** 2 }))));
    };
    const all = fitOf([...Array(reps).keys()]);
    expect(all.b).to.be.closeTo(b, 0.05);
    const rnd = mt19937.factory({ seed: 3 });
    const bs = Array.from({ length: 300 }, () => fitOf(Array.from({ length: reps }, () => Math.floor((rnd() * reps) / 4294967296))).b);
    const [lo, hi] = [quantileOf(bs, 0.025), quantileOf(bs, 0.975)];
    expect(lo).to.be.below(b);
    expect(hi).to.be.above(b);
    expect(hi - lo).to.be.within(0.005, 0.2);
  });

  it('keeps a and c non-negative and flags an exponent on the search bound', () => {
    // Falling times: no non-negative cost law fits; the best is a constant (c = 0) or b on a bound.
    const f = fitPowerLaw(N.map((x, i) => ({ x, y: 10 - i })));
    expect(f.a).to.be.at.least(0);
    expect(f.c).to.be.at.least(0);
    // Cubic in N: beyond bMax 2.5.
    const g = fitPowerLaw(N.map((x) => ({ x, y: 1e-15 * x ** 3 })));
    expect(g.atBound).to.equal(true);
    expect(g.b).to.be.closeTo(2.5, 1e-9);
  });

  it('rejects too few points, one size only, and non-positive values', () => {
    expect(() => fitPowerLaw([{ x: 1, y: 1 }, { x: 2, y: 2 }])).to.throw(/at least 3 points/);
    expect(() => fitPowerLaw([{ x: 4, y: 1 }, { x: 4, y: 2 }, { x: 4, y: 3 }])).to.throw(/2 distinct sizes/);
    expect(() => fitPowerLaw([{ x: 1, y: 1 }, { x: 2, y: 0 }, { x: 3, y: 3 }])).to.throw(/positive and finite/);
    expect(() => fitPowerLaw([{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: 3 }], { bMin: 2, bMax: 1 })).to.throw(/bMin < bMax/);
  });

  it('slope, quantileOf and median agree with numpy (polyfit, percentile, median)', () => {
    // numpy: polyfit([1,2,3,4],[2,4.5,6,8.5],1)[0] = 2.1; percentile([3,1,2,10], 25) = 1.75; median = 2.5.
    expect(slope([1, 2, 3, 4], [2, 4.5, 6, 8.5])).to.be.closeTo(2.1, 1e-12);
    expect(quantileOf([3, 1, 2, 10], 0.25)).to.be.closeTo(1.75, 1e-12);
    expect(median([3, 1, 2, 10])).to.equal(2.5);
    expect(Number.isNaN(slope([1, 1], [2, 3]))).to.equal(true);
  });
});
