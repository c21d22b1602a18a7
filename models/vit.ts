/**
 * A small Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) for 28x28 grey images: patches
 * cut by reshape + transpose and embedded by one matmul, learned position embeddings, a class token
 * or mean pooling, pre-LN blocks (self-attention, GELU MLP), final LN, linear head.
 *
 *   createViT(config: Partial<ViTConfig> = {}, seed = 0): ViT     // a TrainableModel
 *   vit.loss({x, y})       x float32 [batch, 784] or [batch, 28, 28] in [0, 1], y int32 [batch]
 *   vit.accuracy({x, y})   fraction of argmax hits
 *   vit.logits(x)          -> float32 [batch, numClasses]
 *
 * Weights in optlab layout [fan_in, fan_out]. Parameters and roles:
 *   patch [patch^2, width] 'matrix' (+ patch.bias 'vector'), cls [width] 'vector' (pool 'cls' only),
 *   pos [tokens, width] 'embedding', blocks.i.{ln1,ln2}.{g,b} 'vector',
 *   blocks.i.attn.qkv, blocks.i.attn.proj, blocks.i.mlp.fc, blocks.i.mlp.proj 'matrix' (+ '.bias'
 *   'vector'), lnF.g/.b 'vector', head [width, numClasses] 'head' + head.bias 'vector'.
 * Init: normal(0, 0.02) for weights and embeddings (timm uses a truncated normal of the same std),
 * zero biases, unit LN gains.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '../optimizers/core.js';
import { accuracy, crossEntropy, dense, dropout, gelu, layerNorm, matMul2d, ParamStore, Rng, selfAttention } from './layers.js';
import type { Batch, TrainableModel } from './model.js';

/** Shape of a ViT. */
export interface ViTConfig {
  /** Side of the square input image. @default 28 */
  imageSize: number;
  /** Side of a square patch; must divide imageSize. @default 7 */
  patchSize: number;
  /** Output classes. @default 10 */
  numClasses: number;
  /** Residual width. @default 64 */
  width: number;
  /** Attention heads; must divide width. @default 4 */
  nHead: number;
  /** Transformer blocks. @default 2 */
  nLayer: number;
  /** MLP hidden width as a multiple of width. @default 4 */
  mlpRatio: number;
  /** 'cls': a learned class token is read out; 'mean': the mean of the patch tokens. @default 'cls' */
  pool: 'cls' | 'mean';
  /** Dropout on attention weights and residual branches when training. @default 0 */
  dropout: number;
  /** Biases in linear layers and LayerNorms. @default true */
  bias: boolean;
}

export const VIT_DEFAULTS: Readonly<ViTConfig> = Object.freeze({
  imageSize: 28,
  patchSize: 7,
  numClasses: 10,
  width: 64,
  nHead: 4,
  nLayer: 2,
  mlpRatio: 4,
  pool: 'cls' as const,
  dropout: 0,
  bias: true,
});

/** A small ViT classifier that owns its variables. */
export class ViT implements TrainableModel {
  readonly config: Readonly<ViTConfig>;
  private readonly store: ParamStore;
  private readonly dropRng: Rng;

  constructor(config: Partial<ViTConfig> = {}, seed = 0) {
    const c = resolveViTConfig(config);
    this.config = Object.freeze(c);
    this.store = new ParamStore(seed, 'vit');
    this.dropRng = new Rng(seed + 7919);
    const s = this.store;
    const std = 0.02;
    const tokens = this.numPatches() + (c.pool === 'cls' ? 1 : 0);
    const linear = (name: string, fanIn: number, fanOut: number, role: 'matrix' | 'head' = 'matrix') => {
      s.add(name, [fanIn, fanOut], role, { normal: std });
      if (c.bias || role === 'head') s.add(`${name}.bias`, [fanOut], 'vector', 'zeros');
    };
    const norm = (name: string) => {
      s.add(`${name}.g`, [c.width], 'vector', 'ones');
      if (c.bias) s.add(`${name}.b`, [c.width], 'vector', 'zeros');
    };
    linear('patch', c.patchSize * c.patchSize, c.width);
    if (c.pool === 'cls') s.add('cls', [c.width], 'vector', { normal: std });
    s.add('pos', [tokens, c.width], 'embedding', { normal: std });
    const hidden = c.mlpRatio * c.width;
    for (let i = 0; i < c.nLayer; i++) {
      norm(`blocks.${i}.ln1`);
      linear(`blocks.${i}.attn.qkv`, c.width, 3 * c.width);
      linear(`blocks.${i}.attn.proj`, c.width, c.width);
      norm(`blocks.${i}.ln2`);
      linear(`blocks.${i}.mlp.fc`, c.width, hidden);
      linear(`blocks.${i}.mlp.proj`, hidden, c.width);
    }
    norm('lnF');
    linear('head', c.width, c.numClasses, 'head');
  }

  get params(): Parameter[] {
    return this.store.params;
  }

  numParams(): number {
    return this.store.numParams();
  }

  /** Patches per image. */
  numPatches(): number {
    const g = this.config.imageSize / this.config.patchSize;
    return g * g;
  }

