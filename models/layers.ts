/**
 * Building blocks of the models, written around the wasm backend's traps (docs/backends.md, "Traps of the wasm backend"):
 *
 * - `matMul2d`: a 2-D matmul whose gradients use explicit `tf.transpose` instead of the
 *   transposeA/transposeB flags, which take a 12-30x slower path on wasm; dense layers reshape
 *   [B, T, C] to [B*T, C] so every weight product is one 2-D matmul.
 * - `embed`: one-hot matmul embedding, because the gradient of `tf.gather` (UnsortedSegmentSum) does
 *   not exist on wasm; the one-hot is built in int32 then cast (float32 oneHot gives denormals).
 * - `causalMask`: an additive float mask; select on bool tensors corrupts the wasm heap.
 * - `selfAttention`: one fused native kernel each way with the native kernels; elsewhere per-batch-and-head
 *   products as one rank-3 batched matmul with flag-free custom gradients (bench/model_speed.ts
 *   measured it against a loop of 2-D matmuls).
 * - `crossEntropy`: softmax cross-entropy with the closed-form gradient (softmax - onehot) / N.
 *
 * Parameters live in `ParamStore`, which seeds their initial values from a JS generator so that a
 * model built from one seed is the same on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedOps } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';
import type { Parameter, Role } from '../optimizers/core.js';
import type { Batch, LossOptions, TrainableModel } from './model.js';

/** The body of a custom-gradient op: inputs then the save function, value and gradient out. */
type CustomBody = (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };

/** tf.customGrad with the body typed by its real arity (tfjs types the body as variadic). */
function customOp<F>(body: CustomBody): F {
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as F;
}

/** a @ b for 2-D a [m, k] and b [k, n], with gradients dy @ b^T and a^T @ dy built from explicit transposes. */
export const matMul2d = customOp<(a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D>(
  (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor2D[];
        const g = dy as tf.Tensor2D;
        // With native kernels (kernels/wasm_kernels.ts) the flags are OpenBLAS arguments: no transpose at all.
        if (fusedOps()) return [tf.matMul(g, sb, false, true), tf.matMul(sa, g, true, false)];
        // db = a^T dy transposes a [m, k]; (dy^T a)^T transposes dy [m, n] and the result [n, k].
        // wasm's Transpose is slow (~100M elements/s), so the smaller of the two pays.
        const [m, k] = sa.shape;
        const n = g.shape[1];
        const db = m * k <= m * n + n * k ? tf.matMul(tf.transpose(sa), g) : tf.transpose(tf.matMul(tf.transpose(g), sa));
        return [tf.matMul(g, tf.transpose(sb)), db];
      },
    };
  },
);

/** Batched a @ b for rank-3 a [n, m, k] and b [n, k, p], with flag-free gradients (transposes of the last two axes). */
export const batchMatMul = customOp<(a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D>(
  (a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor3D[];
        if (fusedOps()) return [tf.matMul(dy as tf.Tensor3D, sb, false, true), tf.matMul(sa, dy as tf.Tensor3D, true, false)];
        return [tf.matMul(dy as tf.Tensor3D, tf.transpose(sb, [0, 2, 1])), tf.matMul(tf.transpose(sa, [0, 2, 1]), dy as tf.Tensor3D)];
      },
    };
  },
);

/** x @ W (+ b) over the last axis of x of any rank: [..., fanIn] -> [..., fanOut], W in optlab layout [fanIn, fanOut]. */
export function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const [fanIn, fanOut] = w.shape;
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = matMul2d(tf.reshape(x, [-1, fanIn]) as tf.Tensor2D, w as tf.Tensor2D);
  if (b) y = tf.add(y, b);
  return lead.length === 1 ? y : tf.reshape(y, [...lead, fanOut]);
}

