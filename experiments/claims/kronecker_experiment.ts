/**
 * How close Shampoo's preconditioner is to the best Kronecker-product approximation of the full
 * Adagrad matrix and of the Gauss-Newton matrix of a layer (Morwani et al., "A New Perspective on
 * Shampoo's Preconditioner", arXiv 2406.17748, ICLR 2025). docs/optimizers/shampoo.md ("Shampoo²")
 * has the derivation; in short, for a layer with gradient G [m, n] (optlab layout [fan_in, fan_out])
 * and g = vec(G) row-major (g[i n + j] = G_ij):
 *
 *   H = sum_t g_t g_t^T               (Adagrad; with beta2 < 1 the EMA beta2 H + (1 - beta2) g g^T)
 *   L = sum_t G_t G_t^T  [m, m],  R = sum_t G_t^T G_t  [n, n]         (Shampoo's factors, same weights)
 *   rearrangement (Van Loan & Pitsianis 1993): M [m^2, n^2], M[(i,k),(j,l)] = H[(i,j),(k,l)],
 *   so that <H, A (x) B> = vec(A)^T M vec(B) and ||H - A (x) B||_F is smallest for the top singular pair.
 *
 * Approximations compared, each by its cosine similarity to H, <H, K>_F / (||H||_F ||K||_F):
 *   optimal   A (x) B from the top singular pair of M, by power iteration from vec(I)
 *   shampoo2  L (x) R: one power-iteration step from the identity (M vec(I_n) = vec(L), M^T vec(I_m) = vec(R))
 *   shampoo   L^1/2 (x) R^1/2: Shampoo's own preconditioner squared (its H^1/2 is L^1/4 (x) R^1/4)
 * The cosine does not depend on a positive scale, so the paper's L (x) R / Tr(H) and the
 * Frobenius-optimal multiple of L (x) R give the same number; none is applied.
 *
 * The Gauss-Newton matrix is estimated at the current weights from per-example gradients with labels
 * sampled from the model's own predictive distribution (for softmax cross-entropy the Gauss-Newton
 * matrix is this Fisher): H_GN = mean_n g_n g_n^T, L_GN, R_GN likewise, over `gnSamples` examples.
 * For a sequence model one example is one sequence with a sampled label at every position; the
 * cross-position terms have zero mean, so the estimate stays unbiased.
 *
 * Warnings: H has (m n)^2 entries in float64 (a 32 x 32 layer: 8 MiB; 32 x 128: 128 MiB); layers above
 * `maxDim` are refused before training. Gradients of the tracked layers are read back every step (a
 * measurement tool, not a training loop); the per-example gradients cost one backward pass each.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOptimizer, type Optimizer } from '../../optimizers/core.js';
import { getOptimizerFactory } from '../../optimizers/index.js';
import { eighTridiagonalQL } from '../../optimizers/eigh.js';
import { createGPT, type GPTConfig } from '../../models/gpt.js';
import { createMLP, type MLPConfig } from '../../models/mlp.js';
import { lossAndGrads, Rng } from '../../models/layers.js';
import { loadMNIST, loadShakespeare, textBatches, IMAGE_SIZE } from '../../models/data.js';
import type { Batch, TrainableModel } from '../../models/model.js';
import { renderSvg } from '../analysis/report.js';
import { environment, type RunEnvironment } from '../runner/runner.js';

// ---------------------------------------------------------------------------------------------
// Float64 linear algebra on one layer's matrices

/** Frobenius norm of a flat array. */
export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** M v for the rearrangement M [m^2, n^2] of H [(mn), (mn)]: (M v)[i m + k] = sum_{j,l} H[i n + j, k n + l] v[j n + l]. */
export function rearrangedMatVec(h: Float64Array, m: number, n: number, v: ArrayLike<number>): Float64Array {
  const d = m * n;
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      for (let j = 0; j < n; j++) {
        const row = (i * n + j) * d + k * n;
        const vo = j * n;
        for (let l = 0; l < n; l++) s += h[row + l] * v[vo + l];
      }
      out[i * m + k] = s;
    }
  }
  return out;
}

