/**
 * The one abstraction of optlab: a model hands out Parameters, an optimizer is assembled from small
 * per-parameter Transforms (the init/update pairs of optax), combined with `chain` and `route`.
 *
 * State lives in non-trainable tf.Variables keyed `${param}/${slot}` and is changed in place by
 * `assign()`: tfjs runs eagerly, so fresh state every step would be allocation churn.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedOps } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';
import { DiagnosticsRecorder, UPDATE_METRICS, type DiagnosticsProbe } from './diagnostics.js';
import { domainViolation, type Domain, type Domains } from './domains.js';

/** How the owner of a parameter says what it is; optimizers route by it. */
export type Role = 'matrix' | 'embedding' | 'head' | 'vector' | 'conv';
export const ROLES: readonly Role[] = ['matrix', 'embedding', 'head', 'vector', 'conv'];

/** A trainable tensor with a stable name (a dot path such as 'blocks.3.attn.qkv') and a role. */
export interface Parameter {
  readonly name: string;
  readonly variable: tf.Variable;
  readonly role: Role;
}

/** What a transform knows about the current step. */
export interface StepContext {
  /** This parameter's update count including the current one (1 on the first update). */
  t: number;
  /** Multiplier on every learning rate, from the schedule (1 when there is none). */
  lrScale: number;
  /**
   * Gradients at the previous parameters on the current batch, keyed by parameter name: MARS's
   * "exact" mode. Present only when the caller computed them (`Optimizer.needsPreviousGrads`).
   */
  previousGrads?: ReadonlyMap<string, tf.Tensor>;
  /**
   * Present only on a diagnosed step (`step(grads, {diagnose: true})`): transforms report what only
   * they see (optimizers/diagnostics.ts). Reporting must not change the update.
   */
  probe?: DiagnosticsProbe;
}

/** Allocates one state slot; the optimizer names it `${param.name}/${slot}` and owns it. */
export type SlotMaker = (slot: string, init: tf.Tensor | number[] | 'zeros', shape?: number[]) => tf.Variable;

/** Per-parameter state: slot name -> variable. */
export type State = Record<string, tf.Variable>;

/** One parameter's share of a batched update: its incoming update, its state and the parameter. */
export interface UpdateItem {
  u: tf.Tensor;
  s: State;
  p: Parameter;
}

/**
 * A per-parameter transformation of the update, optax-style. `update` runs inside tf.tidy and may
 * `assign()` to its state; it returns the transformed update.
 *
 * A transform may also implement `updateMany` to update several parameters together (Muon stacks
 * same-shape matrices into one batched Newton-Schulz). `buildOptimizer` calls it, instead of `update`,
 * on each group of two or more parameters that have a gradient in the step and share the transform
 * object (one route), the shape and the step count `t`; everything else goes through `update`.
 */
export interface Transform {
  /** Short name for routing tables and errors. */
  readonly name: string;
  /** Allocates state for one parameter (once). */
  init?(p: Parameter, slot: SlotMaker): State;
  /** Maps the incoming update (the gradient, for the first transform) to the outgoing one. */
  update(u: tf.Tensor, s: State, p: Parameter, ctx: StepContext): tf.Tensor;
  /**
   * Optional: `update` on several parameters of one shape at the same step count `ctx.t`, returning
   * one outgoing update per item, in order. Must give what `items.map(i => update(i.u, i.s, i.p, ctx))`
   * gives, up to float rounding, and change the same state; runs inside tf.tidy.
   */
  updateMany?(items: readonly UpdateItem[], ctx: StepContext): tf.Tensor[];
  /**
   * Multiplicative decoupled weight decay applied to the parameter before the update is added:
   * W <- W * decay(p, ctx) + update. Kept apart from `update` so the float32 op order matches the
   * references (`p.mul_(1 - lr*wd)` then `p.add_(u)`).
   */
  decay?(p: Parameter, ctx: StepContext): number;
  /**
   * Human-readable settings for routing tables. With `p`, the settings as they apply to that parameter
   * (an option resolved per parameter, such as Scion's norm 'auto' or AdamW's `decayOn`, shows what it
   * resolved to); without, the settings of the transform.
   */
  describe?(p?: Parameter): string;
  /** True when `update` reads `ctx.previousGrads` (MARS exact mode); the training loop must supply them. */
  readonly needsPreviousGrads?: boolean;
  /** Metric names this transform reports through `ctx.probe` (keys of METRICS in optimizers/diagnostics.ts). */
  readonly diagnostics?: readonly string[];
}

