/**
 * Fused ops (kernels/fused.ts) on wasm with native kernels, against the formulas they implement: GELU
 * and layer norm against their composed forms, OptlabAdam against optimizers/adamw.ts adamStep,
 * OptlabAuon against optimizers/auon.ts COMPOSED_AUON; values, gradients, odd shapes, plain wasm and
 * cpu. Skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { fusedOps } from '../../kernels/fused.js';
import { withOriginals } from '../../kernels/wasm_kernels.js';
import { adamStep } from '../../optimizers/adamw.js';
import { auon, auonOps, COMPOSED_AUON, hybridAuon, type AuonConstants, type AuonOps } from '../../optimizers/auon.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { COMPOSED_MODEL_OPS, describeNative, evaluate, FUSED_CASES, fusedModelOps, input, maxErr, numDataIds } from './helpers.js';

/** AuON's stages run by the fused kernel; fails the test when the native kernels are not active. */
function nativeAuonOps(): AuonOps {
  expect(fusedOps()).to.not.equal(null);
  return auonOps();
}

describeNative('fused ops in the wasm backend', () => {
  for (const [name, shapes, fn] of FUSED_CASES) {
    it(`fused ${name}: values and gradients match the composed op on plain wasm and cpu`, async () => {
      const fused = fusedModelOps();
      const native = evaluate({ name, shapes, fn: (...xs) => fn(fused, ...xs) });
      const plain = withOriginals(() => {
        expect(fusedOps()).to.equal(null);
        return evaluate({ name, shapes, fn: (...xs) => fn(COMPOSED_MODEL_OPS, ...xs) });
      });
      await tf.setBackend('cpu');
      let cpu: Float32Array[];
      try {
        expect(fusedOps()).to.equal(null);
        cpu = evaluate({ name, shapes, fn: (...xs) => fn(COMPOSED_MODEL_OPS, ...xs) });
      } finally {
        await tf.setBackend('wasm');
      }
      expect(maxErr(native, plain)).to.be.below(5e-6);
      expect(maxErr(native, cpu)).to.be.below(5e-6);
    });
  }

  for (const epsMode of ['corrected', 'uncorrected'] as const) {
    it(`fused Adam (${epsMode}): moments and direction equal adamStep's tfjs ops (optimizers/adamw.ts) on plain wasm bit for bit`, async () => {
      // t = 3: bc1 = 1 - 0.9^3, bc2 = 1 - 0.999^3.
      const c = { beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3, epsMode };
      const run = (adam: typeof adamStep) => {
        const out = tf.tidy(() => {
          const r = adam(input([5, 13], 1), input([5, 13], 2), tf.abs(input([5, 13], 3)), c);
          return [r.m, r.v, r.update];
        });
        const arrays = out.map((t) => Array.from(t.dataSync()));
        tf.dispose(out);
        return arrays;
      };
      const fused = fusedOps();
      expect(fused).to.not.equal(null);
      const native = run(fused!.adam);
      expect(native).to.deep.equal(withOriginals(() => run(adamStep)));
      await tf.setBackend('cpu');
      try {
        const cpu = run(adamStep);
        expect(maxErr(native.map((a) => Float32Array.from(a)), cpu.map((a) => Float32Array.from(a)))).to.be.below(1e-6);
      } finally {
        await tf.setBackend('wasm');
      }
    });
  }

  /** Outputs of an AuON op as plain arrays (the tensors disposed). */
  const auonArrays = (fn: () => tf.Tensor[]): Float32Array[] => {
    const out = tf.tidy(fn);
    const arrays = out.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    tf.dispose(out);
    return arrays;
  };
  /** Largest |got - want| / |want| (0 where both are 0), NaN anywhere fails. */
  const relErr = (got: Float32Array, want: Float32Array): number => {
    expect(got.length).to.equal(want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      if (Number.isNaN(got[i]) || Number.isNaN(want[i])) return Infinity;
      const d = Math.abs(got[i] - want[i]);
      if (d > 0) worst = Math.max(worst, d / Math.abs(want[i]));
    }
    return worst;
  };
  const AUON_CONSTANTS: [string, AuonConstants][] = [
    ['code, mu 0.95', { momentum: 0.95, gamma: 1.5, mode: 'code', factor: 1 }],
    ['code, mu 0.3 (the other lerp formula), gamma 4', { momentum: 0.3, gamma: 4, mode: 'code', factor: 1 }],
    ['paper, factor 2', { momentum: 0.9, gamma: 1.5, mode: 'paper', factor: 2 }],
  ];
  // Sizes off and on the kernel's 16-lane blocks, a scalar, a GPT-sized matrix.
  const AUON_SHAPES = [[], [1], [7], [16], [3, 5, 7], [33, 65], [128, 384]];

  for (const [label, c] of AUON_CONSTANTS) {
    it(`fused AuON (${label}): momentum and Nesterov direction equal the composed ops on plain wasm bit for bit, the step within a few ulp, odd shapes`, async () => {
      for (const shape of AUON_SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        // g ~ [-1, 1), m ~ [-0.5, 0.5): the momentum already holds earlier gradients.
        const g = () => input(shape, 5 + n);
        const m = () => tf.mul(input(shape, 6 + n), 0.5);
        const all = (ops: AuonOps) => {
          const mo = ops.auonMomentum(g(), m(), c.momentum);
          const full = ops.auon(g(), m(), c);
          return [mo.m, mo.u, full.m, full.update, ops.auonBrake(tf.mul(g(), 3), c)];
        };
        const native = auonArrays(() => all(nativeAuonOps()));
        const composed = auonArrays(() => all(COMPOSED_AUON)); // native Sum and Mean, wasm's Cosh
        const plain = withOriginals(() => auonArrays(() => all(COMPOSED_AUON)));
        const tag = `shape [${shape}]`;
        // m', u and the m' of the full kernel: the same float32 operations in the same order.
        for (const k of [0, 1, 2]) expect(Array.from(native[k]), `${tag} output ${k}`).to.deep.equal(Array.from(plain[k]));
        // The steps differ only through the scalars d and r: with the composed ops' sums in double
        // (native Sum and Mean) a few ulp; plain wasm sums tens of thousands of terms in float32.
        // (measured: 0-1 ulp against composed and cpu, up to 6e-5 against plain wasm on 128x384).
        for (const k of [3, 4]) {
          expect(relErr(native[k], composed[k]), `${tag} output ${k}`).to.be.below(5e-7);
          expect(relErr(native[k], plain[k]), `${tag} output ${k}, plain wasm`).to.be.below(2e-4);
        }
        // Not the identity: the step is the Nesterov direction divided by r >= 1 (times 1/d and the factor in paper mode).
        const scale = c.mode === 'paper' ? c.factor / (Math.hypot(...native[1]) + 1e-7) : 1;
        native[3].forEach((v, i) => expect(Math.abs(v), tag).to.be.at.most(Math.abs(native[1][i]) * scale * (1 + 1e-6)));
        await tf.setBackend('cpu');
        try {
          const cpu = auonArrays(() => all(COMPOSED_AUON));
          // cpu sums in double too.
          for (const k of [0, 1, 2, 3, 4]) expect(relErr(native[k], cpu[k]), `${tag} cpu output ${k}`).to.be.below(5e-7);
        } finally {
          await tf.setBackend('wasm');
        }
      }
    });
  }

  it('fused AuON: a zero gradient on zero momentum gives a zero step, never NaN; a lone spike (r at its bound, libm cosh past 80) matches', async () => {
    for (const mode of ['code', 'paper'] as const) {
      const c: AuonConstants = { momentum: 0.95, gamma: 1.5, mode, factor: 2 };
      const [m, update, braked] = auonArrays(() => {
        const r = nativeAuonOps().auon(tf.zeros([9, 5]), tf.zeros([9, 5]), c);
        return [r.m, r.update, nativeAuonOps().auonBrake(tf.zeros([3, 17]), c)];
      });
      for (const a of [m, update, braked]) expect(Array.from(a).every((v) => v === 0), mode).to.equal(true);
    }
    // gamma 45: 2 gamma |u| / d reaches 90 at the spike, past the vector cosh's range (and cosh(90)
    // overflows float32: r = inf, a zero step, on both sides); gamma 30 stays finite (r^2 ~ sinh^2(30)/N).
    for (const gamma of [30, 45]) {
      const c: AuonConstants = { momentum: 0.95, gamma, mode: 'code', factor: 1 };
      const spike = () => tf.add(tf.mul(input([6, 7], 9), 1e-3), tf.mul(tf.reshape(tf.oneHot(tf.tensor1d([17], 'int32'), 42), [6, 7]), 5));
      const native = auonArrays(() => [nativeAuonOps().auonBrake(spike(), c)])[0];
      const composed = auonArrays(() => [COMPOSED_AUON.auonBrake(spike(), c)])[0];
      await tf.setBackend('cpu');
      let cpu: Float32Array;
      try {
        cpu = auonArrays(() => [COMPOSED_AUON.auonBrake(spike(), c)])[0];
      } finally {
        await tf.setBackend('wasm');
      }
      expect(relErr(native, composed), `gamma ${gamma}`).to.be.below(5e-7);
      expect(relErr(native, cpu), `gamma ${gamma}, cpu`).to.be.below(5e-7);
      if (gamma === 30) expect(native[17]).to.be.above(0); // 5 / r with r ~ cosh(60 * 0.99...) / sqrt(42): tiny, not 0
      else expect(Array.from(native).every((v) => v === 0)).to.equal(true);
    }
  });

  it('AuON and Hybrid-AuON steps run the fused kernel on wasm with native kernels, the composed ops otherwise, tensor count flat', async () => {
    const kernelsOf = (def: ReturnType<typeof auon>) => {
      const w = tf.variable(input([12, 20], 3), true);
      const b = tf.variable(input([20], 4), true);
      const opt = buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }, { name: 'b', variable: b, role: 'vector' }], def);
      const grads = new Map([['w', input([12, 20], 5)], ['b', input([20], 6)]]);
      opt.step(grads);
      const counts = [tf.memory().numTensors, numDataIds()];
      return tf.profile(() => opt.step(grads)).then((p) => {
        const after = [tf.memory().numTensors, numDataIds()];
        opt.dispose();
        tf.dispose([w, b, ...grads.values()]);
        return { names: p.kernelNames, flat: after.join() === counts.join() };
      });
    };
    for (const def of [auon({ lr: 0.1 }), hybridAuon({ lr: 0.1 }), auon({ lr: 0.1, mode: 'paper' })]) {
      const native = await kernelsOf(def);
      expect(native.names).to.include('OptlabAuon');
      expect(native.names).to.not.include('Cosh');
      expect(native.flat).to.equal(true);
      const plain = await withOriginals(() => kernelsOf(def));
      expect(plain.names).to.not.include('OptlabAuon');
      expect(plain.names).to.include('Sum');
      expect(plain.flat).to.equal(true);
    }
  });
});
