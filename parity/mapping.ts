/**
 * From each reference's hyperparameters to optlab options and roles, per method (registry name ->
 * mapper). The sources and quirks of every reference are in test/fixtures/README.md.
 */
import type { AdamWOptions } from '../optimizers/adamw.js';
import type { AuonOptions, HybridAuonOptions } from '../optimizers/auon.js';
import type { MarsOptions } from '../optimizers/mars.js';
import type { MarsMOptions } from '../optimizers/mars_m.js';
import type { MuonMoonlightOptions, MuonOptions } from '../optimizers/muon.js';
import type { RegOptions } from '../optimizers/reg.js';
import type { SGDOptions } from '../optimizers/sgd.js';
import type { Role } from '../optimizers/core.js';
import type { ReferenceCase } from './fixture.js';
import { referenceRole, rolesByRank, rolesFromRouting, setOnce, singleReferenceGroup, type ReferenceMapper, type ReferenceMapping } from './mapping_helpers.js';
import { shampooKozistrFromReference } from './shampoo_kozistr.js';
import { shampooMetaMapping } from './shampoo_meta.js';
import { adamuonFromReference, lionFromReference, normuonFromReference, scionFromReference } from './mapping_recent.js';
import { soapFromReference } from './soap.js';
import { psgdKronFromReference } from './psgd_kron.js';
import { dionFromReference } from './dion.js';

/** torch.optim.AdamW kwargs: lr, betas, eps, weight_decay, amsgrad (maximize/foreach/capturable unsupported). */
export function adamwFromReference(fx: ReferenceCase): ReferenceMapping<AdamWOptions> {
  const g = singleReferenceGroup(fx);
  if (g.maximize) throw new Error('maximize=True is not supported');
  return { options: { lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], eps: g.eps, weightDecay: g.weight_decay, amsgrad: !!g.amsgrad }, roles: rolesByRank(fx) };
}

/** torch.optim.SGD kwargs: lr, momentum, dampening, weight_decay (L2), nesterov. */
export function sgdFromReference(fx: ReferenceCase): ReferenceMapping<SGDOptions> {
  const g = singleReferenceGroup(fx);
  if (g.maximize) throw new Error('maximize=True is not supported');
  return { options: { lr: g.lr, momentum: g.momentum, dampening: g.dampening, weightDecay: g.weight_decay, nesterov: !!g.nesterov, weightDecayMode: 'l2' }, roles: rolesByRank(fx) };
}

/** KellerJordan/Muon SingleDeviceMuon(WithAuxAdam) param groups -> options; nesterov and 5 NS steps are fixed there. */
export function muonFromReference(fx: ReferenceCase): ReferenceMapping<MuonOptions> {
  const options: Partial<MuonOptions> = {};
  const roles: Record<string, Role> = {};
  for (const g of fx.resolved_param_groups) {
    const onMuon = g.use_muon !== false;
    if (onMuon) {
      setOnce(fx, options, 'lr', g.lr);
      setOnce(fx, options, 'momentum', g.momentum);
      setOnce(fx, options, 'weightDecay', g.weight_decay);
      setOnce(fx, options, 'nesterov', g.nesterov);
      setOnce(fx, options, 'nsSteps', g.ns_steps);
    } else {
      setOnce(fx, options, 'adamLr', g.lr);
      setOnce(fx, options, 'adamBeta1', g.betas?.[0]);
      setOnce(fx, options, 'adamBeta2', g.betas?.[1]);
      setOnce(fx, options, 'adamEps', g.eps);
      setOnce(fx, options, 'adamWeightDecay', g.weight_decay);
    }
    for (const name of g.params as string[]) roles[name] = referenceRole(fx, name, onMuon);
  }
  return { options, roles };
}

