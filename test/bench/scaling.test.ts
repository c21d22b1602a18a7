import { expect } from 'chai';
import type { Measurement } from '../../bench/harness.js';
import { formatMarkdown } from '../../bench/report.js';
import { auonScaling, growthExponent, SCALING_KIND, scalingFits } from '../../bench/scaling.js';
import type { BenchContext } from '../../bench/suites.js';
import { describeBackends } from '../shared/backends.js';

const SIZES = [128, 256, 512, 1024, 2048];

describe('bench auon-scaling: growth exponent (bench/scaling.ts)', () => {
  it('recovers an exact power law: time = 3 params^1.5 gives exponent 1.5 with a zero-width interval', () => {
    const f = growthExponent(SIZES.map((n) => ({ params: n * n, ms: 3 * (n * n) ** 1.5 })));
    expect(f.exponent).to.be.closeTo(1.5, 1e-12);
    expect(f.hi - f.lo).to.be.closeTo(0, 1e-9);
    expect(f.localExponent).to.be.closeTo(1.5, 1e-12);
  });

  it('matches scipy.stats.linregress and t.ppf(0.975, 3) on a noisy case', () => {
    // x = log(n^2), y = log([1.0, 1.9, 4.3, 8.1, 17.5]); scipy 1.x: slope 0.5175244261665485,
    // stderr 0.011108981284606, t.ppf(0.975, 3) = 3.1824463052837078 -> [0.48217068972188826, 0.5528781626112087];
    // local slope (log 17.5 - log 8.1) / (log 2048^2 - log 1024^2) = 0.555680554473852.
    const ms = [1.0, 1.9, 4.3, 8.1, 17.5];
    const f = growthExponent(SIZES.map((n, i) => ({ params: n * n, ms: ms[i] })));
    expect(f.exponent).to.be.closeTo(0.5175244261665485, 1e-12);
    expect(f.se).to.be.closeTo(0.011108981284606, 1e-12);
    expect(f.lo).to.be.closeTo(0.48217068972188826, 1e-9);
    expect(f.hi).to.be.closeTo(0.5528781626112087, 1e-9);
    expect(f.localExponent).to.be.closeTo(0.555680554473852, 1e-12);
  });

  it('rejects too few or non-positive points', () => {
    expect(() => growthExponent([{ params: 4, ms: 1 }])).to.throw(/at least 2 sizes/);
    expect(() => growthExponent([{ params: 4, ms: 1 }, { params: 16, ms: 0 }])).to.throw(/positive/);
  });
});

describeBackends('bench auon-scaling suite', (backend) => {
  it('times adamw, auon, hybrid-auon and muon per size and fits one exponent each; the markdown shows them', async () => {
    const ms: Measurement[] = [];
    const ctx = { backend, optimizers: ['auon', 'hybrid-auon', 'muon'], reps: { warmup: 1, minReps: 2, maxReps: 2 }, emit: (m: Measurement) => ms.push(m), progress: () => {} } as unknown as BenchContext;
    await auonScaling(ctx, [8, 16, 32]);
    expect(ms.filter((m) => m.kind === SCALING_KIND).map((m) => `${m.name} ${m.shape}`).sort()).to.deep.equal(
      ['adamw', 'auon', 'hybrid-auon', 'muon'].flatMap((o) => ['16x16', '32x32', '8x8'].map((s) => `${o} ${s}`)).sort(),
    );
    const fits = scalingFits(ms);
    expect(fits.map((f) => f.optimizer).sort()).to.deep.equal(['adamw', 'auon', 'hybrid-auon', 'muon']);
    for (const f of fits) expect(f.fit.points).to.equal(3);
    const md = formatMarkdown(ms, { date: new Date().toISOString(), commit: 'x', command: 'optlab bench', machine: { cpu: 'c', nproc: 2, memGiB: 1, node: 'v', tfjs: '4' }, backends: [], wallS: 1 });
    expect(md).to.match(/## Step time against matrix size/);
    expect(md).to.match(/\| muon \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [-0-9.]+ \([-0-9.]+–[-0-9.]+\) \|/);
  });
});
