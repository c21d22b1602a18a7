import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { summarize, timeRoundRobin, withAdamwRatios, type Measurement } from '../../bench/harness.js';
import { blockDiagonalMask, nsBatchedRank3, nsBlockDiagonal } from '../../bench/ns_batching.js';
import { evaluateTargets, formatCsv, formatMarkdown } from '../../bench/report.js';
import { parseOnly } from '../../bench/run.js';
import { runSuites, type BenchContext } from '../../bench/suites.js';
import { newtonSchulz } from '../../optimizers/linalg.js';
import { batchesNewtonSchulz } from '../../optimizers/muon.js';
import { describeBackends, testEpsilon } from '../shared/backends.js';

const KEYS = ['kind', 'name', 'optimizer', 'backend', 'shape', 'median_ms', 'min_ms', 'max_ms', 'mean_ms', 'reps', 'ratio_to_adamw', 'value', 'unit'];

/** A context for one tiny case: an 8x8 matrix, three optimizers, two timed repetitions. */
function tinyContext(backend: string, lines: string[]): BenchContext {
  return {
    backend,
    optimizers: ['sgd', 'muon'],
    shapes: [[8, 8]],
    rootSizes: [8],
    trainOptimizers: ['muon'],
    reps: { warmup: 1, minReps: 2, maxReps: 2 },
    modelReps: { warmup: 1, minReps: 2, maxReps: 2 },
    gpt: { vocabSize: 11, contextLength: 8, width: 16, nHead: 2, nLayer: 1 },
    gptBatch: 2,
    emit: (m) => lines.push(JSON.stringify(m)),
    progress: () => {},
  };
}

function measurement(p: Partial<Measurement>): Measurement {
  return { kind: 'optimizer-step', name: 'x', optimizer: null, backend: 'wasm', shape: 'gpt-params', median_ms: null, min_ms: null, max_ms: null, mean_ms: null, reps: 0, ratio_to_adamw: null, value: null, unit: null, ...p };
}