/** M^T u for the rearrangement of H: (M^T u)[j n + l] = sum_{i,k} H[i n + j, k n + l] u[i m + k]. */
export function rearrangedMatVecT(h: Float64Array, m: number, n: number, u: ArrayLike<number>): Float64Array {
  const d = m * n;
  const out = new Float64Array(n * n);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const c = u[i * m + k];
      if (c === 0) continue;
      for (let j = 0; j < n; j++) {
        const row = (i * n + j) * d + k * n;
        const oo = j * n;
        for (let l = 0; l < n; l++) out[oo + l] += c * h[row + l];
      }
    }
  }
  return out;
}

/** The dense rearrangement M [m^2, n^2] of H (row-major), for tests and small cases. */
export function rearrange(h: ArrayLike<number>, m: number, n: number): Float64Array {
  const d = m * n;
  const out = new Float64Array(m * m * n * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let k = 0; k < m; k++) for (let l = 0; l < n; l++) out[(i * m + k) * n * n + j * n + l] = h[(i * n + j) * d + k * n + l];
  return out;
}

/** Options of the power iteration for the optimal Kronecker approximation. */
export interface PowerOptions {
  /** Iteration cap. @default 1000 */
  maxIter?: number;
  /** Converged when ||M^T u - sigma v|| <= tol * sigma. @default 1e-9 */
  tol?: number;
}

/** Top singular pair of the rearranged H: H's best Frobenius-norm approximation by one Kronecker product A (x) B. */
export interface KroneckerFactors {
  /** Left factor [m, m] row-major (unit Frobenius norm, positive trace). */
  a: Float64Array;
  /** Right factor [n, n] row-major (unit Frobenius norm, positive trace). */
  b: Float64Array;
  /** Top singular value of M: <H, a (x) b>. */
  sigma: number;
  iterations: number;
  /** ||M^T u - sigma v|| / sigma at the end. */
  residual: number;
  converged: boolean;
}

/**
 * Van Loan-Pitsianis: the top singular pair of M = R(H) by alternating power iteration, started from
 * u = vec(I_m) / sqrt(m) (the first half-step gives vec(R), the next vec(L)-like: Shampoo²'s factors).
 * Throws on a zero H. Does not throw when the cap is reached: `converged` says so and callers count it.
 */
export function optimalKronecker(h: Float64Array, m: number, n: number, opts: PowerOptions = {}): KroneckerFactors {
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-9;
  if (h.length !== m * n * m * n) throw new Error(`optimalKronecker: H has ${h.length} entries, expected (${m}*${n})^2 = ${(m * n) ** 2}`);
  let u: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) u[i * m + i] = 1 / Math.sqrt(m);
  let mtu = rearrangedMatVecT(h, m, n, u);
  let v: Float64Array = new Float64Array(n * n);
  let sigma = 0;
  let residual = Infinity;
  let it = 0;
  while (it < maxIter) {
    it++;
    const s1 = frobenius(mtu);
    if (s1 === 0) throw new Error('optimalKronecker: the matrix is zero (no gradient reached this layer?)');
    v = mtu.map((x) => x / s1);
    const mv = rearrangedMatVec(h, m, n, v);
    sigma = frobenius(mv);
    u = mv.map((x) => x / sigma);
    mtu = rearrangedMatVecT(h, m, n, u);
    let r = 0;
    for (let i = 0; i < mtu.length; i++) r += (mtu[i] - sigma * v[i]) ** 2;
    residual = Math.sqrt(r) / sigma;
    if (residual <= tol) break;
  }
  // Singular vectors are defined up to a joint sign; for a PSD H the factors can be taken PSD (positive trace).
  let tr = 0;
  for (let i = 0; i < m; i++) tr += u[i * m + i];
  if (tr < 0) {
    u = u.map((x) => -x);
    v = v.map((x) => -x);
  }
  return { a: u, b: v, sigma, iterations: it, residual, converged: residual <= tol };
}

/** Cosine similarity <H, A (x) B>_F / (||H|| ||A|| ||B||) without forming A (x) B. */
export function kroneckerCosine(h: Float64Array, m: number, n: number, a: ArrayLike<number>, b: ArrayLike<number>, hNorm = frobenius(h)): number {
  const mb = rearrangedMatVec(h, m, n, b);
  let s = 0;
  for (let i = 0; i < mb.length; i++) s += a[i] * mb[i];
  return s / (hNorm * frobenius(a) * frobenius(b));
}