/** One-hot float32 [..., depth] of int32 indices, built in int32 then cast (float32 oneHot returns denormals on wasm). */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.cast(tf.oneHot(tf.cast(indices, 'int32') as tf.Tensor1D, depth), 'float32');
}

/** Embedding lookup as one-hot @ table: [...] int32 -> [..., dim]. Differentiable on every backend, unlike gather. */
export function embed(indices: tf.Tensor, table: tf.Tensor): tf.Tensor {
  const [vocab, dim] = table.shape;
  const flat = oneHotFloat(tf.reshape(indices, [-1]), vocab) as tf.Tensor2D;
  return tf.reshape(matMul2d(flat, table as tf.Tensor2D), [...indices.shape, dim]);
}

/** Layer norm and GELU (tanh form): one native kernel each way on wasm with native kernels, else tfjs ops (kernels/fused.ts). */
export { gelu, layerNorm } from '../kernels/fused.js';

/** Masks made by `causalMask`: selfAttention lets the fused kernel apply them by index instead of reading them. */
const CAUSAL_MASKS = new WeakSet<tf.Tensor>();

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above (float32; no bool select). Caller disposes. */
export function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -1e9;
  const mask = tf.tensor2d(m, [t, t]);
  CAUSAL_MASKS.add(mask);
  return mask;
}

/**
 * Multi-head self-attention on x [B, T, C] given the fused projection weight wQkv [C, 3C] (columns
 * q | k | v, heads contiguous inside each, as nanoGPT's c_attn) and the output projection wProj
 * [C, C]. `mask` is additive, float32 [T', T'] with T' >= T (its top-left block is used):
 * `causalMask(T')` for a language model, omitted for a ViT. `onScores`, when given, receives the
 * attention logits [B*H, T, T] (scaled, mask added) before the softmax, for diagnostics.
 *
 * With the native kernels, and without attention dropout, the heads run as one fused kernel each way
 * (kernels/fused.ts `attention`: the products on strided views of qkv, no head transposed) when the
 * mask is a `causalMask` or absent; any other mask, or dropout, takes the composed form
 * (`attentionHeads`), which every other backend runs. The fused kernel never materializes the scores,
 * so with `onScores` they are computed beside it (`attentionScores`, outside the loss): recording
 * diagnostics costs one more product on those steps and never changes the step's values.
 */
export function selfAttention(
  x: tf.Tensor,
  p: { wQkv: tf.Tensor; bQkv?: tf.Tensor; wProj: tf.Tensor; bProj?: tf.Tensor },
  nHead: number,
  mask?: tf.Tensor,
  dropout?: (t: tf.Tensor) => tf.Tensor,
  onScores?: (scores: tf.Tensor) => void,
): tf.Tensor {
  const qkv = dense(x, p.wQkv, p.bQkv); // [B, T, 3C]
  return dense(attend(qkv, nHead, mask, dropout, onScores), p.wProj, p.bProj);
}

/** The heads of selfAttention on qkv [B, T, 3C] to y [B, T, C]: the fused kernel where it applies, else `attentionHeads`. */
export function attend(qkv: tf.Tensor, nHead: number, mask?: tf.Tensor, dropout?: (t: tf.Tensor) => tf.Tensor, onScores?: (scores: tf.Tensor) => void): tf.Tensor {
  const fused = fusedOps();
  const causal = mask !== undefined && CAUSAL_MASKS.has(mask);
  if (fused && !dropout && (mask === undefined || causal)) {
    if (onScores) onScores(attentionScores(qkv, nHead, mask));
    return fused.attention(qkv, nHead, causal);
  }
  return attentionHeads(qkv, nHead, mask, dropout, onScores);
}

/** Split of qkv [B, T, 3C] into q, k, v [B*H, T, D] (D = C / nHead), heads contiguous as in nanoGPT's c_attn. */
function splitHeads(qkv: tf.Tensor, nHead: number): tf.Tensor3D[] {
  const [b, t, c3] = qkv.shape;
  const hd = c3 / 3 / nHead;
  const heads = (z: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(z, [b, t, nHead, hd]), [0, 2, 1, 3]), [b * nHead, t, hd]) as tf.Tensor3D;
  return tf.split(qkv, 3, 2).map(heads);
}

