import { expect } from 'chai';
import { bootstrap, difference, mean, meanCurve, quantileSorted, rankingFlips, sampleSd, speedup, stepsToReach, tInterval, tQuantile, verdictOf } from '../../../experiments/analysis/statistics.js';

const close = (a: number | null, b: number, tol = 1e-9) => {
  expect(a).to.be.a('number');
  expect(Math.abs((a as number) - b), `${a} vs ${b}`).to.be.lessThan(tol);
};

describe('statistics', () => {
  it('mean, sd and t-interval of a hand-worked example', () => {
    // xs = 1, 2, 3: mean 2; deviations -1, 0, 1, sum of squares 2, variance 2/2 = 1, sd 1;
    // se = 1/sqrt(3) = 0.5773503; t_{0.975, 2} = 4.302653 (t tables); half width 4.302653 * 0.5773503 = 2.484138.
    const s = tInterval([1, 2, 3]);
    close(s.estimate, 2);
    close(s.sd, 1);
    close(tQuantile(0.975, 2), 4.302652729749462, 1e-9);
    close(s.lo, 2 - 2.484138, 1e-6);
    close(s.hi, 2 + 2.484138, 1e-6);
    expect(s.n).to.equal(3);
    // One value: a mean, no interval.
    const one = tInterval([5]);
    expect(one.estimate).to.equal(5);
    expect(one.lo).to.equal(null);
    expect(Number.isNaN(sampleSd([5]))).to.equal(true);
    expect(Number.isNaN(mean([]))).to.equal(true);
  });

  it('paired difference by seed and its verdict', () => {
    // Differences per seed: -0.2, -0.15, -0.25 -> mean -0.2, sd 0.05, half 4.302653 * 0.05 / sqrt(3) = 0.1242068.
    const a = new Map([[0, 2.0], [1, 2.1], [2, 1.9]]);
    const b = new Map([[0, 2.2], [1, 2.25], [2, 2.15], [3, 9]]);
    const d = difference(a, b, true);
    expect(d.method).to.equal('paired-t');
    expect(d.seeds).to.deep.equal([0, 1, 2]);
    close(d.estimate, -0.2, 1e-12);
    close(d.lo, -0.2 - 0.1242068, 1e-6);
    close(d.hi, -0.2 + 0.1242068, 1e-6);
    expect(verdictOf(d)).to.equal('better');
    expect(verdictOf({ lo: 0.01, hi: 0.2 })).to.equal('worse');
    expect(verdictOf({ lo: -0.01, hi: 0.2 })).to.equal('undecided');
    expect(verdictOf({ lo: null, hi: null })).to.equal('undecided');
  });

  it("Welch's interval matches scipy", () => {
    // python3: from scipy import stats; r = stats.ttest_ind(a, b, equal_var=False); r.confidence_interval(0.95), r.df
    //   -> (-0.22589884084385536, 0.014232174177188459), df 3.818009863517754; mean difference -0.10583333333333345
    const a = new Map([2.31, 2.35, 2.29, 2.4].map((v, i) => [i, v]));
    const b = new Map([2.45, 2.38, 2.5].map((v, i) => [i + 10, v]));
    const d = difference(a, b, true); // no shared seeds: falls back to Welch
    expect(d.method).to.equal('welch-t');
    close(d.estimate, -0.10583333333333345, 1e-12);
    close(d.lo, -0.22589884084385536, 1e-9);
    close(d.hi, 0.014232174177188459, 1e-9);
    expect(verdictOf(d)).to.equal('undecided');
  });

  it('seeded bootstrap matches numpy with the same MT19937 stream', () => {
    // python3 (numpy 2.4):
    //   x = np.array([1.9, 2.1, 2.0, 2.4, 1.8]); R = 1000
    //   raw = np.random.RandomState(7)._bit_generator.random_raw(R * 5)      # MT19937 32-bit outputs
    //   idx = (raw * 5) >> 32; means = x[idx.reshape(R, 5)].mean(1)
    //   np.quantile(means, [0.025, 0.975]) -> 1.8800000000000001, 2.2399999999999998
    const x = [1.9, 2.1, 2.0, 2.4, 1.8];
    const b = bootstrap([x], ([g]) => mean(g), { resamples: 1000, seed: 7 });
    close(b.estimate, 2.04, 1e-12);
    close(b.lo, 1.88, 1e-9);
    close(b.hi, 2.24, 1e-9);
    // Paired: one index draw per seed for both groups.
    //   a = [2.0, 2.1, 1.9, 2.05]; b = [2.2, 2.25, 2.15, 2.1]; R = 500; RandomState(3); idx = (raw * 4) >> 32
    //   d = a[idx].mean(1) - b[idx].mean(1); np.quantile(d, [0.025, 0.975]) -> -0.2250000000000001, -0.08750000000000036
    const p = bootstrap([[2.0, 2.1, 1.9, 2.05], [2.2, 2.25, 2.15, 2.1]], ([ga, gb]) => mean(ga) - mean(gb), { resamples: 500, seed: 3, paired: true });
    close(p.estimate, -0.1625, 1e-12);
    close(p.lo, -0.225, 1e-9);
    close(p.hi, -0.0875, 1e-9);
    // Same seed, same interval.
    expect(bootstrap([x], ([g]) => mean(g), { resamples: 1000, seed: 7 })).to.deep.equal(b);
  });

  it('type-7 quantiles', () => {
    // numpy.quantile([1, 2, 3, 4], 0.25) = 1 + 0.75 * (2 - 1) = 1.75
    expect(quantileSorted([1, 2, 3, 4], 0.25)).to.equal(1.75);
    expect(quantileSorted([1, 2, 3, 4], 1)).to.equal(4);
  });

  it('steps to reach a loss interpolate between evaluations; speed-up reads the baseline curve', () => {
    const curve = [{ step: 0, loss: 4 }, { step: 100, loss: 3 }, { step: 200, loss: 2 }];
    // 2.5 lies halfway between 3 (step 100) and 2 (step 200): step 150.
    expect(stepsToReach(curve, 2.5)).to.equal(150);
    expect(stepsToReach(curve, 5)).to.equal(0);
    expect(stepsToReach(curve, 1)).to.equal(null);
    expect(stepsToReach([{ step: 0, loss: 4 }, { step: 10, loss: NaN }, { step: 20, loss: 1 }], 2)).to.equal(null);
    // Baseline curves 0:4 100:3 200:2 and 0:4 100:3.2 200:2.2 -> mean 0:4 100:3.1 200:2.1.
    // The optimizer ends at mean 2.6 after 200 steps: the baseline mean crosses 2.6 at 100 + (3.1-2.6)/(3.1-2.1)*100 = 150, speed-up 150/200 = 0.75.
    const base = [curve, [{ step: 0, loss: 4 }, { step: 100, loss: 3.2 }, { step: 200, loss: 2.2 }]];
    expect(meanCurve(base).map((p) => p.loss)).to.deep.equal([4, 3.1, 2.1]);
    close(speedup(base, [2.5, 2.7], 200), 0.75, 1e-12);
    expect(speedup(base, [1.5], 200)).to.equal(null);
  });

  it('steps to reach and speed-up on an accuracy curve (goal max): the first step at or above, interpolated', () => {
    const acc = [{ step: 0, loss: 0.1 }, { step: 100, loss: 0.6 }, { step: 200, loss: 0.8 }];
    // 0.7 lies halfway between 0.6 (step 100) and 0.8 (step 200): step 150; read as a loss (<=) it is reached at step 0.
    close(stepsToReach(acc, 0.7, 'max'), 150, 1e-9);
    expect(stepsToReach(acc, 0.7)).to.equal(0);
    expect(stepsToReach(acc, 0.05, 'max')).to.equal(0);
    expect(stepsToReach(acc, 0.8, 'max')).to.equal(200);
    expect(stepsToReach(acc, 0.9, 'max')).to.equal(null);
    expect(stepsToReach([{ step: 0, loss: 0.1 }, { step: 10, loss: NaN }, { step: 20, loss: 0.9 }], 0.5, 'max')).to.equal(null);
    // Baseline accuracy curves 0:0.1 100:0.6 200:0.8 and 0:0.1 100:0.5 200:0.7 -> mean 0.1, 0.55, 0.75.
    // The optimizer ends at mean 0.65 after 200 steps: the baseline mean reaches 0.65 at 100 + (0.65-0.55)/(0.75-0.55)*100 = 150, speed-up 0.75.
    const base = [acc, [{ step: 0, loss: 0.1 }, { step: 100, loss: 0.5 }, { step: 200, loss: 0.7 }]];
    close(speedup(base, [0.6, 0.7], 200, 'max'), 0.75, 1e-12);
    // More accurate than the baseline ever gets: censored (null, an infinite speed-up in the bootstrap).
    expect(speedup(base, [0.9], 200, 'max')).to.equal(null);
    // Read as a loss, the same final value is "reached" at step 0.
    expect(speedup(base, [0.9], 200)).to.equal(0);
  });

  it('ranking flips: earlier evaluations whose order differs from the last', () => {
    const curves = new Map([
      ['a', [{ step: 0, loss: 4 }, { step: 10, loss: 2.0 }, { step: 20, loss: 1.5 }, { step: 30, loss: 1.2 }]],
      ['b', [{ step: 0, loss: 4 }, { step: 10, loss: 2.5 }, { step: 20, loss: 1.4 }, { step: 30, loss: 1.1 }]],
    ]);
    const r = rankingFlips(curves);
    expect(r.final).to.deep.equal(['b', 'a']);
    expect(r.flips).to.deep.equal([{ step: 10, ranking: ['a', 'b'] }]);
  });
});
