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
import { bool, nonNegative, positive, unitInterval, type Domains } from './domains.js';

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

/**
 * The allowed values of each option (optimizers/domains.ts): betas in [0, 1) as the reference's
 * constructor checks them (`0.0 <= betas[i] < 1.0`), lr > 0 (the reference also takes 0), weight decay >= 0.
 */
export const LION_DOMAINS: Domains<LionOptions> = { lr: positive, beta1: unitInterval, beta2: unitInterval, weightDecay: nonNegative, cautiousWeightDecay: bool };

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

function buildLion(o: Required<LionOptions>): Transform {
  return chain(scaleByLion(o.beta1, o.beta2), weightDecayTransform(o.weightDecay, o.lr, o.cautiousWeightDecay), scaleByLr(o.lr));
}

/** Lion (google/automl's PyTorch Lion): the sign of an interpolated momentum, for every parameter it is given. */
export const lion = defineOptimizer('lion', LION_DEFAULTS, buildLion, { domains: LION_DOMAINS });