/** A^p of a symmetric PSD matrix [k, k] through its float64 eigendecomposition (negative rounding eigenvalues clamp to 0). */
export function psdPower(a: ArrayLike<number>, k: number, p: number): Float64Array {
  // Eigenvector q is row q of `vectors` (optimizers/eigh.ts).
  const { values, vectors } = eighTridiagonalQL(a, k);
  const f = Array.from(values, (l) => Math.pow(Math.max(l, 0), p));
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += vectors[q * k + i] * f[q] * vectors[q * k + j];
      out[i * k + j] = out[j * k + i] = s;
    }
  }
  return out;
}

/**
 * The full second-moment matrix of one layer's gradients with Shampoo's two factors, all in float64,
 * accumulated with the same weights: plain sums when beta2 = 1 (Adagrad, Shampoo's default), else
 * EMAs X <- beta2 X + (1 - beta2) x (as optimizers/shampoo.ts accumulates L and R).
 */
export class KroneckerStats {
  /** H [(m n), (m n)] row-major. */
  readonly h: Float64Array;
  /** L = sum G G^T [m, m]. */
  readonly l: Float64Array;
  /** R = sum G^T G [n, n]. */
  readonly r: Float64Array;
  /** Gradients added. */
  count = 0;

  constructor(
    readonly m: number,
    readonly n: number,
    readonly beta2 = 1,
  ) {
    if (!(beta2 > 0 && beta2 <= 1)) throw new Error(`KroneckerStats: beta2 must be in (0, 1], got ${beta2}`);
    this.h = new Float64Array(m * n * m * n);
    this.l = new Float64Array(m * m);
    this.r = new Float64Array(n * n);
  }

  /** Adds one gradient G [m, n] (row-major). */
  add(g: ArrayLike<number>): void {
    const { m, n, h, l, r } = this;
    const d = m * n;
    if (g.length !== d) throw new Error(`KroneckerStats: gradient has ${g.length} entries, expected ${m}x${n}`);
    const keep = this.beta2 === 1 ? 1 : this.beta2;
    const w = this.beta2 === 1 ? 1 : 1 - this.beta2;
    if (keep !== 1) {
      for (let i = 0; i < h.length; i++) h[i] *= keep;
      for (let i = 0; i < l.length; i++) l[i] *= keep;
      for (let i = 0; i < r.length; i++) r[i] *= keep;
    }
    for (let p = 0; p < d; p++) {
      const gp = w * g[p];
      if (gp === 0) continue;
      const row = p * d;
      for (let q = 0; q < d; q++) h[row + q] += gp * g[q];
    }
    for (let i = 0; i < m; i++) for (let k = 0; k < m; k++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += g[i * n + j] * g[k * n + j];
      l[i * m + k] += w * s;
    }
    for (let j = 0; j < n; j++) for (let q = 0; q < n; q++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += g[i * n + j] * g[i * n + q];
      r[j * n + q] += w * s;
    }
    this.count++;
  }
}

/** Cosine similarities of the three approximations to one matrix. */
export interface Similarities {
  optimal: number;
  shampoo2: number;
  shampoo: number;
  powerIterations: number;
  powerResidual: number;
  converged: boolean;
}

/** Compares the optimal Kronecker approximation, L (x) R and L^1/2 (x) R^1/2 with H. */
export function similarities(s: KroneckerStats, power: PowerOptions = {}): Similarities {
  const { h, l, r, m, n } = s;
  const hn = frobenius(h);
  if (hn === 0) throw new Error('similarities: the matrix is zero (no gradient added?)');
  const opt = optimalKronecker(h, m, n, power);
  return {
    optimal: opt.sigma / hn,
    shampoo2: kroneckerCosine(h, m, n, l, r, hn),
    shampoo: kroneckerCosine(h, m, n, psdPower(l, m, 0.5), psdPower(r, n, 0.5), hn),
    powerIterations: opt.iterations,
    powerResidual: opt.residual,
    converged: opt.converged,
  };
}

// ---------------------------------------------------------------------------------------------
// The experiment: train a small model, track chosen layers

/** A model whose predictive distribution can be sampled: logits over the last axis, targets shaped like the rest. */
export interface SampledModel extends TrainableModel {
  logits(x: tf.Tensor): tf.Tensor;
}

