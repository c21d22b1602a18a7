/**
 * nanoGPT's CPU recipe for Tiny Shakespeare as one reusable training loop: the model, optimizer,
 * schedule and data of bench/nanogpt_recipe.ts, one iteration at a time, with each phase of an
 * iteration timed (data batch, forward + backward, optimizer step with clipping, read-back). The
 * `nanogpt-recipe` benchmark row (bench/suites.ts) and the profile (bench/profile_recipe.ts) use it.
 *
 *   4 layers, 4 heads, width 128, context 64, batch 12, no bias, no dropout, tied embeddings; AdamW
 *   lr 1e-3, betas (0.9, 0.99), eps 1e-8, 100 warmup steps then cosine to 1e-4 at `iters`, weight
 *   decay 0.1 on role 'matrix' (or every rank-2 parameter with `decayEmbeddings`, as nanoGPT),
 *   gradient clipping at global norm 1.0 (karpathy/nanoGPT README, "I only have a macbook").
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadShakespeare, textBatches, type BatchStream, type TextCorpus } from '../models/data.js';
import { createGPT, type GPT, type GPTConfig } from '../models/gpt.js';
import { adamw } from '../optimizers/adamw.js';
import { buildOptimizer, type Optimizer } from '../optimizers/core.js';

/** The recipe's model (vocabSize comes from the corpus). */
export const RECIPE_GPT: Omit<GPTConfig, 'vocabSize'> = { contextLength: 64, width: 128, nHead: 4, nLayer: 4, dropout: 0, bias: false, tieEmbeddings: true };
/** A learning-rate multiplier by 1-based step (experiments/runner/schedule.ts's Schedule). */
export type Schedule = (step: number) => number;

/**
 * The recipe's learning-rate multiplier: linear warmup over 100 steps (step / 100, 1-based), then cosine
 * from 1 to 0.1 at `total` (lr 1e-3 to 1e-4), 0.1 after: experiments/runner/schedule.ts warmupCosine({ warmup:
 * 100, total, floor: 0.1 }), written out here because bench/ files that cli/bench_command.ts
 * reaches may not import experiments/ (test/layout.test.ts); test/bench/peer.test.ts checks they agree.
 */
export function recipeSchedule(total: number): Schedule {
  const warmup = 100;
  const floor = 0.1;
  return (step) => {
    if (step <= warmup) return step / warmup;
    if (step >= total) return floor;
    const ratio = (step - warmup) / Math.max(1, total - warmup);
    return floor + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (1 - floor);
  };
}

/** Sequences per batch. */
export const RECIPE_BATCH = 12;
/** Peak learning rate. */
export const RECIPE_LR = 1e-3;

/** Options of `createRecipe`. */
export interface RecipeOptions {
  /** Iterations of the schedule (cosine ends there). @default 2000 */
  iters?: number;
  /** Seed of the weights; the batches use seed + 1. @default 0 */
  seed?: number;
  /** Decay every rank-2 parameter (nanoGPT) instead of role 'matrix' only. @default false */
  decayEmbeddings?: boolean;
  /** An already loaded corpus (the recipe loads data/tinyshakespeare.txt otherwise). */
  corpus?: TextCorpus;
}

/** The phases of an iteration, in order. */
export type RecipePhase = 'data' | 'forward' | 'backward' | 'optimizer' | 'readback';

/** Milliseconds one iteration spent in each phase. */
export interface IterationTimes {
  /** Drawing the batch and uploading it. */
  data: number;
  /** Forward and backward (tf.variableGrads). */
  fwdBwd: number;
  /** The forward part of `fwdBwd`: until the loss is computed (the tape is recorded). */
  forward: number;
  /** Gradient clipping and the optimizer step. */
  optimizer: number;
  /** Awaiting the loss value (only on iterations that read it). */
  readback: number;
  /** The whole iteration. */
  total: number;
}