/** Scaled attention logits q k^T / sqrt(D) + mask [B*H, T, T] from q, k [B*H, T, D]; the mask's top-left T x T block is used. */
function scoresOf(q: tf.Tensor3D, k: tf.Tensor3D, mask?: tf.Tensor): tf.Tensor {
  const [, t, hd] = q.shape;
  const m = !mask || mask.shape[0] === t ? mask : tf.slice(mask, [0, 0], [t, t]);
  // Scale q (size T*hd) rather than the scores (T*T): the same product in exact arithmetic, fewer flops.
  const raw = batchMatMul(tf.mul(q, 1 / Math.sqrt(hd)) as tf.Tensor3D, tf.transpose(k, [0, 2, 1]));
  return m ? tf.add(raw, m) : raw;
}

/** The attention logits [B*H, T, T] (scaled, mask added, before the softmax) of qkv [B, T, 3C], as `attentionHeads` forms them. */
export function attentionScores(qkv: tf.Tensor, nHead: number, mask?: tf.Tensor): tf.Tensor {
  const [q, k] = splitHeads(qkv, nHead);
  return scoresOf(q, k, mask);
}

/**
 * The heads of selfAttention from tfjs ops: qkv [B, T, 3C] to y [B, T, C], softmax(q k^T / sqrt(D) +
 * mask) v per head (D = C / nHead), dropout on the attention weights when given.
 *
 * The per-(batch, head) products are one rank-3 batchMatMul. On plain wasm that kernel runs at a
 * few GFLOP/s, but bench/model_speed.ts measured it faster than the alternatives, whose per-op
 * overhead dominates at these sizes (tiny GPT fwd+bwd, plain wasm, same load): batched 283 ms,
 * gather-split per-head 2-D matmuls 330 ms, per-batch block-diagonal 2-D matmuls 346 ms, unstack +
 * 2-D loop 394 ms; a single custom op looping 2-D matmuls over gathered blocks, 337 ms of CPU time
 * against 290 batched. Two costs sink the loops: wasm's Slice/SplitV/Unpack copy the whole input
 * once per piece (and Gather costs ~85 us a call), and XNNPACK repacks a fresh right operand on
 * every 2-D matmul (~150 us for a 64x32 @ 32x64 product).
 */
export function attentionHeads(
  qkv: tf.Tensor,
  nHead: number,
  mask?: tf.Tensor,
  dropout?: (t: tf.Tensor) => tf.Tensor,
  onScores?: (scores: tf.Tensor) => void,
): tf.Tensor {
  const [b, t, c3] = qkv.shape;
  const c = c3 / 3;
  const hd = c / nHead;
  const [q, k, v] = splitHeads(qkv, nHead);
  const scores = scoresOf(q, k, mask);
  onScores?.(scores);
  let att = tf.softmax(scores);
  if (dropout) att = dropout(att);
  const y = batchMatMul(att as tf.Tensor3D, v); // [B*H, T, hd]
  return tf.reshape(tf.transpose(tf.reshape(y, [b, nHead, t, hd]), [0, 2, 1, 3]), [b, t, c]);
}

// The fused attention kernel against attentionHeads at start-up (kernels/self_test.ts): causal, and unmasked.
addSelfTestCase('fused attention', () => {
  const qkv = tf.mul(selfTestValues([2, 7, 12], 1), 3);
  const mask = causalMask(7);
  const causal = attend(qkv, 2, mask);
  const full = attend(qkv, 2);
  return tf.concat([tf.reshape(causal, [-1]), tf.reshape(full, [-1])]);
});

