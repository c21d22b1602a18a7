import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { eighTridiagonalQL } from '../../optimizers/eigh.js';
import { eigenvalueRange, inverseRootEigh, inverseRootNewton, inverseRootResidual } from '../../optimizers/linalg.js';
import { SHAMPOO_DEFAULTS, shampoo, shampooDiagnostics, shampooLayout, shampooMonitor, type ShampooOptions } from '../../optimizers/shampoo.js';
import { ShampooOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { FIXTURE_DIR, fixturesOf } from '../parity/replay_helpers.js';
import { join } from 'node:path';
import { loadFixture } from '../../parity/fixture.js';
import { formatReplay, replayFixture } from '../../parity/replay.js';
import { lapackAvailable } from '../../kernels/eigh.js';
import { adamw } from '../../optimizers/adamw.js';
import { shampooMetaMapping } from '../../parity/shampoo_meta.js';
import { shampooKozistrFromReference } from '../../parity/shampoo_kozistr.js';

itBehavesLikeOptimizer('shampoo (adam grafting, two-sided factors)', {
  make: () => shampoo({ lr: 0.05, grafting: 'adam', mergeSmallDims: false }),
  makeTf: () => new ShampooOptimizer({ lr: 0.01, grafting: 'adam', mergeSmallDims: false }),
});
itBehavesLikeOptimizer('shampoo² (blocks of 3, merged small dims, momentum, full 1-D factor, beta2 < 1)', {
  make: () => shampoo({ lr: 0.02, exponent: 'half', grafting: 'rmsprop', graftBeta2: 0.99, maxPreconditionerDim: 3, beta2: 0.95, momentum: 0.5, nesterov: true, oneDim: 'full', weightDecay: 0.01, preconditionFrequency: 3, newtonMaxIter: 12 }),
});

// kozistr Shampoo and ScalableShampoo, and Meta's Distributed Shampoo (shampoo-meta-*). Sequential factors
// make kozistr's Shampoo orientation-dependent, so only the fixtures' own orientation (transposed to
// optlab's [in, out] by the replay) is replayed. Meta's `default` and `default_eps` replay fixtures merge
// W into one 1024-vector: a 1024x1024 factor per step, which LAPACK decomposes in a fraction of a second
// and the JavaScript solver in seconds; without the addon those four are left to `optlab replay`.
const BIG_FACTOR = /^shampoo-meta-default(_eps)?-(tall|square)\.json$/;
// adamgraft-lsq (epsilon 1e-12, 2-D blocks): its 16x16 factor has condition 1e8-1e12 from step 1, beyond
// what float32 resolves (the float32 rounding of the factor alone moves lambda_min by ~6e-8), so whether a
// float32-root replay lands within 10x Meta's own float32-vs-float64 gap is chance: measured 0.07x on plain
// wasm, 0.83x on wasm-native, 3.98x on cpu. It is replayed with float64 roots (factor_matrix_dtype float64),
// which track Meta's float64 run (0.05-0.10x on every backend); `optlab replay` runs it with the defaults.
const FLOAT32_CHANCE = 'shampoo-meta-adamgraft-lsq.json';
describeBackends('shampoo reference replay', () => {
  const files = fixturesOf('shampoo');
  it('has kozistr and Meta fixtures', () => {
    expect(files.filter((f) => f.startsWith('shampoo-meta-')).length).to.equal(18);
    expect(files.filter((f) => /^shampoo-(classic|scalable)-/.test(f)).length).to.be.greaterThan(0);
  });
  for (const f of files) {
    const run = lapackAvailable() || !BIG_FACTOR.test(f) ? it : it.skip;
    const float64 = f === FLOAT32_CHANCE;
    run(`${f.replace(/\.json$/, '')}${float64 ? ' (float64 roots)' : ''}`, () => {
      const fx = loadFixture(join(FIXTURE_DIR, f));
      if (float64) {
        const pc = (fx.resolved_param_groups[0] as { preconditioner_config: Record<string, string> }).preconditioner_config;
        pc.factor_matrix_dtype = pc.inv_factor_matrix_dtype = 'torch.float64';
      }
      const r = replayFixture(fx);
      expect(r.maxAbsError, formatReplay(r)).to.be.at.most(fx.tolerance.atol);
    });
  }
});

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
  const { values, vectors } = eighTridiagonalQL(matmul64(gt, g, cols, rows, cols), cols);
  const inv = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < cols; k++) inv[i * cols + j] += (vectors[k * cols + i] * vectors[k * cols + j]) / Math.sqrt(values[k]);
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

