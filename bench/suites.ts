/**
 * What `optlab bench` measures, one function per suite. Each suite runs on the active backend and
 * hands its measurements to `ctx.emit`; methods compared with each other are timed round-robin in one
 * group, so every ratio to AdamW comes from the same run, backend and shape.
 *
 * Suites: 'matrix-steps' (one optimizer step on one matrix of 128x128, 512x512, 1024x256, 256x1024),
 * 'gpt-steps' (one optimizer step on the GPT's full parameter set), 'state' (optimizer state bytes per
 * parameter of the GPT), 'gpt' (forward + backward, and the train step forward + backward + optimizer, with
 * tokens/s), 'ns' (Newton-Schulz alone), 'ns-batching' (per-matrix vs batched Newton-Schulz on the
 * GPT's shapes, and a Muon step with batchNewtonSchulz 'never' vs 'always'), 'inverse-root' (Shampoo's inverse p-th root alone),
 * 'shampoo-cost' (Shampoo's root costs: GPT steps at its defaults and preconditionFrequency 10, the roots' share,
 * eigh at 1024, model.fit of a small MLP; bench/shampoo_cost.ts), 'vit' (ViT train step, images/s),
 * 'auon-scaling' (AuON, Hybrid-AuON, Muon, AdamW steps on n x n matrices, n = 128..2048, and the growth exponent: bench/scaling.ts),
 * 'auon-cost' (claim 2's measurement: the same four steps at eleven sizes n = 256..2584, twelve interleaved rounds, every
 * sample and the load recorded, a load guard; bench/cost_scaling.ts),
 * 'nanogpt-recipe' (nanoGPT's recipe, bench/recipe.ts: median ms per iteration over iterations 101-300,
 * evaluation excluded, split by phase, at one thread and at the default thread count). The PyTorch peers of
 * 'gpt' and 'nanogpt-recipe' run in bench/run.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { buildOptimizer, type Optimizer, type Parameter } from '../optimizers/core.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { batchesNewtonSchulz, muon } from '../optimizers/muon.js';
import * as linalg from '../optimizers/linalg.js';
import { newtonSchulz } from '../optimizers/linalg.js';
import { createGPT, type GPTConfig } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';
import type { Batch, TrainableModel } from '../models/model.js';
import { summarize, timeIt, timeRoundRobin, timingMeasurement, valueMeasurement, withAdamwRatios, type Measurement, type RepOptions } from './harness.js';
import { blockDiagonalMask, nsBatchedRank3, nsBlockDiagonal } from './ns_batching.js';
import { auonScaling, SCALING_SIZES } from './scaling.js';
import { auonCost, COST_SIZES } from './cost_scaling.js';
import { shampooCost } from './shampoo_cost.js';

import { nativeStatus, enableNativeKernels } from '../kernels/wasm_kernels.js';
import { threadsPerRun } from '../kernels/addon.js';
import { loadShakespeare } from '../models/data.js';
import { createRecipe, gptTrainFlops, RECIPE_BATCH, RECIPE_GPT } from './recipe.js';

/** Every suite, in the order they run. */
export const SUITES = ['matrix-steps', 'gpt-steps', 'state', 'gpt', 'ns', 'ns-batching', 'inverse-root', 'shampoo-cost', 'vit', 'auon-scaling', 'auon-cost', 'nanogpt-recipe'] as const;
export type Suite = (typeof SUITES)[number];

/** Matrix shapes [fan_in, fan_out] of the per-matrix suites. */
export const MATRIX_SHAPES: readonly (readonly [number, number])[] = [
  [128, 128],
  [512, 512],
  [1024, 256],
  [256, 1024],
];

/** The GPT of issue 5: vocab 65, context 64, width 128, 4 heads, 2 layers (batch 16 below). */
export const BENCH_GPT: Partial<GPTConfig> = { vocabSize: 65, contextLength: 64, width: 128, nHead: 4, nLayer: 2 };
export const BENCH_GPT_BATCH = 16;

