/**
 * Roles of a tfjs LayersModel's trainable weights, from the model's layers, as the methods' own
 * guidance routes them ("Use on roles" in optimizers/muon.ts and the other method files;
 * `KellerJordan/Muon: README.md`: the output layer and embeddings go to AdamW, hidden matrices and
 * conv filters to Muon; its advice to keep a ConvNet's first conv layer on AdamW is left to a `roles`
 * override, e.g. `{ 'conv2d_Conv2D1/kernel': 'vector' }`):
 *
 * - `embedding`: the `embeddings` of an Embedding layer;
 * - `head`: the kernel of the model's output layer when that is a Dense layer, found by walking back
 *   from each model output through layers without trainable weights (Activation, Dropout, Flatten,
 *   Reshape, ...), so `dense -> softmax activation` still makes the dense layer the head;
 * - `vector`: every weight of rank < 2 (biases, BatchNormalization and LayerNormalization gains and
 *   offsets) and PReLU's alphas;
 * - `conv`: kernels of rank 3 and 4 (Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D);
 * - `matrix`: the other rank-2 kernels (hidden Dense layers, LSTM/GRU kernels and recurrent kernels).
 *
 * The optimizer learns its model from `LayersModel.compile` (`installCompileHook`); without one, roles
 * come from names and ranks (`inferRole` in optimizers/tfjs.ts).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { Role } from './core.js';

/** The parts of a tfjs-layers Layer read here. */
interface LayerLike {
  name: string;
  getClassName(): string;
  trainableWeights: { name: string; shape: readonly (number | null)[] }[];
  inboundNodes?: { inboundLayers: LayerLike[] }[];
  layers?: LayerLike[];
  outputLayers?: LayerLike[];
}

/** The parts of a LayersModel read here (tfl.LayersModel has them). */
export interface ModelLike {
  layers: LayerLike[];
  outputLayers?: LayerLike[];
  trainableWeights: { name: string; shape: readonly (number | null)[]; read(): unknown }[];
}

/** Every layer, nested models flattened, in the model's order. */
function flatLayers(layers: readonly LayerLike[]): LayerLike[] {
  return layers.flatMap((l) => (Array.isArray(l.layers) ? [l, ...flatLayers(l.layers)] : [l]));
}

/** The layer that computes an output: back from it through layers without weights, while the path is single. */
function producer(layer: LayerLike): LayerLike {
  let l = layer;
  for (let hops = 0; hops < 64; hops++) {
    if (Array.isArray(l.layers) && l.outputLayers && l.outputLayers.length === 1) {
      l = l.outputLayers[0];
      continue;
    }
    if (l.trainableWeights.length > 0) return l;
    const inbound = l.inboundNodes?.[0]?.inboundLayers ?? [];
    if (inbound.length !== 1) return l;
    l = inbound[0];
  }
  return l;
}

/** Names of the Dense layers that produce the model's outputs. */
export function headLayers(model: ModelLike): Set<string> {
  const heads = new Set<string>();
  for (const out of model.outputLayers ?? []) {
    const p = producer(out);
    if (p.getClassName() === 'Dense') heads.add(p.name);
  }
  return heads;
}

/**
 * Role of every trainable weight of `model`, keyed by variable name (as tfjs passes gradients). Name
 * patterns in `overrides` win, as in `inferRole`.
 */
export function modelRoles(model: ModelLike, overrides: Record<string, Role> = {}): Map<string, Role> {
  const heads = headLayers(model);
  const roles = new Map<string, Role>();
  const patterns = Object.entries(overrides).map(([p, r]) => [new RegExp(p), r] as const);
  for (const layer of flatLayers(model.layers)) {
    if (Array.isArray(layer.layers)) continue;
    const cls = layer.getClassName();
    for (const w of layer.trainableWeights) {
      const rank = w.shape.length;
      let role: Role;
      const override = patterns.find(([re]) => re.test(w.name));
      if (override) role = override[1];
      else if (cls === 'Embedding') role = 'embedding';
      else if (rank < 2 || cls === 'PReLU') role = 'vector';
      else if (cls === 'Dense' && heads.has(layer.name)) role = 'head';
      else if (rank >= 3) role = 'conv';
      else role = 'matrix';
      roles.set(w.name, role);
    }
  }
  return roles;
}

/** An optimizer that wants to know the model it is compiled into. */
interface ModelAware {
  useModel(model: ModelLike): void;
}

/** Process-wide mark: this module may be loaded twice (ESM and CommonJS); compile is wrapped once. */
const HOOKED = Symbol.for('optlab.tfjs_roles.compileHook');

/**
 * Makes `LayersModel.compile` tell an optimizer with a `useModel` method which model it trains
 * (Sequential.compile goes through it too, and so does `tf.loadLayersModel` with a training config).
 * Idempotent.
 */
export function installCompileHook(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[HOOKED]) return;
  g[HOOKED] = true;
  const proto = tfl.LayersModel.prototype as unknown as { compile(args: { optimizer?: unknown }): void };
  const original = proto.compile;
  proto.compile = function (this: ModelLike, args: { optimizer?: unknown }) {
    original.call(this, args);
    const opt = args?.optimizer as Partial<ModelAware> | undefined;
    if (opt && typeof opt === 'object' && typeof opt.useModel === 'function') opt.useModel(this);
  };
}
