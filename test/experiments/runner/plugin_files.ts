/**
 * A user's plugin folder for the plugin tests: a method (sign descent with momentum, "signum"), data
 * (Gaussian blobs, vectors), a tfjs LayersModel (a two-layer MLP through fromLayersModel) and a metric
 * (error rate), written as a user writes them. The folder lives inside the repository so that the
 * plugin's bare imports ('@tensorflow/tfjs-layers') resolve; optlab's own modules are imported by path.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The plugin module's text; `from` maps optlab module names to import specifiers. */
export function pluginSource(from: { optimizers: string; models: string }): string {
  return `import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { chain, defineOptimizer, scaleByLr } from '${from.optimizers}';
import { fromLayersModel } from '${from.models}';

/** Sign descent with momentum: m <- beta m + (1 - beta) g; W <- W - lr sign(m). */
export const optimizers = {
  signum: defineOptimizer('signum', { lr: 0.01, beta: 0.9 }, (o) =>
    chain(
      {
        name: 'signum',
        init: (_p, slot) => ({ m: slot('m', 'zeros') }),
        update(g, s) {
          const m = tf.add(tf.mul(s.m, o.beta), tf.mul(g, 1 - o.beta));
          s.m.assign(m);
          return tf.sign(m);
        },
      },
      scaleByLr(o.lr),
    ),
  ),
};

/** Seeded uniform numbers in [0, 1). */
function lcg(seed) {
  let s = (seed * 2654435761 + 1) >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
}

/** Gaussian-ish blobs around fixed class centres; x float32 [batch, dim], y int32 [batch]. */
function blobBatch(rand, n, dim, classes) {
  const centre = lcg(99);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => centre() * 4 - 2));
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * classes);
    y[i] = c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c][j] + (rand() + rand() + rand() - 1.5);
  }
  return { x: tf.tensor2d(x, [n, dim]), y: tf.tensor1d(y, 'int32') };
}

export const data = {
  blobs: {
    input: 'vectors',
    defaults: { dim: 8, classes: 3, evalSeed: 7 },
    load(o, ctx) {
      const train = lcg(ctx.seed);
      const held = lcg(o.evalSeed);
      return {
        info: { numClasses: o.classes, dim: o.dim },
        nextBatch: () => blobBatch(train, ctx.batchSize, o.dim, o.classes),
        evalBatches: Array.from({ length: ctx.evalBatches }, () => blobBatch(held, ctx.batchSize, o.dim, o.classes)),
        unit: 'samples',
        unitsPerStep: ctx.batchSize,
      };
    },
  },
};

export const models = {
  mlp: {
    data: 'vectors',
    defaults: { hidden: 16 },
    create(o, { seed, data }) {
      const model = tfl.sequential({
        layers: [
          tfl.layers.dense({ inputShape: [data.dim], units: o.hidden, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
          tfl.layers.dense({ units: data.numClasses, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
        ],
      });
      return fromLayersModel(model);
    },
  },
};

export const metrics = {
  error: { doc: 'classification error', evaluate: (model, batch) => tf.sub(1, model.accuracy(batch)) },
};
`;
}

/** A fresh plugin folder inside the repository with the plugin as my_plugin.ts; returns it and a remover. */
export function pluginFolder(): { dir: string; file: string; remove: () => void } {
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.cache', 'plugin-test-'));
  const file = join(dir, 'my_plugin.ts');
  writeFileSync(file, pluginSource({ optimizers: join(ROOT, 'optimizers', 'index.ts'), models: join(ROOT, 'models', 'index.ts') }));
  return { dir, file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