/** Moonlight Muon(lr, wd, momentum, nesterov, ns_steps, adamw_betas, adamw_eps) -> options; routing from state['use_muon']. */
export function muonMoonlightFromReference(fx: ReferenceCase): ReferenceMapping<MuonMoonlightOptions> {
  const options: Partial<MuonMoonlightOptions> = {};
  for (const g of fx.resolved_param_groups) {
    setOnce(fx, options, 'lr', g.lr);
    setOnce(fx, options, 'weightDecay', g.wd);
    setOnce(fx, options, 'momentum', g.momentum);
    setOnce(fx, options, 'nesterov', g.nesterov);
    setOnce(fx, options, 'nsSteps', g.ns_steps);
    setOnce(fx, options, 'adamBeta1', g.adamw_betas?.[0]);
    setOnce(fx, options, 'adamBeta2', g.adamw_betas?.[1]);
    setOnce(fx, options, 'adamEps', g.adamw_eps);
  }
  return { options, roles: rolesFromRouting(fx) };
}

/** MARS_M(lr, wd, momentum, ns_steps, adamw_betas, adamw_eps, gamma, is_approx) -> options; `clip_c` is not read by the reference, which always clips. */
export function marsMFromReference(fx: ReferenceCase): ReferenceMapping<MarsMOptions> {
  const options: Partial<MarsMOptions> = { clipC: true };
  for (const g of fx.resolved_param_groups) {
    setOnce(fx, options, 'lr', g.lr);
    setOnce(fx, options, 'weightDecay', g.wd);
    setOnce(fx, options, 'momentum', g.momentum);
    setOnce(fx, options, 'gamma', g.gamma);
    setOnce(fx, options, 'nsSteps', g.ns_steps);
    setOnce(fx, options, 'adamBeta1', g.adamw_betas?.[0]);
    setOnce(fx, options, 'adamBeta2', g.adamw_betas?.[1]);
    setOnce(fx, options, 'adamEps', g.adamw_eps);
    if (g.is_approx !== undefined) setOnce(fx, options, 'mode', g.is_approx ? 'approx' : 'exact');
  }
  return { options, roles: rolesFromRouting(fx) };
}

/** AGI-Arena/MARS `MARS` (resolved param group and class attributes) -> options. */
export function marsFromReference(fx: ReferenceCase): ReferenceMapping<MarsOptions> {
  const groups = fx.resolved_param_groups;
  if (groups.length !== 1) throw new Error(`mars: fixture '${fx.name}' has ${groups.length} param groups; only one is supported`);
  const g = groups[0];
  const a = fx.resolved_attributes ?? {};
  const lr = g.lr as number;
  const options: Partial<MarsOptions> = {
    lr,
    beta1: g.betas[0],
    beta2: g.betas[1],
    eps: a.eps ?? g.eps,
    weightDecay: g.weight_decay,
    amsgrad: g.amsgrad,
    gamma: a.gamma ?? g.gamma,
    mode: a.is_approx === false ? 'exact' : 'approx',
    marsType: a.mars_type ?? g.mars_type,
    optimize1d: a.optimize_1d ?? g.optimize_1d,
    lr1d: lr * (a.lr_1d_factor ?? 1),
    adamBeta1: (a.betas_1d ?? [0.9, 0.95])[0],
    adamBeta2: (a.betas_1d ?? [0.9, 0.95])[1],
    weightDecay1d: a.weight_decay_1d ?? g.weight_decay_1d,
  };
  return { options, roles: rolesByRank(fx) };
}

/** ryyzn9/AuON `HybridAuON(lr, momentum, weight_decay, gamma, ns_steps)`: code mode, every parameter on the method (the reference has no routing). */
export function hybridAuonFromReference(fx: ReferenceCase): ReferenceMapping<HybridAuonOptions> {
  if (fx.resolved_param_groups.length !== 1) throw new Error(`${fx.optimizer}: fixture '${fx.name}' has ${fx.resolved_param_groups.length} param groups; only one is supported`);
  const g = fx.resolved_param_groups[0];
  const options: Partial<HybridAuonOptions> = { lr: g.lr, momentum: g.momentum, weightDecay: g.weight_decay, gamma: g.gamma, mode: 'code', routing: 'all' };
  if (g.ns_steps !== undefined) options.nsSteps = g.ns_steps;
  return { options, roles: rolesByRank(fx) };
}

