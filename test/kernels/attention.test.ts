/**
 * The fused attention kernels (native/attention.c, kernels/fused.ts `attention`) against the composed
 * heads of models/layers.ts (`attentionHeads`) on plain wasm and on cpu: values and gradients, causal
 * and unmasked, odd sizes; the same bits at one and two threads; the GPT's loss and gradients through
 * either path; bad shapes rejected before any kernel runs; no tensor growth. Skipped, saying why, when
 * the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fusedOps } from '../../kernels/fused.js';
import { enableNativeKernels, nativeStatus, withOriginals } from '../../kernels/wasm_kernels.js';
import { createGPT } from '../../models/gpt.js';
import { attend, attentionHeads, causalMask } from '../../models/layers.js';
import { describeNative, evaluate, maxErr, numDataIds, type Case } from './helpers.js';

/** [B, T, C, heads] of the cases: odd T and widths, one and several heads, batch 1 and 3. */
const SHAPES: [number, number, number, number][] = [
  [2, 7, 12, 2],
  [1, 5, 9, 3],
  [3, 16, 32, 4],
  [1, 1, 6, 1],
];

/** Scaled inputs so the softmax is far from uniform (scores of a few units). */
const attentionCase = (b: number, t: number, c: number, h: number, causal: boolean): Case => ({
  name: `${causal ? 'causal' : 'unmasked'} [${b}, ${t}, ${3 * c}] with ${h} heads`,
  shapes: [[b, t, 3 * c]],
  fn: (qkv) => {
    const x = tf.mul(qkv, 3);
    if (!causal) return attend(x, h);
    const mask = causalMask(t + 2); // a longer mask: its top-left block applies
    const y = attend(x, h, mask);
    mask.dispose();
    return y;
  },
});

const composedCase = (c: Case, h: number, causal: boolean, t: number): Case => ({
  ...c,
  fn: (qkv) => {
    const x = tf.mul(qkv, 3);
    return causal ? attentionHeads(x, h, tf.slice(causalMask(t + 2), [0, 0], [t, t])) : attentionHeads(x, h);
  },
});

describeNative('fused attention in the wasm backend', () => {
  for (const [b, t, c, h] of SHAPES) {
    for (const causal of [true, false]) {
      const fusedCase = attentionCase(b, t, c, h, causal);
      it(`${fusedCase.name}: values and gradients match the composed heads on plain wasm and cpu`, async () => {
        expect(fusedOps()).to.not.equal(null);
        const native = evaluate(fusedCase);
        const plain = withOriginals(() => {
          expect(fusedOps()).to.equal(null);
          return evaluate(composedCase(fusedCase, h, causal, t));
        });
        await tf.setBackend('cpu');
        let cpu: Float32Array[];
        try {
          cpu = evaluate(composedCase(fusedCase, h, causal, t));
        } finally {
          await tf.setBackend('wasm');
        }
        expect(maxErr(native, plain)).to.be.below(1e-5);
        expect(maxErr(native, cpu)).to.be.below(1e-5);
        // The composed path at the same inputs is what the fused one replaces: not a trivially equal pair.
        expect(native[1].some((v) => v !== 0)).to.equal(true);
      });
    }
  }

  it('the causal mask is applied: a future token changes no earlier output', () => {
    const [early, late] = [0, 1].map((bump) =>
      tf.tidy(() => {
        const qkv = tf.mul(tf.randomNormal([1, 6, 24], 0, 1, 'float32', 5), 2);
        // Change the key and value of the last position only.
        const edit = tf.concat([tf.zeros([1, 5, 24]), tf.fill([1, 1, 24], bump)], 1);
        const mask = causalMask(6);
        return attend(tf.add(qkv, edit), 2, mask).dataSync().slice(0, 5 * 8);
      }),
    );
    expect(Array.from(late)).to.deep.equal(Array.from(early));
  });

  it('gives the same bits at one and at two threads', async () => {
    const threads = nativeStatus().threads;
    const run = () => evaluate(attentionCase(3, 16, 32, 4, true));
    try {
      await enableNativeKernels({ threads: 1 });
      const one = run();
      await enableNativeKernels({ threads: 2 });
      const two = run();
      one.forEach((a, k) => expect(Array.from(two[k])).to.deep.equal(Array.from(a)));
    } finally {
      await enableNativeKernels({ threads });
    }
  });

  it("the GPT's loss and gradients through the fused kernel match the composed heads", () => {
    const model = createGPT({ vocabSize: 11, contextLength: 8, width: 16, nHead: 2, nLayer: 2 }, 3);
    const x = tf.tensor2d(Array.from({ length: 16 }, (_, i) => (i * 7) % 11), [2, 8], 'int32');
    const y = tf.tensor2d(Array.from({ length: 16 }, (_, i) => (i * 5 + 1) % 11), [2, 8], 'int32');
    const run = () => {
      const vars = model.params.map((p) => p.variable);
      const { value, grads } = tf.variableGrads(() => model.loss({ x, y }), vars);
      const out = [value.dataSync()[0], ...vars.map((v) => Array.from(grads[v.name].dataSync()))] as const;
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    try {
      const [lossNative, ...gradsNative] = run();
      const [lossPlain, ...gradsPlain] = withOriginals(run);
      expect(lossNative).to.be.closeTo(lossPlain, 1e-5);
      gradsNative.forEach((g, k) => g.forEach((v, i) => expect(v).to.be.closeTo(gradsPlain[k][i], 1e-5 * Math.max(1, Math.abs(gradsPlain[k][i])))));
    } finally {
      tf.dispose([x, y]);
      model.dispose();
    }
  });

  it('rejects qkv whose width is not 3C or whose C the heads do not divide, before any kernel runs', () => {
    const ids = numDataIds();
    const bad = tf.zeros([2, 4, 10]);
    const odd = tf.zeros([2, 4, 12]);
    try {
      expect(() => fusedOps()!.attention(bad, 2, true)).to.throw(/qkv must be float32 \[B, T, 3C\]/);
      expect(() => fusedOps()!.attention(odd, 3, true)).to.throw(/nHead 3 does not divide the width 4/);
    } finally {
      tf.dispose([bad, odd]);
    }
    expect(numDataIds()).to.equal(ids);
  });

  it('keeps the tensor count flat over repeated forward and backward passes', () => {
    const qkv = tf.randomNormal([2, 8, 24], 0, 1, 'float32', 1);
    const mask = causalMask(8);
    const step = () => tf.tidy(() => tf.grad((z: tf.Tensor) => tf.sum(attend(z, 2, mask)))(qkv)).dispose();
    try {
      step();
      const before = tf.memory().numTensors;
      const ids = numDataIds();
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).to.equal(before);
      expect(numDataIds()).to.equal(ids);
    } finally {
      tf.dispose([qkv, mask]);
    }
  });
});
