/**
 * Maps the `shampoo-meta-*` reference fixtures (facebookresearch/optimizers Distributed Shampoo @ f606606,
 * run from its own code; test/fixtures/README.md) onto `shampoo()` options. Every setting the fixture
 * records is read: one that optlab reproduces becomes an option, and only when it differs from optlab's
 * default (which is Meta's), so a fixture of Meta's defaults replays with `shampoo()`'s own defaults; any
 * other value is refused with a message naming it. The block layout Meta recorded (`resolved_attributes.
 * blocks`: merged shape, block shapes, inverse exponents) is checked against optlab's before replay.
 */
import type { Role } from '../optimizers/core.js';
import type { ReferenceCase } from './fixture.js';
import { SHAMPOO_DEFAULTS, shampooLayout, shampooRootExponent, type ShampooOptions } from '../optimizers/shampoo.js';

/** The class name of a recorded config object (`{class: 'EigenConfig', ...}`), or null. */
function classOf(x: unknown): string | null {
  return x && typeof x === 'object' && typeof (x as { class?: unknown }).class === 'string' ? (x as { class: string }).class : null;
}

function refuse(what: string): never {
  throw new Error(`Meta Distributed Shampoo ${what} is not mapped`);
}

/** Keys of a recorded config that change no arithmetic on one CPU device. */
const NO_MATH = new Set(['class', 'use_pin_memory', 'use_symmetric_packing', 'num_tolerated_failed_amortized_computations', 'eigendecomposition_offload_device']);

function checkKnown(obj: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!known.includes(k) && !NO_MATH.has(k)) refuse(`${where}.${k} (${JSON.stringify(obj[k])})`);
}

/**
 * A `shampoo-meta-*` fixture -> `shampoo()` options (only those differing from optlab's defaults) and a
 * role per parameter (2-D: matrix, else vector; Meta gives every parameter its own factors). Throws,
 * naming the setting, for anything optlab does not reproduce, and when optlab's blocks or exponents
 * would differ from the ones Meta recorded.
 */
