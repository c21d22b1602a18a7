/**
 * Muon: momentum orthogonalized by Newton-Schulz (Jordan et al. 2024, kellerjordan.github.io/posts/muon;
 * Moonlight scaling from Liu et al., arXiv 2502.16982). Registry names 'muon' and 'muon-moonlight'.
 *
 *   'muon' (KellerJordan/Muon muon.py):   M <- lerp(M, G, 1-b);  U = lerp(G, M, b) (nesterov) or M
 *                                         W <- W (1 - lr wd) - lr sqrt(max(1, fan_out/fan_in)) NS5(U)
 *   'muon-moonlight' (Moonlight toy_train.py): M <- b M + G;  U = G + b M (nesterov) or M
 *                                         W <- W (1 - lr wd) - lr 0.2 sqrt(max(fan_in, fan_out)) NS5(U)
 *
 * Non-matrix parameters (roles embedding, head, vector) get an auxiliary AdamW, as MuonWithAuxAdam
 * does: for 'muon' with its own lr, betas, eps and wd (eps after the bias-corrected sqrt(v), Keller's
 * adam_update); for 'muon-moonlight' with the Muon lr and wd and eps added to the uncorrected sqrt(v).
 *
 * Differs from reference: Newton-Schulz runs in float32 (the references cast to bfloat16; the `fp32`
 * fixtures patch that cast away). Conv kernels [kh, kw, in, out] are orthogonalized and scaled on their
 * (kh*kw*in) x out view; Keller's code scales a 4-D gradient by sqrt(max(1, kh/kw)) (it reads
 * `grad.size(-2) / grad.size(-1)` of the 4-D tensor), which is 1 for square kernels, where optlab uses
 * sqrt(max(1, out/(kh*kw*in))); Moonlight asserts 2-D parameters. A parameter without a gradient keeps
 * its state and value (Keller substitutes a zero gradient, which decays momentum and applies wd; Moonlight
 * skips it, as optlab does). Routing is by role, where the references take hand-made parameter groups.
 * Use on roles: matrix and conv (Muon); embedding, head, vector (auxiliary AdamW).
 *
 * Warnings: NS output singular values lie in about [0.68, 1.13], not exactly 1 (docs/linalg.md, "Newton-Schulz"). Keller's lr
 * is in units of spectral norm per update, so it does not transfer from AdamW; Moonlight's does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { auxAdamW, type AuxAdamOptions, type AuxAdamWOptions } from './adamw.js';
import { chain, decoupledWeightDecay, defineOptimizer, exactSign, route, scaleByLr, weightDecayTransform, type OptimizerDef, type Parameter, type Role, type State, type Transform } from './core.js';
import { svMetrics } from './diagnostics.js';
import { orthogonalize, orthogonalizeMany, shapeScale, type ShapeScaling } from './linalg.js';
import { momentumStep, type MomentumForm } from './momentum.js';

/**
 * Whether Muon runs one batched Newton-Schulz over the same-shape matrices of a step (Transform.updateMany)
 * instead of one per matrix. 'auto' batches only where it measured faster: the tensorflow backend
 * (tfjs-node), whose rank-3 BatchMatMul is multi-threaded. On wasm with optlab's native kernels the
 * per-matrix products are split over the kernels' own threads and beat the batched form; plain wasm's
 * rank-3 BatchMatMul is a slow path; the cpu backend was not measured, so 'auto' leaves it per matrix.
 * `optlab bench --only ns-batching` (2 cores, load average 0-1.5, 2026-11-30), a Muon step on the
 * 2-layer GPT's parameters batched against per matrix: 1.16x on wasm-native, 8.4x on plain wasm,
 * 0.60x on tensorflow (bench/results/bench-partial.md). Batched and per-matrix results differ by rounding only.
 */
export type BatchNewtonSchulz = 'auto' | 'always' | 'never';
const BATCH_MODES: readonly BatchNewtonSchulz[] = ['auto', 'always', 'never'];

/** Resolves a BatchNewtonSchulz setting on the backend active now. */
export function batchesNewtonSchulz(mode: BatchNewtonSchulz): boolean {
  return mode === 'always' || (mode === 'auto' && tf.getBackend() === 'tensorflow');
}

