/**
 * NorMuon: Muon's orthogonalized direction with a per-neuron second moment (Li et al., "NorMuon: Making
 * Muon more efficient and scalable", arXiv 2510.05491). Registry name 'normuon'; reference
 * zichongli5/NorMuon normuon.py, classes SingleDeviceNorMuon and SingleDeviceNorMuonWithAuxAdam.
 *
 *   M <- lerp(M, G, 1-b);  U = lerp(G, M, b) (nesterov) or M;  O = NS5(U)            (Keller's Muon)
 *   v = mean of O^2 over each neuron's fan-in;  S <- lerp(S, v, 1-b2)                  (one value per output unit)
 *   O' = O / (sqrt(S) + eps);  O'' = O' ||O||_F / (||O'||_F + eps)                      (norm kept from before)
 *   W <- W (1 - lr wd) - lr sqrt(max(1, fan_out/fan_in)) O''
 *
 * Composed as Muon's direction (muon.ts `scaleByMuon`, Keller scaling) followed by `scaleByNeuronSecondMoment`:
 * the normalization is invariant to the constant shape factor, so applying it after the factor gives the
 * reference's result up to float rounding and the eps placement (eps 1e-10 against sqrt(S) ~ 1e-1).
 * Non-matrix parameters (roles embedding, head, vector) get the auxiliary AdamW of NorMuonWithAuxAdam
 * (Keller's adam_update: eps after the bias-corrected sqrt(v), own lr and wd).
 *
 * Differs from reference: Newton-Schulz runs in float32 (the reference casts to bfloat16; the `fp32`
 * fixtures patch that cast away). The fixtures pin commit 5320abe: the head (d45c9a4) drops the float cast
 * of the NS output and then fails on float32 parameters (test/fixtures/README-lion-normuon-adamuon-scion.md). Conv kernels
 * [kh, kw, in, out] get one second-moment entry per output channel on their (kh*kw*in) x out view; the
 * reference reshapes the NS output back to 4-D and averages over the last axis (kw) only, one entry per
 * (out, in, kh), and scales by sqrt(max(1, kh/kw)). A parameter without a gradient keeps its state and value
 * (the reference substitutes a zero gradient, which moves the momentum and the second moment). `eps` is
 * the reference's two hard-coded 1e-10 made an option.
 * Use on roles: matrix and conv (NorMuon); embedding, head, vector (auxiliary AdamW).
 */
import * as tf from '@tensorflow/tfjs-core';
import { AUX_ADAM_DOMAINS, auxAdamW, type AuxAdamWOptions } from './adamw.js';
import { chain, defineOptimizer, scaleByLr, weightDecayTransform, type OptimizerDef, type Transform } from './core.js';
import { bool, nonNegative, positive, unitInterval, type Domains } from './domains.js';
import { fans, matrixView } from './linalg.js';
import { lerp } from './momentum.js';
import { muonRoutes, NS_DOMAINS, requireMatrix, scaleByMuon, type BatchNewtonSchulz } from './muon.js';

/** Options of NorMuon. Auxiliary AdamW: adamLr 3e-4, adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-10 (after the bias-corrected sqrt(v)), adamWeightDecay 0. */
export interface NorMuonOptions extends AuxAdamWOptions {
  /** Learning rate of the matrix path, in Keller's units (spectral norm per update). @default 0.02 */
  lr?: number;
  /** Momentum coefficient b of Muon's direction. @default 0.95 */
  momentum?: number;
  /** EMA coefficient b2 of the per-neuron second moment S. @default 0.95 */
  beta2?: number;
  /** Orthogonalize the Nesterov look-ahead lerp(G, M, b) instead of M. @default true */
  nesterov?: boolean;
  /** Newton-Schulz iterations. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
  /** One batched Newton-Schulz over same-shape matrices (muon.ts `BatchNewtonSchulz`). @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
  /** Added to sqrt(S) and to the renormalization's denominator. @default 1e-10 */
  eps?: number;
  /** Decoupled weight decay of the matrix path, multiplied by the unscaled lr. @default 0 */
  weightDecay?: number;
  /** Cautious weight decay on the matrix path (arXiv 2510.12402): decay only where the update and the weight agree in sign. @default false */
  cautiousWeightDecay?: boolean;
}

export const NORMUON_DEFAULTS: Required<NorMuonOptions> = {
  lr: 0.02, momentum: 0.95, beta2: 0.95, nesterov: true, nsSteps: 5, nsCoefficients: 'classic', batchNewtonSchulz: 'auto', eps: 1e-10, weightDecay: 0, cautiousWeightDecay: false,
  adamLr: 3e-4, adamBeta1: 0.9, adamBeta2: 0.95, adamEps: 1e-10, adamWeightDecay: 0,
};

/**
 * The allowed values of each option (optimizers/domains.ts): momentum and beta2 in [0, 1), eps > 0 (it
 * keeps 1 / (sqrt(S) + eps) finite where a neuron's second moment is 0), the Newton-Schulz options of
 * NS_DOMAINS and the auxiliary AdamW's of AUX_ADAM_DOMAINS.
 */
export const NORMUON_DOMAINS: Domains<NorMuonOptions> = {
  lr: positive, momentum: unitInterval, beta2: unitInterval, nesterov: bool, ...NS_DOMAINS, eps: positive, weightDecay: nonNegative, cautiousWeightDecay: bool, ...AUX_ADAM_DOMAINS,
};

/**
 * NorMuon's normalization of an (orthogonalized) update O, on its `matrixView` [fan_in, fan_out]: one
 * second-moment entry per output unit, slot `second_momentum` [1, fan_out], S <- lerp(S, mean(O^2 over
 * fan_in), 1 - beta2); O' = O / (sqrt(S) + eps), rescaled to O's Frobenius norm.
 */
export function scaleByNeuronSecondMoment(beta2: number, eps: number): Transform {
  return {
    name: 'neuron-second-moment',
    init(p, slot) {
      requireMatrix('normuon', p);
      return { second_momentum: slot('second_momentum', 'zeros', [1, fans(p.variable.shape)[1]]) };
    },
    update(u, s) {
      const o = matrixView(u);
      const norm = tf.norm(o);
      const s2 = lerp(s.second_momentum, tf.mean(tf.square(o), 0, true), 1 - beta2);
      s.second_momentum.assign(s2);
      const scaled = tf.mul(o, tf.div(1, tf.add(tf.sqrt(s2), eps)));
      const out = tf.mul(scaled, tf.div(norm, tf.add(tf.norm(scaled), eps)));
      return u.rank === 2 ? out : tf.reshape(out, u.shape);
    },
    describe: () => `neuron-second-moment(b2=${beta2},eps=${eps})`,
  };
}

function buildNorMuon(o: Required<NorMuonOptions>): OptimizerDef {
  const matrix = chain(
    scaleByMuon({ ...o, momentumForm: 'ema', scaling: 'keller', method: 'normuon' }),
    scaleByNeuronSecondMoment(o.beta2, o.eps),
    weightDecayTransform(o.weightDecay, o.lr, o.cautiousWeightDecay),
    scaleByLr(o.lr),
  );
  return muonRoutes('normuon', matrix, auxAdamW(o, o.adamLr, o.adamWeightDecay, 'corrected'));
}

/** NorMuon (zichongli5/NorMuon): Muon's direction normalized per neuron by a second moment, with an auxiliary AdamW for non-matrix parameters. */
export const normuon = defineOptimizer('normuon', NORMUON_DEFAULTS, buildNorMuon, { className: 'NorMuonOptimizer', domains: NORMUON_DOMAINS });
