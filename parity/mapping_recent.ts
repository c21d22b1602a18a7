/**
 * From the reference hyperparameters of NorMuon, AdaMuon, Lion and Scion to optlab options and roles
 * (registered in parity/mapping.ts). The sources, patches and quirks of each reference are in
 * test/fixtures/README-lion-normuon-adamuon-scion.md; test/fixtures/generate_lion_normuon_adamuon_scion.py wrote the fixtures.
 */
import type { AdaMuonOptions } from '../optimizers/adamuon.js';
import type { Role } from '../optimizers/core.js';
import type { LionOptions } from '../optimizers/lion.js';
import type { NorMuonOptions } from '../optimizers/normuon.js';
import type { ScionNorm, ScionOptions } from '../optimizers/scion.js';
import type { ReferenceCase } from './fixture.js';
import { referenceRole, rolesByRank, setOnce, singleReferenceGroup, type ReferenceMapping } from './mapping_helpers.js';

/** google/automl `Lion(lr, betas, weight_decay)`: one param group, every parameter on Lion. */
export function lionFromReference(fx: ReferenceCase): ReferenceMapping<LionOptions> {
  const g = singleReferenceGroup(fx);
  return { options: { lr: g.lr, beta1: g.betas[0], beta2: g.betas[1], weightDecay: g.weight_decay }, roles: rolesByRank(fx) };
}

/** zichongli5/NorMuon `SingleDeviceNorMuon(lr, weight_decay, momentum, beta2)` and `SingleDeviceNorMuonWithAuxAdam` groups (use_muon). */
export function normuonFromReference(fx: ReferenceCase): ReferenceMapping<NorMuonOptions> {
  const options: Partial<NorMuonOptions> = {};
  const roles: Record<string, Role> = {};
  for (const g of fx.resolved_param_groups) {
    const onMuon = g.use_muon !== false;
    if (onMuon) {
      setOnce(fx, options, 'lr', g.lr);
      setOnce(fx, options, 'momentum', g.momentum);
      setOnce(fx, options, 'beta2', g.beta2);
      setOnce(fx, options, 'weightDecay', g.weight_decay);
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

/** Chongjie-Si/AdaMuon `AdaMuon(lr, weight_decay, momentum, nesterov, ns_steps, eps)`: matrices only (the reference's NS asserts ndim >= 2). */
export function adamuonFromReference(fx: ReferenceCase): ReferenceMapping<AdaMuonOptions> {
  const options: Partial<AdaMuonOptions> = {};
  const roles: Record<string, Role> = {};
  for (const g of fx.resolved_param_groups) {
    setOnce(fx, options, 'lr', g.lr);
    setOnce(fx, options, 'weightDecay', g.weight_decay);
    setOnce(fx, options, 'momentum', g.momentum);
    setOnce(fx, options, 'nesterov', g.nesterov);
    setOnce(fx, options, 'nsSteps', g.ns_steps);
    setOnce(fx, options, 'eps', g.eps);
    for (const name of g.params as string[]) roles[name] = referenceRole(fx, name, true);
  }
  return { options, roles };
}

/** Scion's norm_dict names -> optlab's. */
const SCION_NORM_NAMES: Record<string, ScionNorm> = {
  Auto: 'auto', Spectral: 'spectral', SpectralConv: 'spectral-conv', ColNorm: 'col-norm', RowNorm: 'row-norm', Sign: 'sign', BiasRMS: 'bias-rms',
};

/**
 * LIONS-EPFL/scion `Scion(params, lr, momentum, norm, norm_kwargs, scale, unconstrained)`: each param group
 * becomes a role family of optlab's Scion: 1-D parameters the vector role, Auto/Spectral/SpectralConv groups
 * the matrix role, Sign groups the head role, ColNorm/RowNorm groups the embedding role. norm_kwargs other
 * than Spectral's `steps` are refused (optlab keeps the norms' defaults).
 */
export function scionFromReference(fx: ReferenceCase): ReferenceMapping<ScionOptions> {
  const options: Partial<ScionOptions> = {};
  const roles: Record<string, Role> = {};
  for (const g of fx.resolved_param_groups) {
    setOnce(fx, options, 'lr', g.lr);
    setOnce(fx, options, 'momentum', g.momentum);
    setOnce(fx, options, 'unconstrained', g.unconstrained);
    const norm = SCION_NORM_NAMES[g.norm as string];
    if (!norm) throw new Error(`scion: unknown norm '${g.norm}' (known: ${Object.keys(SCION_NORM_NAMES).join(', ')})`);
    const kwargs = (g.norm_kwargs ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(kwargs)) {
      if (k === 'steps' && (norm === 'spectral' || norm === 'spectral-conv')) setOnce(fx, options, 'nsSteps', v);
      else throw new Error(`scion: norm_kwargs.${k} of ${g.norm} is not supported (optlab keeps the norms' defaults)`);
    }
    const names = g.params as string[];
    const vector = names.every((n) => (fx.params[n]?.shape.length ?? 0) < 2);
    const role: Role = vector ? 'vector' : norm === 'sign' ? 'head' : norm === 'col-norm' || norm === 'row-norm' ? 'embedding' : 'matrix';
    const key = { matrix: ['norm', 'scale'], vector: ['vectorNorm', 'vectorScale'], head: ['headNorm', 'headScale'], embedding: ['embeddingNorm', 'embeddingScale'] }[role as 'matrix'] as [keyof ScionOptions, keyof ScionOptions];
    if (vector && names.length > 0 && norm !== 'auto' && norm !== 'bias-rms') throw new Error(`scion: 1-D parameters with norm ${g.norm} (the reference would fail)`);
    // One reference group may mix matrices and vectors (Auto): its scale goes to both families.
    const mixed = !vector && names.some((n) => (fx.params[n]?.shape.length ?? 0) < 2);
    setOnce(fx, options, key[0], norm);
    setOnce(fx, options, key[1], g.scale);
    if (mixed) {
      if (norm !== 'auto') throw new Error(`scion: a ${g.norm} group holds 1-D parameters (the reference would fail)`);
      setOnce(fx, options, 'vectorNorm', 'auto');
      setOnce(fx, options, 'vectorScale', g.scale);
    }
    for (const n of names) roles[n] = (fx.params[n]?.shape.length ?? 0) < 2 ? 'vector' : role;
  }
  return { options, roles };
}