describeBackends('bench harness', (backend) => {
  it('prints one JSON object per measurement with every field, and ratios from the same group', async () => {
    const lines: string[] = [];
    await runSuites(['matrix-steps', 'gpt'], tinyContext(backend, lines));
    const ms = lines.map((l) => JSON.parse(l) as Measurement);
    for (const m of ms) {
      expect(Object.keys(m)).to.have.members(KEYS);
      expect(m.backend).to.equal(backend);
      expect(m.median_ms).to.be.a('number');
      expect(m.min_ms!).to.be.at.most(m.median_ms!);
      expect(m.max_ms!).to.be.at.least(m.median_ms!);
      expect(m.reps).to.equal(2);
    }
    const steps = ms.filter((m) => m.kind === 'optimizer-step');
    expect(steps.map((m) => m.name)).to.deep.equal(['adamw', 'sgd', 'muon']);
    expect(steps.every((m) => m.shape === '8x8')).to.equal(true);
    const adamw = steps[0];
    expect(adamw.ratio_to_adamw).to.equal(1);
    // Each ratio is this line's median over AdamW's median in the same group; medians and ratios are
    // printed rounded to 3 decimals, so the recomputed ratio may differ by that rounding.
    const near = (m: Measurement, base: Measurement) => m.ratio_to_adamw! * (5e-4 / base.median_ms! + 5e-4 / m.median_ms!) + 5e-4;
    for (const m of steps) expect(m.ratio_to_adamw!).to.be.closeTo(m.median_ms! / adamw.median_ms!, near(m, adamw));

    const fb = ms.find((m) => m.kind === 'gpt-fwd-bwd')!;
    const train = ms.filter((m) => m.kind === 'gpt-train-step');
    expect(fb.shape).to.equal('b2xT8');
    expect(train.map((m) => m.optimizer)).to.deep.equal(['adamw', 'muon']);
    // tokens/s = batch * context / median seconds = 16 / (median_ms / 1000)
    for (const m of [fb, ...train]) {
      expect(m.unit).to.equal('tokens/s');
      expect(m.value!).to.be.closeTo(16000 / m.median_ms!, 1e-3 * m.value! + 1e-3);
    }
    expect(train[1].ratio_to_adamw!).to.be.closeTo(train[1].median_ms! / train[0].median_ms!, near(train[1], train[0]));
  });

  it("ns-batching times a Muon step with batchNewtonSchulz 'never' and 'always' and says which 'auto' picks", async () => {
    const lines: string[] = [];
    await runSuites(['ns-batching'], tinyContext(backend, lines));
    const ms = lines.map((l) => JSON.parse(l) as Measurement);
    const steps = ms.filter((m) => m.kind === 'muon-ns-batching');
    expect(steps.map((m) => m.name)).to.deep.equal(['muon-batch-ns-never', 'muon-batch-ns-always']);
    expect(steps[0].value).to.equal(1);
    expect(steps[1].value!).to.be.closeTo(steps[1].median_ms! / steps[0].median_ms!, 1e-2 * steps[1].value! + 1e-3);
    const auto = ms.filter((m) => m.kind === 'muon-ns-batching-auto');
    expect(auto.map((m) => m.name)).to.deep.equal([batchesNewtonSchulz('auto') ? 'muon-batch-ns-always' : 'muon-batch-ns-never']);
  });

  it('batched Newton-Schulz (rank-3 and block-diagonal) equals one newtonSchulz per matrix', () => {
    for (const shape of [[6, 10], [10, 6]] as const) {
      tf.tidy(() => {
        const gs = [0, 1, 2].map((s) => tf.randomNormal([...shape], 0, 1, 'float32', 10 + s) as tf.Tensor2D);
        const want = gs.map((g) => newtonSchulz(g));
        const rank3 = nsBatchedRank3(gs);
        const block = nsBlockDiagonal(gs, blockDiagonalMask(3, 6));
        for (let i = 0; i < 3; i++) {
          expect(rank3[i].shape).to.deep.equal([...shape]);
          expect(tf.max(tf.abs(tf.sub(rank3[i], want[i]))).dataSync()[0]).to.be.below(testEpsilon());
          expect(tf.max(tf.abs(tf.sub(block[i], want[i]))).dataSync()[0]).to.be.below(testEpsilon());
        }
      });
    }
  });

  it("shampoo-cost: Shampoo's GPT steps with AdamW ratios, the roots' share, eigh and the MLP fit", async () => {
    const lines: string[] = [];
    await runSuites(['shampoo-cost'], { ...tinyContext(backend === 'wasm' ? 'wasm-native' : backend, lines), eighSize: 24, mlpSteps: 8 });
    const ms = lines.map((l) => JSON.parse(l) as Measurement);
    const kinds = [...new Set(ms.map((m) => m.kind))].sort();
    const gpt = backend !== 'cpu';
    expect(kinds).to.deep.equal([...(gpt ? ['shampoo-gpt-step', 'shampoo-root-share'] : []), 'eigh', 'mlp-fit'].sort());
    if (gpt) {
      const steps = ms.filter((m) => m.kind === 'shampoo-gpt-step');
      expect(steps.map((m) => m.name)).to.deep.equal(['adamw', 'shampoo-default', 'shampoo-f10-per-step', 'shampoo-roots-frozen']);
      for (const m of steps) expect(m.ratio_to_adamw).to.be.closeTo(m.median_ms! / steps[0].median_ms!, 1e-2 * m.ratio_to_adamw!);
      const share = ms.find((m) => m.kind === 'shampoo-root-share')!.value!;
      expect(share).to.be.within(0, 1);
    }
    expect(ms.filter((m) => m.kind === 'eigh').map((m) => m.name)).to.include('js-householder-ql');
    expect(ms.find((m) => m.kind === 'mlp-fit')!.shape).to.equal('16-32-4 b32x8');
  });
});

