/**
 * Maps the `dion-official-*` fixtures (microsoft/dion `dion_reference.Dion` @ 0a059a4, single device;
 * test/fixtures/README.md) onto `dion()` options. The reference's initial Q (torch.randn at the first step,
 * recorded in `steps[0].draws`) is handed to optlab's Dion; its rcqr sketches are not recorded and come
 * from optlab's seeded source (the fixture's tolerance covers the sketch, which changes only rounding).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Fixture, ReferenceCase } from './fixture.js';
import type { ReferenceMapping } from './mapping_helpers.js';
import type { Role } from '../optimizers/core.js';
import { resolveOptions } from '../optimizers/core.js';
import { DION_DEFAULTS, dionDef, dionLayout, type DionOptions } from '../optimizers/dion.js';
import { seededRandom, type RandomSource } from '../optimizers/random.js';

const KNOWN = ['params', 'rank_fraction', 'rank_multiple_of', 'lr', 'mu', 'beta1', 'beta2', 'weight_decay', 'epsilon', 'oversample', 'algorithm', 'step'];

/** Dion(lr, mu, betas, weight_decay, epsilon, rank_fraction, rank_multiple_of, power_iters, qr_method, cqr_warmup_steps, rcqr_oversample) and its 'adamw'/'lion' groups -> options and roles. */
export function dionFromReference(fx: ReferenceCase): ReferenceMapping<DionOptions> {
  const groups = fx.resolved_param_groups;
  const main = groups.filter((g) => g.algorithm === 'dion');
  const scalar = groups.filter((g) => g.algorithm !== 'dion');
  if (main.length !== 1) throw new Error(`dion: fixture '${fx.name}' has ${main.length} 'dion' param groups; one is supported`);
  if (scalar.length > 1) throw new Error(`dion: fixture '${fx.name}' has ${scalar.length} scalar param groups; at most one is supported`);
  for (const g of groups) for (const k of Object.keys(g)) if (!KNOWN.includes(k)) throw new Error(`Dion param group key '${k}' is not mapped`);
  const g = main[0];
  const a = fx.resolved_attributes ?? {};
  const options: Partial<DionOptions> = {
    lr: g.lr,
    mu: g.mu,
    beta1: g.beta1,
    beta2: g.beta2,
    weightDecay: g.weight_decay,
    epsilon: g.epsilon,
    rankFraction: g.rank_fraction,
    rankMultipleOf: g.rank_multiple_of,
    rcqrOversample: g.oversample,
    powerIters: a.power_iters ?? 1,
    qrMethod: a.qr_method ?? 'rcqr',
    cqrWarmupSteps: a.cqr_warmup_steps ?? 150,
  };
  const roles: Record<string, Role> = {};
  for (const n of g.params as string[]) {
    if (fx.params[n].shape.length !== 2) throw new Error(`dion: '${n}' in the 'dion' group is not 2-D (the reference raises)`);
    roles[n] = 'matrix';
  }
  if (scalar.length) {
    const s = scalar[0];
    if (s.algorithm !== 'adamw' && s.algorithm !== 'lion') throw new Error(`dion: scalar algorithm '${s.algorithm}' is not mapped`);
    if (s.beta1 !== g.beta1 || s.beta2 !== g.beta2 || s.epsilon !== g.epsilon) throw new Error(`dion: fixture '${fx.name}' gives its ${s.algorithm} group other betas or epsilon than the dion group; optlab shares them`);
    options.scalarAlgorithm = s.algorithm;
    if (s.lr !== g.lr) options.scalarLr = s.lr;
    if (s.weight_decay !== g.weight_decay) options.scalarWeightDecay = s.weight_decay;
    for (const n of s.params as string[]) roles[n] = fx.params[n].shape.length < 2 ? 'vector' : 'head';
  }
  return {
    options,
    roles,
    build: (opts) => {
      const o = resolveOptions<Required<DionOptions>>('dion', DION_DEFAULTS, opts);
      return dionDef(o, initialQFrom(fx as Fixture, o, g.params as string[]));
    },
  };
}

/** Serves the recorded initial Q of each Dion parameter (in the reference's draw order) and seeded draws for everything else. */
function initialQFrom(fx: Fixture, o: Required<DionOptions>, names: string[]): RandomSource {
  const draws = ((fx.steps[0] as { draws?: { fn: string; shape: number[]; data: number[] }[] }).draws ?? []).slice();
  const q = new Map<string, { shape: number[]; data: number[] }>();
  names.forEach((n, index) => {
    const d = draws.shift();
    if (!d || d.fn !== 'randn') throw new Error(`fixture ${fx.name}: no recorded initial Q for '${n}'`);
    // optlab's [in, out] view of a PyTorch [out, in] weight; the working orientation and Q are the reference's.
    const [r0, c0] = fx.params[n].shape;
    const lay = dionLayout([c0, r0], o);
    if (d.shape[0] !== lay.n || d.shape[1] !== lay.r) throw new Error(`fixture ${fx.name}: the reference's Q for '${n}' is [${d.shape}], optlab's would be [${lay.n}, ${lay.r}]`);
    q.set(`#${index}/Q@init`, d);
  });
  const seeded = seededRandom(o.seed);
  return {
    normal: (key, shape) => {
      const d = q.get(key);
      if (!d) return seeded.normal(key, shape);
      return tf.tensor(Float32Array.from(d.data, Math.fround), shape, 'float32');
    },
    uniform: (key) => seeded.uniform(key),
  };
}
