/**
 * AdaMuon: Muon's orthogonalized sign-momentum with an elementwise second moment and an RMS-matched
 * scale (Si, Zhang & Shen, "AdaMuon: Adaptive Muon Optimizer", arXiv 2507.11005). Registry name
 * 'adamuon'; reference Chongjie-Si/AdaMuon gpt2/models/optimizers/adamuon.py, class AdaMuon.
 *
 *   M <- lerp(M, G, 1-b);  U = lerp(G, M, b) (nesterov) or M;  O = NS5(sign(U))
 *   V <- b V + (1-b) O^2  (the momentum coefficient b, no bias correction);  O' = O / (sqrt(V) + eps)
 *   W <- W (1 - lr wd) - lr 0.2 sqrt(m n) O' / (||O'||_F + eps)                      (update RMS 0.2)
 *
 * Composed as Muon's direction with `signBeforeNs` (muon.ts `scaleByMuon`) followed by
 * `scaleByElementwiseSecondMoment`; the shape factor of the direction is irrelevant, since V's ratio
 * and the final RMS scale are invariant to it (up to float rounding and eps). Non-matrix parameters
 * (roles embedding, head, vector) get torch.optim.AdamW as the paper's GPT-2 code configures it
 * (gpt2/models/model.py configure_optimizers): the same lr, betas (adamBeta1, adamBeta2), eps 1e-8 after
 * the bias-corrected sqrt(v), and the weight decay on embeddings and the head but not on 1-D parameters.
 *
 * Differs from reference: Newton-Schulz and the update run in float32 (the reference runs NS in bfloat16
 * and casts the update to bfloat16 before applying it; the `fp32` fixtures patch both). Conv kernels use
 * their (kh*kw*in) x out view and 0.2 sqrt(numel); the reference flattens them to [out, in*kh*kw] for NS
 * but scales by 0.2 sqrt(min(shape) * max(shape)) of the 4-D shape. Single process: the reference's
 * all-gather over ranks is a copy with one process. A parameter without a gradient keeps its state
 * and value (the reference asserts a gradient). Use on roles: matrix and conv (AdaMuon); embedding, head,
 * vector (AdamW).
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamwTransform, AUX_ADAM_DOMAINS, type AuxAdamOptions } from './adamw.js';
import { chain, defineOptimizer, scaleByLr, weightDecayTransform, type OptimizerDef, type Transform } from './core.js';
import { bool, nonNegative, positive, unitInterval, type Domains } from './domains.js';
import { muonRoutes, NS_DOMAINS, scaleByMuon, type BatchNewtonSchulz } from './muon.js';

/** Options of AdaMuon; its AdamW shares lr and weightDecay (decay on embeddings and head only): adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-8 (after the bias-corrected sqrt(v), torch.optim.AdamW). */
export interface AdaMuonOptions extends AuxAdamOptions {
  /** Learning rate of both paths; the matrix update has RMS 0.2, as AdamW's. @default 0.02 */
  lr?: number;
  /** Decoupled weight decay of the matrix path and of the AdamW path's embeddings and head, multiplied by the unscaled lr. @default 0.01 */
  weightDecay?: number;
  /** Momentum coefficient b, also the second moment's EMA coefficient. @default 0.95 */
  momentum?: number;
  /** Orthogonalize sign of the Nesterov look-ahead lerp(G, M, b) instead of sign(M). @default true */
  nesterov?: boolean;
  /** Newton-Schulz iterations. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
  /** One batched Newton-Schulz over same-shape matrices (muon.ts `BatchNewtonSchulz`). @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
  /** Added to sqrt(V) and to the final norm. @default 1e-8 */
  eps?: number;
  /** Cautious weight decay on the matrix path (arXiv 2510.12402): decay only where the update and the weight agree in sign. @default false */
  cautiousWeightDecay?: boolean;
}

export const ADAMUON_DEFAULTS: Required<AdaMuonOptions> = {
  lr: 0.02, weightDecay: 0.01, momentum: 0.95, nesterov: true, nsSteps: 5, nsCoefficients: 'classic', batchNewtonSchulz: 'auto', eps: 1e-8, cautiousWeightDecay: false,
  adamBeta1: 0.9, adamBeta2: 0.95, adamEps: 1e-8,
};

/**
 * The allowed values of each option (optimizers/domains.ts): momentum (also the second moment's EMA
 * coefficient) in [0, 1), eps > 0, the Newton-Schulz options of NS_DOMAINS; the AdamW path's betas and
 * eps as AUX_ADAM_DOMAINS (torch.optim.AdamW's betas in [0, 1); its eps > 0, as ADAMW_DOMAINS).
 */
export const ADAMUON_DOMAINS: Domains<AdaMuonOptions> = {
  lr: positive, weightDecay: nonNegative, momentum: unitInterval, nesterov: bool, ...NS_DOMAINS, eps: positive, cautiousWeightDecay: bool,
  adamBeta1: AUX_ADAM_DOMAINS.adamBeta1, adamBeta2: AUX_ADAM_DOMAINS.adamBeta2, adamEps: AUX_ADAM_DOMAINS.adamEps,
};

/**
 * AdaMuon's second moment and scale on an (orthogonalized) update O: slot `v_buffer` (O's shape),
 * V <- beta V + (1 - beta) O^2, O' = O / (sqrt(V) + eps), out = O' 0.2 sqrt(numel) / (||O'||_F + eps).
 */
export function scaleByElementwiseSecondMoment(beta: number, eps: number): Transform {
  return {
    name: 'adamuon-second-moment',
    init: (_p, slot) => ({ v_buffer: slot('v_buffer', 'zeros') }),
    update(u, s) {
      const v = tf.add(tf.mul(s.v_buffer, beta), tf.mul(tf.square(u), 1 - beta));
      s.v_buffer.assign(v);
      const o = tf.div(u, tf.add(tf.sqrt(v), eps));
      return tf.mul(o, tf.div(0.2 * Math.sqrt(u.size), tf.add(tf.norm(o), eps)));
    },
    describe: () => `adamuon-second-moment(b=${beta},eps=${eps},rms=0.2)`,
  };
}

function buildAdaMuon(o: Required<AdaMuonOptions>): OptimizerDef {
  const matrix = chain(
    scaleByMuon({ ...o, momentumForm: 'ema', scaling: 'keller', signBeforeNs: true, method: 'adamuon' }),
    scaleByElementwiseSecondMoment(o.momentum, o.eps),
    weightDecayTransform(o.weightDecay, o.lr, o.cautiousWeightDecay),
    scaleByLr(o.lr),
  );
  const aux = adamwTransform({ lr: o.lr, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEps, weightDecay: o.weightDecay, decayOn: 'rank2' });
  return muonRoutes('adamuon', matrix, aux);
}

/** AdaMuon (Chongjie-Si/AdaMuon): orthogonalized sign-momentum with an elementwise second moment and update RMS 0.2, with AdamW for non-matrix parameters. */
export const adamuon = defineOptimizer('adamuon', ADAMUON_DEFAULTS, buildAdaMuon, { className: 'AdaMuonOptimizer', domains: ADAMUON_DOMAINS });