/**
 * Applies transforms in order; state slots of all members must have distinct names. The chain has an
 * `updateMany` when a member has one: members with their own `updateMany` get the whole group, the
 * others map `update` over it.
 */
export function chain(...transforms: Transform[]): Transform {
  const updateMany = (items: readonly UpdateItem[], ctx: StepContext): tf.Tensor[] => {
    let current = items;
    for (const t of transforms) {
      const out = t.updateMany ? t.updateMany(current, ctx) : current.map((i) => t.update(i.u, i.s, i.p, ctx));
      checkManyResult(t, current, out);
      current = current.map((i, k) => ({ ...i, u: out[k] }));
    }
    return current.map((i) => i.u);
  };
  return {
    ...(transforms.some((t) => t.updateMany) ? { updateMany } : {}),
    name: transforms.map((t) => t.name).join(' > '),
    needsPreviousGrads: transforms.some((t) => t.needsPreviousGrads === true),
    diagnostics: [...new Set(transforms.flatMap((t) => t.diagnostics ?? []))],
    init(p, slot) {
      const state: State = {};
      for (const t of transforms) {
        const s = t.init?.(p, slot) ?? {};
        for (const k of Object.keys(s)) {
          if (k in state) throw new Error(`chain: two transforms use the state slot '${k}' (${transforms.map((x) => x.name).join(', ')})`);
          state[k] = s[k];
        }
      }
      return state;
    },
    update(u, s, p, ctx) {
      for (const t of transforms) u = t.update(u, s, p, ctx);
      return u;
    },
    decay(p, ctx) {
      let d = 1;
      for (const t of transforms) if (t.decay) d *= t.decay(p, ctx);
      return d;
    },
    describe(p) {
      return transforms.map((t) => (t.describe ? t.describe(p) : t.name)).join(' > ');
    },
  };
}

/** Throws unless `updateMany` returned one tensor per item. */
function checkManyResult(t: Transform, items: readonly UpdateItem[], out: readonly tf.Tensor[]): void {
  if (!Array.isArray(out) || out.length !== items.length) {
    throw new Error(`transform '${t.name}': updateMany returned ${Array.isArray(out) ? out.length : typeof out} updates for ${items.length} parameters`);
  }
}

/** One entry of a routing table: which parameters (by role and/or name pattern) get which transform. */
export interface Route {
  /** Label in routing tables, e.g. 'muon' or 'adamw'. */
  label: string;
  /** Roles this route takes; omitted means any role. */
  roles?: readonly Role[];
  /** Name pattern this route takes (RegExp or a string compiled to one); omitted means any name. */
  pattern?: RegExp | string;
  /** Predicate on the parameter, for rules a role cannot express (e.g. MARS's "exactly 2-D"). */
  when?: (p: Parameter) => boolean;
  /** Matches only when no other route does. */
  fallback?: boolean;
  transform: Transform;
}

/** A routing table: every parameter must match exactly one non-fallback route, or a fallback. */
export interface RouteTable {
  readonly routes: readonly Route[];
}

/** What an optimizer factory returns: a single transform for every parameter, or a routing table. */
export type OptimizerDef = Transform | RouteTable;

/** Builds a routing table (optax `partition`, modded-nanogpt's param table). */
export function route(...routes: Route[]): RouteTable {
  return { routes };
}

function isRouteTable(d: OptimizerDef): d is RouteTable {
  return (d as RouteTable).routes !== undefined;
}

function matches(r: Route, p: Parameter): boolean {
  if (r.roles && !r.roles.includes(p.role)) return false;
  if (r.pattern !== undefined) {
    const re = typeof r.pattern === 'string' ? new RegExp(r.pattern) : r.pattern;
    if (!re.test(p.name)) return false;
  }
  if (r.when && !r.when(p)) return false;
  return true;
}