/** What a suite needs to know about the run. */
export interface BenchContext {
  /** Backend label written into every measurement. */
  backend: string;
  /** Optimizers to measure (AdamW is always added: ratios are taken to it). */
  optimizers: string[];
  /** Matrix shapes for 'matrix-steps' and 'ns'. */
  shapes: readonly (readonly [number, number])[];
  /** Sizes n of the n x n PSD matrices for 'inverse-root'. */
  rootSizes: readonly number[];
  /** Optimizers whose full GPT train step is timed in 'gpt'. */
  trainOptimizers: string[];
  /** Repetition policy for cheap cases (steps on matrices, Newton-Schulz). */
  reps: RepOptions;
  /** Repetition policy for model steps (GPT, ViT). */
  modelReps: RepOptions;
  /** GPT config and batch (the defaults are issue 5's; tests shrink them). */
  gpt: Partial<GPTConfig>;
  gptBatch: number;
  /** 'shampoo-cost': size of the eigh benchmark matrix. @default 1024 */
  eighSize?: number;
  /** 'shampoo-cost': steps of the MLP fit (batch 32). @default 160 */
  mlpSteps?: number;
  /** 'nanogpt-recipe': iterations run, and the first (0-based) whose time counts. @default 300 and 100 */
  recipeIters?: number;
  recipeFrom?: number;
  /** Receives each measurement as soon as its group is done. */
  emit(m: Measurement): void;
  /** One progress line (stderr). */
  progress(line: string): void;
}

const shapeLabel = (s: readonly number[]): string => s.join('x');

/** A seeded normal matrix (the same on every backend). */
function randomMatrix(shape: readonly number[], seed: number): tf.Tensor {
  return tf.randomNormal([...shape], 0, 1, 'float32', seed);
}

/** AdamW first, then the rest in the order given, without duplicates, each known to the registry. */
function withAdamw(names: readonly string[]): string[] {
  const out = ['adamw', ...names.filter((n) => n !== 'adamw')];
  for (const n of out) if (!OPTIMIZERS[n]) throw new Error(`unknown optimizer '${n}'; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
  return [...new Set(out)];
}

/** Builds each optimizer over `params` with its defaults; a method that cannot take them is skipped with a note. */
function buildAll(names: readonly string[], params: Parameter[], ctx: BenchContext): Map<string, Optimizer> {
  const out = new Map<string, Optimizer>();
  for (const n of names) {
    try {
      out.set(n, buildOptimizer(params, OPTIMIZERS[n]()));
    } catch (e) {
      ctx.progress(`  skip ${n}: ${String((e as Error).message ?? e).split('\n')[0]}`);
    }
  }
  return out;
}

/** One step of `opt` with fixed gradients (passing them as previous gradients too where a method needs them). */
function stepper(opt: Optimizer, grads: ReadonlyMap<string, tf.Tensor>): () => void {
  const o = opt.needsPreviousGrads ? { previousGrads: grads } : {};
  return () => opt.step(grads, o);
}

/** Times one step of every optimizer round-robin over `params` with fixed gradients; emits one group. */
async function timeSteps(params: Parameter[], grads: Map<string, tf.Tensor>, shape: string, ctx: BenchContext): Promise<void> {
  const opts = buildAll(withAdamw(ctx.optimizers), params, ctx);
  try {
    const timings = await timeRoundRobin(new Map([...opts].map(([n, o]) => [n, stepper(o, grads)])), ctx.reps);
    const group = [...timings].map(([n, t]) => timingMeasurement('optimizer-step', n, ctx.backend, shape, t, { optimizer: n }));
    for (const m of withAdamwRatios(group)) ctx.emit(m);
  } finally {
    for (const o of opts.values()) o.dispose();
  }
}

/** 'matrix-steps': one optimizer step on a single 'matrix' parameter of each shape. */
export async function matrixSteps(ctx: BenchContext): Promise<void> {
  for (const shape of ctx.shapes) {
    ctx.progress(`  optimizer steps on ${shapeLabel(shape)}`);
    const w = tf.variable(randomMatrix(shape, 1), true, `bench.w.${shapeLabel(shape)}`);
    const g = randomMatrix(shape, 2);
    try {
      await timeSteps([{ name: 'w', variable: w, role: 'matrix' }], new Map([['w', g]]), shapeLabel(shape), ctx);
    } finally {
      w.dispose();
      g.dispose();
    }
  }
}

/** A random token batch for the GPT (the step's cost does not depend on the text). */
function tokenBatch(cfg: Partial<GPTConfig>, batch: number, seed: number): Batch {
  const shape = [batch, cfg.contextLength ?? 64];
  const vocab = cfg.vocabSize ?? 65;
  return {
    x: tf.randomUniform(shape, 0, vocab, 'int32', seed),
    y: tf.randomUniform(shape, 0, vocab, 'int32', seed + 1),
  };
}

function gptShapeLabel(model: TrainableModel): string {
  return `${model.params.length} parameter tensors (${model.numParams()} scalars)`;
}

/** Real gradients of the model on one batch; caller disposes them. */
function gradsOnce(model: TrainableModel, batch: Batch): Map<string, tf.Tensor> {
  const { loss, grads } = lossAndGrads(model, batch, { training: true });
  loss.dispose();
  return grads;
}

/** 'state': optimizer state bytes per parameter on the GPT (tf.memory() growth when the optimizer is built: state is allocated in init). */
export async function stateBytes(ctx: BenchContext): Promise<void> {
  const model = createGPT(ctx.gpt, 0);
  try {
    ctx.progress(`  state bytes per parameter on the GPT (${model.numParams()} parameters)`);
    const bytes: Measurement[] = [];
    for (const n of withAdamw(ctx.optimizers)) {
      const before = tf.memory().numBytes;
      let opt: Optimizer;
      try {
        opt = buildOptimizer(model.params, OPTIMIZERS[n]());
      } catch (e) {
        ctx.progress(`  skip ${n}: ${String((e as Error).message ?? e).split('\n')[0]}`);
        continue;
      }
      const after = tf.memory().numBytes;
      opt.dispose();
      bytes.push(valueMeasurement('state-bytes', n, ctx.backend, 'gpt-params', (after - before) / model.numParams(), 'bytes/param', n));
    }
    for (const m of withAdamwRatios(bytes)) ctx.emit(m);
  } finally {
    model.dispose();
  }
}

/** 'gpt-steps': one optimizer step on the GPT's full parameter set, with the GPT's own gradients. */
export async function gptSteps(ctx: BenchContext): Promise<void> {
  const model = createGPT(ctx.gpt, 0);
  const batch = tokenBatch(ctx.gpt, ctx.gptBatch, 3);
  const grads = gradsOnce(model, batch);
  try {
    ctx.progress(`  optimizer steps on the GPT's ${gptShapeLabel(model)}`);
    await timeSteps(model.params, grads, 'gpt-params', ctx);
  } finally {
    tf.dispose([...grads.values(), batch.x, batch.y]);
    model.dispose();
  }
}

