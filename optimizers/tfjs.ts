/**
 * The adapter that makes any optlab method a `tf.Optimizer`, for `LayersModel.compile({optimizer})`,
 * `model.fit`, and `model.save(..., {includeOptimizer: true})`.
 *
 * Parameters are bound lazily on the first `applyGradients`, named after the tf.Variables that tfjs
 * passes, with roles inferred from name and rank (Embedding -> embedding, rank 4 -> conv, rank >= 2
 * -> matrix, else vector) unless a `roles` pattern says otherwise.
 *
 * Warnings: tfjs makes variable names unique per process by appending `_N`, so a model rebuilt in the
 * same process can have `dense_Dense1/kernel_1` where the saved state says `dense_Dense1/kernel`;
 * `setWeights` matches exact names first, then names with that suffix removed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { buildOptimizer, type Optimizer, type OptimizerFactory, type Parameter, type Role, ROLES } from './core.js';
import { getOptimizerFactory } from './index.js';
import type { AdamWOptions } from './adamw.js';
import type { SGDOptions } from './sgd.js';
import type { MuonMoonlightOptions, MuonOptions } from './muon.js';
import type { MarsMOptions } from './mars_m.js';
import type { MarsOptions } from './mars.js';
import type { ShampooOptions } from './shampoo.js';
import type { AuonOptions, HybridAuonOptions } from './auon.js';
import type { RegOptions } from './reg.js';

/** A named tensor as tfjs passes optimizer weights. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Options of the adapter itself, next to the method's own options. */
export interface AdapterOptions {
  /** Role overrides: regular expression on the variable name -> role. First match wins. */
  roles?: Record<string, Role>;
  /** Global-norm gradient clipping before the method; 0 disables. @default 0 */
  clipNorm?: number;
}

/** Role of a tfjs variable from its name and rank. */
export function inferRole(name: string, shape: readonly number[], overrides: Record<string, Role> = {}): Role {
  for (const [pattern, role] of Object.entries(overrides)) {
    if (!ROLES.includes(role)) throw new Error(`roles: '${pattern}' maps to unknown role '${role}' (expected one of ${ROLES.join(', ')})`);
    if (new RegExp(pattern).test(name)) return role;
  }
  if (/embeddings(_\d+)?$/.test(name)) return 'embedding';
  if (shape.length === 4) return 'conv';
  if (shape.length >= 2) return 'matrix';
  return 'vector';
}

/** Removes the `_N` suffix tfjs appends to make a variable name unique. */
export function canonicalName(name: string): string {
  return name.replace(/_\d+$/, '');
}

/** Base class of every `<Name>Optimizer`: a tf.Optimizer running an optlab method. */
export class OptlabTfOptimizer<O extends object = Record<string, unknown>> extends tf.Optimizer {
  static className = 'OptlabTfOptimizer';
  readonly method: string;
  readonly config: Partial<O> & AdapterOptions;
  private readonly factory: OptimizerFactory<O>;
  private parts: Optimizer[] = [];
  private owner = new Map<string, Optimizer>();
  private pending = new Map<string, tf.Tensor>();
  private exported: tf.Tensor[] = [];
  /** Multiplier on the learning rate for the next steps (set it from a schedule callback). */
  lrScale = 1;

