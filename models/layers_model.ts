/**
 * A tfjs LayersModel as a TrainableModel, so the runner (and `optlab run` sweeps, through a plugin's
 * `models` export) trains a user's own Keras-style model as it trains the GPT and the ViT.
 *
 * Parameters are the model's trainable weights under their tfjs variable names ('dense_Dense1/kernel'),
 * with the roles the tf.Optimizer adapter gives them in `model.compile` (`modelRoles`,
 * optimizers/tfjs_roles.ts: the output Dense kernel is the head, Embedding's table the embedding,
 * biases and norms vectors, conv kernels conv, other kernels matrices), so a method routes a model the
 * same way in a sweep and in `model.fit`. A `roles` pattern overrides, as the adapter's does.
 *
 * Loss: 'sparseCategoricalCrossentropy' (default: y int32 class ids [batch], the model's output
 * probabilities [batch, classes], or logits with `fromLogits`), 'meanSquaredError' (y the shape of
 * the output), or a function (yTrue, yPred) -> scalar. Accuracy is reported for the cross-entropy.
 *
 * Warnings:
 * - Weights the model creates lazily (a model that is not built) do not exist yet: build it (give
 *   the first layer an `inputShape`) before wrapping.
 * - `training: true` is passed to `model.apply`, so Dropout and BatchNormalization behave as in
 *   `fit`; BatchNormalization's moving statistics are not trainable and are not in `params`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ROLES, type Parameter, type Role } from '../optimizers/core.js';
import { modelRoles } from '../optimizers/tfjs_roles.js';
import type { Batch, LossOptions, TrainableModel } from './model.js';

/** Options of `fromLayersModel`. */
export interface LayersModelOptions {
  /** @default 'sparseCategoricalCrossentropy' */
  loss?: 'sparseCategoricalCrossentropy' | 'meanSquaredError' | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar);
  /** The output is logits, not probabilities (cross-entropy only). @default false */
  fromLogits?: boolean;
  /** Role overrides: regular expression on the variable name -> role, first match wins (as the adapter's `roles`). */
  roles?: Record<string, Role>;
}

/** The model's single output for `x` (a model with several outputs needs a loss function of one's own on a wrapper model). */
function forward(model: tfl.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  const out = model.apply(x, { training });
  if (Array.isArray(out)) throw new Error(`fromLayersModel: model '${model.name}' has ${out.length} outputs; wrap a model with one`);
  return out as tf.Tensor;
}

/** Mean sparse categorical cross-entropy of class ids `y` [batch] under probabilities or logits `out` [batch, classes]. */
function sparseCrossEntropy(y: tf.Tensor, out: tf.Tensor, fromLogits: boolean): tf.Scalar {
  const classes = out.shape[out.shape.length - 1]!;
  const logp = fromLogits ? tf.logSoftmax(out) : tf.log(tf.clipByValue(out, 1e-7, 1));
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(tf.cast(y, 'int32'), classes), logp), -1))) as tf.Scalar;
}

/**
 * Wraps a built tfjs LayersModel as a TrainableModel (see the module comment). The wrapper owns the
 * model: `dispose()` disposes it. Throws when the model has no trainable weights (not built) or a role
 * override names an unknown role.
 */
export function fromLayersModel(model: tfl.LayersModel, opts: LayersModelOptions = {}): TrainableModel {
  const overrides = opts.roles ?? {};
  for (const [p, r] of Object.entries(overrides)) if (!ROLES.includes(r)) throw new Error(`fromLayersModel: roles: '${p}' maps to unknown role '${r}' (expected one of ${ROLES.join(', ')})`);
  if (model.trainableWeights.length === 0) throw new Error(`fromLayersModel: model '${model.name}' has no trainable weights; build it first (give its first layer an inputShape)`);
  // A Sequential names its output layer once its inner model is built, as compile builds it; roles need it for the head.
  if (model.outputLayers.length === 0 && model.getClassName() === 'Sequential') (model as unknown as { build(): void }).build();
  const roles = modelRoles(model, overrides);
  const params: Parameter[] = model.trainableWeights.map((w) => {
    const role = roles.get(w.name);
    if (!role) throw new Error(`fromLayersModel: weight '${w.name}' belongs to no layer of model '${model.name}'`);
    return { name: w.name, variable: w.read() as tf.Variable, role };
  });
  const lossKind = opts.loss ?? 'sparseCategoricalCrossentropy';
  const lossOf = (y: tf.Tensor, out: tf.Tensor): tf.Scalar => {
    if (typeof lossKind === 'function') return lossKind(y, out);
    if (lossKind === 'meanSquaredError') return tf.mean(tf.square(tf.sub(out, y))) as tf.Scalar;
    if (lossKind === 'sparseCategoricalCrossentropy') return sparseCrossEntropy(y, out, opts.fromLogits === true);
    throw new Error(`fromLayersModel: unknown loss '${String(lossKind)}' (expected 'sparseCategoricalCrossentropy', 'meanSquaredError' or a function)`);
  };
  const classifier = lossKind === 'sparseCategoricalCrossentropy';
  return {
    params,
    loss: (batch: Batch, o: LossOptions = {}) => lossOf(batch.y, forward(model, batch.x, o.training === true)),
    ...(classifier ? { accuracy: (batch: Batch) => tf.mean(tf.cast(tf.equal(tf.argMax(forward(model, batch.x, false), -1), tf.cast(batch.y, 'int32')), 'float32')) as tf.Scalar } : {}),
    numParams: () => params.reduce((a, p) => a + p.variable.size, 0),
    dispose: () => model.dispose(),
  };
}