/** Picks the route of one parameter, throwing when none or several match. */
export function resolveRoute(def: OptimizerDef, p: Parameter): { label: string; transform: Transform } {
  if (!isRouteTable(def)) return { label: def.name, transform: def };
  const primary = def.routes.filter((r) => !r.fallback && matches(r, p));
  if (primary.length > 1) {
    throw new Error(`parameter '${p.name}' (role ${p.role}, shape [${p.variable.shape}]) matches ${primary.length} routes: ${primary.map((r) => r.label).join(', ')}; routes must not overlap`);
  }
  if (primary.length === 1) return { label: primary[0].label, transform: primary[0].transform };
  const fb = def.routes.filter((r) => r.fallback && matches(r, p));
  if (fb.length === 1) return { label: fb[0].label, transform: fb[0].transform };
  if (fb.length > 1) throw new Error(`parameter '${p.name}' matches ${fb.length} fallback routes: ${fb.map((r) => r.label).join(', ')}`);
  const labels = def.routes.map((r) => `${r.label}${r.roles ? `(${r.roles.join('|')})` : ''}`).join(', ');
  throw new Error(`parameter '${p.name}' (role ${p.role}, shape [${p.variable.shape}]) matches no route; routes: ${labels}`);
}

/** Options of a built optimizer that do not belong to any one method. */
export interface BuildOptions {
  /** Global-norm gradient clipping threshold applied before any transform, to the gradients and (each set by its own norm) to `previousGrads` alike; 0 or undefined disables it. */
  clipNorm?: number;
  /**
   * Check every gradient for NaN and Inf before any parameter changes and throw NonFiniteGradientError
   * naming the parameters (one read-back per step). Off by default: a non-finite gradient then
   * propagates into the weights (NaN), as in tfjs and PyTorch. @default false
   */
  checkFinite?: boolean;
}

/** A step met gradients with NaN or Inf entries; no parameter was changed. `parameters` are their names. */
export class NonFiniteGradientError extends Error {
  constructor(readonly parameters: readonly string[], readonly step: number) {
    super(`gradient of '${parameters[0]}'${parameters.length > 1 ? ` (and ${parameters.length - 1} more: ${parameters.slice(1, 4).join(', ')}${parameters.length > 4 ? ', ...' : ''})` : ''} is not finite (NaN or Inf) at step ${step}; no parameter was changed`);
    this.name = 'NonFiniteGradientError';
  }
}

/** The names of the gradients with a NaN or Inf entry (one read-back for all of them). */
export function nonFiniteGradients(grads: ReadonlyMap<string, tf.Tensor>): string[] {
  const names = [...grads.keys()];
  if (names.length === 0) return [];
  const ok = tf.tidy(() => tf.stack(names.map((n) => tf.all(tf.isFinite(grads.get(n)!)))).dataSync());
  return names.filter((_, i) => !ok[i]);
}

/** The object a training loop talks to. */
export interface Optimizer {
  /** Parameters in the order they were given. */
  readonly params: readonly Parameter[];
  /** True when some route needs `StepContext.previousGrads` (MARS exact mode). */
  readonly needsPreviousGrads: boolean;
  /**
   * Updates every parameter that has a gradient in `grads` (keyed by parameter name). Parameters
   * without a gradient keep their state and their step count. `lrScale` defaults to 1.
   */
  step(grads: ReadonlyMap<string, tf.Tensor>, opts?: { lrScale?: number; previousGrads?: ReadonlyMap<string, tf.Tensor>; diagnose?: boolean }): void;
  /**
   * Update diagnostics of the most recent step when it ran with `diagnose: true` ({} otherwise), keyed `<route>/<metric>`
   * (optimizers/diagnostics.ts), as host numbers; reads them once (a download) and frees them, so a
   * second call returns {}. Call at log intervals, never per step.
   */
  diagnostics(): Record<string, number>;
  /** The keys `diagnostics()` returns for a step that updates every parameter, sorted. */
  diagnosticKeys(): string[];
  /** Copies of every state slot, keyed `${param}/${slot}` (including `${param}/step`). Caller disposes. */
  state(): Map<string, tf.Tensor>;
  /** Restores state saved by `state()`; unknown or missing keys and shape mismatches throw before anything changes. */
  load(state: ReadonlyMap<string, tf.Tensor>): void;
  /** Routing table: one line per parameter. */
  describe(): string;
  /** Frees every state variable. */
  dispose(): void;
}