/** 'gpt': forward + backward alone, and train steps (forward + backward + optimizer) with tokens/s. */
export async function gptTrain(ctx: BenchContext): Promise<void> {
  const model = createGPT(ctx.gpt, 0);
  const batch = tokenBatch(ctx.gpt, ctx.gptBatch, 5);
  const tokens = ctx.gptBatch * (ctx.gpt.contextLength ?? 64);
  const shape = `b${ctx.gptBatch}xT${ctx.gpt.contextLength ?? 64}`;
  const opts = buildAll(withAdamw(ctx.trainOptimizers), model.params, ctx);
  const fwdBwd = () => {
    const { loss, grads } = lossAndGrads(model, batch, { training: true });
    tf.dispose([loss, ...grads.values()]);
  };
  const trainStep = (opt: Optimizer) => () => {
    const { loss, grads } = lossAndGrads(model, batch, { training: true });
    opt.step(grads, opt.needsPreviousGrads ? { previousGrads: grads } : {});
    tf.dispose([loss, ...grads.values()]);
  };
  try {
    ctx.progress(`  GPT forward+backward and train steps (${[...opts.keys()].join(', ')}), batch ${shape}`);
    const fns = new Map<string, () => void>([['fwd-bwd', fwdBwd], ...[...opts].map(([n, o]) => [n, trainStep(o)] as [string, () => void])]);
    const timings = await timeRoundRobin(fns, ctx.modelReps);
    const fb = timings.get('fwd-bwd')!;
    ctx.emit(timingMeasurement('gpt-fwd-bwd', 'gpt-fwd-bwd', ctx.backend, shape, fb, { value: tokens / (fb.median / 1000), unit: 'tokens/s' }));
    const group = [...opts.keys()].map((n) => {
      const t = timings.get(n)!;
      return timingMeasurement('gpt-train-step', 'gpt-train-step', ctx.backend, shape, t, { optimizer: n, value: tokens / (t.median / 1000), unit: 'tokens/s' });
    });
    for (const m of withAdamwRatios(group)) ctx.emit(m);
  } finally {
    for (const o of opts.values()) o.dispose();
    tf.dispose([batch.x, batch.y]);
    model.dispose();
  }
}

