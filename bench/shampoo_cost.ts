/**
 * The 'shampoo-cost' suite of `optlab bench`: what Shampoo's roots cost (issue 14's targets), each ratio taken
 * within one round-robin group on one backend.
 * - `shampoo-gpt-step` on the GPT's parameters with the GPT's own gradients: AdamW; `shampoo()` with its
 *   defaults (roots every step); `preconditionFrequency: 10` timed as 10 consecutive steps (one root
 *   recomputation among them), reported per step; and the defaults with roots frozen after the first step
 *   (`startPreconditioningStep: 1`, `preconditionFrequency` 1e9), whose difference to the defaults is the
 *   roots' share of a step (readback, eigendecomposition, upload): `shampoo-root-share`.
 * - `eigh` on a 1024x1024 symmetric PSD matrix: LAPACK `ssyevd` and `dsyevd` through the addon, Meta's
 *   float32 inverse root through LAPACK, and the JavaScript Householder + QL solver (one call: seconds).
 * - `mlp-fit`: `model.fit` of a 16-32-4 tfjs-layers MLP, batch 32, 160 steps, with `ShampooOptimizer()`
 *   at its defaults: wall seconds.
 * The GPT groups are skipped on the cpu backend (a GPT step there is dominated by tfjs's JavaScript
 * kernels, not by Shampoo); `eigh` runs on the host, so only with the cpu, wasm-native and tensorflow backends;
 * `mlp-fit` runs on every backend, its target is stated for cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { lapackAvailable, lapackEigh, lapackInverseRoot } from '../kernels/eigh.js';
import { buildOptimizer, type Optimizer } from '../optimizers/core.js';
import { eighTridiagonalQL } from '../optimizers/eigh.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { ShampooOptimizer } from '../optimizers/tfjs_classes.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';
import { timeRoundRobin, timingMeasurement, valueMeasurement, withAdamwRatios, type Timing } from './harness.js';
import type { BenchContext } from './suites.js';

const per = (t: Timing, k: number): Timing => ({ median: t.median / k, min: t.min / k, max: t.max / k, mean: t.mean / k, reps: t.reps });

/** 'shampoo-cost': Shampoo steps on the GPT against AdamW, the roots' share, eigh at 1024 and the MLP fit. */
export async function shampooCost(ctx: BenchContext): Promise<void> {
  if (ctx.backend !== 'cpu') await gptSteps(ctx);
  // The eigensolvers run on the host whatever the backend: measured once per run, not per backend.
  if (ctx.backend === 'cpu' || ctx.backend === 'wasm-native' || ctx.backend === 'tensorflow') await eigh1024(ctx);
  await mlpFit(ctx);
}

async function gptSteps(ctx: BenchContext): Promise<void> {
  const model = createGPT(ctx.gpt, 0);
  const shape = [ctx.gptBatch, ctx.gpt.contextLength ?? 64];
  const vocab = ctx.gpt.vocabSize ?? 65;
  const batch = { x: tf.randomUniform(shape, 0, vocab, 'int32', 3), y: tf.randomUniform(shape, 0, vocab, 'int32', 4) };
  const { loss, grads } = lossAndGrads(model, batch, { training: true });
  loss.dispose();
  const shampoo = OPTIMIZERS.shampoo;
  const opts = new Map<string, Optimizer>([
    ['adamw', buildOptimizer(model.params, OPTIMIZERS.adamw())],
    ['shampoo-default', buildOptimizer(model.params, shampoo())],
    ['shampoo-f10', buildOptimizer(model.params, shampoo({ preconditionFrequency: 10 }))],
    ['shampoo-roots-frozen', buildOptimizer(model.params, shampoo({ startPreconditioningStep: 1, preconditionFrequency: 1e9 }))],
  ]);
  try {
    ctx.progress(`  Shampoo on the GPT's ${model.params.length} parameter tensors: defaults, preconditionFrequency 10 (x10 steps), roots frozen; AdamW`);
    const fns = new Map<string, () => void>();
    for (const [n, o] of opts) fns.set(n, n === 'shampoo-f10' ? () => { for (let i = 0; i < 10; i++) o.step(grads); } : () => o.step(grads));
    const t = await timeRoundRobin(fns, ctx.modelReps);
    const group = [...t].map(([n, timing]) =>
      timingMeasurement('shampoo-gpt-step', n === 'shampoo-f10' ? 'shampoo-f10-per-step' : n, ctx.backend, 'gpt-params', n === 'shampoo-f10' ? per(timing, 10) : timing, { optimizer: n === 'adamw' ? 'adamw' : 'shampoo' }),
    );
    for (const m of withAdamwRatios(group)) ctx.emit(m);
    const full = t.get('shampoo-default')!.median;
    const frozen = t.get('shampoo-roots-frozen')!.median;
    ctx.emit(valueMeasurement('shampoo-root-share', 'shampoo-default', ctx.backend, 'gpt-params', Math.max(0, 1 - frozen / full), 'share of a step', 'shampoo'));
  } finally {
    for (const o of opts.values()) o.dispose();
    tf.dispose([...grads.values(), batch.x, batch.y]);
    model.dispose();
  }
}

