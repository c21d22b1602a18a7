import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type OptimizerDef, type Parameter, type Role } from '../../optimizers/core.js';
import { marsM } from '../../optimizers/mars_m.js';
import { muon } from '../../optimizers/muon.js';
import { MarsMOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('mars-m', { make: () => marsM({ lr: 0.05, weightDecay: 0.01 }), makeTf: () => new MarsMOptimizer({ lr: 0.01, weightDecay: 0 }) });
itBehavesLikeOptimizer('mars-m efficient', { make: () => marsM({ lr: 0.05, weightDecay: 0.01, efficient: true }) });

itReplaysFixtures('mars-m');
// Moonlight scaling and NS are symmetric in (rows, cols): a transposed replay trajectory is the same trajectory.
itReplaysWideFixtures('mars-m');

function params(specs: { name: string; role: Role; shape: number[]; data: ArrayLike<number> }[]): Parameter[] {
  return specs.map((s) => ({ name: s.name, role: s.role, variable: tf.variable(tf.tensor(Float32Array.from(s.data), s.shape), true, `mars_m_test/${s.name}/${Math.random()}`) }));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const SHAPE: [number, number] = [6, 10];
const N = SHAPE[0] * SHAPE[1];
const W0 = seeded(N, 11);

/** Gradients of a drifting random walk, scaled by `scale` (||g||_F ~ 4.5 * scale for 60 entries in [-1, 1]). */
function gradSeq(steps: number, scale: number): Float32Array[] {
  const drift = seeded(N, 12);
  return Array.from({ length: steps }, (_, k) => seeded(N, 13 + k).map((v, i) => scale * (v + drift[i])));
}

/** Runs `def` on one matrix from W0 over `grads`; returns the final W. */
function runMatrix(def: OptimizerDef, grads: Float32Array[]): Float32Array {
  const [p] = params([{ name: 'W', role: 'matrix', shape: SHAPE, data: W0 }]);
  const opt = buildOptimizer([p], def);
  for (const g of grads) {
    const t = tf.tensor2d(g, SHAPE);
    opt.step(new Map([['W', t]]));
    t.dispose();
  }
  opt.dispose();
  const out = p.variable.dataSync() as Float32Array;
  p.variable.dispose();
  return out;
}

describeBackends('mars-m', () => {
  it('step 1: c_1 = (1 + gamma b/(1-b)) g_1 = 1.475 g_1 (last_grad = 0), clipped to norm 1, M_1 = (1-b) c_1', () => {
    for (const scale of [0.01, 1]) {
      const g = gradSeq(1, scale)[0];
      const [p] = params([{ name: 'W', role: 'matrix', shape: SHAPE, data: W0 }]);
      const opt = buildOptimizer([p], marsM());
      opt.step(new Map([['W', tf.tensor2d(g, SHAPE)]]));
      const c = Array.from(g, (v) => 1.475 * v);
      const norm = Math.sqrt(c.reduce((a, v) => a + v * v, 0));
      expect(norm > 1, `scale ${scale}: clip fires`).to.equal(scale === 1);
      const m1 = c.map((v) => (0.05 * v) / Math.max(1, norm));
      const state = opt.state();
      expect(maxAbsDiff(state.get('W/momentum')!.dataSync(), m1), `scale ${scale}`).to.be.lessThan(1e-7);
      expect(maxAbsDiff(state.get('W/last_grad')!.dataSync(), g)).to.equal(0);
      for (const t of state.values()) t.dispose();
      opt.dispose();
      p.variable.dispose();
    }
  });

  it('the efficient one-buffer form equals the unclipped approximate form', () => {
    const gs = gradSeq(8, 0.3); // ||c_t|| > 1 here, so the clipped form would differ
    const efficient = runMatrix(marsM({ lr: 0.01, efficient: true }), gs);
    const unclipped = runMatrix(marsM({ lr: 0.01, clipC: false }), gs);
    const clipped = runMatrix(marsM({ lr: 0.01 }), gs);
    expect(maxAbsDiff(efficient, unclipped)).to.be.lessThan(2e-6);
    expect(maxAbsDiff(clipped, unclipped)).to.be.greaterThan(1e-4);
  });

  it('clipping changes nothing while ||c_t|| <= 1', () => {
    const gs = gradSeq(6, 0.01);
    expect(maxAbsDiff(runMatrix(marsM({ lr: 0.01 }), gs), runMatrix(marsM({ lr: 0.01, clipC: false }), gs))).to.equal(0);
  });

  it('gamma = 1 - b (unclipped) is Keller nesterov Muon with Moonlight scaling', () => {
    // c_t = (1+b) g_t - b g_{t-1}; b M_{t-1} + (1-b) c_t = lerp(g_t, EMA_t, b) (docs/optimizers/mars_m.md).
    const gs = gradSeq(8, 0.3);
    const marsAsMuon = runMatrix(marsM({ lr: 0.01, weightDecay: 0.1, momentum: 0.9, gamma: 0.1, clipC: false }), gs);
    const kellerInput = runMatrix(muon({ lr: 0.01, weightDecay: 0.1, momentum: 0.9, scaling: 'moonlight', nesterov: true }), gs);
    expect(maxAbsDiff(marsAsMuon, kellerInput)).to.be.lessThan(2e-6);
    expect(maxAbsDiff(marsAsMuon, W0)).to.be.greaterThan(1e-3);
  });

  it('gamma = 0 (unclipped) is EMA Muon without nesterov, with Moonlight scaling', () => {
    const gs = gradSeq(8, 0.3);
    const a = runMatrix(marsM({ lr: 0.01, gamma: 0, clipC: false }), gs);
    const b = runMatrix(muon({ lr: 0.01, weightDecay: 0.1, scaling: 'moonlight', nesterov: false }), gs);
    expect(maxAbsDiff(a, b)).to.be.lessThan(2e-6);
  });

  it("exact mode reads StepContext.previousGrads; given the previous step's gradients it reproduces approx mode", () => {
    const gs = gradSeq(5, 0.3);
    const def = marsM({ lr: 0.01, mode: 'exact' });
    const [p] = params([{ name: 'W', role: 'matrix', shape: SHAPE, data: W0 }]);
    const opt = buildOptimizer([p], def);
    expect(opt.needsPreviousGrads).to.equal(true);
    const s0 = opt.state();
    expect([...s0.keys()].sort()).to.deep.equal(['W/momentum', 'W/step']);
    for (const t of s0.values()) t.dispose();
    gs.forEach((g, k) => {
      const grads = new Map([['W', tf.tensor2d(g, SHAPE)]]);
      const previousGrads = k === 0 ? undefined : new Map([['W', tf.tensor2d(gs[k - 1], SHAPE)]]);
      opt.step(grads, { previousGrads });
      for (const t of [...grads.values(), ...(previousGrads?.values() ?? [])]) t.dispose();
    });
    expect(maxAbsDiff(p.variable.dataSync(), runMatrix(marsM({ lr: 0.01 }), gs))).to.equal(0);
    const g = tf.tensor2d(gs[0], SHAPE);
    expect(() => opt.step(new Map([['W', g]]))).to.throw(/needs StepContext.previousGrads for 'W'/);
    g.dispose();
    opt.dispose();
    p.variable.dispose();
    expect(buildOptimizer([], marsM()).needsPreviousGrads).to.equal(false);
  });

  it('with clipNorm, exact mode clips the previous gradients as it clips the current ones (it still reproduces approx mode)', () => {
    // Gradients well above the clipping threshold: a difference of a clipped and an unclipped gradient
    // would point the correction the wrong way.
    const gs = gradSeq(5, 0.3).map((g) => g.map((v) => v * 40));
    const run = (mode: 'exact' | 'approx') => {
      const [p] = params([{ name: 'W', role: 'matrix', shape: SHAPE, data: W0 }]);
      const opt = buildOptimizer([p], marsM({ lr: 0.01, mode }), { clipNorm: 0.5 });
      gs.forEach((g, k) => {
        const grads = new Map([['W', tf.tensor2d(g, SHAPE)]]);
        const previousGrads = mode === 'exact' && k > 0 ? new Map([['W', tf.tensor2d(gs[k - 1], SHAPE)]]) : undefined;
        opt.step(grads, { previousGrads });
        for (const t of [...grads.values(), ...(previousGrads?.values() ?? [])]) t.dispose();
      });
      const out = p.variable.dataSync().slice();
      opt.dispose();
      p.variable.dispose();
      return out;
    };
    const counted = (mode: 'exact' | 'approx') => {
      const before = tf.memory().numTensors;
      const w = run(mode);
      return { w, added: tf.memory().numTensors - before };
    };
    const exact = counted('exact');
    const approx = counted('approx');
    expect(maxAbsDiff(exact.w, approx.w)).to.be.lessThan(1e-6);
    // The clipped previous gradients are freed with the step (the helper's own tensors count alike in both modes).
    expect(exact.added).to.equal(approx.added);
  });

  it('non-matrix parameters get AdamW with the same lr and wd, eps on the uncorrected sqrt(v)', () => {
    // t = 1: m = 0.1 g, v = 0.05 g^2; step = lr sqrt(0.05)/0.1 * m / (sqrt(v) + eps) = lr g / (|g| + eps/sqrt(0.05))
    const [b] = params([{ name: 'b', role: 'vector', shape: [3], data: [1, -1, 0.5] }]);
    const opt = buildOptimizer([b], marsM({ lr: 0.01, weightDecay: 0.1 }));
    opt.step(new Map([['b', tf.tensor1d([0.2, -0.3, 1e-7])]]));
    const decay = 1 - 0.01 * 0.1;
    const tiny = (0.01 * 1e-7) / (1e-7 + 1e-8 / Math.sqrt(0.05));
    expect(maxAbsDiff(b.variable.dataSync(), [decay - 0.01, -decay + 0.01, 0.5 * decay - tiny])).to.be.lessThan(1e-7);
    opt.dispose();
    b.variable.dispose();
  });

  it('rejects inconsistent options, and MarsMOptimizer refuses exact mode', () => {
    expect(() => marsM({ mode: 'exact', efficient: true })).to.throw(/efficient form exists only/);
    expect(() => marsM({ mode: 'other' as never })).to.throw(/mode must be/);
    expect(() => marsM({ momentum: 0 })).to.throw(/momentum must be > 0/);
    expect(() => new MarsMOptimizer({ mode: 'exact' })).to.throw(/LayersModel.fit cannot/);
  });
});

describeBackends('mars-m: batched Newton-Schulz over same-shape matrices', () => {
  const specs: { name: string; role: Role; shape: number[] }[] = [
    { name: 'w0', role: 'matrix', shape: [6, 10] },
    { name: 'w1', role: 'matrix', shape: [6, 10] },
    { name: 't0', role: 'matrix', shape: [10, 4] },
    { name: 't1', role: 'matrix', shape: [10, 4] },
    { name: 'odd', role: 'matrix', shape: [3, 5] },
    { name: 'b', role: 'vector', shape: [6] },
  ];
  /** Four steps (no gradient for 'w1' in step 2), previous gradients passed for exact mode; final values. */
  function train(def: OptimizerDef): Map<string, Float32Array> {
    const ps = params(specs.map((s, i) => ({ ...s, data: seeded(s.shape.reduce((a, c) => a * c, 1), 700 + i) })));
    const opt = buildOptimizer(ps, def);
    const before = tf.memory().numTensors;
    // Exact mode's "previous gradients": each parameter's latest gradient (any tensor of its shape will do here).
    const prev = new Map<string, tf.Tensor>();
    for (let k = 0; k < 4; k++) {
      const grads = new Map<string, tf.Tensor>();
      ps.forEach((p, i) => {
        if (!(k === 1 && p.name === 'w1')) grads.set(p.name, tf.tensor(seeded(p.variable.size, 800 + 31 * k + i), p.variable.shape));
      });
      opt.step(grads, opt.needsPreviousGrads ? { previousGrads: prev } : {});
      for (const [n, g] of grads) {
        prev.get(n)?.dispose();
        prev.set(n, g);
      }
    }
    tf.dispose([...prev.values()]);
    expect(tf.memory().numTensors).to.equal(before);
    opt.dispose();
    const out = new Map(ps.map((p) => [p.name, p.variable.dataSync().slice() as Float32Array]));
    for (const p of ps) p.variable.dispose();
    return out;
  }
  for (const extra of [{}, { mode: 'exact' as const }, { efficient: true }]) {
    it(`'always' gives the parameters of 'never' (${JSON.stringify(extra)})`, () => {
      const batched = train(marsM({ lr: 0.05, ...extra, batchNewtonSchulz: 'always' }));
      const single = train(marsM({ lr: 0.05, ...extra, batchNewtonSchulz: 'never' }));
      for (const [k, v] of single) {
        expect(maxAbsDiff(v, seeded(v.length, 700 + specs.findIndex((s) => s.name === k))), `${k} moved`).to.be.greaterThan(1e-3);
        expect(maxAbsDiff(batched.get(k)!, v), k).to.be.lessThan(1e-5);
      }
    });
  }
  it("'always' runs rank-3 products (the batched NS), 'never' only 2-D ones", async () => {
    for (const mode of ['always', 'never'] as const) {
      const ps = params(specs.map((s, i) => ({ ...s, data: seeded(s.shape.reduce((a, c) => a * c, 1), 700 + i) })));
      const opt = buildOptimizer(ps, marsM({ batchNewtonSchulz: mode }));
      const grads = new Map(ps.map((p, i) => [p.name, tf.tensor(seeded(p.variable.size, 900 + i), p.variable.shape)] as [string, tf.Tensor]));
      const info = await tf.profile(() => opt.step(grads));
      // Products: BatchMatMul, and Newton-Schulz as one native kernel on wasm-native (native/newton_schulz.c).
      const ranks = new Set(info.kernels.filter((k) => k.name === 'BatchMatMul' || k.name === 'OptlabNewtonSchulz').map((k) => k.inputShapes[0]!.length));
      expect([...ranks].sort(), mode).to.deep.equal(mode === 'always' ? [2, 3] : [2]);
      tf.dispose([...grads.values()]);
      opt.dispose();
      for (const p of ps) p.variable.dispose();
    }
  });

  it('rejects an unknown batchNewtonSchulz', () => {
    expect(() => marsM({ batchNewtonSchulz: 'yes' as never })).to.throw(/batchNewtonSchulz must be/);
  });
});