/** The tasks `optlab kronecker` knows. */
export const KRONECKER_TASKS = ['mnist2-mlp', 'gpt'] as const;
/** One of KRONECKER_TASKS. */
export type KroneckerTask = (typeof KRONECKER_TASKS)[number];

/** Options of `runKronecker`; defaults per task in `KRONECKER_DEFAULTS`. */
export interface KroneckerOptions {
  task: KroneckerTask;
  /** Registry name of the optimizer that trains the model. */
  optimizer: string;
  /** Its options (lr, ...); checked by its factory. */
  optimizerOptions: Record<string, unknown>;
  steps: number;
  /** Similarities are computed every this many steps (and at the last step). */
  every: number;
  batchSize: number;
  seeds: number[];
  /** Parameter names to track (2-D weights). */
  layers: string[];
  /** Per-example gradients for the Gauss-Newton estimate at each evaluation (0: Adagrad only). */
  gnSamples: number;
  /** EMA of H, L, R (1: sums, as Adagrad and Shampoo's default). */
  beta2: number;
  /** Refuse layers whose m n exceeds this (H takes 8 (m n)^2 bytes). */
  maxDim: number;
  power: PowerOptions;
  /** mnist2-mlp: the two digits (labels 0 and 1 in that order), training examples kept, pooling; gpt: model shape. */
  digits: [number, number];
  subset: number;
  pool: number;
  gpt: Partial<GPTConfig>;
  mlp: Partial<MLPConfig>;
}

/** Defaults per task (every field but `task`). */
export const KRONECKER_DEFAULTS: Record<KroneckerTask, Omit<KroneckerOptions, 'task'>> = {
  'mnist2-mlp': {
    optimizer: 'adamw',
    optimizerOptions: { lr: 1e-3 },
    steps: 200,
    every: 25,
    batchSize: 64,
    seeds: [0],
    layers: ['fc0', 'fc1'],
    gnSamples: 128,
    beta2: 1,
    maxDim: 4096,
    power: { maxIter: 1000, tol: 1e-9 },
    digits: [3, 5],
    subset: 4096,
    pool: 4,
    gpt: {},
    mlp: { hidden: 32, depth: 2 },
  },
  gpt: {
    optimizer: 'adamw',
    optimizerOptions: { lr: 3e-3 },
    steps: 200,
    every: 25,
    batchSize: 8,
    seeds: [0],
    layers: ['blocks.0.attn.proj', 'blocks.1.attn.proj', 'blocks.0.mlp.fc'],
    gnSamples: 32,
    beta2: 1,
    maxDim: 4096,
    power: { maxIter: 1000, tol: 1e-9 },
    digits: [3, 5],
    subset: 4096,
    pool: 4,
    gpt: { contextLength: 32, width: 32, nHead: 4, nLayer: 2 },
    mlp: {},
  },
};

/** One CSV row: one layer, one matrix, one evaluation step. */
export interface KroneckerRow {
  task: string;
  seed: number;
  layer: string;
  rows: number;
  cols: number;
  step: number;
  /** 'adagrad' or 'gauss-newton'. */
  matrix: string;
  optimal: number;
  shampoo2: number;
  shampoo: number;
  power_iterations: number;
  power_residual: number;
  converged: number;
  samples: number;
  train_loss: number;
}

/** Columns of kronecker.csv, in order. */
export const KRONECKER_COLUMNS = ['task', 'seed', 'layer', 'rows', 'cols', 'step', 'matrix', 'optimal', 'shampoo2', 'shampoo', 'power_iterations', 'power_residual', 'converged', 'samples', 'train_loss'] as const;

/** A task's model and data for one seed. */
interface KronSetup {
  model: SampledModel;
  nextBatch(): Batch;
  /** One example (batch of 1) for the Gauss-Newton estimate; labels are replaced by samples. */
  example(rng: Rng): tf.Tensor;
  dispose(): void;
}

