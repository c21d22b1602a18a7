/** What the runner, the benchmarks and the tests need from a model: named Parameters and a loss. */
import type * as tf from '@tensorflow/tfjs-core';
import type { Parameter } from '../optimizers/core.js';

/** A batch of inputs and targets. Token models: x, y int32 [batch, context]; image models: x float32 [batch, 28, 28] or [batch, 784], y int32 [batch]. */
export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** A model that owns its variables and hands them out as Parameters with roles set by the model. */
export interface TrainableModel {
  /** Every trainable weight once (tied weights appear once), with roles set by the model. */
  readonly params: Parameter[];
  /** Mean cross-entropy on the batch, as a scalar; call inside tf.tidy or variableGrads. */
  loss(batch: Batch, opts?: { training?: boolean }): tf.Scalar;
  /** Accuracy on the batch in [0, 1], for classifiers (undefined for language models). */
  accuracy?(batch: Batch): tf.Scalar;
  /**
   * Optional diagnostics of the model on a batch (no gradients), as scalar tensors the caller disposes,
   * keyed as `diagnosticKeys()` lists them (e.g. 'model/attn_logit_max'). For log intervals only.
   */
  diagnostics?(batch: Batch): Record<string, tf.Scalar>;
  /** The keys `diagnostics` returns. */
  diagnosticKeys?(): string[];
  /** Number of trainable scalars. */
  numParams(): number;
  /** Frees every variable. */
  dispose(): void;
}
