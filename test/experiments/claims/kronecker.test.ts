import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { frobenius, KroneckerStats, kroneckerCosine, optimalKronecker, parseKroneckerCsv, kroneckerCsv, rearrange, rearrangedMatVec, rearrangedMatVecT, resolveKroneckerOptions, runKronecker, similarities } from '../../../experiments/claims/kronecker_experiment.js';
import { buildOptimizer } from '../../../optimizers/core.js';
import { shampoo } from '../../../optimizers/shampoo.js';
import { Rng } from '../../../models/layers.js';
import { describeBackends } from '../../shared/backends.js';

const randn = (k: number, rng: Rng) => Float64Array.from({ length: k }, () => rng.normal());
/** Dense A (x) B of row-major A [p, p], B [q, q]. */
function kron(a: ArrayLike<number>, p: number, b: ArrayLike<number>, q: number): Float64Array {
  const d = p * q;
  const out = new Float64Array(d * d);
  for (let i = 0; i < p; i++) for (let k = 0; k < p; k++) for (let j = 0; j < q; j++) for (let l = 0; l < q; l++) out[(i * q + j) * d + k * q + l] = a[i * p + k] * b[j * q + l];
  return out;
}
/** X X^T of a random [k, k] X: a random PSD matrix. */
function randomPsd(k: number, rng: Rng): Float64Array {
  const x = randn(k * k, rng);
  const out = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) for (let q = 0; q < k; q++) out[i * k + j] += x[i * k + q] * x[j * k + q];
  return out;
}
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  expect(actual.length, what).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).to.be.at.most(tol);
}