/** Options of Keller's Muon ('muon'). Auxiliary AdamW: adamLr 3e-4, adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-10 (after the bias-corrected sqrt(v)), adamWeightDecay 0. */
export interface MuonOptions extends AuxAdamWOptions {
  /** Learning rate of the matrix path: the update's spectral norm is lr times the shape factor of `scaling` (Keller's by default). @default 0.02 */
  lr?: number;
  /** Momentum coefficient b. @default 0.95 */
  momentum?: number;
  /** Orthogonalize the Nesterov look-ahead lerp(G, M, b) instead of M. @default true */
  nesterov?: boolean;
  /** Newton-Schulz iterations. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
  /** One batched Newton-Schulz over same-shape matrices: 'auto' (where measured faster: the tensorflow backend), 'always', 'never'. @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
  /** Shape factor: 'keller' sqrt(max(1, fan_out/fan_in)) or 'moonlight' 0.2 sqrt(max(fan_in, fan_out)). @default 'keller' */
  scaling?: ShapeScaling;
  /** Decoupled weight decay of the matrix path, multiplied by the unscaled lr. @default 0 */
  weightDecay?: number;
  /** Cautious weight decay on the matrix path (arXiv 2510.12402): decay only where the update and the weight agree in sign. @default false */
  cautiousWeightDecay?: boolean;
}

