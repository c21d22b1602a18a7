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

/**
 * Facts a data set tells the model it feeds, so the model can size itself: `numClasses` for
 * classifiers (the ViT's head), `vocabSize` for token models (the GPT's embedding). A user's data may
 * add its own (an input shape); the model definition reads what it needs.
 */
export interface DataInfo {
  numClasses?: number;
  vocabSize?: number;
  [key: string]: unknown;
}

/** A text sample written into a finished language model's record. */
export interface TextSample {
  prompt: string;
  text: string;
  temperature: number;
  seed: number;
}

/** The data of one run, as a data definition's `load` returns it. */
export interface DataSource {
  /** What the model sizes itself by (passed to `ModelDefinition.create`). */
  readonly info: DataInfo;
  /**
   * The next training batch: new tensors the caller disposes. The order follows the seed given to
   * `load`, the same on every call of `load` with that seed (a resumed run replays it to its position).
   */
  nextBatch(): Batch;
  /** Fixed evaluation batches (the same for every seed of an experiment), freed by the runner at the end of the run. */
  readonly evalBatches: readonly Batch[];
  /** What one step consumes, for the curve's second column: tokens (token models) or samples. */
  readonly unit: 'tokens' | 'samples';
  /** Units per training step (batchSize * contextLength for token models, batchSize otherwise). */
  readonly unitsPerStep: number;
  /** For language data: the function that samples `chars` characters from a model, when the model can generate. */
  sampler?(model: TrainableModel): ((chars: number) => TextSample) | undefined;
}

/** What `DataDefinition.load` is told about the run. */
export interface DataLoadContext {
  /** Sequences or images per training (and evaluation) batch: training.batchSize. */
  batchSize: number;
  /** Number of fixed evaluation batches: training.evalBatches. */
  evalBatches: number;
  /** Seed of the training batch order (the run seed + 1, so it differs from the weights' seed). */
  seed: number;
  /** The model's options as resolved (e.g. the GPT's contextLength), for data cut to the model. */
  model: Record<string, unknown>;
}

/**
 * A data kind an experiment file names as `data: { kind: <name>, ...options }`: the built-ins
 * (shakespeare, text, mnist, fashion-mnist) and a plugin's (`data` export) have this shape.
 * Options are checked against `defaults` (known keys, same types) before any run starts.
 */
export interface DataDefinition<O extends object = Record<string, unknown>> {
  /** The kind of input it provides; a model takes data whose `input` equals its `data` ('text', 'image', or a word of one's own). */
  readonly input: string;
  /** Every option with its default; the keys are the only options an experiment may set. */
  readonly defaults: O;
  /** One line for `optlab list` and errors. */
  readonly doc?: string;
  /** Reads the data once before any run starts and throws naming the file when it is missing or bad; allocates no tensors. */
  check?(opts: O, model: Record<string, unknown>): void;
  /** The data of one run. */
  load(opts: O, ctx: DataLoadContext): DataSource;
}

/**
 * A model kind an experiment file names as `model: { kind: <name>, ...options }`: the built-ins (gpt,
 * vit) and a plugin's (`models` export; a tfjs LayersModel through `fromLayersModel`) have this shape.
 */
export interface ModelDefinition<O extends object = Record<string, unknown>> {
  /** The input kind of the data it takes (a DataDefinition's `input`). */
  readonly data: string;
  /** Every option with its default; the keys are the only options an experiment may set. */
  readonly defaults: O;
  /** One line for `optlab list` and errors. */
  readonly doc?: string;
  /** Checks option values without allocating (throws with the problem); runs when the experiment file loads. */
  check?(opts: O): void;
  /** A fresh model: initial weights from `seed`, sized by the data's `info`. */
  create(opts: O, ctx: { seed: number; data: DataInfo }): TrainableModel;
}

/**
 * A metric the runner evaluates at every evaluation (with val_loss), as the mean over the fixed
 * evaluation batches of `evaluate`, and writes as the curve column `metric/<name>`. A plugin's
 * `metrics` export has this shape.
 */
export interface MetricDefinition {
  /** One line for `optlab list`. */
  readonly doc?: string;
  /** The metric on one batch, as a scalar; called inside tf.tidy, in inference mode (no dropout). */
  evaluate(model: TrainableModel, batch: Batch): tf.Scalar;
}