interface Slotted {
  p: Parameter;
  label: string;
  transform: Transform;
  state: State;
  t: number;
}

/**
 * Global L2 norm of a set of tensors, as a scalar tensor. With the native kernels (float32 tensors,
 * outside gradient recording) it is one kernel call, in double (kernels/fused.ts globalNorm); else a
 * Square and a Sum per tensor, an AddN and a Sqrt.
 */
export function globalNorm(tensors: Iterable<tf.Tensor>): tf.Scalar {
  const list = [...tensors];
  const fused = fusedOps();
  if (fused?.globalNorm && list.length > 0 && list.every((t) => t.dtype === 'float32') && !tf.engine().state.gradientDepth) return fused.globalNorm(list);
  return tf.tidy(() => {
    const sq = list.map((g) => tf.sum(tf.square(g)));
    return (sq.length === 0 ? tf.scalar(0) : tf.sqrt(tf.addN(sq))) as tf.Scalar;
  });
}

/**
 * Clips gradients to a maximum global norm as torch.nn.utils.clip_grad_norm_ does
 * (factor = max / (norm + 1e-6), applied only when below 1). Returns new tensors and the norm;
 * the caller disposes all of them.
 */
export function clipByGlobalNorm(grads: ReadonlyMap<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = globalNorm(grads.values());
  const out = new Map<string, tf.Tensor>();
  tf.tidy(() => {
    const factor = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    for (const [k, g] of grads) out.set(k, tf.keep(tf.mul(g, factor)));
  });
  return { grads: out, norm };
}

/** Validates a parameter list: unique names, variables present. */
export function checkParams(params: readonly Parameter[]): void {
  const seen = new Set<string>();
  for (const p of params) {
    if (!p.name) throw new Error('parameter without a name');
    if (seen.has(p.name)) throw new Error(`duplicate parameter name '${p.name}'`);
    seen.add(p.name);
    if (!(p.variable instanceof tf.Variable)) throw new Error(`parameter '${p.name}' has no tf.Variable`);
    if (!ROLES.includes(p.role)) throw new Error(`parameter '${p.name}' has unknown role '${p.role}' (expected one of ${ROLES.join(', ')})`);
  }
}

/**
 * Builds an optimizer over `params`. Every parameter is routed first, so a routing mistake throws
 * before any state is allocated.
 */
