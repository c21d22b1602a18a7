/**
 * Scion: stochastic conditional gradient with a norm-constrained linear minimization oracle (LMO) per
 * layer (Pethick, Xie, Erdogan, Patel, Cevher, "Training Deep Learning Models with Norm-Constrained LMOs",
 * arXiv 2502.07529). Registry name 'scion'; reference LIONS-EPFL/scion scion.py, class Scion.
 *
 *   B <- (1 - momentum) B + momentum G      (momentum < 1; Scion's `momentum` is one minus the usual one)
 *   W <- W (1 - lr) - lr scale lmo(B)       (constrained; `unconstrained: true` drops the (1 - lr))
 *
 * LMOs, written on the [fan_in, fan_out] view (the reference's [d_out, d_in] torch weight, transposed):
 *   'spectral'      NS5(G) sqrt(fan_out / fan_in)                    (Spectral, normalized, max=False)
 *   'spectral-conv' NS5(view) sqrt(out / in) / (kh kw)               (SpectralConv)
 *   'col-norm'      G / (||G_j,:|| / sqrt(fan_out) + 1e-8), one norm per input feature j   (ColNorm)
 *   'row-norm'      G / (||G_:,i|| sqrt(fan_in) + 1e-8), one norm per output unit i         (RowNorm)
 *   'sign'          sign(G) / fan_in                                  (Sign, normalized)
 *   'bias-rms'      g / (rms(g) + 1e-8)                               (BiasRMS)
 *   'auto'          spectral-conv (rank >= 3), spectral (rank 2), bias-rms (rank 1)   (Auto, the default)
 * Each role family has its own norm and scale (`norm`/`scale` for matrix and conv, `vectorNorm`/
 * `vectorScale`, `embeddingNorm`/`embeddingScale`, `headNorm`/`headScale`), as the reference's param
 * groups do; the paper's GPT runs use spectral hidden layers and a sign head with a larger scale.
 *
 * Differs from reference: Newton-Schulz runs in float32 (the reference casts to bfloat16; the `fp32`
 * fixtures patch that cast away); the reference decorates it with torch.compile. The norms' options
 * (`normalized`, `transpose`, `max`) keep the reference's defaults and are not exposed: `transpose` exists
 * there for torch's [vocab, dim] embeddings, which optlab's [fan_in, fan_out] layout already is. The
 * spectral-conv factor uses kh*kw where the reference squares kh. The constraint's decay (1 - lr) scales
 * with the schedule's lrScale, as the reference's lr does. Use on roles: all (each with its norm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { chain, defineOptimizer, exactSign, route, scaleByLr, type OptimizerDef, type Role, type State, type Transform } from './core.js';
import { svMetrics } from './diagnostics.js';
import { bool, interval, oneOf, positive, type Domains } from './domains.js';
import { fans, matrixView, orthogonalize } from './linalg.js';
import { NS_DOMAINS } from './muon.js';

/** An LMO of Scion (the reference's norm_dict, in lower case). */
export type ScionNorm = 'auto' | 'spectral' | 'spectral-conv' | 'col-norm' | 'row-norm' | 'sign' | 'bias-rms';
export const SCION_NORMS: readonly ScionNorm[] = ['auto', 'spectral', 'spectral-conv', 'col-norm', 'row-norm', 'sign', 'bias-rms'];

