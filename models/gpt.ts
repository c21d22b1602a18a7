/**
 * A character-level GPT shaped like nanoGPT's `model.py` (karpathy/nanoGPT): token + position
 * embeddings, pre-LN blocks (causal multi-head self-attention, GELU MLP), final LN, lm head tied to
 * the token embedding or not, biases on or off.
 *
 *   createGPT(config: Partial<GPTConfig> = {}, seed = 0): GPT        // a TrainableModel
 *   gpt.loss({x, y})          x, y int32 [batch, context] -> mean cross-entropy
 *   gpt.logits(x)             int32 [batch, T] -> float32 [batch, T, vocab]
 *   gpt.generate(prompt, n, {temperature, topK, seed}) -> token ids (decode with data.ts's tokenizer)
 *
 * Weights are in optlab layout [fan_in, fan_out] (y = x @ W). Parameters and roles:
 *   wte 'embedding' [vocab, width] (also the lm head when tied), wpe 'embedding' [context, width],
 *   blocks.i.ln1.g/.b, blocks.i.ln2.g/.b, lnF.g/.b 'vector' (biases only when `bias`),
 *   blocks.i.attn.qkv [width, 3 width], blocks.i.attn.proj [width, width],
 *   blocks.i.mlp.fc [width, 4 width], blocks.i.mlp.proj [4 width, width] 'matrix' (+ '.bias' 'vector'),
 *   head [width, vocab] 'head' (only when untied).
 * Init as nanoGPT: normal(0, 0.02) for every weight, 0.02 / sqrt(2 n_layer) for the two residual
 * projections, zero biases, unit LN gains.
 *
 * Differs from reference: GELU in tanh form (nanoGPT uses the erf form; the two differ by < 1e-3);
 * dropout masks come from the model's own seeded generator.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '../optimizers/core.js';
import { causalMask, selfAttention, crossEntropy, dense, dropout, embed, gelu, layerNorm, matMul2d, ParamStore, Rng } from './layers.js';
import type { Batch, LossOptions, TrainableModel } from './model.js';

/** Shape of a GPT. */
export interface GPTConfig {
  /** Vocabulary size (65 characters for Tiny Shakespeare). @default 65 */
  vocabSize: number;
  /** Maximum sequence length (nanoGPT's block_size). @default 64 */
  contextLength: number;
  /** Residual width (n_embd). @default 128 */
  width: number;
  /** Attention heads; must divide width. @default 4 */
  nHead: number;
  /** Transformer blocks. @default 2 */
  nLayer: number;
  /** Dropout rate on attention weights and residual branches when training. @default 0 */
  dropout: number;
  /** Biases in linear layers and LayerNorms. @default false */
  bias: boolean;
  /** Use the token embedding as the lm head (one parameter, role 'embedding'). @default true */
  tieEmbeddings: boolean;
}

export const GPT_DEFAULTS: Readonly<GPTConfig> = Object.freeze({
  vocabSize: 65,
  contextLength: 64,
  width: 128,
  nHead: 4,
  nLayer: 2,
  dropout: 0,
  bias: false,
  tieEmbeddings: true,
});

/** Options of `GPT.generate`. */
export interface GenerateOptions {
  /** Softmax temperature. @default 1 */
  temperature?: number;
  /** Sample only among the k most likely tokens; 0 keeps all. @default 0 */
  topK?: number;
  /** Seed of the sampler. @default 0 */
  seed?: number;
}

/** A nanoGPT-shaped language model that owns its variables. */
export class GPT implements TrainableModel {
  readonly config: Readonly<GPTConfig>;
  private readonly store: ParamStore;
  private readonly mask: tf.Tensor2D;
  private readonly dropRng: Rng;