describe('kronecker: optimal Kronecker approximation in float64 (experiments/claims/kronecker_experiment.ts)', () => {
  it('the rearrangement turns <H, A (x) B> into vec(A)^T M vec(B), and the matvecs equal the dense M', () => {
    const rng = new Rng(1);
    const [m, n] = [3, 2];
    const h = randn((m * n) ** 2, rng);
    const a = randn(m * m, rng);
    const b = randn(n * n, rng);
    const K = kron(a, m, b, n);
    let direct = 0;
    for (let i = 0; i < K.length; i++) direct += h[i] * K[i];
    const M = rearrange(h, m, n);
    const mb = rearrangedMatVec(h, m, n, b);
    let viaM = 0;
    for (let i = 0; i < m * m; i++) viaM += a[i] * mb[i];
    expect(viaM).to.be.closeTo(direct, 1e-10);
    // Dense M v and M^T u against the fast index loops.
    const dense = (v: ArrayLike<number>) => Array.from({ length: m * m }, (_, r) => b.reduce((s, _x, c) => s + M[r * n * n + c] * v[c], 0));
    expectClose(mb, dense(b), 1e-12, 'M b');
    const mta = rearrangedMatVecT(h, m, n, a);
    const denseT = Array.from({ length: n * n }, (_, c) => a.reduce((s, _x, r) => s + M[r * n * n + c] * a[r], 0));
    expectClose(mta, denseT, 1e-12, 'M^T a');
  });

  it('a matrix that is a Kronecker product A (x) B (random PSD A, B) has optimal cosine 1, with factors proportional to A and B', () => {
    const rng = new Rng(7);
    const [m, n] = [4, 3];
    const A = randomPsd(m, rng);
    const B = randomPsd(n, rng);
    const h = kron(A, m, B, n);
    const f = optimalKronecker(h, m, n);
    expect(f.converged).to.equal(true);
    expect(f.sigma / frobenius(h)).to.be.closeTo(1, 1e-10);
    const an = frobenius(A);
    const bn = frobenius(B);
    expectClose(f.a, A.map((x) => x / an), 1e-9, 'A');
    expectClose(f.b, B.map((x) => x / bn), 1e-9, 'B');
    // One power step from the identity is already exact here: L = tr(B) A, R = tr(A) B.
    expect(kroneckerCosine(h, m, n, f.a, f.b)).to.be.closeTo(1, 1e-10);
  });

  it('a layer whose gradients are exactly Kronecker-structured (vec G_t = c_t a (x) b, random a, b) gives optimal cosine 1', () => {
    const rng = new Rng(3);
    const [m, n] = [5, 4];
    const a = randn(m, rng);
    const b = randn(n, rng);
    const st = new KroneckerStats(m, n);
    for (let t = 0; t < 6; t++) {
      const c = rng.normal();
      st.add(Float64Array.from({ length: m * n }, (_, p) => c * a[Math.floor(p / n)] * b[p % n]));
    }
    const s = similarities(st);
    expect(s.converged).to.equal(true);
    expect(s.optimal).to.be.closeTo(1, 1e-10);
    // H = (sum c^2) (a a^T) (x) (b b^T); L, R are multiples of a a^T and b b^T, so Shampoo² is exact too.
    expect(s.shampoo2).to.be.closeTo(1, 1e-10);
  });

  it('the power iteration matches a float64 dense SVD of the rearranged matrix (numpy) on a 4 x 3 case', () => {
    // Three gradients G_1..G_3 [4, 3]; H = sum vec(G) vec(G)^T (row-major vec), 12 x 12. Expected values
    // from numpy 2.4 in float64, independently of this file's index loops:
    //   M = H.reshape(4,3,4,3).transpose(0,2,1,3).reshape(16,9); U,s,Vt = np.linalg.svd(M)
    //   A = U[:,0].reshape(4,4), B = Vt[0].reshape(3,3) (sign: trace(A) > 0)
    //   cos(K) = (H*K).sum() / |H| / |K|, Shampoo² K = kron(L, R), Shampoo K = kron(sqrtm(L), sqrtm(R)) (eigh)
    // s[0] = 27.317728405771778, s[1] = 23.078243362017677 (a slow ratio 1.18: ~120 iterations to 1e-9),
    // |H|_F = 48.4458460551573.
    const G = [
      [1, 2, 0, 0, -1, 3, 2, 1, 1, -1, 0, 2],
      [0, 1, -2, 1, 1, 0, 3, 0, -1, 2, -2, 1],
      [2, -1, 1, 1, 0, 1, 0, 2, 2, 1, 3, -1],
    ];
    const st = new KroneckerStats(4, 3);
    for (const g of G) st.add(g);
    expect(frobenius(st.h)).to.be.closeTo(48.4458460551573, 1e-12);
    const f = optimalKronecker(st.h, 4, 3, { tol: 1e-12, maxIter: 5000 });
    expect(f.converged).to.equal(true);
    expect(f.sigma).to.be.closeTo(27.317728405771778, 1e-9);
    const A = [0.3647401375744223, 0.04295466734670056, 0.1467801411998859, -0.1896097225843086, 0.04295466734670049, 0.3287267067047371, 0.16873458552018797, 0.12341096812272702, 0.1467801411998859, 0.16873458552018802, 0.4608894476440767, 0.1619883751919609, -0.1896097225843087, 0.12341096812272707, 0.16198837519196096, 0.5365797785954693];
    const B = [0.5535121910591786, 0.06128584213706967, 0.09374336793539689, 0.06128584213706968, 0.5508808684678137, -0.09514706731836442, 0.09374336793539685, -0.09514706731836442, 0.5890339950374698];
    expectClose(f.a, A, 1e-8, 'A');
    expectClose(f.b, B, 1e-8, 'B');
    const s = similarities(st, { tol: 1e-12, maxIter: 5000 });
    expect(s.optimal).to.be.closeTo(0.5638817490083584, 1e-10);
    expect(s.shampoo2).to.be.closeTo(0.5563213052362515, 1e-12);
    expect(s.shampoo).to.be.closeTo(0.5453477993821896, 1e-9);
  });

  it('reports a capped power iteration as not converged instead of passing it off as optimal', () => {
    const st = new KroneckerStats(4, 3);
    for (const g of [[1, 2, 0, 0, -1, 3, 2, 1, 1, -1, 0, 2], [0, 1, -2, 1, 1, 0, 3, 0, -1, 2, -2, 1], [2, -1, 1, 1, 0, 1, 0, 2, 2, 1, 3, -1]]) st.add(g);
    const s = similarities(st, { maxIter: 2, tol: 1e-12 });
    expect(s.converged).to.equal(false);
    expect(s.powerIterations).to.equal(2);
    expect(s.optimal).to.be.at.most(0.5638817490083584 + 1e-12); // a lower bound
    expect(() => similarities(new KroneckerStats(2, 2))).to.throw(/zero/);
  });
});

