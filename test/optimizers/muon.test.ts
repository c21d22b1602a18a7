import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type OptimizerDef, type Parameter, type Role } from '../../optimizers/core.js';
import { NS_CLASSIC, newtonSchulz } from '../../optimizers/linalg.js';
import { batchesNewtonSchulz, muon, muonMoonlight } from '../../optimizers/muon.js';
import { MuonMoonlightOptimizer, MuonOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import type { Fixture } from '../../parity/fixture.js';
import { itReplaysFixtures, itReplaysWideFixtures, transposedFixture } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('muon', {
  make: () => muon({ lr: 0.05, adamLr: 0.05 }),
  makeTf: () => new MuonOptimizer({ lr: 0.02, adamLr: 0.01 }),
});
itBehavesLikeOptimizer('muon polar-express, moonlight scaling, no nesterov', {
  make: () => muon({ lr: 0.05, adamLr: 0.05, nsCoefficients: 'polar-express', scaling: 'moonlight', nesterov: false, weightDecay: 0.01 }),
});
itBehavesLikeOptimizer('muon-moonlight', {
  make: () => muonMoonlight({ lr: 0.05, weightDecay: 0.01 }),
  makeTf: () => new MuonMoonlightOptimizer({ lr: 0.01, weightDecay: 0 }),
});

itReplaysFixtures('muon');
itReplaysFixtures('muon-moonlight');
// Moonlight's scaling and NS are symmetric in (rows, cols): a transposed replay trajectory is the same trajectory
// (least-squares fixtures keep their X @ W layout).
itReplaysWideFixtures('muon-moonlight');

/**
 * Keller's scale is not symmetric: a tall PyTorch W [r, c] gets sqrt(r/c), its transpose (wide) gets 1. Since
 * NS(U^T) = NS(U)^T, the transposed replay with lr * sqrt(r/c) and wd / sqrt(r/c) (same lr * wd) is the same
 * trajectory, which checks the wide orientation against the reference data.
 */
function kellerTransposed(fx: Fixture): Fixture {
  if (fx.mode !== 'replay') return fx;
  const [r, c] = fx.params.W.shape;
  const k = Math.sqrt(Math.max(1, r / c));
  const out = transposedFixture(fx);
  out.resolved_param_groups = out.resolved_param_groups.map((g) => (g.use_muon === false ? g : { ...g, lr: g.lr * k, weight_decay: g.weight_decay / k }));
  return out;
}
describe('transposed layout', () => itReplaysFixtures('muon', { transform: kellerTransposed }));

/** Fresh parameters with given values; unique engine names. */
function params(specs: { name: string; role: Role; shape: number[]; data: ArrayLike<number> }[]): Parameter[] {
  return specs.map((s) => ({ name: s.name, role: s.role, variable: tf.variable(tf.tensor(Float32Array.from(s.data), s.shape), true, `muon_test/${s.name}/${Math.random()}`) }));
}

/** Runs `def` over the parameters with one gradient list per step; returns the final values. */
function runSteps(def: OptimizerDef, ps: Parameter[], grads: Record<string, tf.Tensor>[]): Float32Array[] {
  const opt = buildOptimizer(ps, def);
  for (const g of grads) opt.step(new Map(Object.entries(g)));
  opt.dispose();
  const out = ps.map((p) => p.variable.dataSync() as Float32Array);
  for (const p of ps) p.variable.dispose();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function transposeFlat(x: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const o = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) o[j * rows + i] = x[i * cols + j];
  return o;
}

/** Five classic NS5 iterations applied to one singular value s0 (s -> a s + b s^3 + c s^5). */
function ns5(s0: number): number {
  const [a, b, c] = NS_CLASSIC;
  let s = s0;
  for (let i = 0; i < 5; i++) s = a * s + b * s ** 3 + c * s ** 5;
  return s;
}

describeBackends('muon', () => {
  it('first step on a gradient with orthonormal rows moves W by lr * sqrt(fan_out/fan_in) * ns5(1/sqrt(rows)) * Q', () => {
    // G = 3 Q with Q [4 x 8] having orthonormal rows (Q_ij = 1 at j = 2i). EMA nesterov step 1:
    // M = (1-b) G, U = lerp(G, M, b) = (1-b)(1+b) G, so NS sees Q / ||Q||_F = Q / 2 and every singular
    // value goes 1/2 -> ns5(1/2). Keller scale on [fan_in 4, fan_out 8] = sqrt(2).
    const q = new Float32Array(32);
    for (let i = 0; i < 4; i++) q[i * 8 + 2 * i] = 1;
    const [w] = runSteps(muon({ lr: 0.1 }), params([{ name: 'W', role: 'matrix', shape: [4, 8], data: new Float32Array(32) }]), [{ W: tf.mul(tf.tensor2d(q, [4, 8]), 3) }]);
    const expected = Array.from(q, (v) => -0.1 * Math.SQRT2 * ns5(0.5) * v);
    expect(maxAbsDiff(w, expected)).to.be.lessThan(1e-5);
  });

  it('orientation: a wide and a tall matrix with transposed gradients get transposed updates, scaled by sqrt(max(1, fan_out/fan_in))', () => {
    // wide W [fan_in 6, fan_out 24]: scale 2; tall W^T [24, 6]: scale 1 (Keller); Moonlight: both 0.2*sqrt(24).
    const w0 = seeded(6 * 24, 21);
    const gs = [0, 1, 2].map((k) => seeded(6 * 24, 30 + k));
    for (const scaling of ['keller', 'moonlight'] as const) {
      const [wide] = runSteps(muon({ lr: 0.01, scaling }), params([{ name: 'W', role: 'matrix', shape: [6, 24], data: w0 }]), gs.map((g) => ({ W: tf.tensor2d(g, [6, 24]) })));
      const [tall] = runSteps(muon({ lr: 0.01, scaling }), params([{ name: 'W', role: 'matrix', shape: [24, 6], data: transposeFlat(w0, 6, 24) }]), gs.map((g) => ({ W: tf.tensor2d(transposeFlat(g, 6, 24), [24, 6]) })));
      const dWide = Array.from(wide, (v, i) => v - w0[i]);
      const dTallT = Array.from(transposeFlat(tall, 24, 6), (v, i) => v - w0[i]);
      const ratio = scaling === 'keller' ? 2 : 1;
      expect(maxAbsDiff(dWide, dTallT.map((v) => v * ratio)), scaling).to.be.lessThan(1e-6);
      expect(Math.max(...dWide.map(Math.abs)), scaling).to.be.greaterThan(1e-3);
    }
  });

  it('conv kernels are orthogonalized and scaled on their (kh*kw*in) x out view', () => {
    // conv [1, 1, 2, 8] = matrix [2, 8]: Keller scale sqrt(8/2) = 2 for both (the reference's kh/kw rule would give 1).
    const w0 = seeded(16, 41);
    const g = seeded(16, 42);
    const [conv] = runSteps(muon({ lr: 0.01 }), params([{ name: 'K', role: 'conv', shape: [1, 1, 2, 8], data: w0 }]), [{ K: tf.tensor4d(g, [1, 1, 2, 8]) }]);
    const [mat] = runSteps(muon({ lr: 0.01 }), params([{ name: 'K', role: 'matrix', shape: [2, 8], data: w0 }]), [{ K: tf.tensor2d(g, [2, 8]) }]);
    expect(maxAbsDiff(conv, mat)).to.equal(0);
    // step 1 of a 2 x 8 gradient: NS output has 2 singular values ~[0.68, 1.13], Frobenius ~ sqrt(2); times 2 * lr
    const step = Math.sqrt(Array.from(mat, (v, i) => (v - w0[i]) ** 2).reduce((a, b) => a + b, 0));
    expect(step).to.be.within(0.01 * 2 * 0.68 * Math.SQRT2, 0.01 * 2 * 1.13 * Math.SQRT2);
  });

  it('routes embedding, head and vector to the auxiliary AdamW with its own lr (first step = adamLr * sign(g))', () => {
    const ps = params([
      { name: 'W', role: 'matrix', shape: [3, 4], data: seeded(12, 1) },
      { name: 'b', role: 'vector', shape: [3], data: [0.5, -0.5, 0] },
      { name: 'E', role: 'embedding', shape: [2, 3], data: new Float32Array(6) },
    ]);
    const opt = buildOptimizer(ps, muon({ adamLr: 0.01, adamWeightDecay: 0 }));
    expect(opt.describe()).to.match(/W\s+matrix.*muon/).and.match(/b\s+vector.*adamw/).and.match(/E\s+embedding.*adamw/);
    opt.step(new Map<string, tf.Tensor>([['W', tf.tensor2d(seeded(12, 2), [3, 4])], ['b', tf.tensor1d([2, -3, 0.1])], ['E', tf.tensor2d([1, -1, 1, -1, 1, -1], [2, 3])]]));
    // Adam t = 1: m_hat = g, v_hat = g^2, step = lr * g / (|g| + 1e-10)
    expect(maxAbsDiff(ps[1].variable.dataSync(), [0.49, -0.49, -0.01])).to.be.lessThan(1e-6);
    expect(maxAbsDiff(ps[2].variable.dataSync(), [-0.01, 0.01, -0.01, 0.01, -0.01, 0.01])).to.be.lessThan(1e-6);
    const keys = [...opt.state().keys()].sort();
    expect(keys).to.deep.equal(['E/m', 'E/step', 'E/v', 'W/momentum', 'W/step', 'b/m', 'b/step', 'b/v']);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
  });

  it('sum momentum (muon-moonlight) equals EMA momentum with Moonlight scaling: NS removes the constant factor', () => {
    const w0 = seeded(8 * 5, 50);
    const gs = [0, 1, 2, 3].map((k) => seeded(40, 60 + k));
    const [a] = runSteps(muonMoonlight({ lr: 0.01, weightDecay: 0.1 }), params([{ name: 'W', role: 'matrix', shape: [8, 5], data: w0 }]), gs.map((g) => ({ W: tf.tensor2d(g, [8, 5]) })));
    const [b] = runSteps(muon({ lr: 0.01, weightDecay: 0.1, scaling: 'moonlight' }), params([{ name: 'W', role: 'matrix', shape: [8, 5], data: w0 }]), gs.map((g) => ({ W: tf.tensor2d(g, [8, 5]) })));
    expect(maxAbsDiff(a, b)).to.be.lessThan(1e-6);
    expect(maxAbsDiff(a, w0)).to.be.greaterThan(1e-3);
  });

  it('nesterov off orthogonalizes the EMA momentum itself', () => {
    // M1 = (1-b) g1 -> NS(M1) = NS(g1); M2 = b(1-b) g1 + (1-b) g2. Keller scale on [3, 4]: sqrt(4/3).
    // W2 = -lr sqrt(4/3) (NS(g1) + NS(M2)) from W0 = 0.
    const g1 = seeded(12, 70);
    const g2 = seeded(12, 71);
    const beta = 0.9;
    const m2 = Array.from(g1, (v, i) => beta * (1 - beta) * v + (1 - beta) * g2[i]);
    const [w] = runSteps(muon({ lr: 0.1, momentum: beta, nesterov: false }), params([{ name: 'W', role: 'matrix', shape: [3, 4], data: new Float32Array(12) }]), [{ W: tf.tensor2d(g1, [3, 4]) }, { W: tf.tensor2d(g2, [3, 4]) }]);
    const expected = tf.tidy(() => {
      const ns = (x: ArrayLike<number>) => newtonSchulz(tf.tensor2d(Float32Array.from(x), [3, 4]));
      return tf.mul(tf.add(ns(g1), ns(m2)), -0.1 * Math.sqrt(4 / 3)).dataSync();
    });
    expect(maxAbsDiff(w, expected)).to.be.lessThan(1e-6);
  });

  it('rejects bad option values and 1-D parameters on the Muon path', () => {
    expect(() => muon({ scaling: 'other' as never })).to.throw(/scaling must be/);
    expect(() => muon({ batchNewtonSchulz: 'sometimes' as never })).to.throw(/batchNewtonSchulz must be 'auto', 'always', 'never', got 'sometimes'/);
    expect(() => muonMoonlight({ batchNewtonSchulz: true as never })).to.throw(/option 'batchNewtonSchulz' must be a string/);
    expect(() => muon({ nsSteps: 0 })).to.throw(/nsSteps/);
    expect(() => muon({ momentum: 1 })).to.throw(/momentum/);
    expect(() => muonMoonlight({ adamLr: 1 } as never)).to.throw(/unknown option 'adamLr'/);
    const ps = params([{ name: 'g', role: 'matrix', shape: [3], data: [1, 2, 3] }]);
    expect(() => buildOptimizer(ps, muon())).to.throw(/'g' has role 'matrix' but shape \[3\]/);
    ps[0].variable.dispose();
  });
});

/** Several same-shape matrices (wide, tall, square, conv) next to odd shapes and the auxiliary roles. */
const BATCH_SPECS: { name: string; role: Role; shape: number[] }[] = [
  { name: 'b0.qkv', role: 'matrix', shape: [8, 24] },
  { name: 'b0.fc', role: 'matrix', shape: [8, 32] },
  { name: 'b0.proj', role: 'matrix', shape: [32, 8] },
  { name: 'b0.sq', role: 'matrix', shape: [8, 8] },
  { name: 'b1.qkv', role: 'matrix', shape: [8, 24] },
  { name: 'b1.fc', role: 'matrix', shape: [8, 32] },
  { name: 'b1.proj', role: 'matrix', shape: [32, 8] },
  { name: 'b1.sq', role: 'matrix', shape: [8, 8] },
  { name: 'b2.qkv', role: 'matrix', shape: [8, 24] },
  { name: 'odd', role: 'matrix', shape: [5, 7] },
  { name: 'conv0', role: 'conv', shape: [2, 2, 3, 4] },
  { name: 'conv1', role: 'conv', shape: [2, 2, 3, 4] },
  { name: 'bias', role: 'vector', shape: [8] },
  { name: 'emb', role: 'embedding', shape: [6, 8] },
];

describeBackends('muon: batched Newton-Schulz over same-shape matrices', () => {
  /**
   * Four steps of `def` over BATCH_SPECS; in step 3 'b1.qkv' and 'conv1' have no gradient. Returns the
   * parameter values, the state, describe(), and the ranks of the BatchMatMul inputs of step 1.
   */
  async function train(def: OptimizerDef, clipNorm?: number) {
    const ps = params(BATCH_SPECS.map((s, i) => ({ ...s, data: seeded(s.shape.reduce((a, b) => a * b, 1), 300 + i) })));
    const opt = buildOptimizer(ps, def, { clipNorm });
    const before = tf.memory().numTensors;
    const matmulRanks = new Set<number>();
    for (let k = 0; k < 4; k++) {
      const grads = new Map<string, tf.Tensor>();
      ps.forEach((p, i) => {
        if (k === 2 && (p.name === 'b1.qkv' || p.name === 'conv1')) return;
        grads.set(p.name, tf.tensor(seeded(p.variable.size, 1000 + 37 * k + i), p.variable.shape));
      });
      const count = tf.memory().numTensors;
      if (k === 0) {
        const info = await tf.profile(() => opt.step(grads, { lrScale: 0.9 }));
        // Newton-Schulz's products: BatchMatMul, or the one native kernel on wasm-native (native/newton_schulz.c).
        for (const kern of info.kernels) if (kern.name === 'BatchMatMul' || kern.name === 'OptlabNewtonSchulz') matmulRanks.add(kern.inputShapes[0]!.length);
      } else {
        opt.step(grads, { lrScale: 1 - 0.1 * k });
      }
      expect(tf.memory().numTensors, `tensors after step ${k + 1}`).to.equal(count);
      tf.dispose([...grads.values()]);
    }
    expect(tf.memory().numTensors).to.equal(before);
    const state = opt.state();
    const out = {
      values: new Map(ps.map((p) => [p.name, p.variable.dataSync().slice()])),
      state: new Map([...state].map(([k, v]) => [k, v.dataSync().slice()])),
      describe: opt.describe(),
      matmulRanks,
    };
    tf.dispose([...state.values()]);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
    return out;
  }

  const cases: [string, (b: 'always' | 'never') => OptimizerDef][] = [
    ['muon', (b) => muon({ lr: 0.05, adamLr: 0.01, weightDecay: 0.1, batchNewtonSchulz: b })],
    ['muon polar-express, no nesterov', (b) => muon({ lr: 0.05, nsCoefficients: 'polar-express', nesterov: false, batchNewtonSchulz: b })],
    ['muon-moonlight', (b) => muonMoonlight({ lr: 0.02, weightDecay: 0.1, batchNewtonSchulz: b })],
  ];
  for (const [label, make] of cases) {
    it(`${label}: 'always' gives the parameters and state of 'never', through a step where two parameters have no gradient`, async () => {
      const batched = await train(make('always'), 1.0);
      const single = await train(make('never'), 1.0);
      // 'always' ran rank-3 products (the batched NS); 'never' only 2-D ones.
      expect([...batched.matmulRanks]).to.include(3);
      expect([...single.matmulRanks]).to.deep.equal([2]);
      expect(batched.describe).to.equal(single.describe);
      expect([...batched.state.keys()]).to.deep.equal([...single.state.keys()]);
      expect(Array.from(batched.state.get('b1.qkv/step')!)).to.deep.equal([3]);
      expect(Array.from(batched.state.get('b0.qkv/step')!)).to.deep.equal([4]);
      for (const [k, v] of single.state) expect(maxAbsDiff(batched.state.get(k)!, v), k).to.be.lessThan(1e-5);
      for (const [k, v] of single.values) {
        const w0 = BATCH_SPECS.findIndex((s) => s.name === k);
        const moved = maxAbsDiff(v, seeded(v.length, 300 + w0));
        expect(moved, `${k} moved`).to.be.greaterThan(1e-4);
        // NS rounding differs between one rank-3 and several 2-D products; far below the step size.
        expect(maxAbsDiff(batched.values.get(k)!, v), k).to.be.lessThan(1e-5);
      }
    });
  }

  it("'auto' batches exactly on the tensorflow backend (where it measured faster)", async () => {
    expect(batchesNewtonSchulz('always')).to.equal(true);
    expect(batchesNewtonSchulz('never')).to.equal(false);
    const onTensorflow = tf.getBackend() === 'tensorflow';
    expect(batchesNewtonSchulz('auto')).to.equal(onTensorflow);
    const auto = await train(muon({ lr: 0.05 }));
    expect(auto.matmulRanks.has(3)).to.equal(onTensorflow);
  });
});