/** 28x28 images average-pooled by `pool` (28 must be divisible by it), flattened. */
function poolImages(images: Float32Array, idx: readonly number[], pool: number): Float32Array {
  if (IMAGE_SIZE % pool !== 0) throw new Error(`kronecker: pool ${pool} does not divide the image size ${IMAGE_SIZE}`);
  const s = IMAGE_SIZE / pool;
  const out = new Float32Array(idx.length * s * s);
  idx.forEach((n, k) => {
    const base = n * IMAGE_SIZE * IMAGE_SIZE;
    for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) {
      let sum = 0;
      for (let i = 0; i < pool; i++) for (let j = 0; j < pool; j++) sum += images[base + (a * pool + i) * IMAGE_SIZE + b * pool + j];
      out[k * s * s + a * s + b] = sum / (pool * pool);
    }
  });
  return out;
}

function setupTask(o: KroneckerOptions, seed: number): KronSetup {
  if (o.task === 'mnist2-mlp') {
    const ds = loadMNIST();
    const [d0, d1] = o.digits;
    if (d0 === d1 || ![d0, d1].every((d) => Number.isInteger(d) && d >= 0 && d <= 9)) throw new Error(`kronecker: digits must be two different digits 0..9, got [${o.digits}]`);
    const idx: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < ds.train.n && idx.length < o.subset; i++) {
      const y = ds.train.labels[i];
      if (y === d0 || y === d1) {
        idx.push(i);
        labels.push(y === d0 ? 0 : 1);
      }
    }
    const x = poolImages(ds.train.images, idx, o.pool);
    const dim = (IMAGE_SIZE / o.pool) ** 2;
    const model = createMLP({ ...o.mlp, inputDim: dim, numClasses: 2 }, seed);
    const rng = new Rng(seed + 1);
    const pick = (k: number[]) => ({ x: tf.tensor2d(Float32Array.from(k.flatMap((i) => Array.from(x.subarray(i * dim, (i + 1) * dim)))), [k.length, dim]), y: tf.tensor1d(k.map((i) => labels[i]), 'int32') });
    return {
      model,
      nextBatch: () => pick(Array.from({ length: o.batchSize }, () => rng.int(idx.length))),
      example: (r) => pick([r.int(idx.length)]).x,
      dispose: () => model.dispose(),
    };
  }
  const corpus = loadShakespeare();
  const model = createGPT({ ...o.gpt, vocabSize: corpus.tokenizer.vocabSize }, seed);
  const T = model.config.contextLength;
  const stream = textBatches(corpus.train, { batchSize: o.batchSize, contextLength: T, seed: seed + 1 });
  return {
    model,
    nextBatch: () => stream.next(),
    example: (r) => {
      const i = r.int(corpus.train.length - T);
      return tf.tensor2d(corpus.train.slice(i, i + T), [1, T], 'int32');
    },
    dispose: () => model.dispose(),
  };
}

/** Labels drawn from softmax(logits) over the last axis, shaped like the logits without it (int32). */
function sampleLabels(logits: tf.Tensor, rng: Rng): tf.Tensor {
  const k = logits.shape[logits.rank - 1];
  const probs = tf.tidy(() => tf.softmax(tf.reshape(logits, [-1, k])));
  const p = probs.dataSync();
  probs.dispose();
  const rows = p.length / k;
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let u = rng.next();
    let c = k - 1;
    for (let j = 0; j < k; j++) {
      u -= p[i * k + j];
      if (u <= 0) {
        c = j;
        break;
      }
    }
    y[i] = c;
  }
  return tf.tensor(y, logits.shape.slice(0, -1), 'int32');
}

/** Where a run's files go and what it measured. */
export interface KroneckerResult {
  rows: KroneckerRow[];
  /** Power iterations that hit the cap (their 'optimal' is a lower bound). */
  unconverged: number;
  wallMs: number;
  env: RunEnvironment;
}

/** Fills options over the task's defaults and checks them before any work. */
export function resolveKroneckerOptions(o: Omit<Partial<KroneckerOptions>, 'task'> & { task: string }): KroneckerOptions {
  if (!(KRONECKER_TASKS as readonly string[]).includes(o.task)) throw new Error(`kronecker: unknown task '${o.task}'; known: ${KRONECKER_TASKS.join(', ')}`);
  const task = o.task as KroneckerTask;
  const r: KroneckerOptions = { ...KRONECKER_DEFAULTS[task], ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)), task };
  for (const k of ['steps', 'every', 'batchSize', 'maxDim', 'subset', 'pool'] as const) {
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new Error(`kronecker: ${k} must be a positive integer, got ${r[k]}`);
  }
  if (!Number.isInteger(r.gnSamples) || r.gnSamples < 0) throw new Error(`kronecker: gnSamples must be a non-negative integer, got ${r.gnSamples}`);
  if (r.seeds.length === 0 || r.seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`kronecker: seeds must be non-negative integers, got [${r.seeds}]`);
  if (r.layers.length === 0) throw new Error('kronecker: name at least one layer');
  getOptimizerFactory(r.optimizer);
  return r;
}