/** Options of Moonlight's Muon ('muon-moonlight'); its AdamW shares lr and weightDecay: adamBeta1 0.9, adamBeta2 0.95, adamEps 1e-8 (added to the uncorrected sqrt(v), Moonlight's AdamW backup). */
export interface MuonMoonlightOptions extends AuxAdamOptions {
  /** Learning rate of both paths; the matrix path is scaled by 0.2 sqrt(max(fan_in, fan_out)). @default 1e-3 */
  lr?: number;
  /** Decoupled weight decay of both paths, multiplied by the unscaled lr. @default 0.1 */
  weightDecay?: number;
  /** Momentum coefficient b (sum form M <- b M + G). @default 0.95 */
  momentum?: number;
  /** Orthogonalize G + b M instead of M. @default true */
  nesterov?: boolean;
  /** Newton-Schulz iterations. @default 5 */
  nsSteps?: number;
  /** Newton-Schulz coefficients (linalg.ts). @default 'classic' */
  nsCoefficients?: 'classic' | 'polar-express';
  /** One batched Newton-Schulz over same-shape matrices: 'auto' (where measured faster: the tensorflow backend), 'always', 'never'. @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
}

export const MUON_DEFAULTS: Required<MuonOptions> = {
  lr: 0.02, momentum: 0.95, nesterov: true, nsSteps: 5, nsCoefficients: 'classic', batchNewtonSchulz: 'auto', scaling: 'keller', weightDecay: 0, cautiousWeightDecay: false,
  adamLr: 3e-4, adamBeta1: 0.9, adamBeta2: 0.95, adamEps: 1e-10, adamWeightDecay: 0,
};

export const MUON_MOONLIGHT_DEFAULTS: Required<MuonMoonlightOptions> = {
  lr: 1e-3, weightDecay: 0.1, momentum: 0.95, nesterov: true, nsSteps: 5, nsCoefficients: 'classic', batchNewtonSchulz: 'auto', adamBeta1: 0.9, adamBeta2: 0.95, adamEps: 1e-8,
};

/** Settings of Muon's matrix direction (momentum, NS5, shape factor), without lr or weight decay. */
export interface MuonDirectionOptions {
  momentum: number;
  nesterov: boolean;
  momentumForm: MomentumForm;
  nsSteps: number;
  nsCoefficients: 'classic' | 'polar-express';
  scaling: ShapeScaling;
  /** @default 'auto' */
  batchNewtonSchulz?: BatchNewtonSchulz;
  /** Orthogonalize sign(direction) instead of the direction (AdaMuon, arXiv 2507.11005). @default false */
  signBeforeNs?: boolean;
  /** Method name in errors (a parameter that is not a matrix). @default 'muon' */
  method?: string;
}

/** Throws unless the parameter has a matrix view (rank >= 2); names the method and the fix. */
export function requireMatrix(method: string, p: Parameter): void {
  if (p.variable.rank < 2) throw new Error(`${method}: parameter '${p.name}' has role '${p.role}' but shape [${p.variable.shape}]; give 1-D parameters the role 'vector'`);
}

/**
 * Muon's matrix direction shapeScale * NS5(momentum direction), with the slot `momentum`. Its
 * `updateMany` (same-shape parameters) runs one batched Newton-Schulz when `batchNewtonSchulz` says so.
 */
export function scaleByMuon(o: MuonDirectionOptions): Transform {
  const ns = { steps: o.nsSteps, coefficients: o.nsCoefficients };
  const batch = o.batchNewtonSchulz ?? 'auto';
  const direction = (g: tf.Tensor, s: State): tf.Tensor => {
    const m = momentumStep(s.momentum, g, o.momentum, o.momentumForm, o.nesterov);
    s.momentum.assign(m.buffer);
    return o.signBeforeNs ? exactSign(m.direction) : m.direction;
  };
  const update: Transform['update'] = (g, s, p, ctx) => {
    const u = orthogonalize(direction(g, s), ns);
    ctx.probe?.singularValues(p, 'ns', u);
    return tf.mul(u, shapeScale(p.variable.shape, o.scaling));
  };
  return {
    name: 'muon',
    diagnostics: svMetrics('ns'),
    init(p, slot) {
      requireMatrix(o.method ?? 'muon', p);
      return { momentum: slot('momentum', 'zeros') };
    },
    update,
    updateMany(items, ctx) {
      if (!batchesNewtonSchulz(batch)) return items.map((i) => update(i.u, i.s, i.p, ctx));
      // Items share one shape (buildOptimizer groups them so), hence one shape factor.
      const scale = shapeScale(items[0].p.variable.shape, o.scaling);
      return orthogonalizeMany(items.map((i) => direction(i.u, i.s)), ns).map((u, k) => {
        ctx.probe?.singularValues(items[k].p, 'ns', u);
        return tf.mul(u, scale);
      });
    },
    describe: () => `muon(b=${o.momentum},${o.momentumForm}${o.nesterov ? ',nesterov' : ''}${o.signBeforeNs ? ',sign' : ''},ns=${o.nsSteps}${o.nsCoefficients === 'classic' ? '' : `,${o.nsCoefficients}`},scale=${o.scaling})`,
  };
}

/** Checks the option values a type check cannot (enums, ranges). */
export function checkMuonOptions(method: string, o: { momentum: number; nsSteps: number; nsCoefficients: string; scaling?: string; batchNewtonSchulz?: string }): void {
  if (!(o.momentum >= 0 && o.momentum < 1)) throw new Error(`${method}: momentum must be in [0, 1), got ${o.momentum}`);
  if (!Number.isInteger(o.nsSteps) || o.nsSteps < 1) throw new Error(`${method}: nsSteps must be a positive integer, got ${o.nsSteps}`);
  if (o.nsCoefficients !== 'classic' && o.nsCoefficients !== 'polar-express') throw new Error(`${method}: nsCoefficients must be 'classic' or 'polar-express', got '${o.nsCoefficients}'`);
  if (o.scaling !== undefined && o.scaling !== 'keller' && o.scaling !== 'moonlight') throw new Error(`${method}: scaling must be 'keller' or 'moonlight', got '${o.scaling}'`);
  if (o.batchNewtonSchulz !== undefined) checkBatchNewtonSchulz(method, o.batchNewtonSchulz);
}

/** Throws unless `mode` is a BatchNewtonSchulz setting, naming the method. */
export function checkBatchNewtonSchulz(method: string, mode: string): void {
  if (!BATCH_MODES.includes(mode as BatchNewtonSchulz)) throw new Error(`${method}: batchNewtonSchulz must be ${BATCH_MODES.map((m) => `'${m}'`).join(', ')}, got '${mode}'`);
}

const MUON_ROLES: readonly Role[] = ['matrix', 'conv'];
const AUX_ROLES: readonly Role[] = ['embedding', 'head', 'vector'];

/** Muon's routing table: matrix and conv to `matrix`, every other role to `aux`. */
export function muonRoutes(label: string, matrix: Transform, aux: Transform): OptimizerDef {
  return route({ label, roles: MUON_ROLES, transform: matrix }, { label: 'adamw', roles: AUX_ROLES, transform: aux });
}

function buildMuon(o: Required<MuonOptions>): OptimizerDef {
  checkMuonOptions('muon', o);
  const matrix = chain(scaleByMuon({ ...o, momentumForm: 'ema' }), weightDecayTransform(o.weightDecay, o.lr, o.cautiousWeightDecay), scaleByLr(o.lr));
  const aux = auxAdamW(o, o.adamLr, o.adamWeightDecay, 'corrected');
  return muonRoutes('muon', matrix, aux);
}

function buildMuonMoonlight(o: Required<MuonMoonlightOptions>): OptimizerDef {
  checkMuonOptions('muon-moonlight', o);
  const matrix = chain(scaleByMuon({ ...o, momentumForm: 'sum', scaling: 'moonlight' }), decoupledWeightDecay(o.weightDecay, o.lr), scaleByLr(o.lr));
  const aux = auxAdamW(o, o.lr, o.weightDecay, 'uncorrected');
  return muonRoutes('muon-moonlight', matrix, aux);
}

/** Keller's Muon with an auxiliary AdamW for non-matrix parameters. (cautiousWeightDecay came after recorded results: at its default it stays out of run ids.) */
export const muon = defineOptimizer('muon', MUON_DEFAULTS, buildMuon, { unhashedDefaults: ['cautiousWeightDecay'] });

/** Moonlight's Muon: sum momentum, 0.2 sqrt(max(m, n)) scaling, AdamW sharing lr and wd. */
export const muonMoonlight = defineOptimizer('muon-moonlight', MUON_MOONLIGHT_DEFAULTS, buildMuonMoonlight);