describeBackends('kronecker: Shampoo factors and the training loop', () => {
  it('with beta2 = 1 and one step, the Shampoo² factors are G G^T and G^T G, and equal optimizers/shampoo.ts state', () => {
    // G = [[1, 2, 0], [0, -1, 3], [2, 1, 1], [-1, 0, 2]] (4 x 3).
    // G G^T row by row: [1+4+0, 0-2+0, 2+2+0, -1+0+0] = [5, -2, 4, -1]; [-2, 0+1+9, 0-1+3, 0+0+6] = [-2, 10, 2, 6];
    // [4, 2, 4+1+1, -2+0+2] = [4, 2, 6, 0]; [-1, 6, 0, 1+0+4] = [-1, 6, 0, 5].
    // G^T G: column dots: [1+0+4+1, 2+0+2+0, 0+0+2-2] = [6, 4, 0]; [4, 4+1+1+0, 0-3+1+0] = [4, 6, -2]; [0, -2, 0+9+1+4] = [0, -2, 14].
    const G = [1, 2, 0, 0, -1, 3, 2, 1, 1, -1, 0, 2];
    const st = new KroneckerStats(4, 3, 1);
    st.add(G);
    expect(Array.from(st.l)).to.deep.equal([5, -2, 4, -1, -2, 10, 2, 6, 4, 2, 6, 0, -1, 6, 0, 5]);
    expect(Array.from(st.r)).to.deep.equal([6, 4, 0, 4, 6, -2, 0, -2, 14]);
    // The same factors as the optimizer's own state (Shampoo² = exponent 'half'; no merging of this small matrix).
    const w = tf.variable(tf.zeros([4, 3]), true, 'kron.test.w');
    const opt = buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], shampoo({ exponent: 'half', beta2: 1, mergeSmallDims: false }));
    const g = tf.tensor2d(G, [4, 3]);
    opt.step(new Map([['w', g]]));
    const state = opt.state();
    expectClose(state.get('w/L')!.dataSync(), st.l, 1e-5, 'shampoo L');
    expectClose(state.get('w/R')!.dataSync(), st.r, 1e-5, 'shampoo R');
    tf.dispose([...state.values(), g]);
    opt.dispose();
    w.dispose();
  });

  it('with beta2 < 1 the factors follow the EMA of optimizers/shampoo.ts over two steps', () => {
    const rng = new Rng(11);
    const gs = [randn(12, rng), randn(12, rng)];
    const st = new KroneckerStats(4, 3, 0.9);
    const w = tf.variable(tf.zeros([4, 3]), true, 'kron.test.w2');
    const opt = buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], shampoo({ exponent: 'half', beta2: 0.9, mergeSmallDims: false }));
    for (const g of gs) {
      st.add(g);
      const t = tf.tensor2d(Float32Array.from(g), [4, 3]);
      opt.step(new Map([['w', t]]));
      t.dispose();
    }
    const state = opt.state();
    expectClose(state.get('w/L')!.dataSync(), st.l, 1e-5, 'L');
    expectClose(state.get('w/R')!.dataSync(), st.r, 1e-5, 'R');
    tf.dispose([...state.values()]);
    opt.dispose();
    w.dispose();
  });

  it('checks options before any work: unknown task, layer, too large a layer', () => {
    expect(() => resolveKroneckerOptions({ task: 'cifar' })).to.throw(/unknown task 'cifar'/);
    expect(() => resolveKroneckerOptions({ task: 'gpt', optimizer: 'adamz' })).to.throw(/unknown optimizer 'adamz'/);
    expect(() => resolveKroneckerOptions({ task: 'gpt', steps: 0 })).to.throw(/steps must be a positive integer/);
    const tiny = { steps: 1, every: 1, gnSamples: 0, gpt: { contextLength: 8, width: 8, nHead: 2, nLayer: 1 } };
    expect(() => runKronecker(resolveKroneckerOptions({ task: 'gpt', ...tiny, layers: ['blocks.0.nope'] }))).to.throw(/no parameter 'blocks.0.nope'.*blocks.0.attn.proj \[8,8\]/);
    expect(() => runKronecker(resolveKroneckerOptions({ task: 'gpt', ...tiny, layers: ['blocks.0.mlp.fc'], maxDim: 100 }))).to.throw(/\[8, 32\] has an Adagrad matrix of 256 x 256.*above maxDim 100/);
    expect(() => runKronecker(resolveKroneckerOptions({ task: 'gpt', ...tiny, layers: ['blocks.0.ln1.g'] }))).to.throw(/not a matrix/);
  });

  it('a tiny GPT run: rows per layer, matrix and evaluation; optimal >= both Shampoos; flat tensor count; CSV round trip', () => {
    const opts = resolveKroneckerOptions({ task: 'gpt', steps: 4, every: 2, batchSize: 2, gnSamples: 3, layers: ['blocks.0.attn.proj'], gpt: { contextLength: 8, width: 8, nHead: 2, nLayer: 1 } });
    const before = tf.memory().numTensors;
    const res = runKronecker(opts);
    expect(tf.memory().numTensors).to.equal(before);
    expect(res.rows.map((r) => `${r.step}/${r.matrix}`)).to.deep.equal(['2/adagrad', '2/gauss-newton', '4/adagrad', '4/gauss-newton']);
    for (const r of res.rows) {
      expect(r.converged).to.equal(1);
      expect(r.optimal).to.be.at.most(1 + 1e-12);
      expect(r.optimal + 1e-9).to.be.at.least(r.shampoo2);
      expect(r.optimal + 1e-9).to.be.at.least(r.shampoo);
    }
    expect(res.rows.filter((r) => r.matrix === 'adagrad').map((r) => r.samples)).to.deep.equal([2, 4]);
    expect(res.rows.filter((r) => r.matrix === 'gauss-newton').map((r) => r.samples)).to.deep.equal([3, 3]);
    const back = parseKroneckerCsv(kroneckerCsv(res.rows));
    expect(back[1].matrix).to.equal('gauss-newton');
    expect(back[1].optimal).to.be.closeTo(res.rows[1].optimal, 1e-7);
  });
});