/**
 * Mean softmax cross-entropy of logits [N, V] against int32 targets [N], with the closed-form
 * gradient (softmax(logits) - onehot(targets)) / N instead of differentiating log-softmax op by op.
 */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const [n, v] = logits.shape;
  const onehot = oneHotFloat(tf.reshape(targets, [-1]), v);
  const f = customOp<(z: tf.Tensor) => tf.Scalar>((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const lse = tf.logSumExp(z, 1); // [N]
    const picked = tf.sum(tf.mul(z, onehot), 1);
    // The one-hot is saved with the logits: tensors made in the forward pass are freed before backprop.
    save([z, onehot]);
    return {
      value: tf.mean(tf.sub(lse, picked)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(tf.softmax(saved[0]), saved[1]), tf.div(dy, n)),
    };
  });
  return f(tf.reshape(logits, [n, v]));
}

/** Fraction of rows of logits [N, K] whose argmax equals the int32 target [N]. */
export function accuracy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), tf.cast(targets, 'int32')), 'float32')) as tf.Scalar;
}

/** Small seeded generator (mulberry32) for initial weights, dropout masks and batches: the same numbers on every backend. */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Inverted dropout with a mask drawn from `rng` (float 0/1 mask scaled by 1/(1-rate); no bool select).
 * Returns x unchanged when rate is 0.
 */
export function dropout(x: tf.Tensor, rate: number, rng: Rng): tf.Tensor {
  if (rate <= 0) return x;
  const keep = 1 - rate;
  const m = new Float32Array(x.size);
  for (let i = 0; i < m.length; i++) m[i] = rng.next() < keep ? 1 / keep : 0;
  return tf.mul(x, tf.tensor(m, x.shape, 'float32'));
}

/** Initializers for `ParamStore.add`. */
export type Init = { normal: number } | 'zeros' | 'ones';

/** Owns a model's variables: creates them from a seeded generator, hands them out as Parameters, disposes them. */
export class ParamStore {
  readonly params: Parameter[] = [];
  private readonly byName = new Map<string, tf.Variable>();
  private readonly rng: Rng;
  private readonly prefix: string;
  private static counter = 0;
  constructor(seed: number, prefix = 'model') {
    this.rng = new Rng(seed);
    this.prefix = `${prefix}${ParamStore.counter++}`;
  }
  /** Adds a trainable parameter; values drawn in creation order, so the same seed gives the same weights. */
  add(name: string, shape: number[], role: Role, init: Init): tf.Variable {
    if (this.byName.has(name)) throw new Error(`duplicate parameter '${name}'`);
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (init === 'ones') data.fill(1);
    else if (init !== 'zeros') for (let i = 0; i < size; i++) data[i] = this.rng.normal() * init.normal;
    const v = tf.tidy(() => tf.variable(tf.tensor(data, shape, 'float32'), true, `${this.prefix}/${name}`));
    this.byName.set(name, v);
    this.params.push({ name, variable: v, role });
    return v;
  }
  /** The variable of a parameter by name. */
  get(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`no parameter '${name}'`);
    return v;
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  numParams(): number {
    return this.params.reduce((n, p) => n + p.variable.size, 0);
  }
  dispose(): void {
    for (const v of this.byName.values()) v.dispose();
    this.byName.clear();
    this.params.length = 0;
  }
}

/**
 * Loss and gradients of a model on a batch, gradients keyed by parameter name (as `Optimizer.step`
 * takes them). The caller disposes the loss and every gradient.
 */
export function lossAndGrads(model: TrainableModel, batch: Batch, opts: LossOptions = {}): { loss: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const vars = model.params.map((p) => p.variable);
  const { value, grads } = tf.variableGrads(() => model.loss(batch, opts), vars);
  const out = new Map<string, tf.Tensor>();
  for (const p of model.params) {
    const g = grads[p.variable.name];
    if (g) out.set(p.name, g);
  }
  return { loss: value, grads: out };
}
