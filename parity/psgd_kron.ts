/**
 * Maps the `psgd-kron-official-*` fixtures (lixilinx/psgd_torch `KWNS4` @ a8616f1; test/fixtures/README.md)
 * onto `psgdKron()` options, and hands optlab's PSGD-Kron the reference's own random draws: the fixture
 * records every torch.rand / randn / randn_like result of a step in call order (`steps[i].draws`), which
 * this file reads in the reference's order (the group's update coin; per parameter the damping noise, then
 * per dense factor in dimension order the starts of the two spectral-norm bounds, then the balancing coin)
 * and serves under optlab's keys (optimizers/psgd_kron.ts), transposed where optlab's [in, out] layout
 * transposes the parameter. A draw optlab asks for that the reference did not make, or with another
 * shape, throws, naming it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Fixture, ReferenceCase } from './fixture.js';
import { rolesByRank, singleReferenceGroup, type ReferenceMapping } from './mapping_helpers.js';
import { resolveOptions } from '../optimizers/core.js';
import { PSGD_KRON_DEFAULTS, psgdKronDef, psgdKronLayout, type PsgdKronOptions } from '../optimizers/psgd_kron.js';
import type { RandomSource } from '../optimizers/random.js';

const KNOWN = ['params', 'whiten_grad', 'preconditioner_max_size', 'preconditioner_max_skew', 'preconditioner_init_scale', 'lr_params', 'lr_preconditioner', 'betaL', 'damping', 'momentum', 'weight_decay', 'decoupled_weight_decay', 'grad_clip_max_amps', 'preconditioner_update_probability', 'preconditioner_dtype', 'update_preconditioner_first', 'resync_every'];

interface Draw {
  fn: 'rand' | 'randn' | 'randn_like';
  shape: number[];
  data: number[];
}

/** A RandomSource serving recorded draws by key; throws on a key or shape the reference did not draw. */
export function recordedRandom(draws: ReadonlyMap<string, { shape: number[]; data: Float32Array }>, what: string): RandomSource {
  const get = (key: string) => {
    const d = draws.get(key);
    if (!d) throw new Error(`${what}: optlab draws '${key}', which the reference did not draw`);
    return d;
  };
  return {
    normal(key, shape) {
      const d = get(key);
      if (!tf.util.arraysEqual(d.shape, shape)) throw new Error(`${what}: optlab draws '${key}' with shape [${shape}], the reference drew [${d.shape}]`);
      return tf.tensor(d.data, shape, 'float32');
    },
    uniform: (key) => get(key).data[0],
  };
}

function transpose2d(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/** The recorded draws of a fixture under optlab's keys (see the file comment). */
function psgdDraws(fx: Fixture, o: Required<PsgdKronOptions>): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const names = fx.resolved_param_groups[0].params as string[];
  fx.steps.forEach((step, i) => {
    const t = i + 1;
    const list = ((step as { draws?: Draw[] }).draws ?? []).slice();
    const take = (fn: Draw['fn'], what: string): Draw => {
      const d = list.shift();
      if (!d || d.fn !== fn) throw new Error(`fixture ${fx.name} step ${t}: expected the reference's ${what} (${fn}), found ${d ? d.fn : 'no draw'}`);
      return d;
    };
    const coin = take('rand', 'update coin');
    out.set(`psgd-kron/update@${t}`, { shape: [], data: Float32Array.from(coin.data) });
    if (!(coin.data[0] < o.preconditionerUpdateProbability)) return;
    names.forEach((pname, index) => {
      const name = `#${index}`;
      const torchShape = fx.params[pname].shape;
      const lay = psgdKronLayout(torchShape, o);
      const two = lay.work.length === 2;
      const noise = take('randn_like', `damping noise of ${pname}`);
      out.set(`${name}/damping@${t}`, two ? { shape: [lay.work[1], lay.work[0]], data: transpose2d(noise.data, lay.work[0], lay.work[1]) } : { shape: lay.work, data: Float32Array.from(noise.data) });
      lay.dense.forEach((dense, k) => {
        if (!dense) return;
        // optlab sees a PyTorch [out, in] matrix as [in, out]: torch's dimension k is optlab's 1 - k.
        const ok = two ? 1 - k : k;
        for (const purpose of ['norm', 'procrustes']) {
          const d = take('randn', `${purpose} bound start of ${pname} factor ${k}`);
          out.set(`${name}/Q${ok}.${purpose}@${t}`, { shape: d.shape, data: Float32Array.from(d.data) });
        }
      });
      const balance = take('rand', `balancing coin of ${pname}`);
      out.set(`${name}/balance@${t}`, { shape: [], data: Float32Array.from(balance.data) });
    });
    if (list.length) throw new Error(`fixture ${fx.name} step ${t}: ${list.length} recorded draws left over after parsing the reference's order`);
  });
  return out;
}

/** KWNS4(whiten_grad, preconditioner_max_size/max_skew/init_scale, lr_params, lr_preconditioner, betaL, damping, momentum, weight_decay, decoupled_weight_decay, grad_clip_max_amps, preconditioner_update_probability, preconditioner_dtype, update_preconditioner_first) -> options; the build replays the fixture's draws. */
export function psgdKronFromReference(fx: ReferenceCase): ReferenceMapping<PsgdKronOptions> {
  const g = singleReferenceGroup(fx);
  for (const k of Object.keys(g)) if (!KNOWN.includes(k)) throw new Error(`KWNS4 param group key '${k}' is not mapped`);
  // optlab computes in float32. A bfloat16 fixture (KWNS4's literal default) says so in its tolerance:
  // atol is 2x the gap between the reference's bfloat16 and float32 runs on the same draws.
  const dtype = String(g.preconditioner_dtype ?? 'None');
  const bf16Tolerance = /bfloat16/.test(String((fx as Fixture).tolerance?.basis ?? ''));
  if (dtype !== 'None' && dtype !== 'torch.float32' && !(dtype === 'torch.bfloat16' && bf16Tolerance)) {
    throw new Error(`KWNS4 preconditioner_dtype ${dtype} is not mapped (optlab's PSGD-Kron computes in float32; a bfloat16 fixture needs a bfloat16-vs-float32 tolerance)`);
  }
  const options: Partial<PsgdKronOptions> = {
    lr: g.lr_params,
    lrPreconditioner: g.lr_preconditioner,
    betaL: g.betaL,
    damping: g.damping,
    momentum: g.momentum,
    weightDecay: g.weight_decay,
    decoupledWeightDecay: g.decoupled_weight_decay,
    whitenGrad: g.whiten_grad,
    gradClipMaxAmp: g.grad_clip_max_amps[0],
    gradClipMaxElement: g.grad_clip_max_amps[1],
    preconditionerUpdateProbability: g.preconditioner_update_probability,
    updatePreconditionerFirst: g.update_preconditioner_first,
    preconditionerMaxSize: g.preconditioner_max_size === 'inf' ? -1 : g.preconditioner_max_size,
    preconditionerMaxSkew: g.preconditioner_max_skew === 'inf' ? 1e300 : g.preconditioner_max_skew,
    preconditionerInitScale: g.preconditioner_init_scale,
  };
  return {
    options,
    roles: rolesByRank(fx),
    build: (opts) => {
      const o = resolveOptions<Required<PsgdKronOptions>>('psgd-kron', PSGD_KRON_DEFAULTS, opts);
      return psgdKronDef(o, recordedRandom(psgdDraws(fx as Fixture, o), `fixture ${fx.name}`));
    },
  };
}
