import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer, type OptimizerDef, type Parameter, type Role } from '../../optimizers/core.js';
import { racs, reg } from '../../optimizers/reg.js';
import { RegOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('reg', { make: () => reg({ lr: 0.1 }), makeRosenbrock: () => reg({ lr: 0.05, weightDecay: 0 }), makeTf: () => new RegOptimizer({ lr: 0.02, weightDecay: 0 }) });
itBehavesLikeOptimizer('reg ema momentum, 3 RACS steps, no nesterov', { make: () => reg({ lr: 0.1, momentumForm: 'ema', racsIters: 3, nesterov: false }), makeRosenbrock: () => reg({ lr: 0.05, weightDecay: 0, racsIters: 3 }) });

itReplaysFixtures('reg');
// RACS is symmetric in rows and columns: the transposed trajectory is the same trajectory.
itReplaysWideFixtures('reg');

function param(name: string, role: Role, shape: number[], data: ArrayLike<number>): Parameter {
  return { name, role, variable: tf.variable(tf.tensor(Float32Array.from(data), shape), true, `reg_test/${name}/${Math.random()}`) };
}

/** Runs `def` on a fresh parameter, one gradient per step; returns the final value. */
function run(def: OptimizerDef, role: Role, shape: number[], init: ArrayLike<number>, grads: Float32Array[]): Float32Array {
  const p = param('w', role, shape, init);
  const opt = buildOptimizer([p], def);
  for (const g of grads) {
    const t = tf.tensor(g, shape);
    opt.step(new Map([['w', t]]));
    t.dispose();
  }
  opt.dispose();
  const out = p.variable.dataSync() as Float32Array;
  p.variable.dispose();
  return out;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** x / ||x||_F */
function unit(x: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Float32Array.from(x, (v) => v / Math.sqrt(s));
}

describeBackends('reg', () => {
  const [m, n] = [6, 5];
  const u = seeded(m, 31);
  const v = seeded(n, 32);
  const outer = (f: (x: number) => number) => new Float32Array(m * n).map((_, k) => f(u[Math.floor(k / n)]) * f(v[k % n]));

  it('keeps a rank-1 momentum rank-1: one RACS step gives (sign(u) sqrt|u|)(sign(v) sqrt|v|)^T', () => {
    // r_i = |u_i| ||v||, c_j = ||u|| |v_j|, so R_ij = u_i v_j / sqrt(|u_i| |v_j| ||u|| ||v||). From W = 0 with wd 0
    // the first step is -lr * 0.2 * R / RMS(R), so the step's direction is R's.
    const g = outer((x) => x);
    const step = run(reg({ lr: 0.1, weightDecay: 0 }), 'matrix', [m, n], new Float32Array(m * n), [g]);
    const expected = outer((x) => Math.sign(x) * Math.sqrt(Math.abs(x)));
    expect(maxAbs(unit(step), unit(expected.map((x) => -x)))).to.be.lessThan(1e-5);
    // RMS of the step is lr * rmsTarget = 0.02
    expect(Math.sqrt(step.reduce((s, x) => s + x * x, 0) / step.length)).to.be.closeTo(0.02, 1e-6);
    // many RACS steps balance it to sign(u) sign(v)^T (up to scale)
    const balanced = tf.tidy(() => racs(tf.tensor2d(g, [m, n]), 60).dataSync());
    expect(maxAbs(unit(balanced), unit(outer(Math.sign)))).to.be.lessThan(1e-5);
  });

  it('is invariant to the scale of the gradient', () => {
    const grads = [1, 2, 3].map((k) => seeded(m * n, 40 + k));
    const init = seeded(m * n, 50);
    const base = run(reg({ lr: 0.01 }), 'matrix', [m, n], init, grads);
    for (const s of [1e3, 1e-3]) {
      const scaled = run(reg({ lr: 0.01 }), 'matrix', [m, n], init, grads.map((g) => g.map((x) => x * s)));
      expect(maxAbs(scaled, base), `scale ${s}`).to.be.lessThan(1e-6);
    }
  });

  it("'ema' and 'sum' momentum give the same trajectory (proportional directions, RMS-normalized)", () => {
    // ema: M = (1 - mu) M_sum and U_ema = (1 - mu)(G + mu M_sum) = (1 - mu) U_sum.
    const grads = [1, 2, 3, 4].map((k) => seeded(m * n, 60 + k));
    const init = seeded(m * n, 70);
    const sum = run(reg({ lr: 0.01 }), 'matrix', [m, n], init, grads);
    const ema = run(reg({ lr: 0.01, momentumForm: 'ema' }), 'matrix', [m, n], init, grads);
    expect(maxAbs(ema, sum)).to.be.lessThan(1e-6);
    const plain = run(reg({ lr: 0.01, nesterov: false }), 'matrix', [m, n], init, grads);
    expect(maxAbs(plain, sum)).to.be.greaterThan(1e-4);
  });

  it('a zero gradient gives a zero update, never NaN (weight decay still applies)', () => {
    const init = seeded(m * n, 80);
    for (const racsIters of [1, 3]) {
      const out = run(reg({ lr: 0.1, weightDecay: 0.5, racsIters }), 'matrix', [m, n], init, [new Float32Array(m * n), new Float32Array(m * n)]);
      // two steps of W (1 - lr wd) = 0.95 W
      for (let i = 0; i < out.length; i++) expect(out[i]).to.be.closeTo(init[i] * 0.95 * 0.95, 1e-6);
    }
  });

  it('non-matrix roles take AdamW with the same lr and wd, betas (0.9, 0.95), eps 1e-8', () => {
    const grads = [1, 2, 3].map((k) => seeded(7, 90 + k));
    const init = seeded(7, 99);
    const a = run(reg({ lr: 0.01, weightDecay: 0.1 }), 'vector', [7], init, grads);
    const b = run(adamw({ lr: 0.01, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8 }), 'vector', [7], init, grads);
    expect(maxAbs(a, b)).to.equal(0);
  });

  it('rejects bad switches', () => {
    expect(() => reg({ racsIters: 0 })).to.throw(/racsIters/);
    expect(() => reg({ momentumForm: 'heavy' as never })).to.throw(/momentumForm/);
  });
});
