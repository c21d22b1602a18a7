/**
 * Models, data and optimizer factories shared by the adapter tests and the child processes they
 * start (a fresh process must build the same data and load what the parent saved).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as optlab from '../../index.js';
import { OPTIMIZERS } from '../../optimizers/index.js';
import type { OptlabTfOptimizer } from '../../optimizers/tfjs.js';

/** Registry name -> the package's factory (`'mars-m'` -> `marsM`); throws when one is missing. */
export function tfFactory(method: string): (config?: Record<string, unknown>) => OptlabTfOptimizer<any> {
  const name = method.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const f = (optlab as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new Error(`optlab exports no tf.Optimizer factory '${name}' for method '${method}'`);
  return f as (config?: Record<string, unknown>) => OptlabTfOptimizer<any>;
}

/** Every registered method. */
export const METHODS = Object.keys(OPTIMIZERS);

/** Regression data: x [32, 4] seeded normal, y = tanh(x . w). The same on every backend. */
export function regressionData(): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => {
    const x = tf.randomNormal([32, 4], 0, 1, 'float32', 7);
    const y = tf.tanh(tf.sum(tf.mul(x, tf.tensor1d([0.5, -1, 0.25, 2])), 1, true));
    return { x: tf.keep(x), y: tf.keep(y) };
  });
}

/** The Dense 4-3-1 model, seeded, layers named `${prefix}_a` and `${prefix}_b`. */
export function dense431(prefix: string): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 3, inputShape: [4], activation: 'tanh', name: `${prefix}_a`, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.dense({ units: 1, name: `${prefix}_b`, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** Options for the small models: the routing table is printed by the tests that check it. */
export const QUIET = { printRouting: false };

/** fit options of one hop: 4 steps of 8, in order. */
export const HOP = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as const;

/** Flat copies of a model's weights. */
export function weightsOf(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}
