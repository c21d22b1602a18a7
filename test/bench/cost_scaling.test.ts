import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import mt19937 from '@stdlib/random-base-mt19937';
import type { Measurement } from '../../bench/harness.js';
import { analyzeCost, auonCost, checkLoad, COST_KIND, COST_SIZES, costLoad, costMarkdown, costRatioSvg, costSamples, LOAD_KIND, LOAD_MAX, loadProblem, type CostSample } from '../../bench/cost_scaling.js';
import type { BenchContext } from '../../bench/suites.js';
import { planFor } from '../../bench/run.js';
import { nativeStatus } from '../../kernels/wasm_kernels.js';
import { describeBackends } from '../shared/backends.js';

/** Synthetic samples: ms = (a + c N^b) * round drift * noise, per optimizer law. */
export function syntheticSamples(laws: Record<string, [number, number, number]>, rounds: number, noise = 0.03, seed = 5, sizes: readonly number[] = COST_SIZES): CostSample[] {
  const r = mt19937.factory({ seed });
  const u = () => (r() + 0.5) / 4294967296;
  const z = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const out: CostSample[] = [];
  for (let round = 0; round < rounds; round++) {
    const drift = Math.exp(0.02 * z()); // load drift: the same for every arm in a round
    for (const n of sizes) for (const [o, [a, c, b]] of Object.entries(laws)) out.push({ optimizer: o, n, round, ms: (a + c * (n * n) ** b) * drift * Math.exp(noise * z()) });
  }
  return out;
}

export const LAWS: Record<string, [number, number, number]> = { adamw: [0.05, 2e-6, 1.0], auon: [0.1, 4e-6, 1.0], 'hybrid-auon': [0.3, 1e-9, 1.5], muon: [0.3, 1e-9, 1.5] };

describe('bench/cost_scaling.ts: analysis', () => {
  it('fits every optimizer, covers the true exponents, and gives AuON/AdamW ratios near the truth', () => {
    const a = analyzeCost(syntheticSamples(LAWS, 10), { resamples: 300 });
    expect(a.sizes).to.deep.equal([...COST_SIZES]);
    expect(a.rounds).to.equal(10);
    for (const [o, [, , b]] of Object.entries(LAWS)) {
      expect(a.fits[o].b.lo, o).to.be.below(b + 0.02);
      expect(a.fits[o].b.hi, o).to.be.above(b - 0.02);
      expect(a.fits[o].b.value, o).to.be.closeTo(b, 0.05);
    }
    expect(a.differences['muon-auon'].lo).to.be.above(0.3);
    expect(a.differences['auon-adamw'].lo).to.be.above(-0.1);
    expect(a.differences['auon-adamw'].hi).to.be.below(0.1);
    // The ratio of the laws at the largest n: (0.1 + 4e-6 N) / (0.05 + 2e-6 N) = 2.
    const last = a.ratio[a.ratio.length - 1];
    expect(last.n).to.equal(COST_SIZES[COST_SIZES.length - 1]);
    expect(last.value).to.be.closeTo(2, 0.1);
    expect(last.lo).to.be.below(last.value);
    expect(last.hi).to.be.above(last.value);
    expect(a.ratioSlope.hi).to.be.below(0.05);
  });

  it('the ratio is the ratio of the medians over rounds; a growing ratio has a positive slope', () => {
    const s: CostSample[] = [];
    for (let round = 0; round < 3; round++) for (const n of [100, 200, 400]) {
      s.push({ optimizer: 'adamw', n, round, ms: n * (1 + round) });
      s.push({ optimizer: 'auon', n, round, ms: n * n * (1 + round) * 0.01 });
      s.push({ optimizer: 'muon', n, round, ms: n ** 3 * 1e-4 * (1 + round) });
    }
    const a = analyzeCost(s, { resamples: 50 });
    expect(a.ratio.map((r) => r.value)).to.deep.equal([1, 2, 4].map((k) => k * 0.01 * 100));
    // log ratio against log N = 2 log n: slope 1/2.
    expect(a.ratioSlope.value).to.be.closeTo(0.5, 1e-12);
  });

  it('throws naming a missing sample, too few sizes, or a missing optimizer', () => {
    const s = syntheticSamples(LAWS, 2, 0.01, 1, [256, 512, 1024]);
    expect(() => analyzeCost(s.slice(1), { resamples: 10 })).to.throw(/adamw has no sample at 256x256 in round 0/);
    expect(() => analyzeCost(s.filter((x) => x.n !== 1024), { resamples: 10 })).to.throw(/3 or more sizes/);
    expect(() => analyzeCost(s.filter((x) => x.optimizer !== 'muon'), { resamples: 10 })).to.throw(/no samples of muon/);
  });
});

