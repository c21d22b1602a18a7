/**
 * The adapter that makes any optlab method a `tf.Optimizer`, for `LayersModel.compile({optimizer})`,
 * `model.fit`, and `model.save(..., {includeOptimizer: true})`.
 *
 * Parameters are bound on the first `applyGradients` that brings their gradient (tfjs passes
 * gradients keyed by variable name). Roles come from the model the optimizer was compiled into
 * (optimizers/tfjs_roles.ts: output Dense -> head, Embedding -> embedding, biases and norms ->
 * vector, conv kernels -> conv, other kernels -> matrix), or from names and ranks without one
 * (`inferRole`), and a `roles` pattern overrides both. The routing table is printed once, at the
 * first step; `describe()` gives it at any time.
 *
 * The state is one optlab `Optimizer` over every bound parameter, rebuilt (state carried over) when a
 * variable first gets a gradient in a later step, e.g. a layer unfrozen after compile. So clipping is
 * over all gradients of a step, however the variables were bound, and `getWeights` returns exactly
 * one entry per state slot plus `iter`: slots of bound parameters, and restored slots of parameters
 * that have not had a gradient yet (a frozen layer's), under the names they were saved with.
 *
 * Learning rate: `learningRate` (saved with the config) starts at the method's `lr`; setting it scales
 * every learning rate of the method by learningRate / lr from the next step on, auxiliary AdamW's
 * included, as a PyTorch scheduler scales each param group; `lrScale` multiplies on top (the
 * schedule's factor, set per batch by `scheduleCallback` in experiments/runner/fit_callbacks.ts) and is saved
 * too. Decoupled weight decay follows the scaled rate, as in every method here.
 *
 * Warnings:
 * - tfjs makes variable names unique per process by appending `_N`; restored state is matched to
 *   variables by name up to that suffix (optimizers/tfjs_state.ts).
 * - Restored state for parameters that do not get a gradient yet stays in `getWeights` under its
 *   saved name until they do; parameters with no saved state start fresh, and the optimizer says
 *   which (`lastRestore`, and one console line).
 * - `config` is read-only after construction; changing an option needs a new optimizer.
 */
import * as tf from '@tensorflow/tfjs-core';
import { buildOptimizer, formatRoutingTable, resolveRoute, type Optimizer, type OptimizerDef, type OptimizerFactory, type Parameter, type Role, ROLES } from './core.js';
import { getOptimizerFactory, onOptimizerRegistered, REGISTRY, type MethodName } from './index.js';
import { installCompileHook, modelRoles, type ModelLike } from './tfjs_roles.js';
import { canonicalName, groupByParam, matchSaved } from './tfjs_state.js';
import { installLayersSupport } from '../kernels/layers_support.js';

installLayersSupport();
installCompileHook();

export { canonicalName };

/** A named tensor as tfjs passes optimizer weights. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Options of the adapter itself, next to the method's own options. */
export interface AdapterOptions {
  /** Role overrides: regular expression on the variable name -> role. First match wins. */
  roles?: Record<string, Role>;
  /** Global-norm gradient clipping over all gradients of a step, before the method; 0 disables. @default 0 */
  clipNorm?: number;
  /**
   * The learning rate in use: every learning rate of the method is scaled by learningRate / lr. Kept
   * in `getConfig`, so a changed rate survives save and load. @default the method's `lr`
   */
  learningRate?: number;
  /** Multiplier on the learning rate (a schedule's factor; see `scheduleCallback`), saved too. @default 1 */
  lrScale?: number;
  /** Print the routing table once, at the first step. @default true */
  printRouting?: boolean;
  /** Throw NonFiniteGradientError naming the variables whose gradient has NaN or Inf, before any weight changes (one read-back per step). @default false */
  checkFinite?: boolean;
}

const ADAPTER_KEYS = ['roles', 'clipNorm', 'learningRate', 'lrScale', 'printRouting', 'checkFinite'] as const;

/** What the last restore of saved state did, by parameter (variable) name. */
export interface RestoreReport {
  /** Parameters whose state came from the saved weights. */
  restored: string[];
  /** Bound parameters without saved state: they started fresh. */
  fresh: string[];
  /** Saved parameters no variable has claimed yet (kept, and saved again, until one does). */
  pending: string[];
}

/**
 * Role of a tfjs variable from its name and rank, when the model is unknown: Embedding's
 * `embeddings` -> embedding, rank 3 or 4 (conv kernels) -> conv, rank 2 -> matrix, else vector.
 * `overrides` (regular expression on the name -> role) win, first match first. Throws on an
 * unknown role. With the model, `modelRoles` (optimizers/tfjs_roles.ts) also finds the head.
 */
