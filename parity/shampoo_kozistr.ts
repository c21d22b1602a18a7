/**
 * kozistr/pytorch_optimizer's Shampoo (fixture variant 'classic') and ScalableShampoo ('scalable') as
 * optlab Shampoo options plus two momentum quirks of that code, which live here and not in
 * optimizers/shampoo.ts because they follow the reference's implementation, not an algorithm a user
 * would choose:
 * - classic: the raw gradient is mixed with the previous step's direction before preconditioning,
 *   G <- (1 - mu) G + mu P_prev (P_prev = G at step 1), and the buffer then stores the new direction.
 * - scalable with Nesterov: the stored buffer is updated twice per step (M <- mu M + P; M <- mu M + P)
 *   and the step uses M.
 * Everything else is an optlab Shampoo option (exponent, roots, sequential factors, grafting, ...).
 */
import * as tf from '@tensorflow/tfjs-core';
import { chain, resolveOptions, route, scaleByLr, type OptimizerDef, type Parameter, type Role, type Transform } from '../optimizers/core.js';
import { scaleByShampoo, shampoo, SHAMPOO_DEFAULTS, type ShampooOptions } from '../optimizers/shampoo.js';
import type { ReferenceCase } from './fixture.js';
import { referenceGroupOf, type ReferenceMapping } from './mapping_helpers.js';

/** Which momentum quirk of kozistr's code a fixture needs, around a Shampoo built with momentum 0. */
type KozistrMomentum = { style: 'classic' | 'scalable-nesterov'; momentum: number } | null;

/** classic, before Shampoo: G <- (1 - mu) G + mu P_prev with P_prev = G at step 1 (slot `momentum`). */
function classicMix(mu: number): Transform {
  return {
    name: 'kozistr-classic-mix',
    init: (_p, slot) => ({ momentum: slot('momentum', 'zeros') }),
    update: (g, s, _p, ctx) => tf.add(tf.mul(g, 1 - mu), tf.mul(ctx.t === 1 ? g : s.momentum, mu)),
    describe: () => `kozistr-classic-mix(mu=${mu})`,
  };
}

/** classic, after Shampoo: the buffer keeps this step's direction for the next step's mix. */
const classicRecord: Transform = {
  name: 'kozistr-classic-record',
  update(d, s) {
    s.momentum.assign(d);
    return d;
  },
};

/** scalable with Nesterov, after Shampoo: M <- mu M + P twice; the step is M (slot `momentum`). */
function scalableNesterov(mu: number): Transform {
  return {
    name: 'kozistr-scalable-nesterov',
    init: (_p, slot) => ({ momentum: slot('momentum', 'zeros') }),
    update(d, s) {
      const m = tf.add(tf.mul(tf.add(tf.mul(s.momentum, mu), d), mu), d);
      s.momentum.assign(m);
      return m;
    },
    describe: () => `kozistr-scalable-nesterov(mu=${mu})`,
  };
}

/**
 * Shampoo as optimizers/shampoo.ts routes it (matrices preconditioned, 1-D and role 'vector' per
 * `oneDim`: 'full' or 'graft' here), with kozistr's momentum quirk around the Shampoo direction.
 */
function kozistrShampoo(options: Partial<ShampooOptions>, quirk: KozistrMomentum): OptimizerDef {
  shampoo(options); // validates the options with the method's own messages
  const o = resolveOptions<Required<ShampooOptions>>('shampoo', SHAMPOO_DEFAULTS, options);
  if (o.oneDim === 'adamw') throw new Error("kozistr Shampoo mapping: oneDim 'adamw' is not a kozistr route");
  const wrap = (core: Transform): Transform => {
    if (!quirk) return chain(core, scaleByLr(o.lr));
    if (quirk.style === 'classic') return chain(classicMix(quirk.momentum), core, classicRecord, scaleByLr(o.lr));
    return chain(core, scalableNesterov(quirk.momentum), scaleByLr(o.lr));
  };
  const isVector = (p: Parameter) => p.variable.rank < 2 || p.role === 'vector';
  return route(
    { label: 'shampoo', when: (p) => !isVector(p), transform: wrap(scaleByShampoo(o)) },
    { label: o.oneDim === 'full' ? 'shampoo-1d' : 'graft', when: isVector, transform: wrap(scaleByShampoo(o, o.oneDim === 'full')) },
  );
}

/**
 * Maps kozistr/pytorch_optimizer Shampoo (variant 'classic') and ScalableShampoo ('scalable'):
 * classic: exponent -1/order ('half'), SVD roots ('eigh', float64 here), factors starting at
 * matrix_eps*I (an absolute epsilon: the same sum), zero initial roots, PyTorch's R accumulated from
 * the left-preconditioned gradient (optlab's L from the right-preconditioned one, since replay hands
 * optlab the transposed [in, out] matrix: 'right-first'), its momentum mixing, L2 weight decay, no
 * blocking, full-matrix H^{-1} g on 1-D parameters.
 * scalable: SGD grafting, momentum betas[0] with its doubled Nesterov buffer update, start step and
 * frequency as given, block_size blocking, 1-D and merged-to-[1] tensors never preconditioned ('graft').
 * Its roots are scalar in the fixtures: the preconditioned lsq trajectory matches the unpreconditioned
 * (grafted SGD) path to 2.4e-7, against 0.36 with a working coupled Newton (float64 re-run of the update
 * rule). A version of its `compute_power_schur_newton` writes `matmul(..., out=mat_m)` into its own
 * input; the 1.2x error guard then stops before the first update and z^{1/p} I comes back.
 * `newtonMaxIter: 0` reproduces that scalar root, which grafting turns into the gradient's direction.
 */