describe('bench/cost_scaling.ts: load guard', () => {
  it('suite auon-cost runs only when named (a plain `optlab bench` never waits on it or refuses under load)', () => {
    expect(planFor('wasm-native', { only: [], quick: false }).suites).not.to.include('auon-cost');
    expect(planFor('wasm-native', { only: ['muon'], quick: false }).suites).not.to.include('auon-cost');
    expect(planFor('wasm-native', { only: ['auon-cost,adamw,auon'], quick: false }).suites).to.deep.equal(['auon-cost']);
    expect(planFor('cpu', { only: ['auon-cost'], quick: false }).suites).to.deep.equal(['auon-cost']);
  });

  it('refuses a load average above 0.5 unless forced', () => {
    expect(() => checkLoad(0.4, false)).not.to.throw();
    expect(() => checkLoad(LOAD_MAX + 0.01, false)).to.throw(/load average is 0\.51, above 0\.5.*--force-load/);
    expect(() => checkLoad(7, true)).not.to.throw();
  });

  it('names the load before the run and after a round when they exceed the limits', () => {
    expect(loadProblem({ before: 0.2, after: 1.1, rounds: [1.0, 1.3], threshold: 1.5, forced: false })).to.equal('');
    expect(loadProblem({ before: 0.8, after: 1.1, rounds: [1.0], threshold: 1.5, forced: false })).to.match(/0\.80 before the run/);
    expect(loadProblem({ before: 0.2, after: 3, rounds: [1.0, 2.6], threshold: 1.5, forced: false })).to.match(/up to 2\.60 after a round \(limit 1\.5/);
  });
});

describeBackends('bench auon-cost suite (smoke: 2 sizes, 1 round)', (backend) => {
  const ctxOf = (ms: Measurement[]) => ({ backend, optimizers: ['auon', 'hybrid-auon', 'muon'], emit: (m: Measurement) => ms.push(m), progress: () => {} }) as unknown as BenchContext;

  it('records one sample per size, optimizer and round, and the load before, after each round and at the end; frees its tensors', async () => {
    const ms: Measurement[] = [];
    const before = tf.memory().numTensors;
    const threads = nativeStatus().threads;
    await auonCost(ctxOf(ms), { sizes: [8, 16], rounds: 1, load: () => 0.1, sampleMs: 1 });
    expect(tf.memory().numTensors).to.equal(before);
    // The suite's one BLAS thread is undone afterwards.
    expect(nativeStatus().threads).to.equal(threads);
    const samples = costSamples(ms);
    expect(samples.map((s) => `${s.optimizer} ${s.n} ${s.round}`).sort()).to.deep.equal(['adamw', 'auon', 'hybrid-auon', 'muon'].flatMap((o) => [`${o} 16 0`, `${o} 8 0`]).sort());
    for (const s of samples) expect(s.ms).to.be.above(0);
    for (const m of ms.filter((x) => x.kind === COST_KIND)) expect(m.reps).to.be.within(1, 64);
    const load = costLoad(ms)!;
    expect(load).to.deep.equal({ before: 0.1, after: 0.1, rounds: [0.1], threshold: 1.5, forced: false });
    expect(ms.filter((m) => m.kind === LOAD_KIND).map((m) => m.shape)).to.deep.equal(['before', 'threshold', 'round 0', 'after']);
  });

  it('refuses to start on a loaded machine, measures when forced and records that', async () => {
    const ms: Measurement[] = [];
    let err: Error | undefined;
    await auonCost(ctxOf(ms), { sizes: [8], rounds: 1, load: () => 2 }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/load average is 2\.00/);
    expect(ms).to.have.length(0);
    await auonCost(ctxOf(ms), { sizes: [8, 16, 32], rounds: 2, load: () => 2, force: true, sampleMs: 1 });
    expect(costLoad(ms)!.forced).to.equal(true);
    expect(loadProblem(costLoad(ms)!)).to.match(/2\.00 before the run/);
    // Three sizes: the markdown section and the ratio plot render.
    expect(costMarkdown(ms)).to.match(/## Step cost against parameter count[\s\S]*\| auon \/ adamw \|/);
    expect(costRatioSvg(analyzeCost(costSamples(ms), { resamples: 20 }))).to.match(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
  });
});