/** ryyzn9/AuON `AuON(lr, momentum, weight_decay, gamma)`; a fixture with ns_steps belongs to Hybrid-AuON. */
export function auonFromReference(fx: ReferenceCase): ReferenceMapping<AuonOptions> {
  const { options, roles } = hybridAuonFromReference(fx);
  if (options.nsSteps !== undefined) throw new Error(`auon: fixture '${fx.name}' sets ns_steps; it is a Hybrid-AuON fixture`);
  return { options, roles };
}

/** The derived REG fixtures (test/fixtures/README-reg-moonlight.md): a 'reg' group and an optional 'adamw' group sharing lr and wd. */
export function regFromReference(fx: ReferenceCase): ReferenceMapping<RegOptions> {
  const groups = fx.resolved_param_groups;
  const main = groups.find((g) => g.optimizer === 'reg');
  if (!main) throw new Error(`reg: fixture '${fx.name}' has no 'reg' param group`);
  const a = fx.resolved_attributes ?? {};
  const options: Partial<RegOptions> = {
    lr: main.lr,
    momentum: main.momentum,
    weightDecay: main.weight_decay,
    racsIters: main.racs_iters,
    rmsTarget: main.rms_target,
    momentumForm: a.momentum_form ?? 'sum',
    nesterov: a.nesterov ?? true,
  };
  const adam = groups.find((g) => g.optimizer === 'adamw');
  if (adam) {
    if (adam.lr !== main.lr || adam.weight_decay !== main.weight_decay) {
      throw new Error(`reg: fixture '${fx.name}' gives AdamW lr/wd ${adam.lr}/${adam.weight_decay}, REG shares ${main.lr}/${main.weight_decay}`);
    }
    Object.assign(options, { adamBeta1: adam.betas[0], adamBeta2: adam.betas[1], adamEps: adam.eps });
  }
  const roles = rolesByRank(fx);
  for (const [name, label] of Object.entries(a.routing ?? {})) roles[name] = label === 'reg' ? 'matrix' : 'vector';
  return { options, roles };
}

/** Shampoo fixtures by variant (kozistr/pytorch_optimizer's two classes). */
const SHAMPOO_VARIANTS: Record<string, ReferenceMapper<any>> = {
  classic: shampooKozistrFromReference,
  scalable: shampooKozistrFromReference,
  meta: shampooMetaMapping,
};

/** Shampoo: dispatches on the fixture's `variant`. */
export function shampooFromReference(fx: ReferenceCase): ReferenceMapping<any> {
  const m = SHAMPOO_VARIANTS[fx.variant];
  if (!m) throw new Error(`unknown shampoo variant '${fx.variant}' (expected ${Object.keys(SHAMPOO_VARIANTS).map((v) => `'${v}'`).join(' or ')})`);
  return m(fx);
}

/** Registry name -> mapping from that method's reference fixtures. A method without an entry cannot be replayed. */
export const REFERENCE_MAPPINGS: Readonly<Record<string, ReferenceMapper<any>>> = {
  adamw: adamwFromReference,
  sgd: sgdFromReference,
  muon: muonFromReference,
  'muon-moonlight': muonMoonlightFromReference,
  'mars-m': marsMFromReference,
  mars: marsFromReference,
  auon: auonFromReference,
  'hybrid-auon': hybridAuonFromReference,
  reg: regFromReference,
  shampoo: shampooFromReference,
  lion: lionFromReference,
  normuon: normuonFromReference,
  adamuon: adamuonFromReference,
  scion: scionFromReference,
  soap: soapFromReference,
  'psgd-kron': psgdKronFromReference,
  dion: dionFromReference,
};