  constructor(method: string, config: Partial<O> & AdapterOptions = {}) {
    super();
    this.method = method;
    this.config = { ...config };
    this.factory = getOptimizerFactory(method) as OptimizerFactory<O>;
    const { roles: _r, clipNorm: _c, ...own } = this.config;
    this.factory(own as Partial<O>); // validates option names and types now, not at the first step
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: [string, tf.Tensor][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    const fresh = list.filter(([n, g]) => g != null && !this.owner.has(n)).map(([n]) => n);
    if (fresh.length > 0) this.bind(fresh);
    const byPart = new Map<Optimizer, Map<string, tf.Tensor>>();
    for (const [n, g] of list) {
      if (g == null) continue;
      const part = this.owner.get(n)!;
      if (!byPart.has(part)) byPart.set(part, new Map());
      byPart.get(part)!.set(n, g);
    }
    for (const [part, grads] of byPart) part.step(grads, { lrScale: this.lrScale });
    this.incrementIterations();
  }

  private bind(names: string[]): void {
    const registered = tf.engine().registeredVariables;
    const params: Parameter[] = names.map((name) => {
      const variable = registered[name];
      if (!variable) throw new Error(`${this.method}: no registered variable named '${name}'`);
      return { name, variable, role: inferRole(name, variable.shape, this.config.roles) };
    });
    const { roles: _r, clipNorm, ...own } = this.config;
    const part = buildOptimizer(params, this.factory(own as Partial<O>), { clipNorm });
    this.parts.push(part);
    for (const p of params) this.owner.set(p.name, part);
    if (this.pending.size > 0) this.loadPending(part);
  }

  private loadPending(part: Optimizer): void {
    const template = part.state();
    const picked = new Map<string, tf.Tensor>();
    const byCanonical = new Map<string, string>();
    for (const k of this.pending.keys()) byCanonical.set(canonicalKey(k), k);
    for (const k of template.keys()) {
      const src = this.pending.get(k) ?? this.pending.get(byCanonical.get(canonicalKey(k)) ?? '');
      if (src) picked.set(k, src);
    }
    if (picked.size === template.size) part.load(picked);
    else if (picked.size > 0) throw new Error(`${this.method}: restored optimizer state covers ${picked.size} of ${template.size} slots for these parameters; was it saved from another model?`);
    for (const t of template.values()) t.dispose();
  }

  /** Routing table of the bound parameters. */
  describe(): string {
    return this.parts.map((p) => p.describe()).join('\n');
  }

  async getWeights(): Promise<NamedTensor[]> {
    for (const t of this.exported) t.dispose();
    this.exported = [];
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const part of this.parts) for (const [name, tensor] of part.state()) out.push({ name, tensor });
    for (const [name, tensor] of this.pending) if (!out.some((o) => o.name === name)) out.push({ name, tensor: tensor.clone() });
    this.exported = out.map((o) => o.tensor);
    return out;
  }

  async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    for (const t of this.pending.values()) t.dispose();
    this.pending = new Map(rest.map((w) => [w.name, w.tensor.clone()]));
    for (const part of this.parts) this.loadPending(part);
  }

  getConfig(): tf.serialization.ConfigDict {
    return JSON.parse(JSON.stringify(this.config)) as tf.serialization.ConfigDict;
  }

  static fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    // tfjs-layers' deserializer adds `customObjects` to the saved config; it is not an option.
    const { customObjects: _ignored, ...own } = config as tf.serialization.ConfigDict & { customObjects?: unknown };
    return new (cls as unknown as new (c: tf.serialization.ConfigDict) => T)(own);
  }

  dispose(): void {
    for (const p of this.parts) p.dispose();
    for (const t of this.pending.values()) t.dispose();
    for (const t of this.exported) t.dispose();
    this.parts = [];
    this.owner.clear();
    this.pending.clear();
    this.exported = [];
    super.dispose();
  }
}

function canonicalKey(key: string): string {
  const i = key.lastIndexOf('/');
  return `${canonicalName(key.slice(0, i))}/${key.slice(i + 1)}`;
}

/** AdamW (PyTorch semantics) as a tf.Optimizer. */
export class AdamWOptimizer extends OptlabTfOptimizer<AdamWOptions> {
  static override className = 'AdamWOptimizer';
  constructor(config: AdamWOptions & AdapterOptions = {}) {
    super('adamw', config);
  }
}
tf.serialization.registerClass(AdamWOptimizer);

/** SGD with momentum (PyTorch semantics) as a tf.Optimizer. */
export class SGDOptimizer extends OptlabTfOptimizer<SGDOptions> {
  static override className = 'SGDOptimizer';
  constructor(config: SGDOptions & AdapterOptions = {}) {
    super('sgd', config);
  }
}
tf.serialization.registerClass(SGDOptimizer);

