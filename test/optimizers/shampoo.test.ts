import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { conditionNumber, eighJacobi, inverseRootEigh, inverseRootNewton, inverseRootResidual } from '../../optimizers/linalg.js';
import { shampoo, shampooDiagnostics, shampooLayout, type ShampooOptions } from '../../optimizers/shampoo.js';
import { ShampooOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('shampoo (adam grafting, two-sided factors)', {
  make: () => shampoo({ lr: 0.05, grafting: 'adam', mergeSmallDims: false }),
  makeTf: () => new ShampooOptimizer({ lr: 0.01, grafting: 'adam', mergeSmallDims: false }),
});
itBehavesLikeOptimizer('shampoo² (blocks of 3, merged small dims, momentum, full 1-D factor, beta2 < 1)', {
  make: () => shampoo({ lr: 0.02, exponent: 'half', grafting: 'rmsprop', graftBeta2: 0.99, maxPreconditionerDim: 3, beta2: 0.95, momentum: 0.5, nesterov: true, oneDim: 'full', weightDecay: 0.01, preconditionFrequency: 3, newtonMaxIter: 12 }),
});

// kozistr Shampoo and ScalableShampoo. Sequential factors make kozistr's Shampoo orientation-dependent,
// so only the fixtures' own orientation (transposed to optlab's [in, out] by the replay) is replayed.
itReplaysFixtures('shampoo');

function param(name: string, shape: number[], data: ArrayLike<number>): Parameter {
  return { name, role: shape.length >= 2 ? 'matrix' : 'vector', variable: tf.variable(tf.tensor(Float32Array.from(data), shape), true, `shampoo_test/${name}/${Math.random()}`) };
}

/** Row-major product of float64 matrices. */
function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let l = 0; l < k; l++) for (let j = 0; j < m; j++) out[i * m + j] += a[i * k + l] * b[l * m + j];
  return out;
}

/** Polar factor G (G^T G)^{-1/2} in float64 (G full column rank). */
function polar(g: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const gt = new Float64Array(cols * rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) gt[j * rows + i] = g[i * cols + j];
  const { values, vectors } = eighJacobi(matmul64(gt, g, cols, rows, cols), cols);
  const inv = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < cols; k++) inv[i * cols + j] += (vectors[i * cols + k] * vectors[j * cols + k]) / Math.sqrt(values[k]);
  return matmul64(g, inv, rows, cols, cols);
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** A well-conditioned SPD matrix: G G^T / k + 0.5 I. */
function spd(n: number, seed: number): tf.Tensor2D {
  return tf.tidy(() => {
    const g = tf.tensor2d(seeded(n * 2 * n, seed), [n, 2 * n]);
    return tf.add(tf.div(tf.matMul(g, tf.transpose(g)), 2 * n), tf.mul(tf.eye(n), 0.5)) as tf.Tensor2D;
  });
}