  constructor(config: Partial<GPTConfig> = {}, seed = 0) {
    const c = resolveGPTConfig(config);
    this.config = Object.freeze(c);
    this.store = new ParamStore(seed, 'gpt');
    this.dropRng = new Rng(seed + 7919);
    const s = this.store;
    const std = 0.02;
    const projStd = 0.02 / Math.sqrt(2 * c.nLayer);
    s.add('wte', [c.vocabSize, c.width], 'embedding', { normal: std });
    s.add('wpe', [c.contextLength, c.width], 'embedding', { normal: std });
    const linear = (name: string, fanIn: number, fanOut: number, sd: number) => {
      s.add(name, [fanIn, fanOut], 'matrix', { normal: sd });
      if (c.bias) s.add(`${name}.bias`, [fanOut], 'vector', 'zeros');
    };
    const norm = (name: string) => {
      s.add(`${name}.g`, [c.width], 'vector', 'ones');
      if (c.bias) s.add(`${name}.b`, [c.width], 'vector', 'zeros');
    };
    for (let i = 0; i < c.nLayer; i++) {
      norm(`blocks.${i}.ln1`);
      linear(`blocks.${i}.attn.qkv`, c.width, 3 * c.width, std);
      linear(`blocks.${i}.attn.proj`, c.width, c.width, projStd);
      norm(`blocks.${i}.ln2`);
      linear(`blocks.${i}.mlp.fc`, c.width, 4 * c.width, std);
      linear(`blocks.${i}.mlp.proj`, 4 * c.width, c.width, projStd);
    }
    norm('lnF');
    if (!c.tieEmbeddings) s.add('head', [c.width, c.vocabSize], 'head', { normal: std });
    this.mask = causalMask(c.contextLength);
  }

  get params(): Parameter[] {
    return this.store.params;
  }

  numParams(): number {
    return this.store.numParams();
  }

  /** Logits [B, T, vocab] for int32 tokens [B, T] (T <= contextLength). */
  logits(x: tf.Tensor, opts: { training?: boolean; onScores?: (scores: tf.Tensor) => void } = {}): tf.Tensor3D {
    const c = this.config;
    const [b, t] = x.shape;
    if (x.rank !== 2) throw new Error(`GPT: tokens must be [batch, T], got [${x.shape}]`);
    if (t > c.contextLength) throw new Error(`GPT: sequence length ${t} exceeds contextLength ${c.contextLength}`);
    const s = this.store;
    const opt = (name: string) => (s.has(name) ? s.get(name) : undefined);
    const drop = opts.training && c.dropout > 0 ? (z: tf.Tensor) => dropout(z, c.dropout, this.dropRng) : (z: tf.Tensor) => z;
    const pos = t === c.contextLength ? s.get('wpe') : tf.slice(s.get('wpe'), [0, 0], [t, c.width]);
    let h = drop(tf.add(embed(x, s.get('wte')), pos)); // [B, T, C]
    for (let i = 0; i < c.nLayer; i++) {
      const p = `blocks.${i}`;
      const a = layerNorm(h, s.get(`${p}.ln1.g`), opt(`${p}.ln1.b`));
      const attn = selfAttention(
        a,
        { wQkv: s.get(`${p}.attn.qkv`), bQkv: opt(`${p}.attn.qkv.bias`), wProj: s.get(`${p}.attn.proj`), bProj: opt(`${p}.attn.proj.bias`) },
        c.nHead,
        this.mask,
        opts.training && c.dropout > 0 ? drop : undefined,
        opts.onScores,
      );
      h = tf.add(h, drop(attn));
      const m = layerNorm(h, s.get(`${p}.ln2.g`), opt(`${p}.ln2.b`));
      const f = gelu(dense(m, s.get(`${p}.mlp.fc`), opt(`${p}.mlp.fc.bias`)));
      h = tf.add(h, drop(dense(f, s.get(`${p}.mlp.proj`), opt(`${p}.mlp.proj.bias`))));
    }
    h = layerNorm(h, s.get('lnF.g'), opt('lnF.b'));
    const flat = tf.reshape(h, [b * t, c.width]) as tf.Tensor2D;
    const head = c.tieEmbeddings ? (tf.transpose(s.get('wte')) as tf.Tensor2D) : (s.get('head') as tf.Tensor2D);
    return tf.reshape(matMul2d(flat, head), [b, t, c.vocabSize]) as tf.Tensor3D;
  }

