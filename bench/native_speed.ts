/**
 * wasm against wasm-native (kernels/wasm_kernels.ts) in one process: matmul GFLOP/s at 512² and 1024²,
 * Newton-Schulz x5 on 512², Shampoo's coupled-Newton inverse 4th root on 256², and the tiny GPT (vocab 65, context 64, width 128, 4 heads, 2 layers,
 * batch 16) forward+backward, with and without an AdamW step. Figures for a person, not a test.
 *
 *   npx tsx bench/native_speed.ts [--reps 20] [--threads 1] [--profile]
 *
 * --profile then prints where a GPT forward+backward spends its time on each path (ten most
 * expensive kernels, wall time from wrappers around the registered kernels).
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { disableNativeKernels, enableNativeKernels } from '../kernels/wasm_kernels.js';
import { inverseRootNewton, newtonSchulz } from '../optimizers/linalg.js';
import { adamw } from '../optimizers/adamw.js';
import { buildOptimizer } from '../optimizers/core.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const REPS = flag('reps', 20);
const THREADS = flag('threads', 1);
const PROFILE = argv.includes('--profile');

/** Median milliseconds of `fn` over REPS runs after 3 warm-up runs (wasm kernels run synchronously). */
function time(fn: () => void, reps = REPS): number {
  for (let i = 0; i < 3; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
}

function gptCase() {
  const model = createGPT({ vocabSize: 65, contextLength: 64, width: 128, nHead: 4, nLayer: 2 }, 0);
  const tok = new Int32Array(16 * 64);
  for (let i = 0; i < tok.length; i++) tok[i] = (i * 7919 + 13) % 65;
  const x = tf.tensor2d(tok, [16, 64], 'int32');
  const y = tf.tensor2d(tok.map((v) => (v + 1) % 65), [16, 64], 'int32');
  const opt = buildOptimizer(model.params, adamw({ lr: 1e-3 }));
  const fwdBwd = () => {
    const { loss, grads } = lossAndGrads(model, { x, y });
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  };
  const trainStep = () => {
    const { loss, grads } = lossAndGrads(model, { x, y });
    opt.step(grads);
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  };
  const lossValue = () => tf.tidy(() => model.loss({ x, y }).dataSync()[0]);
  const gradNorm = () => {
    const { loss, grads } = lossAndGrads(model, { x, y });
    const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
    tf.dispose([loss, ...grads.values()]);
    return norm;
  };
  const dispose = () => {
    opt.dispose();
    model.dispose();
    x.dispose();
    y.dispose();
  };
  return { fwdBwd, trainStep, lossValue, gradNorm, dispose };
}

/**
 * Wall time per kernel of GPT forward+backward, from timing wrappers around every registered wasm
 * kernel (tf.profile's figures include its own read-backs). Prints the ten most expensive.
 */
function profileGpt(label: string): void {
  const g = gptCase();
  g.fwdBwd();
  const saved = tf.getKernelsForBackend('wasm');
  const byName = new Map<string, number>();
  for (const k of saved) {
    const f = k.kernelFunc as unknown as (args: unknown) => unknown;
    tf.unregisterKernel(k.kernelName, 'wasm');
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: unknown) => {
        const t0 = performance.now();
        try {
          return f(args);
        } finally {
          byName.set(k.kernelName, (byName.get(k.kernelName) ?? 0) + performance.now() - t0);
        }
      }) as unknown as tf.KernelFunc,
    });
  }
  const runs = 5;
  const t0 = performance.now();
  try {
    for (let i = 0; i < runs; i++) g.fwdBwd();
  } finally {
    for (const k of saved) {
      tf.unregisterKernel(k.kernelName, 'wasm');
      tf.registerKernel(k);
    }
  }
  const step = (performance.now() - t0) / runs;
  const total = [...byName.values()].reduce((a, b) => a + b, 0) / runs;
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 10);
  console.log(`  ${label}: ${step.toFixed(1)} ms per step, ${total.toFixed(1)} in kernels; ${top.map(([k, v]) => `${k} ${(v / runs).toFixed(1)}`).join(', ')}`);
  g.dispose();
}

function measure(): Record<string, number> {
  const r: Record<string, number> = {};
  for (const n of [512, 1024]) {
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
    const ms = time(() => tf.matMul(a, b).dispose(), n === 1024 ? Math.min(REPS, 10) : REPS);
    r[`matmul ${n}² GFLOP/s`] = (2 * n ** 3) / ms / 1e6;
    tf.dispose([a, b]);
  }
  const g = tf.randomNormal([512, 512], 0, 1, 'float32', 3) as tf.Tensor2D;
  r['Newton-Schulz x5 512² ms'] = time(() => tf.tidy(() => newtonSchulz(g, { steps: 5 })).dispose(), Math.min(REPS, 10));
  // Shampoo's preconditioner root: A^{-1/4} of an SPD 256² matrix, 30 coupled Newton iterations (4 matmuls each).
  const spd = tf.tidy(() => {
    const h = tf.randomNormal([256, 512], 0, 1, 'float32', 4) as tf.Tensor2D;
    return tf.add(tf.div(tf.matMul(h, tf.transpose(h)), 512), tf.mul(tf.eye(256), 1e-3)) as tf.Tensor2D;
  });
  r['Shampoo root 256² (Newton x30) ms'] = time(() => tf.tidy(() => inverseRootNewton(spd, 4, { maxIter: 30, tol: 0 }).root).dispose(), Math.min(REPS, 5));
  spd.dispose();
  g.dispose();
  const gpt = gptCase();
  r['GPT loss (step 0)'] = gpt.lossValue();
  r['GPT grad norm (step 0)'] = gpt.gradNorm();
  r['GPT fwd+bwd ms'] = time(gpt.fwdBwd);
  r['GPT fwd+bwd+AdamW ms'] = time(gpt.trainStep);
  r[`GPT loss after ${REPS + 3} AdamW steps`] = gpt.lossValue();
  gpt.dispose();
  return r;
}

await selectBackend('wasm');
const before = tf.memory().numTensors;
disableNativeKernels();
const plain = measure();
const st = await enableNativeKernels({ threads: THREADS });
if (!st.active) {
  console.log(`wasm-native unavailable: ${st.message}`);
  console.table(plain);
  process.exit(0);
}
const native = measure();
console.log(`wasm vs wasm-native (${st.message}), median of ${REPS} runs, tensors leaked: ${tf.memory().numTensors - before}`);
const rows = Object.keys(plain).map((k) => ({ measure: k, wasm: +plain[k].toFixed(/loss|norm/.test(k) ? 5 : 1), 'wasm-native': +native[k].toFixed(/loss|norm/.test(k) ? 5 : 1) }));
console.table(rows);
if (PROFILE) {
  console.log('kernel profile of one GPT forward+backward:');
  disableNativeKernels();
  profileGpt('wasm');
  await enableNativeKernels({ threads: THREADS });
  profileGpt('wasm-native');
}
