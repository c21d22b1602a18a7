import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer, type OptimizerDef, type Parameter, type Role } from '../../optimizers/core.js';
import { orthogonalize } from '../../optimizers/linalg.js';
import { mars } from '../../optimizers/mars.js';
import { MarsOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('mars', { make: () => mars({ lr: 0.05, lr1d: 0.05 }), makeTf: () => new MarsOptimizer({ lr: 0.01, lr1d: 0.01 }) });
itBehavesLikeOptimizer('mars-lion, conv to MARS', { make: () => mars({ lr: 0.02, lr1d: 0.05, marsType: 'mars-lion', conv: 'mars', weightDecay: 0.01 }) });
itBehavesLikeOptimizer('mars-shampoo, optimize1d, amsgrad', { make: () => mars({ lr: 0.05, marsType: 'mars-shampoo', optimize1d: true, amsgrad: true }) });

itReplaysFixtures('mars');
// MARS is elementwise apart from a whole-tensor norm: the transposed trajectory is the same trajectory.
itReplaysWideFixtures('mars');

function param(name: string, role: Role, shape: number[], data: ArrayLike<number>): Parameter {
  return { name, role, variable: tf.variable(tf.tensor(Float32Array.from(data), shape), true, `mars_test/${name}/${Math.random()}`) };
}

/** Runs `def` on fresh copies of the parameters, one gradient map per step; returns the final values. */
function runSteps(def: OptimizerDef, specs: { name: string; role: Role; shape: number[]; data: Float32Array }[], grads: Record<string, Float32Array>[]): Float32Array[] {
  const ps = specs.map((s) => param(s.name, s.role, s.shape, s.data));
  const opt = buildOptimizer(ps, def);
  for (const g of grads) {
    const m = new Map(ps.map((p) => [p.name, tf.tensor(g[p.name], p.variable.shape)] as [string, tf.Tensor]));
    opt.step(m);
    for (const t of m.values()) t.dispose();
  }
  opt.dispose();
  const out = ps.map((p) => p.variable.dataSync() as Float32Array);
  for (const p of ps) p.variable.dispose();
  return out;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(1e-6, Math.abs(b[i])));
  return m;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

describeBackends('mars', () => {
  it('with gamma = 0 equals AdamW (decoupled wd) when the per-tensor clip does not fire', () => {
    // gamma = 0: c_t = g_t; ||g|| = 0.05 * sqrt(48) / sqrt(3) ~ 0.2 < 1, so no clipping. MARS folds the decay as
    // W - lr (wd W + D), AdamW as W (1 - lr wd) - lr D: the same number up to float32 rounding.
    const spec = [{ name: 'w', role: 'matrix' as Role, shape: [6, 8], data: seeded(48, 3) }];
    const grads = [1, 2, 3, 4, 5].map((k) => ({ w: seeded(48, 10 + k).map((x) => 0.05 * x) }));
    const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const [a] = runSteps(mars({ ...hyper, gamma: 0 }), spec, grads);
    const [b] = runSteps(adamw(hyper), spec, grads);
    expect(maxRelDiff(a, b)).to.be.lessThan(1e-5);
    // and gamma > 0 is a different method on the same data
    const [c] = runSteps(mars({ ...hyper, gamma: 0.025 }), spec, grads);
    expect(maxRelDiff(c, b)).to.be.greaterThan(1e-4);
  });

  it('step 1 uses c_1 = (1 + gamma b1/(1 - b1)) g_1 = 1.475 g_1 (last_grad starts at zero)', () => {
    // Defaults b1 = 0.95, gamma = 0.025: 1 + 0.025 * 19 = 1.475; m = (1 - b1) c_1 = 0.05 * 1.475 g = 0.07375 g.
    const g = seeded(12, 5).map((x) => 0.01 * x); // ||1.475 g|| < 1: no clipping
    const w = param('w', 'matrix', [3, 4], seeded(12, 6));
    const opt = buildOptimizer([w], mars());
    opt.step(new Map([['w', tf.tensor(g, [3, 4])]]));
    const s = opt.state();
    const m = s.get('w/m')!.dataSync();
    for (let i = 0; i < g.length; i++) expect(m[i]).to.be.closeTo(0.07375 * g[i], 1e-9);
    expect(Array.from(s.get('w/last_grad')!.dataSync())).to.deep.equal(Array.from(g));
    for (const t of s.values()) t.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it('clips the corrected gradient to unit norm per tensor', () => {
    // ||g|| >> 1, so c_1 = 1.475 g is rescaled to norm 1 and ||m|| = (1 - b1) * 1 = 0.05.
    const g = seeded(20, 8).map((x) => 10 * x);
    const w = param('w', 'matrix', [4, 5], seeded(20, 9));
    const opt = buildOptimizer([w], mars());
    opt.step(new Map([['w', tf.tensor(g, [4, 5])]]));
    const s = opt.state();
    const m = s.get('w/m')!.dataSync();
    expect(norm(m)).to.be.closeTo(0.05, 1e-7);
    for (let i = 0; i < g.length; i++) expect(m[i] / g[i]).to.be.closeTo((0.05 * 1) / norm(g), 1e-7);
    for (const t of s.values()) t.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it('exact mode reads g_prev from StepContext.previousGrads', () => {
    const w = param('w', 'matrix', [2, 3], seeded(6, 1));
    const opt = buildOptimizer([w], mars({ mode: 'exact' }));
    expect(opt.needsPreviousGrads).to.equal(true);
    const g1 = seeded(6, 2).map((x) => 0.01 * x);
    const g2 = seeded(6, 3).map((x) => 0.01 * x);
    const prev = seeded(6, 4).map((x) => 0.01 * x);
    const [t1, t2, tp] = [g1, g2, prev].map((x) => tf.tensor(x, [2, 3]));
    opt.step(new Map([['w', t1]])); // step 1 without previousGrads: g_prev = 0, as the reference
    opt.step(new Map([['w', t2]]), { previousGrads: new Map([['w', tp]]) });
    // m_2 = 0.95 * 0.05 * 1.475 g1 + 0.05 * (g2 + 0.475 (g2 - prev)) (no clipping: all norms << 1)
    const s = opt.state();
    const m = s.get('w/m')!.dataSync();
    for (let i = 0; i < 6; i++) expect(m[i]).to.be.closeTo(0.95 * 0.05 * 1.475 * g1[i] + 0.05 * (g2[i] + 0.475 * (g2[i] - prev[i])), 1e-9);
    expect(s.has('w/last_grad')).to.equal(false);
    expect(() => opt.step(new Map([['w', t2]]))).to.throw(/previousGrads for 'w'/);
    for (const t of [...s.values(), t1, t2, tp]) t.dispose();
    opt.dispose();
    w.variable.dispose();
    expect(() => new MarsOptimizer({ mode: 'exact' })).to.throw(/LayersModel.fit/);
  });

  it('with clipNorm, exact mode clips the previous gradients by their own global norm, as the current ones', () => {
    const w = param('w', 'matrix', [2, 3], seeded(6, 1));
    const opt = buildOptimizer([w], mars({ mode: 'exact' }), { clipNorm: 0.5 });
    const g1 = seeded(6, 2).map((x) => 10 * x);
    const g2 = seeded(6, 3).map((x) => 10 * x);
    const prev = seeded(6, 4).map((x) => 10 * x);
    const clip = (v: ArrayLike<number>) => {
      const a = Array.from(v);
      const n = Math.hypot(...a);
      return a.map((x) => (x * 0.5) / Math.max(n, 0.5));
    };
    const [c1, c2, cp] = [g1, g2, prev].map(clip);
    const [t1, t2, tp] = [g1, g2, prev].map((x) => tf.tensor(x, [2, 3]));
    opt.step(new Map([['w', t1]]));
    opt.step(new Map([['w', t2]]), { previousGrads: new Map([['w', tp]]) });
    // As the unclipped test above, on the clipped gradients (each set by its own norm; norms of c stay <= 1).
    const s = opt.state();
    const m = s.get('w/m')!.dataSync();
    for (let i = 0; i < 6; i++) expect(m[i]).to.be.closeTo(0.95 * 0.05 * 1.475 * c1[i] + 0.05 * (c2[i] + 0.475 * (c2[i] - cp[i])), 1e-6);
    for (const t of [...s.values(), t1, t2, tp]) t.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it('routes by rank: exactly-2-D tensors (embeddings too) to MARS, 1-D and 4-D to the internal AdamW with lr1d and weightDecay1d', () => {
    const ps = [
      param('emb', 'embedding', [5, 3], seeded(15, 1)),
      param('b', 'vector', [3], seeded(3, 2)),
      param('k', 'conv', [2, 2, 1, 3], seeded(12, 3)),
    ];
    const opt = buildOptimizer(ps, mars({ weightDecay: 0 }));
    const lines = opt.describe().split('\n');
    expect(lines.find((l) => l.startsWith('emb'))).to.match(/\smars\s+mars-adamw/);
    expect(lines.find((l) => l.startsWith('b '))).to.match(/adamw-1d.*wd=0\.1/);
    expect(lines.find((l) => l.startsWith('k '))).to.match(/adamw-1d/);
    // Internal AdamW, t = 1, lrScale 0.5: b <- b - 0.5 lr1d (0.1 b + g/(|g| + eps)) (bias correction cancels).
    const b0 = Array.from(ps[1].variable.dataSync());
    const g = [0.3, -0.2, 0.1];
    opt.step(new Map([['b', tf.tensor1d(g)]]), { lrScale: 0.5 });
    const b1 = ps[1].variable.dataSync();
    for (let i = 0; i < 3; i++) expect(b1[i]).to.be.closeTo(b0[i] - 0.5 * 3e-3 * (0.1 * b0[i] + Math.sign(g[i])), 1e-6);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
    const k = param('k', 'conv', [2, 2, 1, 3], seeded(12, 3));
    const convOpt = buildOptimizer([k], mars({ conv: 'mars' }));
    expect(convOpt.describe()).to.match(/\sconv\s.*\smars\s+mars-adamw/);
    convOpt.dispose();
    k.variable.dispose();
  });

  it('mars-lion steps by lr sign(m); mars-shampoo by lr NS5(m) sqrt(max(1, fan_out/fan_in)) (first steps)', () => {
    // Step 1 from m = 0: m = (1 - b1) c_1 with c_1 = 1.475 g (no clip), so sign(m) = sign(g) and NS5(m/(1 - b1)) = NS5(g)
    // (NS normalizes first). A [2, 8] optlab matrix is PyTorch's [8, 2]: rows/cols = fan_out/fan_in = 4, factor 2.
    const g = seeded(16, 12).map((x) => 0.01 * x);
    for (const [shape, factor] of [[[2, 8], 2], [[8, 2], 1]] as [number[], number][]) {
      const [lion] = runSteps(mars({ lr: 0.1, marsType: 'mars-lion' }), [{ name: 'w', role: 'matrix', shape, data: new Float32Array(16) }], [{ w: g }]);
      for (let i = 0; i < 16; i++) expect(lion[i]).to.be.closeTo(-0.1 * Math.sign(g[i]), 1e-7);
      const [sh] = runSteps(mars({ lr: 0.1, marsType: 'mars-shampoo' }), [{ name: 'w', role: 'matrix', shape, data: new Float32Array(16) }], [{ w: g }]);
      const ns = tf.tidy(() => orthogonalize(tf.tensor(g, shape), { eps: 1e-8 }).dataSync());
      for (let i = 0; i < 16; i++) expect(sh[i], `shape ${shape}`).to.be.closeTo(-0.1 * factor * ns[i], 1e-5);
    }
  });

  it('rejects unknown options and bad enum values', () => {
    expect(() => mars({ gama: 0.1 } as never)).to.throw(/unknown option 'gama'/);
    expect(() => mars({ marsType: 'mars-sgd' as never })).to.throw(/marsType/);
  });
});
