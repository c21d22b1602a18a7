/**
 * Reading a reference fixture's param groups and routing: the pieces every per-method mapping
 * (parity/mapping.ts) shares.
 */
import type { OptimizerDef, Role } from '../optimizers/core.js';
import type { ReferenceCase } from './fixture.js';

/**
 * What a mapping makes of a fixture: optlab options, a role per fixture parameter name, and, when the
 * reference has quirks that are not optlab options, a builder that assembles them around the method's
 * transforms (otherwise replay builds the registry factory on `options`). Parameters are given to optlab
 * in tfjs layout (PyTorch [out, in] transposed to [in, out]).
 */
export interface ReferenceMapping<O = Record<string, unknown>> {
  options: Partial<O>;
  roles: Record<string, Role>;
  build?: (options: Partial<O>) => OptimizerDef;
}

/** Turns a fixture's reference hyperparameters into a ReferenceMapping; throws (with the reason) on settings it cannot map. */
export type ReferenceMapper<O = Record<string, unknown>> = (fx: ReferenceCase) => ReferenceMapping<O>;

/** The reference param group holding `param` (fixtures list params by name in each group). */
export function referenceGroupOf(fx: ReferenceCase, param: string): Record<string, any> {
  const g = fx.resolved_param_groups.find((x) => Array.isArray(x.params) && x.params.includes(param));
  if (!g) throw new Error(`no reference param group holds '${param}'`);
  return g;
}

/** The fixture's only param group; throws when there are several. */
export function singleReferenceGroup(fx: ReferenceCase): Record<string, any> {
  if (fx.resolved_param_groups.length !== 1) throw new Error(`expected one param group, found ${fx.resolved_param_groups.length}`);
  return fx.resolved_param_groups[0];
}

/** Roles by rank, for references that route by ndim: 2-D and above -> matrix, else vector. */
export function rolesByRank(fx: ReferenceCase): Record<string, Role> {
  const roles: Record<string, Role> = {};
  for (const [n, p] of Object.entries(fx.params)) roles[n] = p.shape.length >= 2 ? 'matrix' : 'vector';
  return roles;
}

/** Sets `key` once; a second, different value (two param groups disagreeing) throws. */
export function setOnce<O extends object>(fx: ReferenceCase, out: Partial<O>, key: keyof O, value: unknown): void {
  if (value === undefined) return;
  const prev = out[key];
  if (prev !== undefined && JSON.stringify(prev) !== JSON.stringify(value)) {
    throw new Error(`${fx.name}: param groups disagree on ${String(key)} (${JSON.stringify(prev)} vs ${JSON.stringify(value)}); optlab takes one setting per path`);
  }
  out[key] = value as O[keyof O];
}

/** Role of a fixture parameter: the Muon path gets matrix (conv for 4-D), the AdamW path vector (head for >= 2-D). */
export function referenceRole(fx: ReferenceCase, name: string, onMatrixPath: boolean): Role {
  const shape = fx.params[name]?.shape;
  if (!shape) throw new Error(`${fx.name}: param group names '${name}', which the fixture does not have`);
  if (onMatrixPath) {
    if (shape.length < 2) throw new Error(`${fx.name}: 1-D parameter '${name}' on the Muon path (the reference would crash)`);
    return shape.length === 4 ? 'conv' : 'matrix';
  }
  return shape.length < 2 ? 'vector' : 'head';
}

/** Roles from Moonlight/MARS-M's `resolved_attributes.routing` ({name: 'muon' | 'adamw'}). */
export function rolesFromRouting(fx: ReferenceCase): Record<string, Role> {
  const routing = fx.resolved_attributes?.routing as Record<string, string> | undefined;
  if (!routing) throw new Error(`${fx.name}: resolved_attributes.routing is missing`);
  const roles: Record<string, Role> = {};
  for (const [name, path] of Object.entries(routing)) {
    if (path !== 'muon' && path !== 'adamw') throw new Error(`${fx.name}: unknown route '${path}' for '${name}'`);
    roles[name] = referenceRole(fx, name, path === 'muon');
  }
  return roles;
}

/** 'weight_decay' -> 'weightDecay': a PyTorch keyword as an optlab option name. */
export function camelOption(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * The mapping of a method registered from outside (registerOptimizer, a plugin), which has none of
 * its own: each keyword of `reference_hyper` (but `params`) is the option of the same name in
 * camelCase (`weight_decay` -> `weightDecay`), and roles follow rank (`rolesByRank`). A keyword that is
 * no option of the method throws naming it, so no setting is dropped silently.
 */
export function directMapping(fx: ReferenceCase, defaults: Record<string, unknown>): ReferenceMapping {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fx.reference_hyper)) {
    if (k === 'params') continue;
    const name = camelOption(k);
    if (!(name in defaults)) throw new Error(`reference keyword '${k}' is no option of '${fx.optimizer}' (options: ${Object.keys(defaults).join(', ')}); a method with other names needs its fixture written in its own option names`);
    options[name] = v;
  }
  return { options, roles: rolesByRank(fx) };
}
