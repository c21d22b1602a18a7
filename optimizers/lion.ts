/**
 * Lion: the sign of an interpolated momentum (Chen et al., "Symbolic Discovery of Optimization
 * Algorithms", arXiv 2302.06675). Registry name 'lion'; reference google/automl lion/lion_pytorch.py
 * (the authors' PyTorch port), class Lion.
 *
 *   c = b1 m + (1 - b1) g;   W <- W (1 - lr wd) - lr sign(c);   m <- b2 m + (1 - b2) g
 *
 * Differs from reference: none (same state `exp_avg`, op order and defaults; sign(0) = 0 in both). A
 * parameter without a gradient keeps its state and value, as the reference skips it. `cautiousWeightDecay`
 * (Chen et al. 2025, docs/optimizers/cautious_wd.md) replaces the decay by its cautious form: lr wd W only where sign(c) and W agree.
 * Use on roles: all (the reference gives every parameter the same rule).
 *
 * Warnings: every coordinate moves by exactly lr per step, so Lion's lr is 3-10x smaller than AdamW's and
 * its weight decay 3-10x larger for the same effective decay (the paper's section 5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ema } from './adamw.js';
import { chain, defineOptimizer, exactSign, scaleByLr, weightDecayTransform, type Transform } from './core.js';

/** Options of Lion. */
export interface LionOptions {
  /** Learning rate: every coordinate moves by lr per step. @default 1e-4 */
  lr?: number;
  /** Interpolation between momentum and gradient whose sign is the update. @default 0.9 */
  beta1?: number;
  /** Momentum decay (m <- b2 m + (1 - b2) g). @default 0.99 */
  beta2?: number;
  /** Decoupled weight decay, multiplied by the unscaled lr. @default 0 */
  weightDecay?: number;
  /** Cautious weight decay (arXiv 2510.12402): decay only where sign(update) and the weight agree. @default false */
  cautiousWeightDecay?: boolean;
}

export const LION_DEFAULTS: Required<LionOptions> = { lr: 1e-4, beta1: 0.9, beta2: 0.99, weightDecay: 0, cautiousWeightDecay: false };

/** Lion's direction sign(b1 m + (1 - b1) g), with the slot `exp_avg` (m <- b2 m + (1 - b2) g). */
export function scaleByLion(beta1: number, beta2: number): Transform {
  return {
    name: 'lion',
    init: (_p, slot) => ({ exp_avg: slot('exp_avg', 'zeros') }),
    update(g, s) {
      const c = ema(s.exp_avg, g, beta1);
      s.exp_avg.assign(ema(s.exp_avg, g, beta2));
      return exactSign(c);
    },
    describe: () => `lion(b1=${beta1},b2=${beta2})`,
  };
}

/** Throws unless `x` lies in [0, 1), naming the method, the option and the allowed range. */
export function checkUnitInterval(method: string, option: string, x: number): void {
  if (!(x >= 0 && x < 1)) throw new Error(`${method}: ${option} must be in [0, 1), got ${x}`);
}

/** Throws unless `x` is > 0 (or >= 0 with `orZero`), naming the method, the option and the allowed range. */
export function checkPositive(method: string, option: string, x: number, orZero = false): void {
  if (!(orZero ? x >= 0 : x > 0)) throw new Error(`${method}: ${option} must be ${orZero ? '>= 0' : '> 0'}, got ${x}`);
}

function buildLion(o: Required<LionOptions>): Transform {
  checkPositive('lion', 'lr', o.lr);
  checkUnitInterval('lion', 'beta1', o.beta1);
  checkUnitInterval('lion', 'beta2', o.beta2);
  checkPositive('lion', 'weightDecay', o.weightDecay, true);
  return chain(scaleByLion(o.beta1, o.beta2), weightDecayTransform(o.weightDecay, o.lr, o.cautiousWeightDecay), scaleByLr(o.lr));
}

/** Lion (google/automl's PyTorch Lion): the sign of an interpolated momentum, for every parameter it is given. */
export const lion = defineOptimizer('lion', LION_DEFAULTS, buildLion);