/** 'ns': five classic Newton-Schulz iterations on one matrix of each shape. */
export async function nsAlone(ctx: BenchContext): Promise<void> {
  for (const shape of ctx.shapes) {
    ctx.progress(`  Newton-Schulz x5 on ${shapeLabel(shape)}`);
    const g = randomMatrix(shape, 4) as tf.Tensor2D;
    try {
      const t = await timeIt(() => tf.dispose(tf.tidy(() => newtonSchulz(g))), ctx.reps);
      ctx.emit(timingMeasurement('newton-schulz', 'newton-schulz', ctx.backend, shapeLabel(shape), t));
    } finally {
      g.dispose();
    }
  }
}

/**
 * 'ns-batching': on each group of same-shape GPT matrices, one `newtonSchulz` per matrix against the
 * rank-3 batched and the block-diagonal forms (stacking included in their time), timed round-robin;
 * plus the sum over all groups; then a whole Muon step on the GPT's parameters with
 * `batchNewtonSchulz` 'never' against 'always', and which of the two 'auto' picks on this backend.
 */
export async function nsBatching(ctx: BenchContext): Promise<void> {
  const model = createGPT(ctx.gpt, 0);
  const groups = new Map<string, tf.Tensor2D[]>();
  for (const p of model.params) {
    if (p.role !== 'matrix' || p.variable.rank !== 2) continue;
    const k = shapeLabel(p.variable.shape);
    groups.set(k, [...(groups.get(k) ?? []), p.variable as tf.Variable as unknown as tf.Tensor2D]);
  }
  const totals = new Map<string, number[]>();
  const masks: tf.Tensor2D[] = [];
  try {
    for (const [k, gs] of groups) {
      if (gs.length < 2) continue;
      const [r, c] = gs[0].shape;
      const mask = blockDiagonalMask(gs.length, Math.min(r, c));
      masks.push(mask);
      ctx.progress(`  Newton-Schulz batching on ${gs.length} x ${k}`);
      const fns = new Map<string, () => void>([
        ['ns-per-matrix', () => tf.dispose(tf.tidy(() => gs.map((g) => newtonSchulz(g))))],
        ['ns-batched-rank3', () => tf.dispose(tf.tidy(() => nsBatchedRank3(gs)))],
        ['ns-block-diagonal', () => tf.dispose(tf.tidy(() => nsBlockDiagonal(gs, mask)))],
      ]);
      const timings = await timeRoundRobin(fns, ctx.reps);
      const base = timings.get('ns-per-matrix')!.median;
      for (const [n, t] of timings) {
        const m = timingMeasurement('ns-batching', n, ctx.backend, `${gs.length}x${k}`, t, { value: t.median / base, unit: 'x per-matrix' });
        ctx.emit(m);
        totals.set(n, [...(totals.get(n) ?? []), t.median]);
      }
    }
    if (totals.size > 0) {
      const base = totals.get('ns-per-matrix')!.reduce((a, b) => a + b, 0);
      for (const [n, ts] of totals) {
        const sum = ts.reduce((a, b) => a + b, 0);
        const m = valueMeasurement('ns-batching-total', n, ctx.backend, 'all-gpt-matrices', sum / base, 'x per-matrix');
        ctx.emit({ ...m, median_ms: Number(sum.toFixed(3)) });
      }
    }
    await muonStepBatching(model, ctx);
  } finally {
    tf.dispose(masks);
    model.dispose();
  }
}

/** Muon steps on the GPT's full parameter set (its own gradients) with and without batched Newton-Schulz, round-robin. */
async function muonStepBatching(model: TrainableModel, ctx: BenchContext): Promise<void> {
  const batch = tokenBatch(ctx.gpt, ctx.gptBatch, 3);
  const grads = gradsOnce(model, batch);
  const modes = ['never', 'always'] as const;
  const opts = new Map(modes.map((m) => [`muon-batch-ns-${m}`, buildOptimizer(model.params, muon({ batchNewtonSchulz: m }))]));
  try {
    ctx.progress(`  Muon step on the GPT's ${gptShapeLabel(model)}, batchNewtonSchulz never vs always`);
    const timings = await timeRoundRobin(new Map([...opts].map(([n, o]) => [n, stepper(o, grads)])), ctx.reps);
    const base = timings.get('muon-batch-ns-never')!.median;
    for (const [n, t] of timings) ctx.emit(timingMeasurement('muon-ns-batching', n, ctx.backend, 'gpt-params', t, { optimizer: 'muon', value: t.median / base, unit: 'x never' }));
    const pick = batchesNewtonSchulz('auto') ? 'muon-batch-ns-always' : 'muon-batch-ns-never';
    ctx.emit(valueMeasurement('muon-ns-batching-auto', pick, ctx.backend, 'gpt-params', 1, 'auto picks', 'muon'));
  } finally {
    for (const o of opts.values()) o.dispose();
    tf.dispose([...grads.values(), batch.x, batch.y]);
  }
}