async function eigh1024(ctx: BenchContext): Promise<void> {
  const n = ctx.eighSize ?? 1024;
  const g = new Float64Array(n * n);
  let s = 12345;
  for (let i = 0; i < g.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    g[i] = (s / 2 ** 32) * 2 - 1;
  }
  const a = tf.tidy(() => {
    const m = tf.tensor2d(Float32Array.from(g), [n, n]);
    return tf.add(tf.div(tf.matMul(m, tf.transpose(m)), n), tf.mul(tf.eye(n), 1e-3));
  });
  const data = Float32Array.from(a.dataSync());
  a.dispose();
  const label = `${n}x${n}`;
  if (lapackAvailable()) {
    ctx.progress(`  eigh ${label}: LAPACK ssyevd, dsyevd, float32 inverse root`);
    const d64 = Float64Array.from(data);
    const fns = new Map<string, () => void>([
      ['lapack-ssyevd', () => void lapackEigh(data, n)],
      ['lapack-dsyevd', () => void lapackEigh(d64, n)],
      ['lapack-inverse-root-f32', () => void lapackInverseRoot(data, n, 0.25, 1e-12, 'float32')],
    ]);
    const t = await timeRoundRobin(fns, { warmup: 1, minReps: 3, maxReps: 5, budgetMs: 4000 });
    for (const [name, timing] of t) ctx.emit(timingMeasurement('eigh', name, ctx.backend, label, timing));
  } else {
    ctx.progress(`  eigh ${label}: LAPACK unavailable here, JavaScript only`);
  }
  ctx.progress(`  eigh ${label}: JavaScript Householder + QL (float64; seconds)`);
  const t0 = performance.now();
  eighTridiagonalQL(data, n);
  const dt = performance.now() - t0;
  ctx.emit(timingMeasurement('eigh', 'js-householder-ql', ctx.backend, label, { median: dt, min: dt, max: dt, mean: dt, reps: 1 }));
}

async function mlpFit(ctx: BenchContext): Promise<void> {
  const steps = ctx.mlpSteps ?? 160;
  const batchSize = 32;
  const samples = steps % 4 === 0 ? steps * 8 : steps * batchSize;
  ctx.progress(`  model.fit of a 16-32-4 MLP, batch ${batchSize}, ${steps} steps, ShampooOptimizer() defaults`);
  const x = tf.randomNormal([samples, 16], 0, 1, 'float32', 11);
  const labels = tf.tidy(() => tf.cast(tf.oneHot(tf.argMax(tf.matMul(x, tf.randomNormal([16, 4], 0, 1, 'float32', 12)), 1), 4), 'float32'));
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [16], units: 32, activation: 'relu' }), tfl.layers.dense({ units: 4, activation: 'softmax' })] });
  model.compile({ optimizer: new ShampooOptimizer(), loss: 'categoricalCrossentropy' });
  try {
    const t0 = performance.now();
    const h = await model.fit(x, labels, { batchSize, epochs: (steps * batchSize) / samples, shuffle: false, verbose: 0 });
    const dt = performance.now() - t0;
    const lossCurve = h.history.loss as number[];
    ctx.emit(timingMeasurement('mlp-fit', 'shampoo-default', ctx.backend, `16-32-4 b${batchSize}x${steps}`, { median: dt, min: dt, max: dt, mean: dt, reps: 1 }, { optimizer: 'shampoo', value: lossCurve[lossCurve.length - 1] / lossCurve[0], unit: 'final/first epoch loss' }));
  } finally {
    model.dispose();
    tf.dispose([x, labels]);
  }
}
