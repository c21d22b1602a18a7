/** What the runner, the benchmarks and the tests need from a model: named Parameters and a loss. */
import type * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '../optimizers/core.js';

/** A batch of inputs and targets. Token models: x, y int32 [batch, context]; image models: x float32 [batch, 28, 28] or [batch, 784], y int32 [batch]. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** Options of `TrainableModel.loss`. */
export interface LossOptions {
  /** Dropout and other training-only behaviour. @default false */
  training?: boolean;
  /** Receives the model's diagnostics of this forward pass (log steps only). */
  record?: (key: string, value: tf.Scalar) => void;
}

/** A model that owns its variables and hands them out as Parameters with roles set by the model. */
export interface TrainableModel {
  /** Every trainable weight once (tied weights appear once), with roles set by the model. */
  readonly params: Parameter[];
  /**
   * Mean cross-entropy on the batch, as a scalar; call inside tf.tidy or variableGrads. With `record`,
   * the model also reports its diagnostics of this forward pass (keys as `diagnosticKeys()`; the
   * callback keeps the scalars it wants, since the surrounding tidy frees them).
   */
  loss(batch: Batch, opts?: LossOptions): tf.Scalar;
  /** Accuracy on the batch in [0, 1], for classifiers (undefined for language models). */
  accuracy?(batch: Batch): tf.Scalar;
  /** The keys a `loss` call with `record` reports (e.g. 'model/attn_logit_max'); none when absent. */
  diagnosticKeys?(): string[];
  /** Number of trainable scalars. */
  numParams(): number;
  /** Frees every variable. */
  dispose(): void;
}