type InverseRoot = (a: tf.Tensor2D, p: number, opts?: { ridge?: number; maxIter?: number }) => { root: tf.Tensor2D; residual: tf.Scalar };

/** Shampoo's inverse-root function from linalg.ts, when this tree has one. */
export function findInverseRoot(): InverseRoot | null {
  const f = (linalg as Record<string, unknown>).inverseRootNewton;
  return typeof f === 'function' ? (f as InverseRoot) : null;
}

/** 'inverse-root': A^{-1/4} of an n x n PSD matrix (G G^T / n + 1e-3 I), Shampoo's preconditioner root alone. */
export async function inverseRoot(ctx: BenchContext): Promise<void> {
  const root = findInverseRoot();
  if (!root) {
    ctx.progress('  skip inverse-root: optimizers/linalg.ts has no inverseRootNewton in this tree');
    return;
  }
  for (const n of ctx.rootSizes) {
    ctx.progress(`  inverse 4th root (coupled Newton, default iterations) on ${n}x${n}`);
    const a = tf.tidy(() => {
      const g = randomMatrix([n, n], 6) as tf.Tensor2D;
      return tf.add(tf.div(tf.matMul(g, tf.transpose(g)), n), tf.mul(tf.eye(n), 1e-3)) as tf.Tensor2D;
    });
    try {
      const t = await timeIt(() => tf.tidy(() => {
        const r = root(a, 4);
        tf.dispose([r.root, r.residual]);
      }), ctx.reps);
      ctx.emit(timingMeasurement('inverse-root', 'inverse-root-newton', ctx.backend, `${n}x${n}`, t));
    } finally {
      a.dispose();
    }
  }
}

/** A ViT factory from models/vit.ts, when this tree has one. */
async function findViT(): Promise<((config?: object, seed?: number) => TrainableModel) | null> {
  try {
    const mod = (await import('../models/vit.js' as string)) as Record<string, unknown>;
    const f = mod.createViT;
    return typeof f === 'function' ? (f as (config?: object, seed?: number) => TrainableModel) : null;
  } catch {
    return null;
  }
}

/** 'vit': ViT train step (forward + backward + AdamW) on 28x28 images at its default config, images/s. */
export async function vitTrain(ctx: BenchContext): Promise<void> {
  const createViT = await findViT();
  if (!createViT) {
    ctx.progress('  skip vit: models/vit.ts (createViT) is not in this tree');
    return;
  }
  const model = createViT({}, 0);
  const b = ctx.gptBatch * 4;
  const batch: Batch = { x: tf.randomUniform([b, 28, 28], 0, 1, 'float32', 7), y: tf.randomUniform([b], 0, 10, 'int32', 8) };
  const opt = buildOptimizer(model.params, OPTIMIZERS.adamw());
  try {
    ctx.progress(`  ViT train step, batch ${b}, ${model.numParams()} parameters`);
    const t = await timeIt(() => {
      const { loss, grads } = lossAndGrads(model, batch, { training: true });
      opt.step(grads);
      tf.dispose([loss, ...grads.values()]);
    }, ctx.modelReps);
    ctx.emit(timingMeasurement('vit-train-step', 'vit-train-step', ctx.backend, `b${b}x28x28`, t, { optimizer: 'adamw', value: b / (t.median / 1000), unit: 'images/s' }));
  } finally {
    opt.dispose();
    tf.dispose([batch.x, batch.y]);
    model.dispose();
  }
}

/** Backend label of a measurement at `threads` native threads, e.g. 'wasm-native, 2 threads'. */
export const threadLabel = (backend: string, threads: number): string => `${backend}, ${threads} thread${threads === 1 ? '' : 's'}`;