/** Options of Scion. */
export interface ScionOptions {
  /** Learning rate (step size of the conditional gradient step, and the constraint's decay). @default 1e-3 */
  lr?: number;
  /** Averaging weight of the new gradient, B <- (1 - momentum) B + momentum G; 1 uses the gradient itself (no state). @default 1 */
  momentum?: number;
  /** Drop the (1 - lr) shrinkage: an unconstrained LMO step. @default false */
  unconstrained?: boolean;
  /** LMO of the matrix and conv roles. @default 'auto' */
  norm?: ScionNorm;
  /** Radius (update scale) of the matrix and conv roles. @default 1 */
  scale?: number;
  /** LMO of the vector role (biases, norm gains). @default 'auto' */
  vectorNorm?: ScionNorm;
  /** Radius of the vector role. @default 1 */
  vectorScale?: number;
  /** LMO of the embedding role. @default 'auto' */
  embeddingNorm?: ScionNorm;
  /** Radius of the embedding role. @default 1 */
  embeddingScale?: number;
  /** LMO of the head role. @default 'auto' */
  headNorm?: ScionNorm;
  /** Radius of the head role. @default 1 */
  headScale?: number;
  /** Newton-Schulz iterations of the spectral LMOs. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
}

export const SCION_DEFAULTS: Required<ScionOptions> = {
  lr: 1e-3, momentum: 1, unconstrained: false, norm: 'auto', scale: 1, vectorNorm: 'auto', vectorScale: 1, embeddingNorm: 'auto', embeddingScale: 1, headNorm: 'auto', headScale: 1,
  nsSteps: 5, nsCoefficients: 'classic',
};

const NORM_DOMAIN = oneOf(...SCION_NORMS);

/**
 * The allowed values of each option (optimizers/domains.ts). lr > 0; the constrained step
 * W <- W (1 - lr) - lr scale lmo(B) is a convex combination of W and the ball's vertex only for lr in
 * (0, 1] (for lr > 1 it flips the weights' sign), so with `unconstrained: false` the builder also refuses lr > 1 (a
 * rule between two options; the unconstrained step takes any lr > 0). momentum in (0, 1] (Scion's
 * momentum is one minus the usual coefficient; 1 = no averaging, 0 would never let the gradient in);
 * the radii (scales) > 0; each norm one of SCION_NORMS.
 */
export const SCION_DOMAINS: Domains<ScionOptions> = {
  lr: positive, momentum: interval(0, 1, { lowOpen: true }), unconstrained: bool,
  norm: NORM_DOMAIN, scale: positive, vectorNorm: NORM_DOMAIN, vectorScale: positive, embeddingNorm: NORM_DOMAIN, embeddingScale: positive, headNorm: NORM_DOMAIN, headScale: positive,
  nsSteps: NS_DOMAINS.nsSteps, nsCoefficients: NS_DOMAINS.nsCoefficients,
};

const EPS = 1e-8;

/** The concrete LMO `auto` stands for on a parameter of this rank. */
export function resolveScionNorm(norm: ScionNorm, rank: number): Exclude<ScionNorm, 'auto'> {
  if (norm !== 'auto') return norm;
  return rank >= 3 ? 'spectral-conv' : rank === 2 ? 'spectral' : 'bias-rms';
}

/**
 * The LMO direction of one norm on a parameter-shaped tensor (no lr, no radius). Throws for a norm that
 * needs a matrix on a 1-D parameter and for 'bias-rms' on a matrix. The spectral norms hand
 * `onOrthogonalized` the Newton-Schulz output O on the [fan_in, fan_out] view before their shape factor,
 * as Muon's diagnostics see it (singular values near 1). Call inside tf.tidy.
 */
export function scionLmo(norm: Exclude<ScionNorm, 'auto'>, g: tf.Tensor, ns: { steps: number; coefficients: 'classic' | 'polar-express' }, onOrthogonalized?: (o: tf.Tensor) => void): tf.Tensor {
  if (norm === 'bias-rms') {
    return tf.div(g, tf.add(tf.sqrt(tf.mean(tf.square(g), 0, true)), EPS));
  }
  const v = matrixView(g);
  const [fanIn, fanOut] = fans(g.shape);
  let out: tf.Tensor;
  if (norm === 'spectral' || norm === 'spectral-conv') {
    const o = orthogonalize(v, ns);
    onOrthogonalized?.(o);
    if (norm === 'spectral') return tf.reshape(tf.mul(o, Math.sqrt(fanOut / fanIn)), g.shape);
    const cin = g.rank >= 3 ? g.shape[g.rank - 2] : fanIn;
    const spatial = fanIn / cin;
    return tf.reshape(tf.mul(o, Math.sqrt(fanOut / cin) / spatial), g.shape);
  }
  if (norm === 'col-norm') {
    const rms = tf.mul(tf.sqrt(tf.sum(tf.square(v), 1, true)), 1 / Math.sqrt(fanOut));
    out = tf.div(v, tf.add(rms, EPS));
  } else if (norm === 'row-norm') {
    const rms = tf.mul(tf.sqrt(tf.sum(tf.square(v), 0, true)), Math.sqrt(fanIn));
    out = tf.div(v, tf.add(rms, EPS));
  } else {
    out = tf.mul(exactSign(v), 1 / fanIn);
  }
  return tf.reshape(out, g.shape);
}

/** Scion's per-parameter step direction scale * lmo(B), with the slot `momentum_buffer` when momentum < 1. */
export function scaleByScion(o: { momentum: number; norm: ScionNorm; scale: number; nsSteps: number; nsCoefficients: 'classic' | 'polar-express'; vector?: boolean }): Transform {
  const ns = { steps: o.nsSteps, coefficients: o.nsCoefficients };
  // Spectral LMOs report the singular values of their direction ('auto' on the vector role resolves to bias-rms).
  const spectral = o.norm === 'spectral' || o.norm === 'spectral-conv' || (o.norm === 'auto' && !o.vector);
  return {
    name: 'scion',
    diagnostics: spectral ? svMetrics('ns') : [],
    init(p, slot) {
      const n = resolveScionNorm(o.norm, p.variable.rank);
      if (n === 'bias-rms' && p.variable.rank !== 1) throw new Error(`scion: norm 'bias-rms' needs a 1-D parameter; '${p.name}' (role ${p.role}) has shape [${p.variable.shape}]`);
      if (n !== 'bias-rms' && p.variable.rank < 2) throw new Error(`scion: norm '${n}' needs a matrix; '${p.name}' (role ${p.role}) has shape [${p.variable.shape}]; use 'bias-rms' for 1-D parameters`);
      const state: State = o.momentum === 1 ? {} : { momentum_buffer: slot('momentum_buffer', 'zeros') };
      return state;
    },
    update(g, s, p, ctx) {
      let b = g;
      if (o.momentum !== 1) {
        b = tf.add(tf.mul(s.momentum_buffer, 1 - o.momentum), tf.mul(g, o.momentum));
        s.momentum_buffer.assign(b);
      }
      const n = resolveScionNorm(o.norm, p.variable.rank);
      // The probe reads NS's output before the shape factor sqrt(fan_out / fan_in) (and 1 / (kh kw)), as Muon's does.
      const d = scionLmo(n, b, ns, ctx.probe ? (o) => ctx.probe!.singularValues(p, 'ns', o) : undefined);
      return o.scale === 1 ? d : tf.mul(d, o.scale);
    },
    // With a parameter, 'auto' shows the LMO it resolves to on that parameter's rank.
    describe: (p) => `scion(${o.norm === 'auto' && p ? `auto:${resolveScionNorm('auto', p.variable.rank)}` : o.norm}${o.momentum === 1 ? '' : `,momentum=${o.momentum}`},scale=${o.scale})`,
  };
}

/** The constraint's shrinkage W <- W (1 - lr lrScale), Scion's `p.mul_(1 - lr)`. */
function constraintDecay(lr: number): Transform {
  return { name: 'constraint', update: (u) => u, decay: (_p, ctx) => 1 - lr * ctx.lrScale, describe: () => 'constrained' };
}

function buildScion(o: Required<ScionOptions>): OptimizerDef {
  if (!o.unconstrained && o.lr > 1) throw new Error(`scion: option 'lr' must be in (0, 1] with unconstrained false (the constrained step multiplies the weights by 1 - lr), got ${o.lr}; use unconstrained: true for a larger step`);
  const families: { label: string; roles: Role[]; norm: ScionNorm; scale: number; key: string }[] = [
    { label: 'scion', roles: ['matrix', 'conv'], norm: o.norm, scale: o.scale, key: 'norm' },
    { label: 'scion-vector', roles: ['vector'], norm: o.vectorNorm, scale: o.vectorScale, key: 'vectorNorm' },
    { label: 'scion-embedding', roles: ['embedding'], norm: o.embeddingNorm, scale: o.embeddingScale, key: 'embeddingNorm' },
    { label: 'scion-head', roles: ['head'], norm: o.headNorm, scale: o.headScale, key: 'headNorm' },
  ];
  const routes = families.map((f) => {
    const parts = [scaleByScion({ ...o, norm: f.norm, scale: f.scale, vector: f.key === 'vectorNorm' })];
    if (!o.unconstrained) parts.push(constraintDecay(o.lr));
    parts.push(scaleByLr(o.lr));
    return { label: f.label, roles: f.roles, transform: chain(...parts) };
  });
  return route(...routes);
}

/** Scion (LIONS-EPFL/scion): conditional-gradient steps along a per-role norm's LMO (spectral for matrices by default). */
export const scion = defineOptimizer('scion', SCION_DEFAULTS, buildScion, { domains: SCION_DOMAINS });

/** For tests and mappings: the parameter roles each Scion option family governs. */
export const SCION_ROLE_OPTIONS: Readonly<Record<Role, { norm: keyof ScionOptions; scale: keyof ScionOptions }>> = {
  matrix: { norm: 'norm', scale: 'scale' },
  conv: { norm: 'norm', scale: 'scale' },
  vector: { norm: 'vectorNorm', scale: 'vectorScale' },
  embedding: { norm: 'embeddingNorm', scale: 'embeddingScale' },
  head: { norm: 'headNorm', scale: 'headScale' },
};