export function buildOptimizer(params: readonly Parameter[], def: OptimizerDef, opts: BuildOptions = {}): Optimizer {
  checkParams(params);
  const routed = params.map((p) => ({ p, ...resolveRoute(def, p) }));
  const entries = new Map<string, Slotted>();
  const allocated: tf.Variable[] = [];
  try {
    for (const r of routed) entries.set(r.p.name, allocate(r.p, r.label, r.transform, allocated));
  } catch (e) {
    // A transform's init threw (a slot clash in a chain, the reserved 'step'): free what was allocated.
    for (const v of allocated) v.dispose();
    throw e;
  }
  const needsPreviousGrads = routed.some((r) => r.transform.needsPreviousGrads === true);
  // Diagnostics keys are `<route>/<metric>`; a single transform for every parameter is the route 'all'.
  const routeLabel = new Map(routed.map((r) => [r.p.name, isRouteTable(def) ? r.label : 'all']));
  let recorder: DiagnosticsRecorder | null = null;

  function allocate(p: Parameter, label: string, transform: Transform, sink: tf.Variable[]): Slotted {
    const slot: SlotMaker = (name, init, shape) => {
      const full = `${p.name}/${name}`;
      const value = tf.tidy(() => {
        if (init === 'zeros') return tf.zeros(shape ?? p.variable.shape, 'float32');
        if (Array.isArray(init)) return tf.tensor(init, shape ?? [init.length], 'float32');
        return init.clone();
      });
      const v = tf.variable(value, false, uniqueVarName(full));
      value.dispose();
      sink.push(v);
      return v;
    };
    const state = transform.init?.(p, slot) ?? {};
    for (const k of Object.keys(state)) if (k === 'step') throw new Error(`transform '${transform.name}' may not use the reserved slot 'step'`);
    return { p, label, transform, state, t: 0 };
  }

  return {
    params,
    needsPreviousGrads,
    step(grads, stepOpts = {}) {
      // Every gradient is checked before any parameter changes.
      for (const [name, grad] of grads) {
        const e = entries.get(name);
        if (!e) throw new Error(`gradient for unknown parameter '${name}'`);
        if (!tf.util.arraysEqual(grad.shape, e.p.variable.shape)) {
          throw new Error(`gradient of '${name}' has shape [${grad.shape}], parameter has [${e.p.variable.shape}]`);
        }
      }
      if (opts.checkFinite) {
        const bad = nonFiniteGradients(grads);
        if (bad.length) throw new NonFiniteGradientError(bad, Math.max(0, ...bad.map((n) => entries.get(n)!.t)) + 1);
      }
      let g = grads;
      let clipped: Map<string, tf.Tensor> | undefined;
      let norm: tf.Scalar | undefined;
      let previousGrads = stepOpts.previousGrads;
      let prevClipped: Map<string, tf.Tensor> | undefined;
      let prevNorm: tf.Scalar | undefined;
      if (opts.clipNorm && opts.clipNorm > 0) {
        ({ grads: clipped, norm } = clipByGlobalNorm(grads, opts.clipNorm));
        g = clipped;
        // MARS exact mode differences g(x_t) - g(x_{t-1}) on one batch: both gradients get the same
        // preprocessing, or the difference mixes a clipped and an unclipped gradient.
        if (previousGrads) {
          ({ grads: prevClipped, norm: prevNorm } = clipByGlobalNorm(previousGrads, opts.clipNorm));
          previousGrads = prevClipped;
        }
      }
      const lrScale = stepOpts.lrScale ?? 1;
      recorder?.dispose();
      recorder = stepOpts.diagnose ? new DiagnosticsRecorder((p) => routeLabel.get(p.name)!) : null;
      const probe = recorder ?? undefined;
      const due = [...entries.values()].filter((e) => g.has(e.p.name));
      for (const group of updateGroups(due)) {
        for (const e of group) e.t += 1;
        const ctx: StepContext = { t: group[0].t, lrScale, previousGrads, ...(probe ? { probe } : {}) };
        const tr = group[0].transform;
        tf.tidy(() => {
          const items = group.map((e) => ({ u: g.get(e.p.name)!, s: e.state, p: e.p }));
          const us = group.length > 1 && tr.updateMany ? tr.updateMany(items, ctx) : items.map((i) => tr.update(i.u, i.s, i.p, ctx));
          checkManyResult(tr, items, us);
          group.forEach((e, k) => {
            const d = tr.decay ? tr.decay(e.p, ctx) : 1;
            const w = e.p.variable;
            const next = d === 1 ? tf.add(w, us[k]) : tf.add(tf.mul(w, d), us[k]);
            if (recorder) recorder.change(e.p, w, tf.sub(next, w));
            w.assign(next);
          });
        });
      }
      if (clipped) for (const t of clipped.values()) t.dispose();
      if (prevClipped) for (const t of prevClipped.values()) t.dispose();
      norm?.dispose();
      prevNorm?.dispose();
    },
    state() {
      const out = new Map<string, tf.Tensor>();
      for (const e of entries.values()) {
        out.set(`${e.p.name}/step`, tf.scalar(e.t, 'float32'));
        for (const [k, v] of Object.entries(e.state)) out.set(`${e.p.name}/${k}`, v.clone());
      }
      return out;
    },
    load(state) {
      const expected = new Set<string>();
      for (const e of entries.values()) {
        expected.add(`${e.p.name}/step`);
        for (const k of Object.keys(e.state)) expected.add(`${e.p.name}/${k}`);
      }
      for (const k of state.keys()) if (!expected.has(k)) throw new Error(`optimizer state has unknown key '${k}'`);
      for (const k of expected) if (!state.has(k)) throw new Error(`optimizer state lacks key '${k}'`);
      // Every shape is checked before anything is assigned, so a bad state changes nothing.
      for (const e of entries.values()) {
        const step = state.get(`${e.p.name}/step`)!;
        if (step.size !== 1) throw new Error(`state '${e.p.name}/step' has shape [${step.shape}], expected one value`);
        for (const [k, v] of Object.entries(e.state)) {
          const src = state.get(`${e.p.name}/${k}`)!;
          if (!tf.util.arraysEqual(src.shape, v.shape)) throw new Error(`state '${e.p.name}/${k}' has shape [${src.shape}], expected [${v.shape}]`);
        }
      }
      for (const e of entries.values()) {
        e.t = Math.round(state.get(`${e.p.name}/step`)!.dataSync()[0]);
        for (const [k, v] of Object.entries(e.state)) {
          const src = state.get(`${e.p.name}/${k}`)!;
          v.assign(src.dtype === v.dtype ? src : tf.tidy(() => tf.cast(src, v.dtype)));
        }
      }
    },
    diagnostics() {
      if (!recorder) return {};
      const out = recorder.read();
      recorder = null;
      return out;
    },
    diagnosticKeys() {
      const keys = new Set<string>();
      for (const r of routed) {
        const label = routeLabel.get(r.p.name)!;
        for (const m of UPDATE_METRICS) keys.add(`${label}/${m}`);
        for (const m of r.transform.diagnostics ?? []) keys.add(`${label}/${m}`);
      }
      return [...keys].sort();
    },
    describe() {
      return formatRoutingTable(routed.map((r) => ({ name: r.p.name, role: r.p.role, shape: r.p.variable.shape, label: r.label, detail: r.transform.describe ? r.transform.describe(r.p) : r.transform.name })));
    },
    dispose() {
      recorder?.dispose();
      recorder = null;
      for (const v of allocated) v.dispose();
      allocated.length = 0;
      entries.clear();
    },
  };
}

