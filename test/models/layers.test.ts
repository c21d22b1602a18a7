import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { accuracy, batchMatMul, causalMask, crossEntropy, dropout, embed, gelu, layerNorm, matMul2d, oneHotFloat, Rng, selfAttention } from '../../models/layers.js';
import { describeBackends } from '../shared/backends.js';
import { seeded } from '../shared/problems.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  expect(a.length).to.equal(b.length);
  for (let i = 0; i < a.length; i++) expect(a[i]).to.be.closeTo(b[i], tol, `index ${i}`);
};
const values = (t: tf.Tensor) => Array.from(t.dataSync());

describeBackends('layers', () => {
  it('matMul2d: value and gradients equal tf.matMul (both transpose choices of the b gradient)', () => tf.tidy(() => {
    for (const [m, k, n] of [[5, 3, 4], [4, 6, 2]]) {
      const a = tf.tensor2d(seeded(m * k, 1), [m, k]);
      const b = tf.tensor2d(seeded(k * n, 2), [k, n]);
      const dy = tf.tensor2d(seeded(m * n, 3), [m, n]);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), dy));
      const ref = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), dy));
      const [ga, gb] = tf.grads(f)([a, b]);
      const [ra, rb] = tf.grads(ref)([a, b]);
      close(values(matMul2d(a, b)), values(tf.matMul(a, b)));
      close(values(ga), values(ra));
      close(values(gb), values(rb));
      tf.dispose([a, b, dy, ga, gb, ra, rb]);
    }
  }));

  it('batchMatMul: value and gradients equal tf.matMul on rank 3', () => tf.tidy(() => {
    const a = tf.tensor3d(seeded(2 * 3 * 4, 4), [2, 3, 4]);
    const b = tf.tensor3d(seeded(2 * 4 * 5, 5), [2, 4, 5]);
    const dy = tf.tensor3d(seeded(2 * 3 * 5, 6), [2, 3, 5]);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(batchMatMul(x as tf.Tensor3D, y as tf.Tensor3D), dy)))([a, b]);
    const [ra, rb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D), dy)))([a, b]);
    close(values(ga), values(ra));
    close(values(gb), values(rb));
    tf.dispose([a, b, dy, ga, gb, ra, rb]);
  }));

  it('oneHotFloat gives exact ones (no denormals) and embed equals row lookup', () => tf.tidy(() => {
    const oh = oneHotFloat(tf.tensor1d([2, 0], 'int32'), 3);
    expect(values(oh)).to.deep.equal([0, 0, 1, 1, 0, 0]);
    const table = tf.tensor2d(seeded(12, 7), [4, 3]);
    const rows = table.arraySync();
    const e = embed(tf.tensor2d([[3, 1]], [1, 2], 'int32'), table);
    expect(e.shape).to.deep.equal([1, 2, 3]);
    close(values(e), [...rows[3], ...rows[1]]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(embed(tf.tensor1d([1, 1, 2], 'int32'), t)))(table);
    // d/dtable of the summed lookups: row 1 read twice, row 2 once.
    expect(values(g)).to.deep.equal([0, 0, 0, 2, 2, 2, 1, 1, 1, 0, 0, 0]);
    tf.dispose([oh, table, e, g]);
  }));

  it('gelu matches the tanh formula and its gradient matches central differences', () => tf.tidy(() => {
    const xs = [-3, -1, -0.2, 0, 0.5, 2];
    const f = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    const x = tf.tensor1d(xs);
    close(values(gelu(x)), xs.map(f));
    const g = tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x);
    close(values(g), xs.map((v) => (f(v + 1e-4) - f(v - 1e-4)) / 2e-4), 1e-4);
    tf.dispose([x, g]);
  }));

  it('crossEntropy equals -mean log softmax at the targets, gradient (softmax - onehot)/N', () => tf.tidy(() => {
    const logits = tf.tensor2d(seeded(12, 8).map((v) => v * 3), [3, 4]);
    const y = tf.tensor1d([0, 3, 2], 'int32');
    const ref = (z: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(z), oneHotFloat(y, 4)), 1)));
    expect(crossEntropy(logits, y).dataSync()[0]).to.be.closeTo(ref(logits).dataSync()[0], 1e-5);
    close(values(tf.grad((z: tf.Tensor) => crossEntropy(z, y))(logits)), values(tf.grad(ref)(logits)));
    expect(accuracy(tf.tensor2d([[0, 1], [2, 1]]), tf.tensor1d([1, 1], 'int32')).dataSync()[0]).to.equal(0.5);
    tf.dispose([logits, y]);
  }));

  it('layerNorm gives zero mean and unit variance per row, then gain and bias', () => tf.tidy(() => {
    const x = tf.tensor2d(seeded(10, 9).map((v) => v * 5 + 2), [2, 5]);
    const y = layerNorm(x).arraySync() as number[][];
    for (const row of y) {
      const mean = row.reduce((a, b) => a + b, 0) / 5;
      const varc = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 5;
      expect(mean).to.be.closeTo(0, 1e-5);
      expect(varc).to.be.closeTo(1, 1e-3);
    }
    const z = layerNorm(x, tf.fill([5], 2), tf.fill([5], 1)).arraySync() as number[][];
    close(z.flat(), y.flat().map((v) => 2 * v + 1));
    x.dispose();
  }));

  it('causal mask: attention weights above the diagonal are exactly zero, rows sum to 1', () => tf.tidy(() => {
    const m = causalMask(4);
    expect(m.dtype).to.equal('float32');
    const w = tf.softmax(tf.add(tf.tensor2d(seeded(16, 10), [4, 4]), m)).arraySync() as number[][];
    for (let i = 0; i < 4; i++) {
      for (let j = i + 1; j < 4; j++) expect(w[i][j]).to.equal(0);
      expect(w[i].reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-6);
    }
    m.dispose();
  }));

  it('selfAttention with one head and identity projections equals softmax(q k^T / sqrt(d) + mask) v', () => tf.tidy(() => {
    const t = 3;
    const c = 2;
    const x = tf.tensor3d(seeded(t * c, 11), [1, t, c]);
    const eye = tf.eye(c);
    const wQkv = tf.concat([eye, eye, eye], 1);
    const mask = causalMask(t);
    const got = values(selfAttention(x, { wQkv, wProj: eye }, 1, mask));
    const x2 = tf.reshape(x, [t, c]) as tf.Tensor2D;
    const ref = tf.matMul(tf.softmax(tf.add(tf.div(tf.matMul(x2, x2, false, true), Math.sqrt(c)), mask)), x2);
    close(got, values(ref));
    tf.dispose([x, eye, wQkv, mask, x2, ref]);
  }));

  it('dropout: rate 0 is the identity; a seeded mask zeroes about rate of the entries and rescales the rest', () => tf.tidy(() => {
    const x = tf.ones([1000]);
    expect(dropout(x, 0, new Rng(1))).to.equal(x);
    const a = values(dropout(x, 0.25, new Rng(1)));
    const b = values(dropout(x, 0.25, new Rng(1)));
    expect(a).to.deep.equal(b);
    const zeros = a.filter((v) => v === 0).length;
    expect(zeros).to.be.within(200, 300);
    for (const v of a) if (v !== 0) expect(v).to.be.closeTo(1 / 0.75, 1e-6);
    x.dispose();
  }));
});