export function shampooMetaMapping(fx: ReferenceCase): { options: Partial<ShampooOptions>; roles: Record<string, Role> } {
  if (fx.optimizer !== 'shampoo' || fx.variant !== 'meta') throw new Error(`shampooMetaMapping: ${fx.name} is '${fx.optimizer}' variant '${fx.variant}', not a Meta Shampoo fixture`);
  if (fx.resolved_param_groups.length !== 1) refuse(`with ${fx.resolved_param_groups.length} param groups`);
  const g = fx.resolved_param_groups[0] as Record<string, any>;
  checkKnown(g, ['params', 'lr', 'betas', 'beta3', 'epsilon', 'weight_decay', 'peak_lr', 'weight_decay_type', 'max_preconditioner_dim', 'precondition_frequency', 'start_preconditioning_step', 'use_bias_correction', 'iterate_averaging_config', 'grafting_config', 'distributed_config', 'preconditioner_config'], 'param group');
  const o: Required<ShampooOptions> = { ...SHAMPOO_DEFAULTS };
  o.lr = g.lr;
  [o.beta1, o.beta2] = g.betas;
  if (g.beta3 !== undefined && g.beta3 !== -1 && g.beta3 !== g.betas[0]) refuse(`beta3=${g.beta3} (!= beta1)`);
  o.epsilon = g.epsilon;
  o.weightDecay = g.weight_decay;
  const wdType = String(g.weight_decay_type).replace('WeightDecayType.', '');
  if (wdType === 'DECOUPLED') o.weightDecayType = 'decoupled';
  else if (wdType === 'L2') o.weightDecayType = 'l2';
  else if (g.weight_decay > 0) refuse(`weight_decay_type=${wdType}`);
  o.maxPreconditionerDim = g.max_preconditioner_dim;
  o.preconditionFrequency = g.precondition_frequency;
  o.startPreconditioningStep = g.start_preconditioning_step === -1 || g.start_preconditioning_step === g.precondition_frequency ? -1 : g.start_preconditioning_step;
  o.biasCorrection = g.use_bias_correction;

  const avg = g.iterate_averaging_config;
  if (avg != null) {
    if (classOf(avg) !== 'ClassicMomentumConfig') refuse(`iterate_averaging_config ${classOf(avg)}`);
    checkKnown(avg, ['momentum', 'dampening', 'use_nesterov'], 'ClassicMomentumConfig');
    if ((avg.dampening ?? 0) !== 0) refuse(`ClassicMomentumConfig.dampening=${avg.dampening}`);
    o.momentum = avg.momentum;
    o.nesterov = !!avg.use_nesterov;
  }

  const graft = g.grafting_config;
  if (graft != null) {
    const kinds: Record<string, ShampooOptions['grafting']> = { SGDPreconditionerConfig: 'sgd', AdaGradPreconditionerConfig: 'adagrad', RMSpropPreconditionerConfig: 'rmsprop', AdamPreconditionerConfig: 'adam' };
    const kind = kinds[classOf(graft) ?? ''];
    if (!kind) refuse(`grafting_config ${classOf(graft)}`);
    checkKnown(graft, ['beta2', 'epsilon', 'drop_weighting_factor_on_gsquare'], classOf(graft)!);
    if (graft.drop_weighting_factor_on_gsquare) refuse(`${classOf(graft)}.drop_weighting_factor_on_gsquare=True`);
    o.grafting = kind;
    if (graft.beta2 !== undefined) o.graftBeta2 = graft.beta2;
    if (graft.epsilon !== undefined) o.graftEps = graft.epsilon;
  }

  const dist = g.distributed_config;
  if (classOf(dist) !== 'SingleDeviceDistributedConfig') refuse(`distributed_config ${classOf(dist)}`);
  checkKnown(dist, ['target_parameter_dimensionality'], 'SingleDeviceDistributedConfig');
  const target = dist.target_parameter_dimensionality ?? 1;
  if (target !== 1 && target !== 2) refuse(`target_parameter_dimensionality=${target}`);
  o.mergeSmallDims = target === 1;

  const pc = g.preconditioner_config;
  if (classOf(pc) !== 'RootInvShampooPreconditionerConfig') refuse(`preconditioner_config ${classOf(pc)}`);
  checkKnown(pc, ['amortized_computation_config', 'drop_weighting_factor_on_gsquare', 'factor_matrix_dtype', 'inv_factor_matrix_dtype', 'use_trace_scaling', 'trace_scaling_exponent', 'inverse_exponent_override'], 'RootInvShampooPreconditionerConfig');
  if (pc.drop_weighting_factor_on_gsquare) refuse('drop_weighting_factor_on_gsquare=True');
  if (pc.use_trace_scaling) refuse('use_trace_scaling=True');
  const dtype = (d: unknown) => String(d ?? 'torch.float32').replace('torch.', '');
  if (dtype(pc.factor_matrix_dtype) !== dtype(pc.inv_factor_matrix_dtype)) refuse(`factor_matrix_dtype ${pc.factor_matrix_dtype} with inv_factor_matrix_dtype ${pc.inv_factor_matrix_dtype}`);
  const prec = dtype(pc.factor_matrix_dtype);
  if (prec !== 'float32' && prec !== 'float64') refuse(`factor_matrix_dtype=${pc.factor_matrix_dtype}`);
  o.rootPrecision = prec;
  const override = pc.inverse_exponent_override ?? {};
  for (const [k, v] of Object.entries(override)) if (typeof v !== 'number') refuse(`inverse_exponent_override per dimension (${k}: ${JSON.stringify(v)})`);
  o.exponentOverride = { ...(override as Record<string, number>) };
  const acc = pc.amortized_computation_config;
  if (classOf(acc) === 'EigenConfig') {
    checkKnown(acc, ['rank_deficient_stability_config', 'tolerance', 'retry_double_precision'], 'EigenConfig');
    const rd = acc.rank_deficient_stability_config;
    if (classOf(rd) !== 'PerturbationConfig' || rd.perturb_before_computation !== true) refuse(`rank_deficient_stability_config ${JSON.stringify(rd)}`);
    if ((acc.tolerance ?? 0) !== 0) refuse(`EigenConfig.tolerance=${acc.tolerance} (warm-started eigenvectors)`);
    if (acc.retry_double_precision === false) refuse('EigenConfig.retry_double_precision=False');
    o.rootMethod = 'eigh';
  } else if (classOf(acc) === 'CoupledNewtonConfig') {
    checkKnown(acc, ['max_iterations', 'tolerance'], 'CoupledNewtonConfig');
    o.rootMethod = 'newton';
    o.newtonMaxIter = acc.max_iterations ?? 100;
    o.newtonTol = acc.tolerance ?? 1e-6;
  } else refuse(`amortized_computation_config ${classOf(acc)}`);

  const roles: Record<string, Role> = {};
  for (const [name, p] of Object.entries(fx.params)) roles[name] = p.shape.length >= 2 ? 'matrix' : 'vector';
  checkBlocks(fx, o);

  const options: Partial<ShampooOptions> = {};
  for (const k of Object.keys(o) as (keyof ShampooOptions)[]) {
    if (JSON.stringify(o[k]) !== JSON.stringify(SHAMPOO_DEFAULTS[k])) (options as Record<string, unknown>)[k] = o[k];
  }
  return { options, roles };
}

/** Throws unless optlab's layout of every parameter has the block shapes and exponents Meta recorded. */
function checkBlocks(fx: ReferenceCase, o: Required<ShampooOptions>): void {
  const recorded = (fx.resolved_attributes?.blocks ?? null) as Record<string, { blocks: { shape: number[]; inverse_exponents: number[] }[] }> | null;
  if (!recorded) return;
  for (const [name, p] of Object.entries(fx.params)) {
    const rec = recorded[name];
    if (!rec) throw new Error(`fixture records no Meta blocks for parameter '${name}'`);
    // optlab sees a PyTorch [out, in] matrix transposed, as [in, out]: its blocks are Meta's transposed.
    const shape = p.shape.length === 2 ? [p.shape[1], p.shape[0]] : p.shape;
    const lay = shampooLayout(shape, o, p.shape.length < 2);
    const ours = lay.blocks.map((b) => (lay.right ? [b.cols, b.rows] : [b.rows])).map((s) => s.join('x')).sort();
    const theirs = rec.blocks.map((b) => b.shape.join('x')).sort();
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) throw new Error(`optlab blocks '${name}' as [${ours.join(', ')}], Meta recorded [${theirs.join(', ')}]`);
    const e = shampooRootExponent(o, lay.right ? 2 : 1);
    for (const b of rec.blocks) {
      for (const x of b.inverse_exponents) if (Math.abs(x - e) > 1e-12) throw new Error(`optlab's root exponent for '${name}' is ${e}, Meta recorded ${x}`);
    }
  }
}