describe('bench timing and report', () => {
  it('times functions round-robin and times a very slow one by its first call alone', async () => {
    const calls: string[] = [];
    const busy = (ms: number) => {
      const t = performance.now();
      while (performance.now() - t < ms);
    };
    const fns = new Map<string, () => void>([
      ['a', () => calls.push('a')],
      ['b', () => calls.push('b')],
      ['slow', () => (calls.push('slow'), busy(15))],
    ]);
    const t = await timeRoundRobin(fns, { warmup: 2, minReps: 3, maxReps: 3, slowMs: 10, slowBudgetMs: 1 });
    // warm-up: a a b b slow; the slow one's first call (>= 15 ms) exceeds the whole slow budget (1 ms),
    // so that call is its one sample and it is not called again; then rounds a b, a b, a b.
    expect(calls).to.deep.equal(['a', 'a', 'b', 'b', 'slow', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(t.get('a')!.reps).to.equal(3);
    expect(t.get('slow')!.reps).to.equal(1);
    expect(t.get('slow')!.min).to.be.at.least(15);
  });

  it('summarizes samples and takes ratios to the AdamW member of a group', () => {
    expect(summarize([5, 1, 3, 2])).to.deep.equal({ median: 2.5, min: 1, max: 5, mean: 2.75, reps: 4 });
    const g = withAdamwRatios([measurement({ name: 'muon', optimizer: 'muon', median_ms: 30 }), measurement({ name: 'adamw', optimizer: 'adamw', median_ms: 20 })]);
    expect(g.map((m) => m.ratio_to_adamw)).to.deep.equal([1.5, 1]);
    expect(withAdamwRatios([measurement({ optimizer: 'muon', median_ms: 3 })])[0].ratio_to_adamw).to.equal(null);
  });

  it('marks the targets met or not met from one run', () => {
    const ms = [
      measurement({ name: 'adamw', optimizer: 'adamw', median_ms: 10, ratio_to_adamw: 1 }),
      measurement({ name: 'muon', optimizer: 'muon', median_ms: 40, ratio_to_adamw: 4 }),
      measurement({ name: 'auon', optimizer: 'auon', median_ms: 11, ratio_to_adamw: 1.1 }),
      measurement({ name: 'hybrid-auon', optimizer: 'hybrid-auon', median_ms: 50, ratio_to_adamw: 5 }),
      measurement({ kind: 'gpt-fwd-bwd', name: 'gpt-fwd-bwd', shape: 'b16xT64', median_ms: 200 }),
    ];
    const t = evaluateTargets(ms);
    // muon 40 / fwd+bwd 200 = 20% <= 30%: met; auon 1.1x <= 1.2x: met; hybrid 50 > muon 40: not met.
    expect(t.map((r) => r.status)).to.deep.equal(['met', 'met', 'not met', 'report']);
    expect(t[3].measured).to.match(/200 ms = 0\.99x the probe/);
    const csv = formatCsv(ms).split('\n');
    expect(csv[0]).to.equal('kind,name,optimizer,backend,shape,median_ms,min_ms,max_ms,mean_ms,reps,ratio_to_adamw,value,unit');
    expect(csv.filter(Boolean)).to.have.length(6);
    const md = formatMarkdown(ms, { date: '2026-01-01T00:00:00Z', commit: 'abc', command: 'optlab bench', machine: { cpu: 'X', nproc: 2, memGiB: 1, node: 'v20', tfjs: '4.22.0' }, backends: [], wallS: 1 });
    expect(md).to.include('| Hybrid-AuON step <= Muon step (GPT parameters) | wasm | 50.0 ms vs 40.0 ms (1.25x) | **not met** |');
  });

  it("marks batching met when the mode Muon's 'auto' picks measured faster", () => {
    const run = (never: number, always: number, pick: string) =>
      evaluateTargets([
        measurement({ kind: 'muon-ns-batching', name: 'muon-batch-ns-never', optimizer: 'muon', median_ms: never, value: 1 }),
        measurement({ kind: 'muon-ns-batching', name: 'muon-batch-ns-always', optimizer: 'muon', median_ms: always, value: always / never }),
        measurement({ kind: 'muon-ns-batching-auto', name: pick, optimizer: 'muon', value: 1 }),
      ]);
    const met = run(20, 18, 'muon-batch-ns-always');
    expect(met.map((r) => [r.target, r.status])).to.deep.equal([['Batched Newton-Schulz used where it measures faster', 'met']]);
    expect(met[0].measured).to.match(/never 20\.0 ms, muon-batch-ns-always 18\.0 ms \(0\.90x\); 'auto' uses always/);
    expect(run(20, 18, 'muon-batch-ns-never')[0].status).to.equal('not met');
    expect(run(70, 470, 'muon-batch-ns-never')[0].status).to.equal('met');
  });

  it("marks issue 14's Shampoo targets from one run", () => {
    const t = evaluateTargets([
      measurement({ kind: 'shampoo-gpt-step', name: 'adamw', optimizer: 'adamw', backend: 'wasm-native', median_ms: 2, ratio_to_adamw: 1 }),
      measurement({ kind: 'shampoo-gpt-step', name: 'shampoo-default', optimizer: 'shampoo', backend: 'wasm-native', median_ms: 100, ratio_to_adamw: 50 }),
      measurement({ kind: 'shampoo-gpt-step', name: 'shampoo-f10-per-step', optimizer: 'shampoo', backend: 'wasm-native', median_ms: 18, ratio_to_adamw: 9 }),
      measurement({ kind: 'shampoo-root-share', name: 'shampoo-default', optimizer: 'shampoo', backend: 'wasm-native', value: 0.8 }),
      measurement({ kind: 'mlp-fit', name: 'shampoo-default', optimizer: 'shampoo', backend: 'cpu', median_ms: 31000 }),
    ]);
    // 50x <= 60x: met; 9x > 8x: not met; 31 s >= 30 s on cpu: not met.
    expect(t.map((r) => [r.backend, r.status])).to.deep.equal([['wasm-native', 'met'], ['wasm-native', 'not met'], ['cpu', 'not met']]);
    expect(t[0].measured).to.equal('100 ms = 50.0x AdamW; roots 80% of the step');
  });

  it('--only takes suite and optimizer names and rejects anything else', () => {
    expect(parseOnly(['ns,muon'])).to.deep.include({ suites: ['ns'], optimizers: ['muon'] });
    expect(() => parseOnly(['nope'])).to.throw(/'nope' is neither a suite/);
  });
});