/**
 * 'nanogpt-recipe': nanoGPT's recipe through optlab (bench/recipe.ts), `recipeIters` iterations from a
 * fresh model, the median ms per iteration over iterations from `recipeFrom` on (1-based 101-300 by
 * default: nanoGPT's time per iter, evaluation excluded), with GFLOP/s and the median of each phase
 * (data, forward, backward, optimizer with clipping, read-back). With the native kernels it runs at one
 * thread and at the default count (kernels/addon.ts threadsPerRun), each labelled with its threads.
 */
export async function nanogptRecipe(ctx: BenchContext): Promise<void> {
  const iters = ctx.recipeIters ?? 300;
  const from = ctx.recipeFrom ?? 100;
  if (!(Number.isInteger(iters) && Number.isInteger(from) && from >= 0 && from < iters)) throw new Error(`nanogpt-recipe: need 0 <= recipeFrom < recipeIters, got ${from} and ${iters}`);
  const corpus = loadShakespeare();
  const native = nativeStatus().active;
  const before = nativeStatus().threads;
  const counts = native ? [...new Set([1, threadsPerRun()])] : [0];
  const flops = gptTrainFlops({ ...RECIPE_GPT, vocabSize: corpus.tokenizer.vocabSize }, RECIPE_BATCH);
  try {
    for (const threads of counts) {
      if (native) await enableNativeKernels({ threads });
      const label = native ? threadLabel(ctx.backend, threads) : ctx.backend;
      ctx.progress(`  nanoGPT recipe, ${iters} iterations, median over ${from + 1}-${iters} (${label})`);
      const r = createRecipe({ iters: 2000, corpus });
      const phases = { data: [] as number[], forward: [] as number[], backward: [] as number[], optimizer: [] as number[], readback: [] as number[], total: [] as number[] };
      try {
        for (let it = 0; it < iters; it++) {
          const { times } = await r.iteration((it + 1) % 100 === 0);
          if (it < from) continue;
          phases.data.push(times.data);
          phases.forward.push(times.forward);
          phases.backward.push(times.fwdBwd - times.forward);
          phases.optimizer.push(times.optimizer);
          phases.readback.push(times.readback);
          phases.total.push(times.total);
        }
      } finally {
        r.dispose();
      }
      const t = summarize(phases.total);
      ctx.emit(timingMeasurement('nanogpt-recipe', 'nanogpt-recipe', label, `b${RECIPE_BATCH}xT${RECIPE_GPT.contextLength}`, t, { optimizer: 'adamw', value: flops / 1e6 / t.median, unit: 'GFLOP/s' }));
      for (const ph of ['data', 'forward', 'backward', 'optimizer', 'readback'] as const) {
        ctx.emit(timingMeasurement('nanogpt-recipe-phase', ph, label, `b${RECIPE_BATCH}xT${RECIPE_GPT.contextLength}`, summarize(phases[ph])));
      }
    }
  } finally {
    if (native) await enableNativeKernels({ threads: before });
  }
}

/** Runs the selected suites in order on the active backend. */
export async function runSuites(suites: readonly Suite[], ctx: BenchContext): Promise<void> {
  const table: Record<Suite, (c: BenchContext) => Promise<void>> = {
    'matrix-steps': matrixSteps,
    'gpt-steps': gptSteps,
    state: stateBytes,
    gpt: gptTrain,
    ns: nsAlone,
    'ns-batching': nsBatching,
    'inverse-root': inverseRoot,
    'shampoo-cost': shampooCost,
    vit: vitTrain,
    // --quick (fewer matrix shapes) stops at 512.
    'auon-scaling': (c) => auonScaling(c, c.shapes.length < MATRIX_SHAPES.length ? SCALING_SIZES.slice(0, 3) : SCALING_SIZES),
    // --quick: the four smallest sizes, two rounds (a smoke run, not a measurement for the claim).
    'auon-cost': (c) => auonCost(c, c.shapes.length < MATRIX_SHAPES.length ? { sizes: COST_SIZES.slice(0, 4), rounds: 2 } : {}),
    'nanogpt-recipe': nanogptRecipe,
  };
  for (const s of SUITES) {
    if (!suites.includes(s)) continue;
    const t0 = performance.now();
    ctx.progress(`[${ctx.backend}] ${s}`);
    await table[s](ctx);
    ctx.progress(`[${ctx.backend}] ${s} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}
