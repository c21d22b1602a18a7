/** Checks shared by the model tests: finite-difference gradients, training steps, tensor growth. */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { lossAndGrads, Rng } from '../../models/layers.js';
import type { Batch, TrainableModel } from '../../models/model.js';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer } from '../../optimizers/core.js';

/** Adds N(0, scale^2) noise to every weight, so attention is not uniform and every gradient is sizable. */
export function perturb(model: TrainableModel, scale: number, seed: number): void {
  const rng = new Rng(seed);
  for (const p of model.params) {
    const noise = Float32Array.from({ length: p.variable.size }, () => rng.normal() * scale);
    tf.tidy(() => p.variable.assign(tf.add(p.variable, tf.tensor(noise, p.variable.shape))));
  }
}

function lossValue(model: TrainableModel, batch: Batch): number {
  const l = tf.tidy(() => model.loss(batch));
  const v = l.dataSync()[0];
  l.dispose();
  return v;
}

/**
 * For every parameter p and a random unit direction d on p alone, compares <grad_p, d> with the
 * central difference (L(p + eps d) - L(p - eps d)) / (2 eps). In float32 with L ~ 2 and eps = 1e-2
 * the difference carries ~1e-5 of rounding noise, far below the tolerance.
 */
export function checkGradients(model: TrainableModel, batch: Batch, opts: { eps?: number; rtol?: number; atol?: number; seed?: number } = {}): void {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-4;
  const rng = new Rng(opts.seed ?? 5);
  const { loss, grads } = lossAndGrads(model, batch);
  loss.dispose();
  expect([...grads.keys()].sort()).to.deep.equal(model.params.map((p) => p.name).sort(), 'every parameter gets a gradient');
  for (const p of model.params) {
    const raw = Float32Array.from({ length: p.variable.size }, () => rng.normal());
    const norm = Math.hypot(...raw);
    const d = tf.tensor(raw.map((x) => x / norm), p.variable.shape);
    const g = grads.get(p.name)!;
    const analytic = tf.tidy(() => tf.sum(tf.mul(g, d)).dataSync()[0]);
    const orig = p.variable.clone();
    tf.tidy(() => p.variable.assign(tf.add(orig, tf.mul(d, eps))));
    const up = lossValue(model, batch);
    tf.tidy(() => p.variable.assign(tf.sub(orig, tf.mul(d, eps))));
    const down = lossValue(model, batch);
    p.variable.assign(orig);
    orig.dispose();
    d.dispose();
    const numeric = (up - down) / (2 * eps);
    expect(Math.abs(numeric - analytic), `${p.name}: analytic ${analytic}, finite difference ${numeric}`).to.be.at.most(atol + rtol * Math.abs(numeric));
  }
  for (const g of grads.values()) g.dispose();
}

/** Runs AdamW steps on one batch and returns the loss before each step. */
export function adamwLosses(model: TrainableModel, batch: Batch, steps: number, lr = 1e-2): number[] {
  const opt = buildOptimizer(model.params, adamw({ lr, weightDecay: 0 }));
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const { loss, grads } = lossAndGrads(model, batch, { training: true });
    opt.step(grads);
    losses.push(loss.dataSync()[0]);
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  }
  opt.dispose();
  return losses;
}

/** Tensor counts after each of `steps` AdamW steps (batch drawn fresh each step and freed). */
export function tensorCounts(model: TrainableModel, nextBatch: () => Batch, steps: number): number[] {
  const opt = buildOptimizer(model.params, adamw({ lr: 1e-3 }), { clipNorm: 1 });
  const counts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const batch = nextBatch();
    const { loss, grads } = lossAndGrads(model, batch, { training: true });
    opt.step(grads);
    loss.dispose();
    for (const g of grads.values()) g.dispose();
    tf.dispose([batch.x, batch.y]);
    counts.push(tf.memory().numTensors);
  }
  opt.dispose();
  return counts;
}