/**
 * Trains the task's model with the chosen optimizer and, every `every` steps, compares the three
 * approximations with the Adagrad matrix (accumulated since step 1) and with a fresh Gauss-Newton
 * estimate, for every tracked layer. Throws on an unknown layer, a layer that is not 2-D or too
 * large, or an optimizer that needs previous gradients, before training.
 */
export function runKronecker(opts: KroneckerOptions, log: (line: string) => void = () => {}): KroneckerResult {
  const t0 = performance.now();
  const rows: KroneckerRow[] = [];
  let unconverged = 0;
  for (const seed of opts.seeds) {
    const setup = setupTask(opts, seed);
    let opt: Optimizer | null = null;
    try {
      const byName = new Map(setup.model.params.map((p) => [p.name, p]));
      const tracked = opts.layers.map((name) => {
        const p = byName.get(name);
        if (!p) throw new Error(`kronecker: no parameter '${name}' in the ${opts.task} model; 2-D ones: ${setup.model.params.filter((q) => q.variable.rank === 2).map((q) => `${q.name} [${q.variable.shape}]`).join(', ')}`);
        if (p.variable.rank !== 2) throw new Error(`kronecker: '${name}' has shape [${p.variable.shape}], not a matrix`);
        const [m, n] = p.variable.shape;
        if (m * n > opts.maxDim) throw new Error(`kronecker: '${name}' [${m}, ${n}] has an Adagrad matrix of ${m * n} x ${m * n} (${((8 * (m * n) ** 2) / 2 ** 20).toFixed(0)} MiB); above maxDim ${opts.maxDim}`);
        return { p, m, n, stats: new KroneckerStats(m, n, opts.beta2) };
      });
      const factory = getOptimizerFactory(opts.optimizer);
      opt = buildOptimizer(setup.model.params, factory(opts.optimizerOptions));
      if (opt.needsPreviousGrads) throw new Error(`kronecker: optimizer '${opts.optimizer}' with these options needs previous gradients (MARS exact mode); not supported here`);
      const gnRng = new Rng(seed + 101);
      for (let step = 1; step <= opts.steps; step++) {
        const batch = setup.nextBatch();
        const { loss, grads } = lossAndGrads(setup.model, batch, { training: true });
        for (const t of tracked) t.stats.add(grads.get(t.p.name)!.dataSync());
        const trainLoss = loss.dataSync()[0];
        if (!Number.isFinite(trainLoss)) throw new Error(`kronecker: training loss is ${trainLoss} at step ${step} (lower the learning rate)`);
        opt.step(grads);
        tf.dispose([loss, ...grads.values(), batch.x, batch.y]);
        if (step % opts.every !== 0 && step !== opts.steps) continue;
        const gn = opts.gnSamples > 0 ? gaussNewton(setup, tracked, opts, gnRng) : [];
        for (const [k, t] of tracked.entries()) {
          const sets: [string, KroneckerStats][] = [['adagrad', t.stats]];
          if (gn.length) sets.push(['gauss-newton', gn[k]]);
          for (const [matrix, st] of sets) {
            const s = similarities(st, opts.power);
            if (!s.converged) unconverged++;
            rows.push({
              task: opts.task, seed, layer: t.p.name, rows: t.m, cols: t.n, step, matrix,
              optimal: s.optimal, shampoo2: s.shampoo2, shampoo: s.shampoo,
              power_iterations: s.powerIterations, power_residual: s.powerResidual, converged: s.converged ? 1 : 0,
              samples: st.count, train_loss: trainLoss,
            });
            log(`seed ${seed} step ${step} ${t.p.name} ${matrix}: optimal ${s.optimal.toFixed(4)}, shampoo2 ${s.shampoo2.toFixed(4)}, shampoo ${s.shampoo.toFixed(4)} (${s.powerIterations} power iterations${s.converged ? '' : ', NOT converged'})`);
          }
        }
      }
    } finally {
      opt?.dispose();
      setup.dispose();
    }
  }
  return { rows, unconverged, wallMs: performance.now() - t0, env: environment() };
}

