import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { DiagnosticsRecorder, lanczosExtremes, singularValueRange } from '../../optimizers/diagnostics.js';
import { OPTIMIZERS } from '../../optimizers/index.js';
import { orthogonalize } from '../../optimizers/linalg.js';
import { eighTridiagonalQL as eighJacobi } from '../../optimizers/eigh.js';
import { coshBrake } from '../../optimizers/auon.js';
import { racs } from '../../optimizers/reg.js';
import { momentumStep } from '../../optimizers/momentum.js';
import { describeBackends } from '../shared/backends.js';
import { cloneParams, disposeParams, gradsOf, makeParams, MIXED_SPECS, quadratic, seeded } from '../shared/problems.js';

/** Exact singular values of a row-major r x c matrix: square roots of the eigenvalues of its c x c Gram matrix (float64 Jacobi). */
function singularValues(a: ArrayLike<number>, r: number, c: number): number[] {
  const g = new Float64Array(c * c);
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) for (let k = 0; k < r; k++) g[i * c + j] += a[k * c + i] * a[k * c + j];
  return [...eighJacobi(g, c).values].map((v) => Math.sqrt(Math.max(v, 0))).sort((x, y) => x - y);
}

function oneParam(name: string, shape: number[], role: Parameter['role'], seed: number): Parameter {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, role, variable: tf.variable(tf.tensor(seeded(n, seed), shape), true, `diag_test/${name}/${seed}/${Math.random()}`) };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe('diagnostics: Lanczos', () => {
  it('finds the extreme eigenvalues of a symmetric PSD matrix', () => {
    // diag(4, 1, 0.25) rotated by a Givens rotation: eigenvalues 4, 1, 0.25 whatever the rotation (3 steps: exact).
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const q = [c, -s, 0, s, c, 0, 0, 0, 1];
    const d = [4, 1, 0.25];
    const a = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) a[i * 3 + j] += q[i * 3 + k] * d[k] * q[j * 3 + k];
    const e = lanczosExtremes(a, 3);
    expect(rel(e.max, 4)).to.be.lessThan(1e-12);
    expect(rel(e.min, 0.25)).to.be.lessThan(1e-12);
    const r = singularValueRange(a, 3);
    expect(rel(r.max, 2)).to.be.lessThan(1e-12);
    expect(rel(r.min, 0.5)).to.be.lessThan(1e-12);
  });

  it('24 steps give the largest eigenvalue of a 100 x 100 Gram matrix; Ritz values stay inside the spectrum', () => {
    // G = X^T X for a 150 x 100 matrix with entries in [-1, 1): a Marchenko-Pastur-like spread.
    const x = seeded(150 * 100, 5);
    const g = new Float64Array(100 * 100);
    for (let i = 0; i < 100; i++) for (let j = 0; j < 100; j++) for (let k = 0; k < 150; k++) g[i * 100 + j] += x[k * 100 + i] * x[k * 100 + j];
    const exact = [...eighJacobi(g, 100).values].sort((p, q) => p - q);
    const e = lanczosExtremes(g, 100, 24);
    expect(rel(e.max, exact[99])).to.be.lessThan(1e-6);
    // The lower edge of a Wishart spectrum converges slowly (about 11% high after 24 steps here); Ritz values never leave the spectrum.
    expect(e.min).to.be.at.least(exact[0] * (1 - 1e-9));
    expect(e.min).to.be.lessThan(exact[0] * 1.2);
  });
});

describe('diagnostics: orthogonality error', () => {
  it('is 0 for a rank-deficient partial isometry, whose smallest singular value is 0', () => {
    // O = first two columns of I_4 as a 4x3 matrix with a zero third column: singular values 1, 1, 0.
    const p = oneParam('w', [4, 3], 'matrix', 1);
    const rec = new DiagnosticsRecorder(() => 'r');
    const o = tf.tensor2d([1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], [4, 3]);
    rec.singularValues(p, 'ns', o);
    const d = rec.read();
    expect(d['r/ns_orth_error']).to.equal(0);
    expect(d['r/ns_sv_min']).to.be.lessThan(1e-6);
    expect(Math.abs(d['r/ns_sv_max'] - 1)).to.be.lessThan(1e-6);
    o.dispose();
    p.variable.dispose();
  });
});