/**
 * Splits the entries updated in a step into groups, in parameter order: entries whose transform has
 * `updateMany` group by (transform object, shape, step count); every other entry is a group of one.
 */
function updateGroups(due: readonly Slotted[]): Slotted[][] {
  const groups: Slotted[][] = [];
  for (const e of due) {
    const same = e.transform.updateMany
      ? groups.find(([f]) => f.transform === e.transform && f.t === e.t && tf.util.arraysEqual(f.p.variable.shape, e.p.variable.shape))
      : undefined;
    if (same) same.push(e);
    else groups.push([e]);
  }
  return groups;
}

/** Formats one line per parameter: name, role, shape, route and its settings. */
export function formatRoutingTable(rows: { name: string; role: string; shape: readonly number[]; label: string; detail: string }[]): string {
  const header = ['parameter', 'role', 'shape', 'route', 'transforms'];
  const cells = rows.map((r) => [r.name, r.role, `[${r.shape.join(',')}]`, r.label, r.detail]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]))).join('  ');
  return [line(header), ...cells.map(line)].join('\n');
}

/** tf.Variable names are global in the engine; state of two optimizers over one model must not clash. */
function uniqueVarName(base: string): string {
  const registered = tf.engine().registeredVariables;
  if (!(base in registered)) return base;
  for (let i = 1; ; i++) if (!(`${base}_${i}` in registered)) return `${base}_${i}`;
}

/** Multiplies the update by -lr * lrScale: the learning rate and its sign, always the last transform. */
export function scaleByLr(lr: number): Transform {
  return {
    name: 'lr',
    update: (u, _s, _p, ctx) => tf.mul(u, -lr * ctx.lrScale),
    describe: () => `lr=${lr}`,
  };
}