  /** Class logits [B, numClasses] for images [B, side*side] or [B, side, side]. */
  logits(x: tf.Tensor, opts: { training?: boolean } = {}): tf.Tensor2D {
    const c = this.config;
    const side = c.imageSize;
    const p = c.patchSize;
    const g = side / p;
    const b = x.shape[0];
    if (x.size !== b * side * side) throw new Error(`ViT: images must be [batch, ${side * side}] or [batch, ${side}, ${side}], got [${x.shape}]`);
    const s = this.store;
    const opt = (name: string) => (s.has(name) ? s.get(name) : undefined);
    const drop = opts.training && c.dropout > 0 ? (z: tf.Tensor) => dropout(z, c.dropout, this.dropRng) : (z: tf.Tensor) => z;
    const patches = patchify(x, side, p);
    let h = tf.reshape(dense(patches, s.get('patch'), opt('patch.bias')), [b, g * g, c.width]);
    if (c.pool === 'cls') {
      // Broadcast-add instead of tile: tile's gradient slices once per repeat.
      const cls = tf.add(tf.zeros([b, 1, c.width]), s.get('cls'));
      h = tf.concat([cls, h], 1);
    }
    h = drop(tf.add(h, s.get('pos')));
    for (let i = 0; i < c.nLayer; i++) {
      const q = `blocks.${i}`;
      const a = layerNorm(h, s.get(`${q}.ln1.g`), opt(`${q}.ln1.b`));
      const attn = selfAttention(
        a,
        { wQkv: s.get(`${q}.attn.qkv`), bQkv: opt(`${q}.attn.qkv.bias`), wProj: s.get(`${q}.attn.proj`), bProj: opt(`${q}.attn.proj.bias`) },
        c.nHead,
        undefined,
        opts.training && c.dropout > 0 ? drop : undefined,
      );
      h = tf.add(h, drop(attn));
      const m = layerNorm(h, s.get(`${q}.ln2.g`), opt(`${q}.ln2.b`));
      h = tf.add(h, drop(dense(gelu(dense(m, s.get(`${q}.mlp.fc`), opt(`${q}.mlp.fc.bias`))), s.get(`${q}.mlp.proj`), opt(`${q}.mlp.proj.bias`))));
    }
    h = layerNorm(h, s.get('lnF.g'), opt('lnF.b'));
    const pooled = c.pool === 'cls' ? tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, c.width]), [b, c.width]) : tf.mean(h, 1);
    return tf.add(matMul2d(pooled as tf.Tensor2D, s.get('head') as tf.Tensor2D), s.get('head.bias')) as tf.Tensor2D;
  }

  /** Mean cross-entropy; x float32 images, y int32 [B]. */
  loss(batch: Batch, opts: { training?: boolean } = {}): tf.Scalar {
    return crossEntropy(this.logits(batch.x, opts), batch.y);
  }

  /** Fraction of images whose argmax logit is the label. */
  accuracy(batch: Batch): tf.Scalar {
    return accuracy(this.logits(batch.x), batch.y);
  }

  dispose(): void {
    this.store.dispose();
  }
}

/**
 * Cuts images [B, side*side] or [B, side, side] into patches [B * (side/p)^2, p*p], patches in
 * row-major order and pixels row-major inside each: [B, g*p, g*p] -> [B*g, p, g, p] -> [B*g, g, p, p]
 * (rank-4 transposes only).
 */
export function patchify(x: tf.Tensor, side: number, p: number): tf.Tensor2D {
  const g = side / p;
  const b = x.shape[0];
  return tf.reshape(tf.transpose(tf.reshape(x, [b * g, p, g, p]), [0, 2, 1, 3]), [b * g * g, p * p]) as tf.Tensor2D;
}

/** Merges a partial config over the defaults, rejecting unknown keys and inconsistent shapes. */
export function resolveViTConfig(config: Partial<ViTConfig> = {}): ViTConfig {
  for (const k of Object.keys(config)) {
    if (!(k in VIT_DEFAULTS)) throw new Error(`ViT: unknown config key '${k}'; keys: ${Object.keys(VIT_DEFAULTS).join(', ')}`);
  }
  const c: ViTConfig = { ...VIT_DEFAULTS, ...config };
  for (const k of ['imageSize', 'patchSize', 'numClasses', 'width', 'nHead', 'nLayer', 'mlpRatio'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`ViT: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.imageSize % c.patchSize !== 0) throw new Error(`ViT: patchSize ${c.patchSize} does not divide imageSize ${c.imageSize}`);
  if (c.width % c.nHead !== 0) throw new Error(`ViT: width ${c.width} is not divisible by nHead ${c.nHead}`);
  if (c.pool !== 'cls' && c.pool !== 'mean') throw new Error(`ViT: pool must be 'cls' or 'mean', got '${c.pool}'`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`ViT: dropout must be in [0, 1), got ${c.dropout}`);
  return c;
}

/** Builds a ViT from a partial config (defaults: VIT_DEFAULTS) and a seed for its initial weights. */
export function createViT(config: Partial<ViTConfig> = {}, seed = 0): ViT {
  return new ViT(config, seed);
}