describeBackends('shampoo', () => {
  it('coupled Newton: inverse 4th root of a well-conditioned 32x32 SPD matrix has residual < 1e-5 and matches eigh', () => {
    const a = spd(32, 3);
    const [res, diff] = tf.tidy(() => {
      const { root, residual } = inverseRootNewton(a, 4);
      return [residual.dataSync()[0], tf.max(tf.abs(tf.sub(root, inverseRootEigh(a, 4, 0)))).dataSync()[0]];
    });
    a.dispose();
    expect(res).to.be.lessThan(1e-5);
    expect(diff).to.be.lessThan(1e-5);
  });

  it('with beta2 = 1 and no grafting, a constant gradient gives the polar factor of G times t^{-1/2} (spectral descent)', () => {
    // L = t G G^T, R = t G^T G  =>  L^{-1/4} G R^{-1/4} = t^{-1/2} U V^T (spec §12); F^ = G for a constant G.
    for (const [rows, cols] of [[6, 6], [8, 5]]) {
      const g = seeded(rows * cols, 40 + rows);
      const expected = polar(g, rows, cols);
      const p = param('w', [rows, cols], new Float32Array(rows * cols));
      const lr = 0.1;
      const opt = buildOptimizer([p], shampoo({ lr, grafting: 'none', mergeSmallDims: false }));
      let prev = Float32Array.from(p.variable.dataSync());
      for (let t = 1; t <= 3; t++) {
        const grad = tf.tensor2d(g, [rows, cols]);
        opt.step(new Map([['w', grad]]));
        grad.dispose();
        const now = p.variable.dataSync() as Float32Array;
        const step = Array.from(now, (x, i) => (prev[i] - x) / lr);
        prev = Float32Array.from(now);
        expect(relDiff(step, Array.from(expected, (x) => x / Math.sqrt(t))), `${rows}x${cols} step ${t}`).to.be.lessThan(2e-3);
      }
      opt.dispose();
      p.variable.dispose();
    }
  });

  it('rank-deficient float32 factors keep every step and every state slot finite (the failed root falls back)', () => {
    // Rank-1 gradients u v^T: each factor is rank 1. An absolute 1e-12 damping makes the coupled Newton
    // fail (condition ~1e12 in float32); the residual test rejects it and the identity root stays.
    for (const opts of [{ epsilon: 1e-12, epsilonMode: 'absolute' }, {}] as Partial<ShampooOptions>[]) {
      const p = param('w', [16, 12], seeded(16 * 12, 5));
      const opt = buildOptimizer([p], shampoo({ lr: 0.01, grafting: 'adam', mergeSmallDims: false, ...opts }));
      const u = seeded(16, 6);
      const v = seeded(12, 7);
      for (let t = 0; t < 4; t++) {
        const grad = tf.tidy(() => tf.mul(tf.mul(tf.tensor2d(u, [16, 1]), tf.tensor2d(v, [1, 12])), 1 + t));
        opt.step(new Map([['w', grad]]));
        grad.dispose();
      }
      const state = opt.state();
      for (const [k, s] of state) expect(Array.from(s.dataSync()).every(Number.isFinite), k).to.equal(true);
      expect(Array.from(p.variable.dataSync()).every(Number.isFinite)).to.equal(true);
      if (opts.epsilonMode === 'absolute') {
        const eye = tf.eye(16);
        expect(Array.from(state.get('w/L_inv')!.dataSync())).to.deep.equal(Array.from(eye.dataSync()));
        eye.dispose();
      }
      for (const s of state.values()) s.dispose();
      opt.dispose();
      p.variable.dispose();
    }
  });

  it('factors stay symmetric positive semidefinite (sums and EMAs, blocked)', () => {
    for (const beta2 of [1, 0.9]) {
      const p = param('w', [10, 7], seeded(70, 8));
      const opt = buildOptimizer([p], shampoo({ lr: 0.01, beta2, maxPreconditionerDim: 6, grafting: 'sgd' }));
      for (let t = 0; t < 5; t++) {
        const grad = tf.tensor2d(seeded(70, 100 + t), [10, 7]);
        opt.step(new Map([['w', grad]]));
        grad.dispose();
      }
      const state = opt.state();
      const factors = [...state.keys()].filter((k) => /\/(L|R)(\.\d+)*$/.test(k));
      expect(factors.length).to.equal(8); // 2 x 2 blocks, L and R each
      for (const k of factors) {
        const s = state.get(k)!;
        const n = s.shape[0];
        const a = s.dataSync();
        let asym = 0;
        let scale = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
          asym = Math.max(asym, Math.abs(a[i * n + j] - a[j * n + i]));
          scale = Math.max(scale, Math.abs(a[i * n + j]));
        }
        expect(asym, k).to.be.at.most(1e-6 * scale);
        const { values } = eighJacobi(a, n);
        expect(Math.min(...values), k).to.be.at.least(-1e-6 * Math.max(...values));
      }
      for (const s of state.values()) s.dispose();
      opt.dispose();
      p.variable.dispose();
    }
  });

  it('each block is an independent Shampoo problem', () => {
    // A 6x4 parameter in blocks of at most 3 (no grafting, so no cross-block norm): its top-left 3x3
    // block follows the same trajectory as a 3x3 parameter fed that block of the gradients.
    const big = param('big', [6, 4], seeded(24, 9));
    const small = param('small', [3, 3], [0, 1, 2, 4, 5, 6, 8, 9, 10].map((i) => big.variable.dataSync()[i]));
    const o = { lr: 0.05, maxPreconditionerDim: 3, mergeSmallDims: false };
    const optBig = buildOptimizer([big], shampoo(o));
    const optSmall = buildOptimizer([small], shampoo(o));
    for (let t = 0; t < 3; t++) {
      const gBig = tf.tensor2d(seeded(24, 200 + t), [6, 4]);
      const gSmall = tf.slice(gBig, [0, 0], [3, 3]);
      optBig.step(new Map([['big', gBig]]));
      optSmall.step(new Map([['small', gSmall]]));
      tf.dispose([gBig, gSmall]);
    }
    const top = tf.tidy(() => tf.slice(big.variable, [0, 0], [3, 3]).dataSync());
    expect(relDiff(top, small.variable.dataSync())).to.be.lessThan(1e-5);
    optBig.dispose();
    optSmall.dispose();
    big.variable.dispose();
    small.variable.dispose();
  });

  it('diagnostics: condition number and inverse-root residual', () => {
    // diag(1..8): condition number 8; its exact inverse square root has residual 0.
    const d = tf.tensor2d(Array.from({ length: 64 }, (_, k) => (k % 9 === 0 ? k / 9 + 1 : 0)), [8, 8]);
    const [cond, res] = tf.tidy(() => [conditionNumber(d).dataSync()[0], inverseRootResidual(d, inverseRootEigh(d, 2, 0), 2).dataSync()[0]]);
    d.dispose();
    expect(cond).to.be.closeTo(8, 1e-2);
    expect(res).to.be.lessThan(1e-5);

    const p = param('w', [5, 4], seeded(20, 10));
    const opts: Partial<ShampooOptions> = { lr: 0.01, mergeSmallDims: false, grafting: 'sgd' };
    const opt = buildOptimizer([p], shampoo(opts));
    for (let t = 0; t < 3; t++) {
      const grad = tf.tensor2d(seeded(20, 300 + t), [5, 4]);
      opt.step(new Map([['w', grad]]));
      grad.dispose();
    }
    const state = opt.state();
    const diag = shampooDiagnostics(state, opts);
    expect(diag.map((x) => x.key).sort()).to.deep.equal(['w/L', 'w/R']);
    for (const x of diag) {
      expect(x.conditionNumber).to.be.greaterThan(1);
      expect(x.rootResidual).to.be.lessThan(0.1);
    }
    for (const s of state.values()) s.dispose();
    opt.dispose();
    p.variable.dispose();
  });

  it('layout: merges small matrices, squeezes 1 x n, blocks large dims', () => {
    const o = { maxPreconditionerDim: 8, mergeSmallDims: true };
    expect(shampooLayout([2, 4], o)).to.deep.include({ m: 8, n: 1, right: false });
    expect(shampooLayout([1, 20], o).blocks.map((b) => b.rows)).to.deep.equal([8, 8, 4]);
    const big = shampooLayout([3, 3, 2, 10], o); // conv view (18, 10)
    expect([big.m, big.n, big.right]).to.deep.equal([18, 10, true]);
    expect(big.blocks.map((b) => `${b.rows}x${b.cols}`)).to.deep.equal(['8x8', '8x2', '8x8', '8x2', '2x8', '2x2']);
  });

  it('rejects unknown choices naming the option', () => {
    expect(() => shampoo({ grafting: 'lion' } as never)).to.throw(/'grafting' must be one of/);
    expect(() => shampoo({ preconditionFrequency: 0 })).to.throw(/preconditionFrequency/);
  });
});