export function inferRole(name: string, shape: readonly number[], overrides: Record<string, Role> = {}): Role {
  for (const [pattern, role] of Object.entries(overrides)) {
    if (!ROLES.includes(role)) throw new Error(`roles: '${pattern}' maps to unknown role '${role}' (expected one of ${ROLES.join(', ')})`);
    if (new RegExp(pattern).test(name)) return role;
  }
  if (/embeddings(_\d+)?$/.test(name)) return 'embedding';
  if (shape.length >= 3) return 'conv';
  if (shape.length === 2) return 'matrix';
  return 'vector';
}

function checkRate(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${what} must be a finite number >= 0, got ${JSON.stringify(v)}`);
  return v;
}

/** Methods whose drop-in note (OptimizerFactory.dropInNote) this process has printed: once each. */
const NOTED = new Set<string>();

/** Base class of every `<Name>Optimizer`: a tf.Optimizer running an optlab method. */
export class OptlabTfOptimizer<O extends object = Record<string, unknown>> extends tf.Optimizer {
  static className = 'OptlabTfOptimizer';
  /** Registry name of the method, e.g. 'muon'. */
  readonly method: string;
  /** The options given at construction (read-only: assigning a key throws, naming what to do instead). */
  readonly config: Readonly<Partial<O> & AdapterOptions>;
  /** What the last restore of saved state did; null before any `setWeights`. */
  lastRestore: RestoreReport | null = null;
  private readonly factory: OptimizerFactory<O>;
  private readonly own: Partial<O>;
  private readonly def: OptimizerDef;
  private readonly baseLr: number;
  private learningRate_: number;
  private lrScale_: number;
  private part: Optimizer | null = null;
  private params: Parameter[] = [];
  /** Restored slots of parameters not bound yet: saved param name -> slot -> tensor (owned). */
  private pending = new Map<string, Map<string, tf.Tensor>>();
  private restoring = false;
  private exported: tf.Tensor[] = [];
  private model: ModelLike | null = null;
  private printed = false;

  constructor(method: string, config: Partial<O> & AdapterOptions = {}) {
    super();
    this.method = method;
    this.factory = getOptimizerFactory(method) as OptimizerFactory<O>;
    const own = { ...config } as Record<string, unknown>;
    for (const k of ADAPTER_KEYS) delete own[k];
    if (config.roles) for (const [p, r] of Object.entries(config.roles)) if (!ROLES.includes(r)) throw new Error(`${method}: roles: '${p}' maps to unknown role '${r}' (expected one of ${ROLES.join(', ')})`);
    // Validates option names and types now, not at the first step.
    this.own = own as Partial<O>;
    this.def = this.factory(this.own);
    const note = this.factory.dropInNote?.(this.own);
    if (note && !NOTED.has(method)) {
      NOTED.add(method);
      console.warn(`${this.factory.className}: ${note}`);
    }
    this.baseLr = (own.lr ?? (this.factory.defaults as Record<string, unknown>).lr) as number;
    if (typeof this.baseLr !== 'number') throw new Error(`${method}: the method has no 'lr' option, which learningRate scales`);
    if (config.clipNorm !== undefined) checkRate(`${method}: clipNorm`, config.clipNorm);
    this.learningRate_ = this.baseLr;
    this.lrScale_ = 1;
    if (config.learningRate !== undefined) this.learningRate = config.learningRate;
    if (config.lrScale !== undefined) this.lrScale = config.lrScale;
    const frozen = Object.freeze({ ...config, ...(config.roles ? { roles: Object.freeze({ ...config.roles }) } : {}) });
    this.config = new Proxy(frozen, {
      set: (_t, key) => {
        const hint = key === 'lr' || key === 'learningRate' ? 'set optimizer.learningRate (it takes effect at the next step)' : key === 'lrScale' ? 'set optimizer.lrScale' : 'build a new optimizer';
        throw new Error(`${method}: config.${String(key)} cannot be changed after construction; ${hint}`);
      },
    });
  }

  /** The learning rate in use (see the module comment); setting it takes effect at the next step. */
  get learningRate(): number {
    return this.learningRate_;
  }

  set learningRate(v: number) {
    checkRate(`${this.method}: learningRate`, v);
    if (this.baseLr === 0 && v !== 0) throw new Error(`${this.method}: learningRate ${v} cannot scale a method built with lr 0; build it with the lr wanted`);
    this.learningRate_ = v;
  }

  /** Multiplier on the learning rate for the next steps (a schedule's factor). */
  get lrScale(): number {
    return this.lrScale_;
  }

  set lrScale(v: number) {
    this.lrScale_ = checkRate(`${this.method}: lrScale`, v);
  }

  /** The factor the method's transforms see as `lrScale`: lrScale * learningRate / lr. */
  private stepScale(): number {
    return this.baseLr === 0 ? this.lrScale_ : this.lrScale_ * (this.learningRate_ / this.baseLr);
  }

  /**
   * Tells the optimizer the model it trains, for role inference and `describe()` before the first
   * step. `LayersModel.compile` calls it (optimizers/tfjs_roles.ts); parameters already bound keep
   * their roles.
   */
  useModel(model: ModelLike): void {
    this.model = model;
  }

  private roleOf(name: string, shape: readonly number[]): Role {
    const fromModel = this.model ? modelRoles(this.model, this.config.roles).get(name) : undefined;
    return fromModel ?? inferRole(name, shape, this.config.roles);
  }

  /**
   * One step of the method on the given gradients (keyed by variable name; null entries are skipped),
   * binding variables seen for the first time. Prints the routing table at the first call.
   */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: [string, tf.Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    const grads = new Map<string, tf.Tensor>();
    for (const [n, g] of list) if (g != null) grads.set(n, g);
    const bound = new Set(this.params.map((p) => p.name));
    const fresh = [...grads.keys()].filter((n) => !bound.has(n));
    if (fresh.length > 0) this.bind(fresh);
    if (!this.printed && this.config.printRouting !== false) console.log(`${this.method} routing:\n${this.describe()}`);
    this.printed = true;
    if (grads.size > 0) this.part!.step(grads, { lrScale: this.stepScale() });
    this.incrementIterations();
  }

  /** Rebuilds the optlab optimizer over the bound parameters plus `names`, carrying state over. */
  private bind(names: string[]): void {
    const registered = tf.engine().registeredVariables;
    const added: Parameter[] = names.map((name) => {
      const variable = registered[name];
      if (!variable) throw new Error(`${this.method}: no registered variable named '${name}'`);
      return { name, variable, role: this.roleOf(name, variable.shape) };
    });
    const params = [...this.params, ...added];
    // A fresh definition per build: a transform may keep per-parameter data in its closure.
    const part = buildOptimizer(params, this.factory(this.own), { clipNorm: this.config.clipNorm, checkFinite: this.config.checkFinite === true });
    const carried = this.part ? this.part.state() : new Map<string, tf.Tensor>();
    try {
      const report = this.fill(part, added, carried);
      if (this.restoring) this.report(report);
    } catch (e) {
      part.dispose();
      throw e;
    } finally {
      for (const t of carried.values()) t.dispose();
    }
    this.part?.dispose();
    this.part = part;
    this.params = params;
  }

  /**
   * Loads `part` with: `carried` state where it has the key, else the pending saved state of each
   * parameter of `candidates` that matches one, else the part's fresh initial state. Matched pending
   * state is consumed.
   */
  private fill(part: Optimizer, candidates: readonly Parameter[], carried: ReadonlyMap<string, tf.Tensor>): RestoreReport {
    const template = part.state();
    try {
      const byParam = groupByParam(template);
      const state = new Map<string, tf.Tensor>();
      const restored: string[] = [];
      const fresh: string[] = [];
      const consumed: string[] = [];
      const want = new Set(candidates.map((p) => p.name));
      for (const [param, slots] of byParam) {
        const saved = want.has(param) ? matchSaved(param, [...this.pending.keys()].filter((k) => !consumed.includes(k))) : undefined;
        const src = saved !== undefined ? this.pending.get(saved)! : undefined;
        if (src) {
          const have = [...src.keys()].sort().join(', ');
          const need = [...slots.keys()].sort().join(', ');
          if (have !== need) {
            throw new Error(`${this.method}: saved state of '${saved}' has slots [${have}] but the route of '${param}' keeps [${need}]; it was saved by another method, other options or another role (set one with the roles option)`);
          }
          consumed.push(saved!);
          restored.push(param);
        } else if (want.has(param)) fresh.push(param);
        for (const [slot, t] of slots) {
          const key = `${param}/${slot}`;
          state.set(key, carried.get(key) ?? src?.get(slot) ?? t);
        }
      }
      part.load(state);
      for (const k of consumed) {
        for (const t of this.pending.get(k)!.values()) t.dispose();
        this.pending.delete(k);
      }
      return { restored, fresh, pending: [...this.pending.keys()] };
    } finally {
      for (const t of template.values()) t.dispose();
    }
  }

  private report(r: RestoreReport): void {
    const prev = this.lastRestore;
    this.lastRestore = { restored: [...new Set([...(prev?.restored ?? []), ...r.restored])], fresh: [...new Set([...(prev?.fresh ?? []), ...r.fresh])], pending: r.pending };
    if (r.fresh.length > 0) {
      console.warn(`${this.method}: optimizer state restored for ${r.restored.length} parameter(s); no saved state for ${r.fresh.join(', ')}: they start fresh${r.pending.length ? `; saved state kept for ${r.pending.join(', ')} until they train` : ''}`);
    }
  }

  /**
   * Routing table: one line per parameter (name, role, shape, route, transforms). Before the first
   * step it lists the compiled model's trainable weights (or `model`'s), without allocating state.
   */
  describe(model?: ModelLike): string {
    const m = model ?? (this.part ? null : this.model);
    if (!m) return this.part ? this.part.describe() : '(no parameters yet: compile a model with this optimizer, or pass one)';
    const roles = modelRoles(m, this.config.roles);
    const rows = m.trainableWeights.map((w) => {
      const variable = w.read() as tf.Variable;
      const p: Parameter = { name: w.name, variable, role: roles.get(w.name) ?? inferRole(w.name, variable.shape, this.config.roles) };
      const r = resolveRoute(this.def, p);
      return { name: p.name, role: p.role, shape: variable.shape, label: r.label, detail: r.transform.describe ? r.transform.describe(p) : r.transform.name };
    });
    return formatRoutingTable(rows);
  }

  /** `iter`, then one entry per state slot: bound parameters' live slots, then restored slots not yet bound. */
  async getWeights(): Promise<NamedTensor[]> {
    for (const t of this.exported) t.dispose();
    this.exported = [];
    const out: NamedTensor[] = [await this.saveIterations()];
    if (this.part) for (const [name, tensor] of this.part.state()) out.push({ name, tensor });
    for (const [param, slots] of this.pending) for (const [slot, t] of slots) out.push({ name: `${param}/${slot}`, tensor: t.clone() });
    this.exported = out.map((o) => o.tensor);
    return out;
  }

  /**
   * Replaces the state: `iter`, and every slot. Bound parameters take their saved slots (matched by
   * name up to tfjs's `_N` suffix) or start fresh; saved slots of parameters not bound yet wait for
   * their first gradient. Throws, changing nothing, when a saved parameter's slots differ from what its
   * route keeps.
   */
  async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const incoming = groupByParam(rest.map((w) => [w.name, w.tensor.clone()] as [string, tf.Tensor]));
    const old = { pending: this.pending, report: this.lastRestore };
    this.pending = incoming;
    this.lastRestore = { restored: [], fresh: [], pending: [...incoming.keys()] };
    try {
      if (this.part) this.report(this.fill(this.part, this.params, new Map()));
    } catch (e) {
      for (const slots of incoming.values()) for (const t of slots.values()) t.dispose();
      this.pending = old.pending;
      this.lastRestore = old.report;
      throw e;
    }
    for (const slots of old.pending.values()) for (const t of slots.values()) t.dispose();
    this.restoring = true;
  }

  /** The options given, with the current `learningRate` and `lrScale` (saved by `model.save`). */
  getConfig(): tf.serialization.ConfigDict {
    const own = JSON.parse(JSON.stringify(this.config)) as tf.serialization.ConfigDict;
    return { ...own, learningRate: this.learningRate_, lrScale: this.lrScale_ };
  }

  /** Rebuilds an optimizer from `getConfig()`'s output (used by `tf.loadLayersModel`). */
  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    // tfjs-layers' deserializer adds `customObjects` to the saved config; it is not an option.
    const { customObjects: _ignored, ...own } = config as tf.serialization.ConfigDict & { customObjects?: unknown };
    return new (cls as unknown as new (c: tf.serialization.ConfigDict) => T)(own);
  }

  /** Frees every state variable, restored slots and tensors handed out by `getWeights`. */
  dispose(): void {
    this.part?.dispose();
    for (const slots of this.pending.values()) for (const t of slots.values()) t.dispose();
    for (const t of this.exported) t.dispose();
    this.part = null;
    this.params = [];
    this.pending.clear();
    this.exported = [];
    super.dispose();
  }
}

/** A generated `<Name>Optimizer` class: `new MuonOptimizer({lr, ...MuonOptions, roles, clipNorm})`. */
export interface TfOptimizerClass<O extends object = Record<string, unknown>> {
  new (config?: Partial<O> & AdapterOptions): OptlabTfOptimizer<O>;
  /** The name tf.serialization stores for saved models, e.g. 'MuonOptimizer'. */
  readonly className: string;
  fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T;
}

/** A lowerCamel factory: `muon(config)` is `new MuonOptimizer(config)`. */
export type TfOptimizerFactory<O extends object = Record<string, unknown>> = (config?: Partial<O> & AdapterOptions) => OptlabTfOptimizer<O>;

type OptionsOf<F> = F extends OptimizerFactory<infer O> ? O : never;

/** True when some route of `def` reads StepContext.previousGrads (MARS and MARS-M exact mode). */
function needsPreviousGrads(def: OptimizerDef): boolean {
  const transforms = 'routes' in def ? def.routes.map((r) => r.transform) : [def];
  return transforms.some((t) => t.needsPreviousGrads === true);
}

/**
 * Makes the tf.Optimizer class of one registry method, named and registered with
 * tf.serialization under the factory's `className`. Options whose transforms need a gradient at the
 * previous weights (exact MARS modes) are rejected at construction: LayersModel.fit cannot supply it.
 */
function makeTfOptimizerClass<O extends object>(method: string, factory: OptimizerFactory<O>): TfOptimizerClass<O> {
  const className = factory.className;
  const cls = class extends OptlabTfOptimizer<O> {
    static override className = className;
    constructor(config: Partial<O> & AdapterOptions = {}) {
      const own: Record<string, unknown> = { ...config };
      for (const k of ADAPTER_KEYS) delete own[k];
      if (needsPreviousGrads(factory(own as Partial<O>))) {
        throw new Error(`${className}: these options (mode 'exact') need a gradient at the previous weights, which LayersModel.fit cannot compute; use the optlab runner or mode 'approx'`);
      }
      super(method, config);
    }
  };
  Object.defineProperty(cls, 'name', { value: className });
  tf.serialization.registerClass(cls);
  return cls;
}

/**
 * Every registry method as a tf.Optimizer class, keyed by registry name, made and registered with
 * tf.serialization when this module loads (so `loadLayersModel` finds any of them). Class names are
 * unique: two methods with one className throw here.
 */
export const TF_OPTIMIZER_CLASSES = (() => {
  const out: Record<string, TfOptimizerClass<any>> = {};
  const seen = new Map<string, string>();
  for (const [method, factory] of Object.entries(REGISTRY)) {
    const other = seen.get(factory.className);
    if (other) throw new Error(`methods '${other}' and '${method}' both name their tf.Optimizer class '${factory.className}'`);
    seen.set(factory.className, method);
    out[method] = makeTfOptimizerClass(method, factory as OptimizerFactory<any>);
  }
  return out as { readonly [K in MethodName]: TfOptimizerClass<OptionsOf<(typeof REGISTRY)[K]>> };
})();

/** tf.Optimizer classes of the methods registered from outside (registerOptimizer, plugins), by registry name. */
const REGISTERED_CLASSES = new Map<string, TfOptimizerClass<any>>();

// A method registered from outside gets its class now, so `tf.loadLayersModel` finds it as it finds a built-in's.
onOptimizerRegistered((method, factory) => {
  if (!REGISTERED_CLASSES.has(method)) REGISTERED_CLASSES.set(method, makeTfOptimizerClass(method, factory));
});

/**
 * The tf.Optimizer class of any registered method, built-in or registered from outside (registered
 * with tf.serialization under the factory's `className`). Throws listing the known names.
 */
export function tfOptimizerClass(method: string): TfOptimizerClass<Record<string, unknown>> {
  const cls = (Object.hasOwn(TF_OPTIMIZER_CLASSES, method) ? (TF_OPTIMIZER_CLASSES as Record<string, TfOptimizerClass<any>>)[method] : undefined) ?? REGISTERED_CLASSES.get(method);
  if (!cls) throw new Error(`unknown optimizer '${method}'; known: ${[...Object.keys(TF_OPTIMIZER_CLASSES), ...REGISTERED_CLASSES.keys()].join(', ')}`);
  return cls;
}

/**
 * The lowerCamel tf.Optimizer factory of a registry method: `tfOptimizerFactory('muon')({lr: 0.02})`.
 * Any registered name works, a user's registered method included (its options are then untyped).
 */
export function tfOptimizerFactory<K extends MethodName>(method: K): TfOptimizerFactory<OptionsOf<(typeof REGISTRY)[K]>>;
export function tfOptimizerFactory(method: string): TfOptimizerFactory<Record<string, unknown>>;
export function tfOptimizerFactory(method: string): TfOptimizerFactory<Record<string, unknown>> {
  const cls = tfOptimizerClass(method);
  return (config = {}) => new cls(config);
}