/** Per-example gradients with sampled labels at the current weights; one KroneckerStats (sums) per tracked layer. */
function gaussNewton(setup: KronSetup, tracked: { p: { name: string; variable: tf.Variable }; m: number; n: number }[], opts: KroneckerOptions, rng: Rng): KroneckerStats[] {
  const out = tracked.map((t) => new KroneckerStats(t.m, t.n, 1));
  const vars = tracked.map((t) => t.p.variable);
  for (let s = 0; s < opts.gnSamples; s++) {
    const x = setup.example(rng);
    const logits = tf.tidy(() => setup.model.logits(x));
    const y = sampleLabels(logits, rng);
    logits.dispose();
    const { value, grads } = tf.variableGrads(() => setup.model.loss({ x, y }, { training: false }), vars);
    tracked.forEach((t, k) => out[k].add(grads[t.p.variable.name].dataSync()));
    tf.dispose([value, ...Object.values(grads), x, y]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

const csvCell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(8)) : String(v));

/** kronecker.csv text. */
export function kroneckerCsv(rows: readonly KroneckerRow[]): string {
  return [KRONECKER_COLUMNS.join(','), ...rows.map((r) => KRONECKER_COLUMNS.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

/** Reads kronecker.csv back into rows. */
export function parseKroneckerCsv(text: string): KroneckerRow[] {
  const [head, ...lines] = text.trim().split('\n');
  const cols = head.split(',');
  for (const c of KRONECKER_COLUMNS) if (!cols.includes(c)) throw new Error(`kronecker.csv: missing column '${c}'`);
  return lines.map((line) => {
    const cells = line.split(',');
    const o: Record<string, unknown> = {};
    cols.forEach((c, i) => (o[c] = ['task', 'layer', 'matrix'].includes(c) ? cells[i] : Number(cells[i])));
    return o as unknown as KroneckerRow;
  });
}

/** Cosine to the true matrix against step, one panel per layer (columns) and matrix (rows), mean over seeds. */
export async function kroneckerPlot(rows: readonly KroneckerRow[], title: string): Promise<string> {
  const values = rows.flatMap((r) => (['optimal', 'shampoo2', 'shampoo'] as const).map((a) => ({ layer: `${r.layer} [${r.rows}x${r.cols}]`, matrix: r.matrix, step: r.step, approximation: a === 'optimal' ? 'optimal Kronecker' : a === 'shampoo2' ? 'Shampoo² (L⊗R)' : 'Shampoo (L^½⊗R^½)', cosine: r[a], seed: r.seed })));
  const seeds = new Set(rows.map((r) => r.seed)).size;
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${title} (${seeds > 1 ? `mean over ${seeds} seeds` : 'one seed'})`,
    background: 'white',
    data: { values },
    facet: { row: { field: 'matrix', type: 'nominal', title: null }, column: { field: 'layer', type: 'nominal', title: null } },
    spec: {
      width: 240,
      height: 180,
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'cosine', type: 'quantitative', aggregate: 'mean', title: 'cosine similarity to H', scale: { zero: false } },
        color: { field: 'approximation', type: 'nominal', title: null, sort: ['optimal Kronecker', 'Shampoo² (L⊗R)', 'Shampoo (L^½⊗R^½)'] },
      },
    },
    config: { font: 'sans-serif' },
  } as never);
}

/** Writes kronecker.csv, kronecker.svg and kronecker.json (options, environment, wall time) into `dir`. */
export async function writeKronecker(dir: string, opts: KroneckerOptions, res: KroneckerResult, backend: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kronecker.csv'), kroneckerCsv(res.rows));
  writeFileSync(join(dir, 'kronecker.svg'), await kroneckerPlot(res.rows, `${opts.task}: Kronecker approximations, trained with ${opts.optimizer}`));
  const meta = { options: opts, unconverged: res.unconverged, wallMs: Math.round(res.wallMs), env: { ...res.env, backend }, finishedAt: new Date().toISOString() };
  writeFileSync(join(dir, 'kronecker.json'), JSON.stringify(meta, null, 1) + '\n');
}