/**
 * Decoupled weight decay W <- W * (1 - lr * lrScale * weightDecay) (Loshchilov & Hutter), applied
 * before the update is added. `lr` is the unscaled learning rate, as in every reference here.
 */
export function decoupledWeightDecay(weightDecay: number, lr: number): Transform {
  return {
    name: 'wd',
    update: (u) => u,
    decay: (_p, ctx) => 1 - lr * ctx.lrScale * weightDecay,
    describe: () => `wd=${weightDecay}`,
  };
}

/**
 * sign(x) in {-1, 0, 1}, exact on every backend. tfjs-backend-wasm 4.22.0's Sign returns 0 for
 * |x| <= 1.19e-7 (float32's epsilon; docs/backends.md, trap 6), which would freeze Lion's and AdaMuon's
 * small coordinates; on wasm it is computed as (x > 0) - (x < 0), elsewhere with tf.sign. Call inside tf.tidy.
 */
export function exactSign(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.sign(x);
  return tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32'));
}

/**
 * Cautious weight decay (Chen et al., "Cautious Weight Decay", arXiv 2510.12402, eq. 2): decoupled decay
 * applied only on the coordinates where the update and the parameter agree in sign,
 *
 *   W <- W - lr * lrScale * (u + weightDecay * I(u * W >= 0) * W)
 *
 * with u the method's update direction (what reaches `scaleByLr`, before its -lr). Place it just before
 * `scaleByLr`, where `decoupledWeightDecay` would go; it needs no lr of its own, since the decay term rides
 * on the update and `scaleByLr` scales both. `applies` restricts it to some parameters (AdamW's `decayOn`);
 * elsewhere the update passes through. The paper's code is not public; the indicator counts u * W = 0 as
 * aligned, as eq. 2 writes it (docs/optimizers/cautious_wd.md).
 */
export function cautiousWeightDecay(weightDecay: number, opts: { applies?: (p: Parameter) => boolean } = {}): Transform {
  return {
    name: 'cwd',
    update: (u, _s, p) => {
      if (weightDecay === 0 || (opts.applies && !opts.applies(p))) return u;
      const w = p.variable;
      const aligned = tf.cast(tf.greaterEqual(tf.mul(u, w), 0), 'float32');
      return tf.add(u, tf.mul(tf.mul(aligned, w), weightDecay));
    },
    describe: () => `cautious-wd=${weightDecay}`,
  };
}

/** Decoupled weight decay (`decoupledWeightDecay`) or, with `cautious`, its cautious form (`cautiousWeightDecay`): the one switch every method's `cautiousWeightDecay` option sets. */
export function weightDecayTransform(weightDecay: number, lr: number, cautious: boolean): Transform {
  return cautious ? cautiousWeightDecay(weightDecay) : decoupledWeightDecay(weightDecay, lr);
}

/** Coupled (L2) weight decay: g <- g + weightDecay * W, before any other transform. */
export function addL2(weightDecay: number): Transform {
  return {
    name: 'l2',
    update: (u, _s, p) => (weightDecay === 0 ? u : tf.add(u, tf.mul(p.variable, weightDecay))),
    describe: () => `l2=${weightDecay}`,
  };
}

/** A method's factory: options in, transform or routing table out, with its defaults attached. */
export interface OptimizerFactory<O extends object = Record<string, unknown>> {
  (opts?: Partial<O>): OptimizerDef;
  /** Registry name, e.g. 'mars-m'. */
  readonly methodName: string;
  /** Every option with its default value; the keys are the only accepted options. */
  readonly defaults: Readonly<O>;
  /**
   * Class name of the method's tf.Optimizer (optimizers/tfjs.ts), which `model.save` stores and
   * `loadLayersModel` looks up: PascalCase of `methodName` plus 'Optimizer' unless the method names it.
   */
  readonly className: string;
  /**
   * Options left out of a run's resolved config (and so of its run id, experiments/runner/config.ts) while they
   * hold their default: options added after results were recorded under the method's run ids, so those
   * results keep their ids and `optlab run --resume` still finds them. Empty for most methods.
   */
  readonly unhashedDefaults: readonly string[];
  /** One line on what the method is, for `optlab list` (a method registered from outside; built-ins' come from their JSDoc). */
  readonly doc?: string;
  /**
   * A note for tfjs users, printed once per process by the tf.Optimizer adapter (optimizers/tfjs.ts)
   * when the method is constructed with `given` options: a faithful default that does not suit a
   * drop-in replacement of Adam (Shampoo's grafting). Null or absent: nothing to say.
   */
  readonly dropInNote?: (given: Partial<O>) => string | null;
  /** The allowed values of every option (optimizers/domains.ts), checked before the builder runs; absent for a method that declares none. */
  readonly domains?: Readonly<Domains<O>>;
}

