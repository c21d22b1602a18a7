import { expect } from 'chai';
import mt19937 from '@stdlib/random-base-mt19937';
import { bootstrap, detectableEffect, holm, quantileSorted, seedsForPower, sequentialP, spentAlpha, tost, tTestP } from '../../../experiments/analysis/statistics.js';

/** Standard normal draws from a seeded MT19937 (Box-Muller). */
function normals(seed: number): () => number {
  const rand = mt19937.factory({ seed });
  const u = () => (rand() + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

describe('error control (docs/protocol.md)', () => {
  it("Holm's adjusted p-values match the hand computation", () => {
    // sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    const adj = holm([0.01, 0.04, 0.03, 0.005]);
    expect(adj.map((x) => Number(x.toFixed(10)))).to.deep.equal([0.03, 0.06, 0.06, 0.02]);
    expect(holm([0.5, NaN])).to.satisfy((a: number[]) => a[0] === 0.5 && Number.isNaN(a[1]));
    expect(holm([0.4, 0.6])).to.deep.equal([0.8, 0.8]);
  });

  it('the paired t-test p-value and TOST agree with scipy', () => {
    const x = [0.001, -0.002, 0.003, 0.0, 0.001];
    // scipy.stats.ttest_1samp(x, 0).pvalue
    expect(tTestP(x)).to.be.closeTo(0.5011693674201633, 1e-9);
    // max of the two one-sided t p-values with margin 0.004 (scipy.stats.t.cdf)
    const t = tost(x, 0.004);
    expect(t.p).to.be.closeTo(0.006930519648383139, 1e-9);
    expect(t.equivalent).to.equal(true);
    expect(t.lo!).to.be.greaterThan(-0.004);
    expect(t.hi!).to.be.lessThan(0.004);
    expect(tost(x, 0.001).equivalent).to.equal(false);
    expect(() => tost(x, 0)).to.throw(/margin/);
  });

  it('seeds for 80% power: MARS-M vs Muon (paired sd 0.0094, margin 0.005) needs 30 seeds', () => {
    // Hand/scipy: n=29 gives noncentral-t power 0.790, n=30 gives 0.804.
    expect(seedsForPower(0.0094, 0.005)).to.equal(30);
    expect(seedsForPower(1, 1)).to.equal(10);
    expect(detectableEffect(0.0094, 30)).to.be.at.most(0.005);
    expect(detectableEffect(0.0094, 29)).to.be.greaterThan(0.005);
    expect(() => seedsForPower(0, 0.005)).to.throw(/sd/);
  });

  it('alpha spending adds up to alpha and spends more on the first look', () => {
    const a = spentAlpha({ minSeeds: 3, maxSeeds: 10 });
    expect(a).to.have.length(8);
    expect(a.reduce((x, y) => x + y, 0)).to.be.closeTo(0.05, 1e-12);
    expect(a[0]).to.be.greaterThan(a[1]);
    expect(() => spentAlpha({ minSeeds: 1, maxSeeds: 10 })).to.throw(/minSeeds/);
  });

  for (const minSeeds of [3, 5]) {
    it(`--until-decided under the null from ${minSeeds} seeds: false decisions at most 5% within Monte-Carlo error (the naive re-test at 95% is not)`, () => {
      const reps = 4000;
      const maxSeeds = 10;
      const z = normals(20260 + minSeeds);
      let sequential = 0;
      let naive = 0;
      for (let r = 0; r < reps; r++) {
        const d = Array.from({ length: maxSeeds }, z);
        // Deciding at the first look with p < 0.05 is the same event as the sequential p over all looks < 0.05.
        if (sequentialP(d, { minSeeds, maxSeeds }) < 0.05) sequential += 1;
        let any = false;
        for (let n = minSeeds; n <= maxSeeds && !any; n++) any = tTestP(d.slice(0, n)) < 0.05;
        if (any) naive += 1;
      }
      const rate = sequential / reps;
      const mcError = Math.sqrt((0.05 * 0.95) / reps);
      expect(rate, `sequential false-decision rate ${rate} (MC error ${mcError.toFixed(4)})`).to.be.at.most(0.05 + 2 * mcError);
      // The old rule (adding a seed and re-testing at 95% each time) decides falsely far more often than 5%.
      expect(naive / reps).to.be.greaterThan(0.1);
    });
  }

  it('censored bootstrap resamples are kept as infinite, so the interval contains an infinite point estimate', () => {
    // A "speed-up" that is infinite whenever a resample holds the censored value 0.
    const g = [0, 1.2, 1.3, 1.1, 1.25];
    const stat = ([a]: number[][]) => (a.includes(0) ? Infinity : a.reduce((x, y) => x + y, 0) / a.length);
    const kept = bootstrap([g], stat, { keepInfinite: true });
    expect(kept.estimate).to.equal(Infinity);
    expect(kept.censored).to.be.greaterThan(0);
    expect(kept.hi).to.equal(Infinity);
    expect(kept.lo!).to.be.lessThan(Infinity);
    // The old behaviour: censored resamples dropped, an interval below its own (infinite) point estimate.
    const dropped = bootstrap([g], stat);
    expect(dropped.hi!).to.be.lessThan(dropped.estimate);
    expect(quantileSorted([1, Infinity, Infinity], 0.5)).to.equal(Infinity);
  });
});
