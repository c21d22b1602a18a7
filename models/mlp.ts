/**
 * A multilayer perceptron classifier on flat inputs: `depth` hidden layers of `hidden` units with ReLU,
 * then a linear head. The small model of the Kronecker-approximation experiment (experiments/claims/kronecker_experiment.ts),
 * where a 32 x 32 weight has a 1024 x 1024 Adagrad matrix that fits in memory.
 *
 *   createMLP(config: Partial<MLPConfig> = {}, seed = 0): MLP     // a TrainableModel
 *   mlp.loss({x, y})       x float32 [batch, inputDim], y int32 [batch]
 *   mlp.logits(x)          -> float32 [batch, numClasses]
 *
 * Weights in optlab layout [fan_in, fan_out]: fc0 [inputDim, hidden], fc1 ... fc{depth-1} [hidden, hidden]
 * 'matrix', head [hidden, numClasses] 'head'; with `bias`, '<name>.bias' 'vector'.
 * Init: normal(0, 1/sqrt(fan_in)) for weights (LeCun normal), zero biases.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '../optimizers/core.js';
import { accuracy, crossEntropy, dense, ParamStore } from './layers.js';
import type { Batch, TrainableModel } from './model.js';

/** Shape of an MLP. */
export interface MLPConfig {
  /** Input features. @default 49 (a 28x28 image average-pooled 4x4 to 7x7) */
  inputDim: number;
  /** Units per hidden layer. @default 32 */
  hidden: number;
  /** Hidden layers. @default 2 */
  depth: number;
  /** Output classes. @default 2 */
  numClasses: number;
  /** Biases on every layer. @default false */
  bias: boolean;
}

/** Default MLP shape: the binary-MNIST model of experiments/claims/kronecker_experiment.ts. */
export const MLP_DEFAULTS: Readonly<MLPConfig> = Object.freeze({ inputDim: 49, hidden: 32, depth: 2, numClasses: 2, bias: false });

/** Merges a partial config over the defaults, rejecting unknown keys and non-positive sizes. */
export function resolveMLPConfig(config: Partial<MLPConfig> = {}): MLPConfig {
  for (const k of Object.keys(config)) {
    if (!(k in MLP_DEFAULTS)) throw new Error(`MLP: unknown config key '${k}'; keys: ${Object.keys(MLP_DEFAULTS).join(', ')}`);
  }
  const c: MLPConfig = { ...MLP_DEFAULTS, ...config };
  for (const k of ['inputDim', 'hidden', 'depth', 'numClasses'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`MLP: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.numClasses < 2) throw new Error(`MLP: numClasses must be at least 2, got ${c.numClasses}`);
  return c;
}

/** A ReLU MLP classifier that owns its variables. */
export class MLP implements TrainableModel {
  readonly config: Readonly<MLPConfig>;
  private readonly store: ParamStore;
  private readonly layers: string[] = [];

  constructor(config: Partial<MLPConfig> = {}, seed = 0) {
    const c = resolveMLPConfig(config);
    this.config = Object.freeze(c);
    this.store = new ParamStore(seed, 'mlp');
    let fanIn = c.inputDim;
    for (let i = 0; i < c.depth; i++) {
      this.add(`fc${i}`, fanIn, c.hidden, 'matrix');
      fanIn = c.hidden;
    }
    this.add('head', fanIn, c.numClasses, 'head');
  }

  private add(name: string, fanIn: number, fanOut: number, role: 'matrix' | 'head'): void {
    this.store.add(name, [fanIn, fanOut], role, { normal: 1 / Math.sqrt(fanIn) });
    if (this.config.bias) this.store.add(`${name}.bias`, [fanOut], 'vector', 'zeros');
    this.layers.push(name);
  }

  get params(): Parameter[] {
    return this.store.params;
  }

  numParams(): number {
    return this.store.numParams();
  }

  /** Logits [B, numClasses] for inputs [B, inputDim]. */
  logits(x: tf.Tensor): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.config.inputDim) throw new Error(`MLP: inputs must be [batch, ${this.config.inputDim}], got [${x.shape}]`);
    const s = this.store;
    let h = x;
    this.layers.forEach((name, i) => {
      h = dense(h, s.get(name), s.has(`${name}.bias`) ? s.get(`${name}.bias`) : undefined);
      if (i < this.layers.length - 1) h = tf.relu(h);
    });
    return h as tf.Tensor2D;
  }

  /** Mean cross-entropy; x float32 [B, inputDim], y int32 [B]. */
  loss(batch: Batch): tf.Scalar {
    return crossEntropy(this.logits(batch.x), batch.y);
  }

  accuracy(batch: Batch): tf.Scalar {
    return accuracy(this.logits(batch.x), batch.y);
  }

  dispose(): void {
    this.store.dispose();
  }
}

/** Builds an MLP from a partial config (defaults: MLP_DEFAULTS) and a seed for its initial weights. */
export function createMLP(config: Partial<MLPConfig> = {}, seed = 0): MLP {
  return new MLP(config, seed);
}