describeBackends('diagnostics', () => {
  it('every optimizer reports its keys, finite values, the same update as without diagnostics, and no tensor growth', () => {
    // Two same-shape matrices, so methods with updateMany (batched Newton-Schulz with 'always') run it.
    const specs = [...MIXED_SPECS, { name: 'blocks.1.w', shape: [6, 4], role: 'matrix' as const }];
    const loss = quadratic(specs);
    const cases: [string, () => ReturnType<(typeof OPTIMIZERS)[string]>][] = [
      ...Object.entries(OPTIMIZERS).map(([n, f]) => [n, () => f({})] as [string, () => ReturnType<typeof f>]),
      ...['muon', 'mars-m', 'hybrid-auon'].map((n) => [`${n} batched`, () => OPTIMIZERS[n]({ batchNewtonSchulz: 'always' })] as [string, () => ReturnType<(typeof OPTIMIZERS)[string]>]),
      ['mars-shampoo', () => OPTIMIZERS.mars({ marsType: 'mars-shampoo' })],
    ];
    for (const [name, make] of cases) {
      const a = makeParams(specs, 3);
      const b = cloneParams(a);
      const optA = buildOptimizer(a, make());
      const optB = buildOptimizer(b, make());
      let counted = -1;
      for (let step = 1; step <= 4; step++) {
        const ga = gradsOf(loss, a).grads;
        const gb = gradsOf(loss, b).grads;
        optA.step(ga, { diagnose: true, lrScale: 0.5 });
        optB.step(gb, { lrScale: 0.5 });
        tf.dispose([...ga.values(), ...gb.values()]);
        const d = optA.diagnostics();
        expect(optB.diagnostics(), name).to.deep.equal({});
        expect(Object.keys(d).sort(), `${name} keys`).to.deep.equal(optA.diagnosticKeys());
        for (const [k, v] of Object.entries(d)) expect(Number.isFinite(v), `${name} ${k} = ${v}`).to.equal(true);
        expect(optA.diagnostics(), `${name}: a second read is empty`).to.deep.equal({});
        if (step === 2) counted = tf.memory().numTensors;
        if (step > 2) expect(tf.memory().numTensors, `${name} tensors at step ${step}`).to.equal(counted);
      }
      // Diagnosing a step must not change it.
      a.forEach((p, i) => expect(Array.from(p.variable.dataSync()), `${name} ${p.name}`).to.deep.equal(Array.from(b[i].variable.dataSync())));
      optA.step(new Map(a.map((p) => [p.name, tf.zerosLike(p.variable)])), { diagnose: true });
      optA.dispose();
      optB.dispose();
      disposeParams(a);
      disposeParams(b);
    }
  });

  it('update RMS, update-to-weight ratio and spectral norm match a direct computation (SGD)', () => {
    const p = oneParam('w', [6, 4], 'matrix', 11);
    const g = seeded(24, 12);
    const w0 = Float64Array.from(p.variable.dataSync());
    const opt = buildOptimizer([p], OPTIMIZERS.sgd({ lr: 0.1, momentum: 0 }));
    const gt = tf.tensor(g, [6, 4]);
    opt.step(new Map([['w', gt]]), { diagnose: true });
    gt.dispose();
    const d = opt.diagnostics();
    const w1 = p.variable.dataSync();
    const delta = Array.from(w1, (v, i) => v - w0[i]);
    const sq = delta.reduce((s, x) => s + x * x, 0);
    const sqW = w0.reduce((s, x) => s + x * x, 0);
    expect(rel(d['all/update_rms'], Math.sqrt(sq / 24))).to.be.lessThan(1e-5);
    expect(rel(d['all/update_weight_ratio'], Math.sqrt(sq / sqW))).to.be.lessThan(1e-5);
    const sv = singularValues(delta, 6, 4);
    expect(rel(d['all/update_spectral_norm'], sv[3])).to.be.lessThan(1e-4);
    opt.dispose();
    p.variable.dispose();
  });

  it("Newton-Schulz singular values (Muon) match the orthogonalized direction's exact ones", () => {
    const p = oneParam('blocks.0.w', [8, 5], 'matrix', 21);
    const g = tf.tensor(seeded(40, 22), [8, 5]);
    // Step 1 of Keller's Muon: momentum from zero, Nesterov direction lerp(g, m, 0.95), then NS5.
    const o = tf.tidy(() => orthogonalize(momentumStep(tf.zeros([8, 5]), g, 0.95, 'ema', true).direction));
    const sv = singularValues(o.dataSync(), 8, 5);
    const opt = buildOptimizer([p], OPTIMIZERS.muon({ batchNewtonSchulz: 'never' }));
    opt.step(new Map([['blocks.0.w', g]]), { diagnose: true });
    const d = opt.diagnostics();
    expect(Math.abs(d['muon/ns_sv_min'] - sv[0])).to.be.lessThan(2e-3);
    expect(Math.abs(d['muon/ns_sv_max'] - sv[4])).to.be.lessThan(2e-3);
    // ||G^2 - G||_F / ||G||_F with G = O^T O, from the exact singular values: sqrt(sum s^4 (s^2 - 1)^2 / sum s^4).
    const num = sv.reduce((a, s) => a + s ** 4 * (s * s - 1) ** 2, 0);
    const den = sv.reduce((a, s) => a + s ** 4, 0);
    expect(rel(d['muon/ns_orth_error'], Math.sqrt(num / den))).to.be.lessThan(1e-3);
    // NS5's output singular values lie in about [0.68, 1.13] (spec), so the error is well away from 0.
    expect(d['muon/ns_orth_error']).to.be.greaterThan(0.01);
    tf.dispose([g, o]);
    opt.dispose();
    p.variable.dispose();
  });

  it('MARS-M correction norm and clipping, AuON scale and REG spreads match direct computations', () => {
    const shape = [6, 4];
    const gv = seeded(24, 31).map((x) => x * 0.2);
    // MARS-M step 1: g_prev = 0, c = g + gamma b/(1-b) g = (1 + 0.025 * 0.95 / 0.05) g = 1.475 g.
    const gNorm = Math.sqrt(gv.reduce((s, x) => s + x * x, 0));
    for (const [scale, clipped] of [[1, gNorm * 1.475 > 1 ? 1 : 0], [10, 1]] as const) {
      const p = oneParam('m', shape, 'matrix', 32);
      const opt = buildOptimizer([p], OPTIMIZERS['mars-m']({}));
      const g = tf.tensor(gv.map((x) => x * scale), shape);
      opt.step(new Map([['m', g]]), { diagnose: true });
      const d = opt.diagnostics();
      expect(rel(d['mars-m/correction_norm'], 1.475 * gNorm * scale)).to.be.lessThan(1e-5);
      expect(d['mars-m/clip_fraction']).to.equal(clipped);
      g.dispose();
      opt.dispose();
      p.variable.dispose();
    }
    // AuON step 1 (code mode, mu 0.95): m = lerp(0, g, 0.05) = 0.05 g, u = lerp(g, m, 0.95) = g + 0.95 (m - g); scale 1 / (r(u) + 1e-8).
    {
      const p = oneParam('a', shape, 'matrix', 33);
      const g = tf.tensor(gv, shape);
      const expected = tf.tidy(() => {
        const m = tf.mul(g, 0.05);
        const u = tf.add(g, tf.mul(tf.sub(m, g), 0.95));
        return 1 / (coshBrake(u, 1.5).dataSync()[0] + 1e-8);
      });
      const opt = buildOptimizer([p], OPTIMIZERS.auon({}));
      opt.step(new Map([['a', g]]), { diagnose: true });
      expect(rel(opt.diagnostics()['auon/auon_scale'], expected)).to.be.lessThan(1e-6);
      g.dispose();
      opt.dispose();
      p.variable.dispose();
    }
    // REG step 1 (sum momentum, Nesterov): m = g, u = g + 0.95 g = 1.95 g; spreads of RACS(u)'s row and column norms.
    {
      const p = oneParam('r', shape, 'matrix', 34);
      const g = tf.tensor(gv, shape);
      const r = tf.tidy(() => racs(tf.mul(g, 1.95) as tf.Tensor2D).arraySync());
      const rows = r.map((row) => Math.hypot(...row));
      const cols = r[0].map((_, j) => Math.hypot(...r.map((row) => row[j])));
      const opt = buildOptimizer([p], OPTIMIZERS.reg({}));
      opt.step(new Map([['r', g]]), { diagnose: true });
      const d = opt.diagnostics();
      expect(rel(d['reg/reg_row_spread'], Math.max(...rows) / Math.min(...rows))).to.be.lessThan(1e-5);
      expect(rel(d['reg/reg_col_spread'], Math.max(...cols) / Math.min(...cols))).to.be.lessThan(1e-5);
      g.dispose();
      opt.dispose();
      p.variable.dispose();
    }
  });
});