  /**
   * Diagnostics a `loss` call with `record` reports: 'model/attn_logit_max', the largest attention
   * logit q.k / sqrt(head dim) over every layer, head and allowed (causal) position of the batch (a
   * growing maximum is the logit growth that QK-norm and logit soft-capping guard against).
   */
  diagnosticKeys(): string[] {
    return ['model/attn_logit_max'];
  }

  /** Mean next-token cross-entropy; x, y int32 [B, T]. */
  loss(batch: Batch, opts: LossOptions = {}): tf.Scalar {
    const maxes: tf.Tensor[] = [];
    const logits = this.logits(batch.x, { training: opts.training, ...(opts.record ? { onScores: (s: tf.Tensor) => maxes.push(tf.max(s)) } : {}) });
    if (opts.record) opts.record('model/attn_logit_max', tf.max(tf.stack(maxes)) as tf.Scalar);
    return crossEntropy(tf.reshape(logits, [-1, this.config.vocabSize]), batch.y);
  }

  /**
   * Samples `maxNewTokens` tokens after `prompt` (token ids), feeding back the last contextLength
   * tokens each time as nanoGPT's `generate` does. Returns prompt + new tokens.
   */
  generate(prompt: number[], maxNewTokens: number, opts: GenerateOptions = {}): number[] {
    const temperature = opts.temperature ?? 1;
    const topK = opts.topK ?? 0;
    const rng = new Rng(opts.seed ?? 0);
    const out = prompt.length > 0 ? [...prompt] : [0];
    for (let n = 0; n < maxNewTokens; n++) {
      const ctx = out.slice(-this.config.contextLength);
      const probs = tf.tidy(() => {
        const logits = this.logits(tf.tensor2d(ctx, [1, ctx.length], 'int32'));
        const last = tf.reshape(tf.slice(logits, [0, ctx.length - 1, 0], [1, 1, this.config.vocabSize]), [this.config.vocabSize]);
        return tf.softmax(tf.div(last, temperature));
      });
      const p = Array.from(probs.dataSync());
      probs.dispose();
      if (topK > 0 && topK < p.length) {
        const cut = [...p].sort((a, b) => b - a)[topK - 1];
        for (let i = 0; i < p.length; i++) if (p[i] < cut) p[i] = 0;
      }
      const total = p.reduce((a, b) => a + b, 0);
      let r = rng.next() * total;
      let pick = p.length - 1;
      for (let i = 0; i < p.length; i++) {
        r -= p[i];
        if (r <= 0) {
          pick = i;
          break;
        }
      }
      out.push(pick);
    }
    return out;
  }

  dispose(): void {
    this.store.dispose();
    this.mask.dispose();
  }
}

/** Merges a partial config over the defaults, rejecting unknown keys and inconsistent shapes. */
export function resolveGPTConfig(config: Partial<GPTConfig> = {}): GPTConfig {
  for (const k of Object.keys(config)) {
    if (!(k in GPT_DEFAULTS)) throw new Error(`GPT: unknown config key '${k}'; keys: ${Object.keys(GPT_DEFAULTS).join(', ')}`);
  }
  const c: GPTConfig = { ...GPT_DEFAULTS, ...config };
  if (c.width % c.nHead !== 0) throw new Error(`GPT: width ${c.width} is not divisible by nHead ${c.nHead}`);
  for (const k of ['vocabSize', 'contextLength', 'width', 'nHead', 'nLayer'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`GPT: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`GPT: dropout must be in [0, 1), got ${c.dropout}`);
  return c;
}

/** Builds a GPT from a partial config (defaults: GPT_DEFAULTS) and a seed for its initial weights. */
export function createGPT(config: Partial<GPTConfig> = {}, seed = 0): GPT {
  return new GPT(config, seed);
}