/**
 * Wraps a method's builder so that unknown option keys, values of the wrong type and values outside
 * the option's domain (`extras.domains`, optimizers/domains.ts) fail with a message naming the method,
 * the key, the value and the allowed range, before anything is allocated. Every method declares a
 * domain for each of its options (test/optimizers/domains.test.ts checks the registry). `className`
 * overrides the tf.Optimizer class name derived from `methodName` ('mars-m' -> 'MarsMOptimizer'),
 * e.g. 'AdamWOptimizer'; `unhashedDefaults`
 * lists options added after results were recorded (OptimizerFactory.unhashedDefaults); `doc` is the
 * line `optlab list` shows for a method registered from outside (registerOptimizer, plugins).
 */
export function defineOptimizer<O extends object>(methodName: string, defaults: O, build: (o: O) => OptimizerDef, extras: { className?: string; unhashedDefaults?: readonly (keyof O & string)[]; doc?: string; dropInNote?: (given: Partial<O>) => string | null; domains?: Domains<NoInfer<O>> } = {}): OptimizerFactory<O> {
  const domains = extras.domains ? Object.freeze({ ...extras.domains }) : undefined;
  const f = (opts: Partial<O> = {}) => build(resolveOptions(methodName, defaults, opts, domains));
  const className = extras.className ?? `${methodName.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}Optimizer`;
  for (const k of extras.unhashedDefaults ?? []) if (!(k in defaults)) throw new Error(`${methodName}: unhashedDefaults names '${k}', which is not an option`);
  return Object.assign(f, { methodName, defaults: Object.freeze({ ...defaults }), className, unhashedDefaults: Object.freeze([...(extras.unhashedDefaults ?? [])]), ...(extras.doc ? { doc: extras.doc } : {}), ...(extras.dropInNote ? { dropInNote: extras.dropInNote } : {}), ...(domains ? { domains } : {}) });
}

/** Merges options over defaults, rejecting unknown keys, type changes and (with `domains`) values outside an option's domain. */
export function resolveOptions<O extends object>(methodName: string, defaults: O, opts: Partial<O>, domains?: Readonly<Domains<O>>): O {
  const known = Object.keys(defaults);
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (!known.includes(k)) {
      const near = known.filter((x) => x.toLowerCase().includes(k.toLowerCase().slice(0, 3)));
      throw new Error(`${methodName}: unknown option '${k}'${near.length ? ` (did you mean ${near.map((x) => `'${x}'`).join(' or ')}?)` : ''}; options: ${known.join(', ')}`);
    }
    const d = (defaults as Record<string, unknown>)[k];
    if (v === undefined || d === undefined || d === null) continue;
    if (typeof v !== typeof d) throw new Error(`${methodName}: option '${k}' must be a ${typeof d}, got ${JSON.stringify(v)}`);
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`${methodName}: option '${k}' must be finite, got ${v}`);
    const bad = domainViolation(methodName, domains as Readonly<Record<string, Domain>> | undefined, k, v);
    if (bad) throw new Error(bad);
  }
  const out = { ...defaults } as Record<string, unknown>;
  for (const [k, v] of Object.entries(opts ?? {})) if (v !== undefined) out[k] = v;
  return out as O;
}

// The one-call global norm against the tfjs ops above (kernels/self_test.ts).
addSelfTestCase('fused global norm', () => globalNorm([selfTestValues([3, 7], 1), selfTestValues([5], 2), selfTestValues([2, 2, 3], 3)]));