/** Keller's Muon (matrix and conv kernels) with an auxiliary AdamW for the rest, as a tf.Optimizer. */
export class MuonOptimizer extends OptlabTfOptimizer<MuonOptions> {
  static override className = 'MuonOptimizer';
  constructor(config: MuonOptions & AdapterOptions = {}) {
    super('muon', config);
  }
}
tf.serialization.registerClass(MuonOptimizer);

/** Moonlight's Muon (0.2 sqrt(max(m, n)) scaling, AdamW sharing lr and wd) as a tf.Optimizer. */
export class MuonMoonlightOptimizer extends OptlabTfOptimizer<MuonMoonlightOptions> {
  static override className = 'MuonMoonlightOptimizer';
  constructor(config: MuonMoonlightOptions & AdapterOptions = {}) {
    super('muon-moonlight', config);
  }
}
tf.serialization.registerClass(MuonMoonlightOptimizer);

/** MARS-M (approximate mode only: LayersModel.fit cannot supply the exact mode's second gradient) as a tf.Optimizer. */
export class MarsMOptimizer extends OptlabTfOptimizer<MarsMOptions> {
  static override className = 'MarsMOptimizer';
  constructor(config: MarsMOptions & AdapterOptions = {}) {
    if (config.mode === 'exact') throw new Error("MarsMOptimizer: mode 'exact' needs a gradient at the previous weights, which LayersModel.fit cannot compute; use the optlab runner or mode 'approx'");
    super('mars-m', config);
  }
}
tf.serialization.registerClass(MarsMOptimizer);

/** MARS (mars-adamw by default; approximate mode only: LayersModel.fit cannot supply the exact mode's second gradient) as a tf.Optimizer. */
export class MarsOptimizer extends OptlabTfOptimizer<MarsOptions> {
  static override className = 'MarsOptimizer';
  constructor(config: MarsOptions & AdapterOptions = {}) {
    if (config.mode === 'exact') throw new Error("MarsOptimizer: mode 'exact' needs a gradient at the previous weights, which LayersModel.fit cannot compute; use the optlab runner or mode 'approx'");
    super('mars', config);
  }
}
tf.serialization.registerClass(MarsOptimizer);

/** AuON (cosh brake on Nesterov momentum; AdamW for non-matrix roles by default) as a tf.Optimizer. */
export class AuonOptimizer extends OptlabTfOptimizer<AuonOptions> {
  static override className = 'AuonOptimizer';
  constructor(config: AuonOptions & AdapterOptions = {}) {
    super('auon', config);
  }
}
tf.serialization.registerClass(AuonOptimizer);

/** Hybrid-AuON (Newton-Schulz, then the cosh brake) as a tf.Optimizer. */
export class HybridAuonOptimizer extends OptlabTfOptimizer<HybridAuonOptions> {
  static override className = 'HybridAuonOptimizer';
  constructor(config: HybridAuonOptions & AdapterOptions = {}) {
    super('hybrid-auon', config);
  }
}
tf.serialization.registerClass(HybridAuonOptimizer);

/** REG (derived from spec §9.3: momentum, row-and-column scaling, RMS 0.2; AdamW for the rest) as a tf.Optimizer. */
export class RegOptimizer extends OptlabTfOptimizer<RegOptions> {
  static override className = 'RegOptimizer';
  constructor(config: RegOptions & AdapterOptions = {}) {
    super('reg', config);
  }
}
tf.serialization.registerClass(RegOptimizer);

/** Shampoo (Meta Distributed Shampoo defaults: eigendecomposition roots, 1-D parameters with their own factor) as a tf.Optimizer. */
export class ShampooOptimizer extends OptlabTfOptimizer<ShampooOptions> {
  static override className = 'ShampooOptimizer';
  constructor(config: ShampooOptions & AdapterOptions = {}) {
    super('shampoo', config);
  }
}
tf.serialization.registerClass(ShampooOptimizer);