/** Runs fn with console.warn captured; returns the warnings. */
function captureWarnings(fn: () => void): string[] {
  const out: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void out.push(args.map(String).join(' '));
  try {
    fn();
  } finally {
    console.warn = original;
  }
  return out;
}

/** Float step sizes ||W_t - W_{t-1}||_F / lr of `steps` steps with the same gradient. */
function stepSizes(def: ReturnType<typeof shampoo>, shape: number[], grad: Float32Array, steps: number, lr: number): number[] {
  const p = param('w', shape, new Float32Array(grad.length));
  const opt = buildOptimizer([p], def);
  const out: number[] = [];
  let prev = Float32Array.from(p.variable.dataSync());
  for (let t = 0; t < steps; t++) {
    const g = tf.tensor(grad, shape);
    opt.step(new Map([['w', g]]));
    g.dispose();
    const now = Float32Array.from(p.variable.dataSync());
    out.push(Math.sqrt(now.reduce((acc, x, i) => acc + (x - prev[i]) ** 2, 0)) / lr);
    prev = now;
  }
  opt.dispose();
  p.variable.dispose();
  return out;
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
      return [residual.dataSync()[0], tf.max(tf.abs(tf.sub(root, inverseRootEigh(a, 0.25, 0).root!))).dataSync()[0]];
    });
    a.dispose();
    expect(res).to.be.lessThan(1e-5);
    expect(diff).to.be.lessThan(1e-5);
  });

  it('inverse roots of c A are c^(-1/p) A^(-1/p) at scales whose squares overflow float32 (coupled Newton and eigh, float32 LAPACK included)', () => {
    const a = spd(16, 4);
    for (const c of [1e20, 1e30]) {
      const [newton, eigh, lapack32] = tf.tidy(() => {
        const ca = tf.mul(a, c) as tf.Tensor2D;
        const exact = tf.mul(inverseRootEigh(a, 0.25, 0, { precision: 'float64' }).root!, Math.pow(c, -0.25));
        const rel = (x: tf.Tensor) => tf.div(tf.max(tf.abs(tf.sub(x, exact))), tf.max(tf.abs(exact))).dataSync()[0];
        return [rel(inverseRootNewton(ca, 4, { maxIter: 100 }).root), rel(inverseRootEigh(ca, 0.25, 0, { precision: 'float64' }).root!), rel(inverseRootEigh(ca, 0.25, 0).root!)];
      });
      expect(newton, `newton c=${c}`).to.be.lessThan(1e-4);
      expect(eigh, `eigh float64 c=${c}`).to.be.lessThan(1e-6);
      expect(lapack32, `eigh float32 c=${c}`).to.be.lessThan(1e-3);
    }
    a.dispose();
  });

  it('with beta2 = 1 and no grafting, a constant gradient gives the polar factor of G times t^{-1/2} (spectral descent)', () => {
    // L = t G G^T, R = t G^T G  =>  L^{-1/4} G R^{-1/4} = t^{-1/2} U V^T (docs/optimizers/shampoo.md, "Hand-derivable checks"); F^ = G for a constant G.
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

  it('rank-deficient factors: eigh roots stay finite; a failing Newton root is counted, warned once per factor and reported stale', () => {
    // Rank-1 gradients u v^T: each factor is rank 1. The default eigh route shifts the null space to eps
    // and computes every root; coupled Newton with absolute 1e-12 cannot (condition ~1e12 in float32):
    // its residual test rejects the root, the identity stays, and the failure is counted and reported.
    for (const opts of [{}, { rootMethod: 'newton' }, { rootMethod: 'newton', epsilonMode: 'relative', epsilon: 1e-5 }] as Partial<ShampooOptions>[]) {
      const p = param('w', [16, 12], seeded(16 * 12, 5));
      const def = shampoo({ lr: 0.01, grafting: 'adam', mergeSmallDims: false, ...opts });
      const opt = buildOptimizer([p], def);
      const u = seeded(16, 6);
      const v = seeded(12, 7);
      const warnings = captureWarnings(() => {
        for (let t = 0; t < 4; t++) {
          const grad = tf.tidy(() => tf.mul(tf.mul(tf.tensor2d(u, [16, 1]), tf.tensor2d(v, [1, 12])), 1 + t));
          opt.step(new Map([['w', grad]]));
          grad.dispose();
        }
      });
      const state = opt.state();
      for (const [k, s] of state) expect(Array.from(s.dataSync()).every(Number.isFinite), k).to.equal(true);
      expect(Array.from(p.variable.dataSync()).every(Number.isFinite)).to.equal(true);
      const monitor = shampooMonitor(def)!;
      const failing = opts.rootMethod === 'newton' && opts.epsilonMode !== 'relative';
      const label = JSON.stringify(opts);
      if (failing) {
        const eye = tf.eye(16);
        expect(Array.from(state.get('w/L_inv')!.dataSync())).to.deep.equal(Array.from(eye.dataSync()));
        eye.dispose();
        // 4 steps x 2 factors failed; one warning per factor, naming the parameter and the factor.
        expect(monitor.diagnostics().shampoo_root_failures, label).to.equal(8);
        expect(monitor.diagnostics().shampoo_stale_factors, label).to.equal(2);
        expect(warnings.length, label).to.equal(2);
        expect(warnings[0]).to.match(/'w' factor L \(16x16\) failed at step 1: coupled Newton residual .* rootFailureThreshold 0\.1/);
        expect(warnings[1]).to.match(/'w' factor R \(12x12\)/);
        expect(monitor.factors().map((f) => [f.key, f.stale, f.lastComputedStep, f.failures])).to.deep.equal([['w/L', true, 0, 4], ['w/R', true, 0, 4]]);
      } else {
        expect(monitor.diagnostics().shampoo_root_failures, label).to.equal(0);
        expect(warnings, label).to.deep.equal([]);
        expect(monitor.factors().every((f) => !f.stale && f.lastComputedStep === 4), label).to.equal(true);
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
        const { values } = eighTridiagonalQL(a, n);
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

  it('diagnostics: condition number from the eigenvalues, inverse-root residual', () => {
    // diag(1..8): condition number 8; its exact inverse square root has residual 0.
    const d8 = Array.from({ length: 64 }, (_, k) => (k % 9 === 0 ? k / 9 + 1 : 0));
    expect(eigenvalueRange(d8, 8)).to.deep.equal({ min: 1, max: 8, conditionNumber: 8 });
    const d = tf.tensor2d(d8, [8, 8]);
    const res = tf.tidy(() => inverseRootResidual(d, inverseRootEigh(d, 0.5, 0).root!, 2).dataSync()[0]);
    d.dispose();
    expect(res).to.be.lessThan(1e-5);

    const p = param('w', [5, 4], seeded(20, 10));
    const opts: Partial<ShampooOptions> = { lr: 0.01, mergeSmallDims: false, grafting: 'sgd', epsilon: 1e-4 };
    const def = shampoo(opts);
    const opt = buildOptimizer([p], def);
    for (let t = 0; t < 3; t++) {
      const grad = tf.tensor2d(seeded(20, 300 + t), [5, 4]);
      opt.step(new Map([['w', grad]]));
      grad.dispose();
    }
    const state = opt.state();
    const diag = shampooDiagnostics(state, opts);
    expect(diag.map((x) => x.key).sort()).to.deep.equal(['w/L', 'w/R']);
    const monitor = shampooMonitor(def)!.factors();
    for (const x of diag) {
      // The eigenvalues of L + eps I, from the state, in float64: the condition number is their ratio.
      const fac = state.get(x.key)!;
      const n = fac.shape[0];
      const a = Float64Array.from(fac.dataSync());
      for (let i = 0; i < n; i++) a[i * n + i] += 1e-4;
      const values = eighTridiagonalQL(a, n).values;
      expect(x.conditionNumber).to.be.closeTo(values[n - 1] / values[0], 1e-6 * (values[n - 1] / values[0]));
      expect(x.rootResidual).to.be.lessThan(1e-3);
      // The step's own report agrees (float32 eigenvalues of the same damped factor).
      const own = monitor.find((f) => f.key === x.key)!;
      expect(own.conditionNumber / x.conditionNumber).to.be.closeTo(1, 1e-2);
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

  it("rank-1 case: the same rank-1 G every step moves 1, 0.7071, 0.5774, 0.5 (absolute eps 1e-12); a failed root would move ||G||_F", () => {
    // G = u v^T (8x6), beta1 0, beta2 1, no grafting, lr 1: L_t = t |v|^2 u u^T, R_t = t |u|^2 v v^T, so
    // L^{-1/4} G R^{-1/4} = t^{-1/2} G / ||G||_F and ||W_t - W_{t-1}||_F = t^{-1/2} = 1, 1/sqrt2, 1/sqrt3, 1/2.
    const u = seeded(8, 61);
    const v = seeded(6, 62);
    const g = Float32Array.from({ length: 48 }, (_, k) => u[Math.floor(k / 6)] * v[k % 6] * 3);
    const gNorm = Math.sqrt(g.reduce((acc, x) => acc + x * x, 0));
    const expected = [1, Math.SQRT1_2, 1 / Math.sqrt(3), 0.5];
    const base = { lr: 1, beta1: 0, beta2: 1, grafting: 'none', mergeSmallDims: false } as const;
    const solvers = ['js', ...(lapackAvailable() ? ['lapack'] : [])] as ('js' | 'lapack')[];
    for (const eighSolver of solvers) {
      // epsilon 1e-12, Meta's default: the roots' null-space eigenvalues are (1e-12 + float32 noise)^{-1/4},
      // up to 1e3, and a float32 product X G cancels terms of that size: a few percent of float32 noise
      // (measured up to 3.9% on wasm; Meta's float32 code has the same hazard, see test/fixtures/README.md
      // on its `default` config). A wrong exponent (1/2: 1, 0.5, 0.33, 0.25) or a failed root is far outside.
      const sizes = stepSizes(shampoo({ ...base, epsilon: 1e-12, epsilonMode: 'absolute', eighSolver }), [8, 6], g, 4, 1);
      sizes.forEach((x, t) => expect(x / expected[t], `${eighSolver} eps 1e-12 step ${t + 1}: ${sizes}`).to.be.closeTo(1, 5e-2));
      // epsilon 1e-8 keeps the null space at 1e2: the exact values to 1e-4.
      const well = stepSizes(shampoo({ ...base, epsilon: 1e-8, eighSolver }), [8, 6], g, 4, 1);
      well.forEach((x, t) => expect(x, `${eighSolver} eps 1e-8 step ${t + 1}`).to.be.closeTo(expected[t], 1e-4));
    }
    // Coupled Newton with the same absolute 1e-12 fails every root; the identity stays and each step is
    // the filtered gradient itself: ||G||_F. It says so (captured warnings), instead of running silently.
    let failed: number[] = [];
    const warnings = captureWarnings(() => (failed = stepSizes(shampoo({ ...base, epsilon: 1e-12, rootMethod: 'newton' }), [8, 6], g, 4, 1)));
    failed.forEach((x) => expect(x).to.be.closeTo(gNorm, 1e-4 * gNorm));
    expect(warnings.length).to.equal(2);
  });

  it('coupled Newton: the guard lets a convergent iteration through its rising first step, and exits early', () => {
    // A = H diag(0.5^k) H^T (8x8, condition ~1.3e3): in float64 the elementwise error max|M - I| rises
    // from 0.668 to 0.807 on the first iteration (more than the 1.2x that Google's guard allows), yet the
    // iteration converges.
    const n = 8;
    const h = seeded(n * n, 179 + 1000);
    const a64 = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a64[i * n + j] += h[i * n + k] * h[j * n + k] * 0.5 ** k;
    const fro = Math.sqrt(a64.reduce((acc, x) => acc + x * x, 0));
    const z = 5 / (2 * fro);
    const m0 = Float64Array.from(a64, (x) => x * z);
    const mul = (p: Float64Array, q: Float64Array) => {
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += p[i * n + k] * q[k * n + j];
      return c;
    };
    const err = (m: Float64Array) => Math.max(...Array.from(m, (x, k) => Math.abs(x - (k % (n + 1) === 0 ? 1 : 0))));
    const t1 = Float64Array.from(m0, (x, k) => ((k % (n + 1) === 0 ? 5 : 0) - x) / 4);
    const t2 = mul(t1, t1);
    expect(err(mul(mul(t2, t2), m0)) / err(m0)).to.be.greaterThan(1.2);
    const a = tf.tensor2d(Float32Array.from(a64), [n, n]);
    const [res, diff, iterations] = tf.tidy(() => {
      const r = inverseRootNewton(a, 4, { maxIter: 100, tol: 1e-6, checkEvery: 4 });
      const exact = inverseRootEigh(a, 0.25, 0, { precision: 'float64' }).root!;
      return [r.residual.dataSync()[0], tf.max(tf.abs(tf.sub(r.root, exact))).dataSync()[0] / tf.max(tf.abs(exact)).dataSync()[0], r.iterations];
    });
    a.dispose();
    expect(res).to.be.lessThan(1e-3);
    expect(diff).to.be.lessThan(1e-3);
    expect(iterations).to.be.lessThan(100);
  });

  it('zero-size parameters ([0,4], [4,0], [0]) are a no-op with every route', () => {
    for (const opts of [{}, { oneDim: 'adamw' }, { oneDim: 'graft', grafting: 'adam' }, { mergeSmallDims: false, momentum: 0.9 }] as Partial<ShampooOptions>[]) {
      const ps = [param('a', [0, 4], []), param('b', [4, 0], []), param('c', [0], []), param('d', [3, 2], seeded(6, 1))];
      const opt = buildOptimizer(ps, shampoo(opts));
      const step = () => {
        const grads = new Map(ps.map((p) => [p.name, tf.ones(p.variable.shape)] as [string, tf.Tensor]));
        opt.step(grads);
        tf.dispose([...grads.values()]);
      };
      step();
      const count = tf.memory().numTensors;
      step();
      expect(tf.memory().numTensors, JSON.stringify(opts)).to.equal(count);
      expect(ps.slice(0, 3).map((p) => p.variable.shape)).to.deep.equal([[0, 4], [4, 0], [0]]);
      opt.dispose();
      for (const p of ps) p.variable.dispose();
    }
  });

  it("exponentOverride {2: 0.5} is Meta's Shampoo²: step 1 on a matrix is lr U S^-1 V^T; a vector's step is unchanged", () => {
    // beta1 0, one step: L = G G^T, R = G^T G, (L + eps I)^{-1/2} G (R + eps I)^{-1/2} = U diag(s / (s^2 + eps)) V^T
    // = G (G^T G + eps I)^{-1}; at eps 0 this is U S^{-1} V^T, the fixtures README's check.
    const rows = 6;
    const cols = 4;
    const g = seeded(rows * cols, 90);
    // U S^{-1} V^T = G (G^T G)^{-1}
    const gt = new Float64Array(cols * rows);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) gt[j * rows + i] = g[i * cols + j];
    const { values, vectors } = eighTridiagonalQL(matmul64(gt, g, cols, rows, cols), cols);
    const inv = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) for (let k = 0; k < cols; k++) inv[i * cols + j] += (vectors[k * cols + i] * vectors[k * cols + j]) / (values[k] + 1e-4);
    const expected = matmul64(g, inv, rows, cols, cols);
    const lr = 0.1;
    const base = { lr, beta1: 0, mergeSmallDims: false, epsilon: 1e-4 };
    const w = param('w', [rows, cols], new Float32Array(rows * cols));
    const b = param('b', [5], new Float32Array(5));
    const b2 = param('b2', [5], new Float32Array(5));
    const gb = seeded(5, 91);
    const opt = buildOptimizer([w, b], shampoo({ ...base, exponentOverride: { 2: 0.5 } }));
    const ref = buildOptimizer([b2], shampoo(base));
    const gw = tf.tensor2d(g, [rows, cols]);
    const gbt = tf.tensor1d(gb);
    opt.step(new Map<string, tf.Tensor>([['w', gw], ['b', gbt]]));
    ref.step(new Map([['b2', gbt]]));
    const step = Array.from(w.variable.dataSync(), (x) => -x / lr);
    // 1e-3: L is 6x6 of rank 4, its null space gets eps^{-1/2} = 100 in the float32 root.
    expect(relDiff(step, expected)).to.be.lessThan(1e-3);
    expect(Array.from(b.variable.dataSync())).to.deep.equal(Array.from(b2.variable.dataSync()));
    tf.dispose([gw, gbt]);
    opt.dispose();
    ref.dispose();
    for (const p of [w, b, b2]) p.variable.dispose();
    expect(() => shampoo({ exponentOverride: { 2: { 0: 0.5 } } as never })).to.throw(/per-dimension overrides are not supported/);
    expect(() => shampoo({ exponentOverride: { 2: 0.3 }, rootMethod: 'newton' })).to.throw(/integer root/);
  });

  it("defaults are Meta's DistributedShampoo defaults (test/fixtures/README.md)", () => {
    expect(SHAMPOO_DEFAULTS).to.deep.include({
      lr: 0.01, beta1: 0.9, beta2: 1, epsilon: 1e-12, epsilonMode: 'absolute', weightDecay: 0, weightDecayType: 'decoupled',
      maxPreconditionerDim: 1024, mergeSmallDims: true, preconditionFrequency: 1, startPreconditioningStep: -1, biasCorrection: true,
      grafting: 'none', exponent: 'quarter', momentum: 0, initialRoot: 'identity', rootMethod: 'eigh', rootPrecision: 'float32', oneDim: 'full',
    });
    expect(SHAMPOO_DEFAULTS.exponentOverride).to.deep.equal({});
    // The fixtures of Meta's exact defaults map to no option at all (least squares: only its lr 0.03).
    for (const [name, options] of [['shampoo-meta-default-tall', {}], ['shampoo-meta-default-lsq', { lr: 0.03 }], ['shampoo-meta-default_eps-square', { epsilon: 1e-4 }]] as const) {
      expect(shampooMetaMapping(loadFixture(join(FIXTURE_DIR, `${name}.json`))).options, name).to.deep.equal(options);
    }
    expect(shampooMetaMapping(loadFixture(join(FIXTURE_DIR, 'shampoo-meta-shampoo2-tall.json'))).options).to.deep.equal({ epsilon: 1e-4, mergeSmallDims: false, exponentOverride: { 2: 0.5 } });
  });

  it('the Meta mapping refuses what it does not reproduce, naming the setting', () => {
    const fx = loadFixture(join(FIXTURE_DIR, 'shampoo-meta-blocked-tall.json'));
    const edit = (f: (g: Record<string, any>) => void) => {
      const c = JSON.parse(JSON.stringify(fx));
      f(c.resolved_param_groups[0]);
      return c;
    };
    expect(() => shampooMetaMapping(edit((g) => (g.preconditioner_config.use_trace_scaling = true)))).to.throw(/use_trace_scaling=True is not mapped/);
    expect(() => shampooMetaMapping(edit((g) => (g.beta3 = 0.5)))).to.throw(/beta3=0\.5/);
    expect(() => shampooMetaMapping(edit((g) => (g.weight_decay_type = 'WeightDecayType.CORRECTED', g.weight_decay = 0.1)))).to.throw(/weight_decay_type=CORRECTED/);
    expect(() => shampooMetaMapping(edit((g) => (g.preconditioner_config.amortized_computation_config = { class: 'QREigendecompositionConfig' })))).to.throw(/QREigendecompositionConfig/);
    expect(() => shampooMetaMapping(edit((g) => (g.some_new_knob = 1)))).to.throw(/param group\.some_new_knob/);
    expect(() => shampooMetaMapping(edit((g) => (g.max_preconditioner_dim = 16)))).to.throw(/Meta recorded/);
  });

  it("kozistr ScalableShampoo: weight_decay maps to the direction (start step 1) and is refused where it cannot be reproduced", () => {
    const fx = loadFixture(join(FIXTURE_DIR, 'shampoo-scalable-lsq.json'));
    const withWd = (wd: number, decoupled: boolean, start: number) => {
      const c = JSON.parse(JSON.stringify(fx));
      c.resolved_param_groups[0].weight_decay = wd;
      c.resolved_param_groups[0].decoupled_weight_decay = decoupled;
      c.resolved_attributes.start_preconditioning_step = start;
      return c;
    };
    expect(shampooKozistrFromReference(withWd(0.01, false, 1)).options).to.deep.include({ weightDecay: 0.01, weightDecayType: 'decoupled' });
    expect(() => shampooKozistrFromReference(withWd(0.01, true, 1))).to.throw(/decoupled_weight_decay=True is not mapped/);
    expect(() => shampooKozistrFromReference(withWd(0.01, false, 25))).to.throw(/start_preconditioning_step=25 is not mapped/);
  });

  it("the route transforms and shampooMonitor report failures, stale factors and cond_max as host numbers", () => {
    const def = shampoo({ lr: 0.01, mergeSmallDims: false, epsilon: 1e-4 });
    const w = param('w', [4, 3], seeded(12, 3));
    const b = param('b', [3], seeded(3, 4));
    const opt = buildOptimizer([w, b], def);
    for (let t = 0; t < 2; t++) {
      const grads = new Map([['w', tf.tensor2d(seeded(12, 10 + t), [4, 3])], ['b', tf.tensor1d(seeded(3, 20 + t))]] as [string, tf.Tensor][]);
      opt.step(grads);
      tf.dispose([...grads.values()]);
    }
    const monitor = shampooMonitor(def)!;
    expect(monitor.factors().map((f) => f.key)).to.deep.equal(['w/L', 'w/R', 'b/L']);
    const d = monitor.diagnostics();
    expect(d.shampoo_root_failures).to.equal(0);
    expect(d.shampoo_stale_factors).to.equal(0);
    expect(d.cond_max).to.equal(Math.max(...monitor.factors().map((f) => f.conditionNumber)));
    expect(d.cond_max).to.be.greaterThan(1);
    const routes = (def as unknown as { routes: { transform: { rootReport?: () => Record<string, number> } }[] }).routes;
    expect(routes[0].transform.rootReport!().cond_max).to.be.at.most(d.cond_max);
    expect(shampooMonitor(adamw())).to.equal(null);
    opt.dispose();
    w.variable.dispose();
    b.variable.dispose();
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
