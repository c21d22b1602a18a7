/**
 * The native Newton-Schulz kernel (native/newton_schulz.c, `fusedOps().newtonSchulz`, used by
 * optimizers/linalg.ts on wasm with the native kernels) against the tfjs ops of linalg.ts on plain
 * wasm and on cpu: wide, tall and square matrices, stacks, both coefficient sets; scale safety (c G
 * for c from 1e-30 to 1e30), zeros, non-finite input; gradient recording falls back to the tfjs ops;
 * no tensor leaks. Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fusedOps } from '../../kernels/fused.js';
import { withOriginals } from '../../kernels/wasm_kernels.js';
import { newtonSchulz, newtonSchulzBatched, type NewtonSchulzOptions } from '../../optimizers/linalg.js';
import { seeded } from '../shared/problems.js';
import { describeNative } from './helpers.js';

const CASES: [string, number[], NewtonSchulzOptions][] = [
  ['wide 24x40', [24, 40], {}],
  ['tall 40x24', [40, 24], {}],
  ['square 32x32, polar-express', [32, 32], { coefficients: 'polar-express' }],
  ['tall 50x20, polar-express, 3 steps', [50, 20], { coefficients: 'polar-express', steps: 3 }],
  ['stack 3x16x48', [3, 16, 48], {}],
  ['stack 4x48x16, 7 steps', [4, 48, 16], { steps: 7 }],
];

const ns = (x: tf.Tensor, o: NewtonSchulzOptions) => (x.rank === 3 ? newtonSchulzBatched(x as tf.Tensor3D, o) : newtonSchulz(x as tf.Tensor2D, o));

/** Runs f on a fresh tensor of the values and returns its output's values. */
function values(v: Float32Array, shape: number[], f: (x: tf.Tensor) => tf.Tensor): Float32Array {
  const out = tf.tidy(() => f(tf.tensor(v, shape)));
  const r = Float32Array.from(out.dataSync() as Float32Array);
  out.dispose();
  return r;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).to.equal(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}

describeNative('native Newton-Schulz (native/newton_schulz.c)', () => {
  it('is the kernel linalg.ts uses on wasm with the native kernels', () => {
    expect(fusedOps()?.newtonSchulz).to.be.a('function');
    let used = false;
    const f = fusedOps()!;
    const orig = f.newtonSchulz;
    f.newtonSchulz = (...a) => ((used = true), orig(...a));
    try {
      tf.tidy(() => newtonSchulz(tf.ones([3, 4])));
    } finally {
      f.newtonSchulz = orig;
    }
    expect(used).to.equal(true);
  });

  for (const [name, shape, o] of CASES) {
    it(`${name}: matches the tfjs ops on plain wasm and on cpu within float rounding`, async () => {
      const v = seeded(shape.reduce((a, b) => a * b, 1), 5);
      const native = values(v, shape, (x) => ns(x, o));
      const plain = values(v, shape, (x) => withOriginals(() => ns(x, o)));
      await tf.setBackend('cpu');
      const cpu = values(v, shape, (x) => ns(x, o));
      await tf.setBackend('wasm');
      expect(maxAbsDiff(native, plain)).to.be.below(5e-5);
      expect(maxAbsDiff(native, cpu)).to.be.below(5e-5);
      expect(maxAbsDiff(plain, cpu)).to.be.below(5e-5);
    });
  }

  it('is scale-safe: c G gives the result of G for c from 1e-30 to 1e30, where the unscaled tfjs ops underflow or overflow', () => {
    const v = seeded(16 * 24, 9);
    const base = values(v, [16, 24], (x) => newtonSchulz(x as tf.Tensor2D));
    for (const c of [1e-30, 1e-12, 1e12, 1e30]) {
      const scaled = values(v.map((x) => x * c), [16, 24], (x) => newtonSchulz(x as tf.Tensor2D));
      expect(maxAbsDiff(scaled, base), `c = ${c}`).to.be.below(1e-5);
    }
    // A stack whose matrices differ in scale by 1e40: each is normalized by its own scale.
    const two = new Float32Array([...v.map((x) => x * 1e-20), ...v.map((x) => x * 1e20)]);
    const stack = values(two, [2, 16, 24], (x) => newtonSchulzBatched(x as tf.Tensor3D));
    expect(maxAbsDiff(stack.subarray(0, 384), base)).to.be.below(1e-5);
    expect(maxAbsDiff(stack.subarray(384), base)).to.be.below(1e-5);
  });

  it('zero matrices give zeros; a matrix with an infinity or a NaN gives NaN everywhere, its neighbours in a stack stay finite', () => {
    expect(Array.from(values(new Float32Array(12), [3, 4], (x) => newtonSchulz(x as tf.Tensor2D)))).to.deep.equal(new Array(12).fill(0));
    const v = seeded(12, 3);
    const inf = Float32Array.from(v);
    inf[5] = Infinity;
    const nan = Float32Array.from(v);
    nan[0] = NaN;
    const out = values(new Float32Array([...v, ...inf, ...nan]), [3, 3, 4], (x) => newtonSchulzBatched(x as tf.Tensor3D));
    expect(out.subarray(0, 12).every(Number.isFinite)).to.equal(true);
    expect(out.subarray(12).every(Number.isNaN)).to.equal(true);
  });

  it('under gradient recording the tfjs ops run (the kernel has no gradient), with the same values', () => {
    const x = tf.tensor2d(seeded(8 * 12, 4), [8, 12]);
    const w = tf.tensor2d(seeded(8 * 12, 6), [8, 12]);
    const f = (y: tf.Tensor) => tf.sum(tf.mul(newtonSchulz(y as tf.Tensor2D), w));
    const { value, grad } = tf.valueAndGrad(f)(x);
    const direct = tf.tidy(() => f(x));
    expect(Math.abs(direct.dataSync()[0] - value.dataSync()[0])).to.be.below(1e-4);
    expect((grad.dataSync() as Float32Array).every(Number.isFinite)).to.equal(true);
    tf.dispose([x, w, value, grad, direct]);
  });

  it('leaks no tensor', () => {
    const x = tf.tensor(seeded(2 * 10 * 6, 1), [2, 10, 6]);
    const step = () => tf.tidy(() => void newtonSchulzBatched(x as tf.Tensor3D));
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).to.equal(before);
    x.dispose();
  });
});