/** A recipe run in progress: call `iteration` in a loop, then `dispose`. */
export interface Recipe {
  readonly model: GPT;
  readonly opt: Optimizer;
  readonly corpus: TextCorpus;
  readonly schedule: Schedule;
  /** Iterations done so far. */
  readonly done: number;
  /**
   * One training iteration (1-based number `done + 1`): batch, forward + backward, clipped AdamW
   * step. Reads the loss back when `readLoss` (the value is returned), else returns NaN.
   * `onPhase` is told when each phase starts (bench/profile_recipe.ts attributes kernels by it).
   */
  iteration(readLoss?: boolean, onPhase?: (phase: RecipePhase) => void): Promise<{ loss: number; times: IterationTimes }>;
  dispose(): void;
}

/** Builds the recipe's model, optimizer, schedule and batch stream on the active backend. */
export function createRecipe(opts: RecipeOptions = {}): Recipe {
  const iters = opts.iters ?? 2000;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(iters) || iters < 1) throw new Error(`recipe: iters must be a positive integer, got ${iters}`);
  const corpus = opts.corpus ?? loadShakespeare();
  const model = createGPT({ ...RECIPE_GPT, vocabSize: corpus.tokenizer.vocabSize }, seed);
  const opt = buildOptimizer(model.params, adamw({ lr: RECIPE_LR, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, decayOn: opts.decayEmbeddings ? 'rank2' : 'matrix' }), { clipNorm: 1.0 });
  const schedule = recipeSchedule(iters);
  const train: BatchStream = textBatches(corpus.train, { batchSize: RECIPE_BATCH, contextLength: RECIPE_GPT.contextLength, seed: seed + 1 });
  const vars = model.params.map((p) => p.variable);
  let done = 0;
  return {
    model,
    opt,
    corpus,
    schedule,
    get done() {
      return done;
    },
    async iteration(readLoss = false, onPhase) {
      const t0 = performance.now();
      onPhase?.('data');
      const batch = train.next();
      const t1 = performance.now();
      onPhase?.('forward');
      let tForward = t1;
      // models/layers.ts lossAndGrads, with a clock where the forward pass ends.
      const { value: loss, grads: byVar } = tf.variableGrads(() => {
        const l = model.loss(batch, { training: true });
        tForward = performance.now();
        onPhase?.('backward');
        return l;
      }, vars);
      const grads = new Map(model.params.filter((p) => byVar[p.variable.name]).map((p) => [p.name, byVar[p.variable.name]]));
      const t2 = performance.now();
      onPhase?.('optimizer');
      opt.step(grads, { lrScale: schedule(done + 1) });
      for (const g of grads.values()) g.dispose();
      tf.dispose([batch.x, batch.y]);
      const t3 = performance.now();
      onPhase?.('readback');
      const value = readLoss ? (await loss.data())[0] : NaN;
      loss.dispose();
      const t4 = performance.now();
      done += 1;
      return { loss: value, times: { data: t1 - t0, fwdBwd: t2 - t1, forward: tForward - t1, optimizer: t3 - t2, readback: t4 - t3, total: t4 - t0 } };
    },
    dispose() {
      opt.dispose();
      model.dispose();
    },
  };
}

/**
 * Floating-point operations of one training iteration of a GPT (forward + backward), counted as
 * matmuls only: 6 per weight per token for the block weights and the lm head (2 forward, 4 backward),
 * plus the attention products QK^T and AV over the full T x T (12 B T^2 C per layer, forward and
 * backward). The one-hot embedding matmul optlab runs (models/layers.ts `embed`) is not counted:
 * PyTorch gathers. Elementwise work, softmax and layer norms are not counted either.
 */
export function gptTrainFlops(c: Pick<GPTConfig, 'vocabSize' | 'contextLength' | 'width' | 'nLayer'>, batch: number): number {
  const tokens = batch * c.contextLength;
  const weights = c.nLayer * 12 * c.width * c.width + c.width * c.vocabSize;
  return 6 * tokens * weights + c.nLayer * 12 * batch * c.contextLength ** 2 * c.width;
}

/** The float32 peak of the project's 2-core machine in GFLOP/s (docs/backends.md), unless $OPTLAB_PEAK_GFLOPS says otherwise. */
export function peakGflops(): number {
  const env = process.env.OPTLAB_PEAK_GFLOPS;
  if (env === undefined || env === '') return 570;
  const v = Number(env);
  if (!(v > 0)) throw new Error(`OPTLAB_PEAK_GFLOPS: expected a positive number, got '${env}'`);
  return v;
}

/** Median of samples (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median: no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
