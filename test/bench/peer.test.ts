/**
 * The issue-19 benchmark rows: the PyTorch peer (bench/peer.ts, bench/peer_torch.py) found and run
 * when a Python with torch is installed, skipped otherwise; the 'nanogpt-recipe' suite's rows; the
 * targets against the fastest peer; the matmul count of a GPT training step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import type { Measurement } from '../../bench/harness.js';
import { findPeers, runPeer } from '../../bench/peer.js';
import { gptTrainFlops, recipeSchedule } from '../../bench/recipe.js';
import { warmupCosine } from '../../experiments/runner/schedule.js';
import { formatMarkdown, peerTargets } from '../../bench/report.js';
import { nanogptRecipe, type BenchContext } from '../../bench/suites.js';
import '../shared/backends.js';

function measurement(p: Partial<Measurement>): Measurement {
  return { kind: 'nanogpt-recipe', name: 'nanogpt-recipe', optimizer: 'adamw', backend: 'wasm-native, 1 thread', shape: 'b12xT64', median_ms: 10, min_ms: 9, max_ms: 11, mean_ms: 10, reps: 200, ratio_to_adamw: null, value: null, unit: null, ...p };
}

describe('PyTorch peer and nanogpt-recipe rows (issue 19)', () => {
  it('gptTrainFlops: 6 per weight per token for the blocks and the head, plus 12 B T^2 C per layer for attention', () => {
    // 1 layer, width 2, vocab 3, context 4, batch 1: 6 * 4 * (12 * 4 + 2 * 3) + 12 * 1 * 16 * 2 = 1296 + 384.
    expect(gptTrainFlops({ vocabSize: 3, contextLength: 4, width: 2, nLayer: 1 }, 1)).to.equal(1680);
    // The recipe: 4 layers, width 128, vocab 65, context 64, batch 12.
    expect(gptTrainFlops({ vocabSize: 65, contextLength: 64, width: 128, nLayer: 4 }, 12) / 1e9).to.be.closeTo(3.9642, 1e-4);
  });

  it("recipeSchedule is experiments/runner/schedule.ts's warmupCosine with warmup 100 and floor 0.1 at every step", () => {
    for (const total of [2000, 300]) {
      const ours = recipeSchedule(total);
      const theirs = warmupCosine({ warmup: 100, total, floor: 0.1 });
      for (let step = 1; step <= total + 5; step++) expect(ours(step), `step ${step} of ${total}`).to.equal(theirs(step));
    }
  });

  it('peerTargets: each wasm-native row against the fastest PyTorch set-up of the same kind, met at <= 1.0x', () => {
    const ms = [
      measurement({ backend: 'wasm-native, 1 thread', median_ms: 40 }),
      measurement({ backend: 'wasm-native, 2 threads', median_ms: 25 }),
      measurement({ backend: 'pytorch 2.13.0+cpu, 1 thread', median_ms: 36 }),
      measurement({ backend: 'pytorch 2.13.0+cpu, 2 threads', median_ms: 30 }),
      measurement({ kind: 'gpt-train-step', name: 'gpt-train-step', backend: 'wasm-native', shape: 'b16xT64', median_ms: 22 }),
      measurement({ kind: 'gpt-train-step', name: 'gpt-train-step', backend: 'pytorch 1.13.1, 1 thread', shape: 'b16xT64', median_ms: 20 }),
    ];
    const rows = peerTargets(ms);
    expect(rows.map((r) => [r.backend, r.status])).to.deep.equal([
      ['wasm-native, 1 thread', 'not met'],
      ['wasm-native, 2 threads', 'met'],
      ['wasm-native', 'not met'],
    ]);
    expect(rows[0].measured).to.equal('40.0 ms vs 30.0 ms (pytorch 2.13.0+cpu, 2 threads) = 1.33x');
    expect(rows[2].measured).to.equal('22.0 ms vs 20.0 ms (pytorch 1.13.1, 1 thread) = 1.10x');
    const md = formatMarkdown(ms, { date: '2026-01-01T00:00:00Z', commit: 'abc', command: 'optlab bench', machine: { cpu: 'x', nproc: 2, memGiB: 1, node: 'v20', tfjs: '4.22.0' }, backends: [], wallS: 1 });
    expect(md).to.include('## Against PyTorch on the same CPU (issue 19)');
    expect(md).to.include('| wasm-native, 2 threads | 25.0 | 9.0–11.0 | 200 |');
  });

  it('finds no peer in an interpreter that does not exist', () => {
    expect(findPeers(['/nonexistent/python3'])).to.deep.equal([]);
  });

  it('runs bench/peer_torch.py when a Python with torch is installed: median ms by phase over the timed iterations', function () {
    const peers = findPeers();
    if (peers.length === 0) {
      console.log('      (skipped: no Python with torch; the peer is optional)');
      this.skip();
    }
    this.timeout(300_000);
    const r = runPeer(peers[0], 'tiny', 1, { iters: 4, from: 2 });
    if (typeof r === 'string') throw new Error(r);
    expect(r.case).to.equal('tiny');
    expect(r.threads).to.equal(1);
    expect([r.batch, r.context, r.layers]).to.deep.equal([16, 64, 2]);
    expect(r.samples).to.equal(2);
    expect(r.median_ms.total).to.be.greaterThan(0);
    expect(r.median_ms.forward + r.median_ms.backward + r.median_ms.optimizer).to.be.at.most(r.max_ms + 1e-6);
    expect(r.loss).to.be.a('number');
  });

  it("the 'nanogpt-recipe' suite emits the median iteration and one row per phase, without growing the tensor count", async function () {
    this.timeout(300_000);
    await tf.setBackend('wasm');
    const lines: Measurement[] = [];
    const ctx = { backend: 'wasm', recipeIters: 3, recipeFrom: 1, emit: (m: Measurement) => lines.push(m), progress: () => {} } as unknown as BenchContext;
    const before = tf.memory().numTensors;
    try {
      await nanogptRecipe(ctx);
    } finally {
      await tf.setBackend('cpu');
    }
    expect(tf.memory().numTensors).to.equal(before);
    const rows = lines.filter((m) => m.kind === 'nanogpt-recipe');
    expect(rows.length).to.be.at.least(1);
    for (const row of rows) {
      expect(row.reps).to.equal(2);
      expect(row.unit).to.equal('GFLOP/s');
      expect(row.value! * row.median_ms!).to.be.closeTo(gptTrainFlops({ vocabSize: 65, contextLength: 64, width: 128, nLayer: 4 }, 12) / 1e6, 1);
      const phases = lines.filter((m) => m.kind === 'nanogpt-recipe-phase' && m.backend === row.backend).map((m) => m.name);
      expect(phases).to.deep.equal(['data', 'forward', 'backward', 'optimizer', 'readback']);
    }
    let err: Error | undefined;
    try {
      await nanogptRecipe({ ...ctx, recipeFrom: 3 });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.equal('nanogpt-recipe: need 0 <= recipeFrom < recipeIters, got 3 and 3');
  });
});