/** Runs Shampoo on one [rows, cols] parameter (role matrix) with the given gradients; returns each step's W_t - W_{t-1}. */
function steps(opts: Partial<ShampooOptions>, rows: number, cols: number, grads: Float32Array[]): Float64Array[] {
  const p = param('w', [rows, cols], seeded(rows * cols, 61));
  const opt = buildOptimizer([p], shampoo(opts));
  const out: Float64Array[] = [];
  let prev = Float64Array.from(p.variable.dataSync());
  for (const g of grads) {
    const grad = tf.tensor2d(g, [rows, cols]);
    opt.step(new Map([['w', grad]]));
    grad.dispose();
    const now = Float64Array.from(p.variable.dataSync());
    out.push(now.map((x, i) => x - prev[i]));
    prev = now;
  }
  opt.dispose();
  p.variable.dispose();
  return out;
}

const frobenius = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/** max_i |a_i - b_i| / max(1e-3, max_i |b_i|). */
function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 1e-3;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

// Every option the derivations read is given explicitly, so these hold whatever the defaults are.
describeBackends('shampoo: grafting and momentum against hand derivations', () => {
  it("Adam grafting bias-corrects its second moment: the step's Frobenius norm is lr ||g / (sqrt(v / (1 - b2^t)) + eps)||", () => {
    // beta1 = 0: the filtered gradient is g itself. Grafting rescales the Shampoo direction
    // P = L^{-1/4} g R^{-1/4} (one block) to the Frobenius norm of Adam's direction
    //   v_t = b2 v_{t-1} + (1 - b2) g_t^2,   a_t = g_t / (sqrt(v_t / (1 - b2^t)) + eps),
    // so ||W_t - W_{t-1}||_F = lr ||a_t||_F whatever the roots are. At t = 1, v_1 / (1 - b2) = g_1^2 and
    // a_1 = sign(g_1): lr sqrt(12) for a 4x3 parameter; without the correction it would be
    // lr sqrt(12) / sqrt(1 - b2) (31.6x larger at b2 = 0.999).
    const [rows, cols, lr, b2, eps] = [4, 3, 0.1, 0.999, 1e-10];
    const grads = [0, 1, 2].map((k) => seeded(rows * cols, 81 + k));
    const got = steps({ lr, beta1: 0, beta2: 1, epsilon: 1e-5, grafting: 'adam', graftBeta2: b2, graftEps: eps, biasCorrection: true, momentum: 0, nesterov: false, weightDecay: 0, maxPreconditionerDim: 1024, mergeSmallDims: false, preconditionFrequency: 1, startPreconditioningStep: 1 }, rows, cols, grads);
    const v = new Float64Array(rows * cols);
    grads.forEach((g, k) => {
      const t = k + 1;
      for (let i = 0; i < v.length; i++) v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const a = Array.from(g, (x, i) => x / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps));
      if (t === 1) expect(frobenius(a)).to.be.closeTo(Math.sqrt(12), 1e-6);
      expect(frobenius(got[k]) / (lr * frobenius(a)), `step ${t}`).to.be.closeTo(1, 1e-4);
    });
  });

  it('Nesterov momentum steps along P_t + mu M_t, plain momentum along M_t (M_t = mu M_{t-1} + P_t)', () => {
    // SGD grafting, beta1 = 0, preconditioning from step 3: steps 1 and 2 use the grafted method alone,
    // P_t = g_t, so with mu = 0.9, lr = 0.1:
    //   plain:    dW_1 = -lr g_1,        dW_2 = -lr (0.9 g_1 + g_2)
    //   Nesterov: dW_1 = -lr 1.9 g_1,    dW_2 = -lr (g_2 + 0.9 (0.9 g_1 + g_2)) = -lr (1.9 g_2 + 0.81 g_1)
    // Step 3 is preconditioned; both runs see the same gradients, so the same factors and the same
    // direction P_3, whose norm grafting sets to ||g_3||_F. With M_2 = 0.9 g_1 + g_2:
    //   plain:    dW_3 = -lr (0.9 M_2 + P_3)           => P_3 = -dW_3 / lr - 0.9 M_2
    //   Nesterov: dW_3 = -lr (P_3 + 0.9 (0.9 M_2 + P_3)) = -lr (1.9 P_3 + 0.81 M_2)
    const [rows, cols, lr, mu] = [4, 3, 0.1, 0.9];
    const grads = [0, 1, 2].map((k) => seeded(rows * cols, 91 + k));
    const base: Partial<ShampooOptions> = { lr, beta1: 0, beta2: 1, epsilon: 1e-5, grafting: 'sgd', biasCorrection: true, momentum: mu, weightDecay: 0, maxPreconditionerDim: 1024, mergeSmallDims: false, preconditionFrequency: 1, startPreconditioningStep: 3 };
    const plain = steps({ ...base, nesterov: false }, rows, cols, grads);
    const nesterov = steps({ ...base, nesterov: true }, rows, cols, grads);
    const [g1, g2, g3] = grads;
    const lin = (f: (i: number) => number) => Float64Array.from(g1, (_, i) => f(i));
    expect(maxRelErr(plain[0], lin((i) => -lr * g1[i]))).to.be.below(1e-5);
    expect(maxRelErr(plain[1], lin((i) => -lr * (mu * g1[i] + g2[i])))).to.be.below(1e-5);
    expect(maxRelErr(nesterov[0], lin((i) => -lr * (1 + mu) * g1[i]))).to.be.below(1e-5);
    expect(maxRelErr(nesterov[1], lin((i) => -lr * ((1 + mu) * g2[i] + mu * mu * g1[i])))).to.be.below(1e-5);
    const m2 = lin((i) => mu * g1[i] + g2[i]);
    const p3 = lin((i) => -plain[2][i] / lr - mu * m2[i]);
    expect(frobenius(p3) / frobenius(g3)).to.be.closeTo(1, 1e-4);
    expect(maxRelErr(nesterov[2], lin((i) => -lr * ((1 + mu) * p3[i] + mu * mu * m2[i])))).to.be.below(1e-4);
  });
});