export function shampooKozistrFromReference(fx: ReferenceCase): ReferenceMapping<ShampooOptions> {
  const names = Object.keys(fx.params);
  const groups = new Set(names.map((n) => referenceGroupOf(fx, n)));
  if (groups.size !== 1) throw new Error(`expected one param group, found ${groups.size}`);
  const g = [...groups][0];
  const a = fx.resolved_attributes ?? {};
  if (a.maximize || g.maximize) throw new Error('maximize=True is not supported');
  const roles: Record<string, Role> = {};
  if (fx.variant === 'classic') {
    if (g.weight_decouple && g.weight_decay > 0) throw new Error('classic Shampoo with weight_decouple=True is not mapped');
    for (const n of names) roles[n] = fx.params[n].shape.length >= 2 ? 'matrix' : 'vector';
    const options: Partial<ShampooOptions> = {
      lr: g.lr,
      beta1: 0,
      beta2: 1,
      epsilon: g.matrix_eps,
      epsilonMode: 'absolute',
      weightDecay: g.weight_decay,
      weightDecayType: 'l2',
      maxPreconditionerDim: 1e9,
      mergeSmallDims: false,
      preconditionFrequency: a.preconditioning_compute_steps ?? 1,
      startPreconditioningStep: 1,
      biasCorrection: false,
      grafting: 'none',
      exponent: 'half',
      momentum: 0,
      sequentialFactors: 'right-first',
      initialRoot: 'zero',
      rootMethod: 'eigh',
      // kozistr's SVD roots run in float64; optlab's eigh default is Meta's float32.
      rootPrecision: 'float64',
      oneDim: 'full',
    };
    const quirk: KozistrMomentum = g.momentum > 0 ? { style: 'classic', momentum: g.momentum } : null;
    return { roles, options, build: (opts) => kozistrShampoo(opts, quirk) };
  }
  if (fx.variant !== 'scalable') throw new Error(`unknown shampoo variant '${fx.variant}' (expected 'classic' or 'scalable')`);
  // weight_decay (decoupled_weight_decay=False) adds weight_decay * p to the grafted direction before
  // momentum: optlab's 'decoupled' type. Mapped where that is the whole story, start_preconditioning_step
  // 1; before a later start step the reference steps along its graft momentum of the raw gradient.
  const wd = g.weight_decay ?? 0;
  const startStep = a.start_preconditioning_step ?? 25;
  if (wd > 0 && g.decoupled_weight_decay) {
    throw new Error('ScalableShampoo weight_decay with decoupled_weight_decay=True is not mapped: its loop over the graft and Shampoo directions applies p *= 1 - lr*weight_decay twice per step');
  }
  if (wd > 0 && startStep > 1) {
    throw new Error(`ScalableShampoo weight_decay > 0 with start_preconditioning_step=${startStep} is not mapped: before the start step its update is the graft momentum of the raw gradient, which weight decay enters only through the Nesterov term`);
  }
  if (g.moving_average_for_momentum) throw new Error('moving_average_for_momentum=True is not mapped');
  if (g.decoupled_learning_rate === false) throw new Error('decoupled_learning_rate=False is not mapped');
  if ((a.pre_conditioner_type ?? 0) !== 0) throw new Error('only pre_conditioner_type=ALL is mapped');
  if (a.inverse_exponent_override) throw new Error('inverse_exponent_override is not mapped');
  if (a.use_svd) throw new Error('use_svd=True is not mapped');
  if ((a.statistics_compute_steps ?? 1) !== 1) throw new Error('statistics_compute_steps != 1 is not mapped');
  const grafts = ['none', 'sgd', 'adagrad', 'rmsprop'] as const;
  const graft = grafts[a.graft_type ?? 1];
  if (!graft) throw new Error(`graft_type ${a.graft_type} is not mapped (SQRT_N)`);
  const blockSize = a.block_size ?? 512;
  for (const n of names) {
    const shape = fx.params[n].shape;
    const size = shape.reduce((x: number, y: number) => x * y, 1);
    const collapsed = a.shape_interpretation !== false && size <= blockSize;
    const tooLarge = shape.some((d: number) => d > (a.no_preconditioning_for_layers_with_dim_gt ?? 8192));
    roles[n] = shape.length >= 2 && !collapsed && !tooLarge ? 'matrix' : 'vector';
  }
  const [b1, b2] = g.betas;
  const nesterov = !!g.nesterov && b1 > 0;
  const options: Partial<ShampooOptions> = {
    lr: g.lr,
    beta1: 0,
    beta2: b2,
    epsilon: a.matrix_eps ?? 1e-6,
    epsilonMode: 'relative',
    weightDecay: wd,
    weightDecayType: 'decoupled',
    maxPreconditionerDim: blockSize,
    mergeSmallDims: false,
    preconditionFrequency: a.preconditioning_compute_steps ?? 1000,
    startPreconditioningStep: startStep,
    biasCorrection: false,
    grafting: graft,
    graftBeta2: b2,
    graftEps: a.diagonal_eps ?? 1e-10,
    exponent: 'quarter',
    // Without Nesterov the reference's M <- mu M + P is optlab's own (standard) momentum.
    momentum: nesterov ? 0 : b1,
    nesterov: false,
    rootMethod: 'newton',
    newtonMaxIter: 0,
    // kozistr keeps every root it computes (no acceptance test).
    rootFailureThreshold: Number.MAX_VALUE,
    oneDim: 'graft',
  };
  const quirk: KozistrMomentum = nesterov ? { style: 'scalable-nesterov', momentum: b1 } : null;
  return { roles, options, build: (opts) => kozistrShampoo(opts, quirk) };
}
