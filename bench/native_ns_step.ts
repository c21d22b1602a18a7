/**
 * GPT train steps (forward, backward, optimizer) with AdamW, Muon on the native Newton-Schulz kernel
 * (native/newton_schulz.c), Muon with the composed tfjs iteration on the same native matmuls, and Muon
 * with batched Newton-Schulz, round-robin in one process on wasm with the native kernels: the ratios to
 * AdamW of one run. `npx tsx bench/native_ns_step.ts` (benchmark as a user runs: `env -u
 * OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` before it); prints medians of 20 rounds after 5 warm-up ones
 * and the load average.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { fusedOps } from '../kernels/fused.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';
import { buildOptimizer } from '../optimizers/core.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { BENCH_GPT, BENCH_GPT_BATCH } from './suites.js';
import { loadavg } from 'node:os';
await selectBackend('wasm');
const model = createGPT(BENCH_GPT, 0);
const T = BENCH_GPT.contextLength ?? 64;
const x = tf.randomUniform([BENCH_GPT_BATCH, T], 0, 65, 'int32', 1), y = tf.randomUniform([BENCH_GPT_BATCH, T], 0, 65, 'int32', 2);
const F = fusedOps() as unknown as Record<string, unknown>; const nsNative = F.newtonSchulz;
const opts = { adamw: buildOptimizer(model.params, OPTIMIZERS.adamw()), muon: buildOptimizer(model.params, OPTIMIZERS.muon()), 'muon-composed-ns': buildOptimizer(model.params, OPTIMIZERS.muon()), 'muon-batched': buildOptimizer(model.params, OPTIMIZERS.muon({ batchNewtonSchulz: 'always' })) };
const times: Record<string, number[]> = { adamw: [], muon: [], 'muon-composed-ns': [], 'muon-batched': [] };
const l0 = loadavg()[0];
for (let r = 0; r < 25; r++) for (const [n, o] of Object.entries(opts)) {
  if (n === 'muon-composed-ns') delete F.newtonSchulz; else F.newtonSchulz = nsNative;
  const t0 = performance.now();
  const { loss, grads } = lossAndGrads(model, { x, y }, { training: true });
  o.step(grads); loss.dataSync(); tf.dispose([loss, ...grads.values()]);
  if (r >= 5) times[n].push(performance.now() - t0);
}
F.newtonSchulz = nsNative;
const med = (a: number[]) => a.sort((p, q) => p - q)[a.length >> 1];
const a = med(times.adamw);
for (const n of Object.keys(times)) console.log(n, med(times[n]).toFixed(1), 'ms', (med(times[n]) / a).toFixed(2) + 'x adamw');
console.log('load', l0.toFixed(2), '->', loadavg()[0].toFixed(2));
