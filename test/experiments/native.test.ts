/**
 * Native kernels inside the wasm backend (experiments/native.ts): every kernel against the plain wasm
 * kernel (in the same process, swapping the originals back in) and against the cpu backend, values
 * and gradients, on odd shapes; tensor counts; copy-free Identity; heap growth during a kernel;
 * determinism; the self-test's fallback. Runs on the 'wasm-native' configuration of the backend matrix
 * (test/shared/backends.ts), absent when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { selectBackend } from '../../experiments/backend.js';
import { readFileSync } from 'node:fs';
import { COMPOSED_OPS, disableNativeKernels, enableNativeKernels, fusedOps, nativeStatus, simplifyTranspose, TFJS_VERSION, withOriginals, type AuonConstants } from '../../experiments/native.js';
import { adamw } from '../../optimizers/adamw.js';
import { auon, hybridAuon } from '../../optimizers/auon.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { seeded } from '../shared/problems.js';
import { describeBackends } from '../shared/backends.js';

interface Case {
  name: string;
  shapes: number[][];
  fn: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Inputs in [0.1, 1.1) instead of [-1, 1). */
  positive?: boolean;
  /** Values only: not float, or a broadcast-batch matMul (tfjs's BatchMatMul gradient does not reduce broadcast batches on any backend). */
  noGrad?: boolean;
}

const mm = (ta: boolean, tb: boolean) => (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);

/** Odd shapes: transposes, batch dims, shared and broadcast batches, every broadcast mode, fallbacks. */
const CASES: Case[] = [
  { name: 'matMul [5,7]x[7,3]', shapes: [[5, 7], [7, 3]], fn: mm(false, false) },
  { name: 'matMul transposeA', shapes: [[7, 5], [7, 3]], fn: mm(true, false) },
  { name: 'matMul transposeB', shapes: [[5, 7], [3, 7]], fn: mm(false, true) },
  { name: 'matMul both transposed', shapes: [[7, 5], [3, 7]], fn: mm(true, true) },
  { name: 'matMul batched rank 4', shapes: [[2, 3, 5, 7], [2, 3, 7, 4]], fn: mm(false, false) },
  { name: 'matMul batched, transposed', shapes: [[3, 7, 5], [3, 4, 7]], fn: mm(true, true) },
  { name: 'matMul shared right', shapes: [[3, 5, 7], [7, 4]], fn: mm(false, false), noGrad: true },
  { name: 'matMul shared right, transposeA', shapes: [[3, 7, 5], [7, 4]], fn: mm(true, false), noGrad: true },
  { name: 'matMul shared left', shapes: [[5, 7], [3, 7, 4]], fn: mm(false, false), noGrad: true },
  { name: 'matMul broadcast batches (original kernel)', shapes: [[2, 1, 5, 7], [1, 3, 7, 4]], fn: mm(false, false), noGrad: true },
  { name: 'matMul inner dim 1', shapes: [[6, 1], [1, 5]], fn: mm(false, false) },
  { name: 'fused matMul bias relu', shapes: [[5, 7], [7, 3], [3]], fn: (a, b, c) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c, activation: 'relu' }) },
  { name: 'fused matMul transposeB linear', shapes: [[5, 7], [3, 7]], fn: (a, b) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeB: true }) },
  { name: 'sum leading axes', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x, [0, 1]) },
  { name: 'sum middle axis keepDims', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x, 1, true) },
  { name: 'sum last axis', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x, -1) },
  { name: 'sum all', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x) },
  { name: 'sum non-contiguous axes (original kernel)', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x, [0, 2]) },
  { name: 'mean leading axes', shapes: [[3, 4, 5]], fn: (x) => tf.mean(x, [0, 1]) },
  { name: 'mean last axis keepDims', shapes: [[3, 4, 5]], fn: (x) => tf.mean(x, -1, true) },
  { name: 'tanh (saturating inputs)', shapes: [[7, 9]], fn: (x) => tf.tanh(tf.mul(x, 12)) },
  { name: 'square', shapes: [[7, 9]], fn: (x) => tf.square(x) },
  { name: 'neg', shapes: [[7, 9]], fn: (x) => tf.neg(x) },
  { name: 'exp', shapes: [[7, 9]], fn: (x) => tf.exp(tf.mul(x, 4)) },
  { name: 'sqrt', shapes: [[7, 9]], fn: (x) => tf.sqrt(x), positive: true },
  { name: 'rsqrt', shapes: [[7, 9]], fn: (x) => tf.rsqrt(x), positive: true },
  { name: 'add same shape', shapes: [[3, 5], [3, 5]], fn: (a, b) => tf.add(a, b) },
  { name: 'add row broadcast', shapes: [[2, 3, 5], [5]], fn: (a, b) => tf.add(a, b) },
  { name: 'sub column broadcast', shapes: [[2, 3, 1], [2, 3, 5]], fn: (a, b) => tf.sub(a, b) },
  { name: 'mul outer product', shapes: [[4, 1], [1, 5]], fn: (a, b) => tf.mul(a, b) },
  { name: 'mul scalar tensor', shapes: [[3, 5], []], fn: (a, b) => tf.mul(b, a) },
  { name: 'div by broadcast', shapes: [[3, 5], [3, 1]], fn: (a, b) => tf.div(a, b), positive: true },
  { name: 'add unsplittable broadcast (original kernel)', shapes: [[2, 1, 3], [4, 1]], fn: (a, b) => tf.add(a, b) },
  { name: 'split / concat last axis', shapes: [[2, 3, 7]], fn: (x) => tf.concat(tf.split(x, [2, 4, 1], 2).map((t, i) => tf.mul(t, i + 1)), 2) },
  { name: 'split axis 0, concat axis 1', shapes: [[4, 3]], fn: (x) => tf.concat(tf.split(x, 2, 0), 1) },
  { name: 'transpose 2-D', shapes: [[37, 45]], fn: (x) => tf.transpose(x) },
  { name: 'transpose heads [0,2,1,3]', shapes: [[2, 5, 3, 4]], fn: (x) => tf.transpose(x, [0, 2, 1, 3]) },
  { name: 'transpose 3-D [2,0,1]', shapes: [[3, 4, 5]], fn: (x) => tf.transpose(x, [2, 0, 1]) },
  { name: 'transpose with size-1 axes', shapes: [[3, 1, 5, 1]], fn: (x) => tf.transpose(x, [2, 3, 0, 1]) },
  { name: 'tile', shapes: [[2, 1, 3]], fn: (x) => tf.tile(x, [2, 3, 1]) },
  { name: 'where with a scalar condition (bool tile)', shapes: [[3, 4], [3, 4]], fn: (a, b) => tf.where(tf.scalar(true, 'bool'), a, b) },
  { name: 'tile int32', shapes: [[2, 3]], fn: (x) => tf.cast(tf.tile(tf.cast(tf.mul(x, 10), 'int32'), [2, 2]), 'float32'), noGrad: true },
  { name: 'identity (clone)', shapes: [[3, 5]], fn: (x) => tf.mul(tf.clone(x), 2) },
  { name: 'cast float32 to float32', shapes: [[3, 5]], fn: (x) => tf.mul(tf.cast(x, 'float32'), 3) },
  { name: 'cast to int32 (original kernel)', shapes: [[3, 5]], fn: (x) => tf.cast(tf.mul(x, 10), 'int32'), noGrad: true },
];

function input(shape: number[], seed: number, positive = false): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = seeded(n, seed);
  return tf.tensor(positive ? v.map((x) => Math.abs(x) + 0.1) : v, shape);
}

/** Value and gradients of sum(f(xs) * w) with respect to every input, as plain arrays. */
function evaluate(c: Case): Float32Array[] {
  const outs = tf.tidy(() => {
    const xs = c.shapes.map((s, i) => input(s, 11 * (i + 1), c.positive));
    const value = c.fn(...xs);
    if (c.noGrad) return [value];
    const w = input(value.shape, 97);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(c.fn(...ys), w)))(xs);
    return [value, ...grads];
  });
  const arrays = outs.map((t) => Float32Array.from(t.dataSync() as Float32Array));
  tf.dispose(outs);
  return arrays;
}

/** Max |got - want| / max(1, |want|). */
function maxErr(got: Float32Array[], want: Float32Array[]): number {
  expect(got.map((a) => a.length)).to.deep.equal(want.map((a) => a.length));
  let worst = 0;
  got.forEach((g, k) => g.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[k][i]) / Math.max(1, Math.abs(want[k][i]))))));
  return worst;
}

function heapOffset(t: tf.Tensor): number {
  return (tf.backend() as unknown as { dataIdMap: { get(d: object): { memoryOffset: number } } }).dataIdMap.get(t.dataId).memoryOffset;
}

const numDataIds = () => tf.engine().backend.numDataIds();

describe('native kernels: tfjs pin', () => {
  it('package.json pins every tfjs package to exactly the release the kernels read private fields of', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const tfjs = Object.entries(pkg.dependencies).filter(([name]) => name.startsWith('@tensorflow/'));
    expect(tfjs.length).to.be.at.least(3);
    for (const [name, version] of tfjs) expect(version, name).to.equal(TFJS_VERSION);
  });
});

// Runs where the matrix has 'wasm-native' (the addon built and its self-test passed); the banner of
// test/shared/backends.ts says why when it does not.
describeBackends('native kernels in the wasm backend', () => {
  it('replaces the wasm kernels the GPT step spends its time in', () => {
    const st = nativeStatus();
    expect(st.active).to.equal(true);
    expect(st.threads).to.equal(1);
    expect(st.kernels).to.include.members(['BatchMatMul', '_FusedMatMul', 'Sum', 'Tanh', 'Identity', 'Cast', 'Add', 'Multiply', 'Transpose', 'SplitV']);
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).to.not.equal(withOriginals(() => tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc));
  });

  for (const c of CASES) {
    it(`${c.name}: values${c.noGrad ? '' : ' and gradients'} match plain wasm and cpu`, async () => {
      const native = evaluate(c);
      const plain = withOriginals(() => evaluate(c));
      await tf.setBackend('cpu');
      let cpu: Float32Array[];
      try {
        cpu = evaluate(c);
      } finally {
        await tf.setBackend('wasm');
      }
      // Same float32 arithmetic up to summation order (OpenBLAS, double accumulation in Sum) and
      // tanh's rational approximation: a few ulps of the largest intermediate.
      expect(maxErr(native, plain)).to.be.below(2e-6);
      expect(maxErr(native, cpu)).to.be.below(2e-6);
    });
  }

  const FUSED_CASES: [string, number[][], (ops: typeof COMPOSED_OPS, ...xs: tf.Tensor[]) => tf.Tensor][] = [
    ['GELU', [[3, 5, 17]], (ops, x) => ops.gelu(tf.mul(x, 4))],
    ['layer norm with gain and bias', [[4, 3, 9], [9], [9]], (ops, x, g, b) => ops.layerNorm(tf.mul(x, 3), g, b)],
    ['layer norm with gain', [[7, 12], [12]], (ops, x, g) => ops.layerNorm(tf.add(x, 2), g, undefined, 1e-3)],
    ['layer norm alone', [[2, 2, 3, 5]], (ops, x) => ops.layerNorm(x)],
  ];
  for (const [name, shapes, fn] of FUSED_CASES) {
    it(`fused ${name}: values and gradients match the composed op on plain wasm and cpu`, async () => {
      const fused = fusedOps();
      expect(fused).to.not.equal(null);
      const native = evaluate({ name, shapes, fn: (...xs) => fn(fused!, ...xs) });
      const plain = withOriginals(() => {
        expect(fusedOps()).to.equal(null);
        return evaluate({ name, shapes, fn: (...xs) => fn(COMPOSED_OPS, ...xs) });
      });
      await tf.setBackend('cpu');
      let cpu: Float32Array[];
      try {
        expect(fusedOps()).to.equal(null);
        cpu = evaluate({ name, shapes, fn: (...xs) => fn(COMPOSED_OPS, ...xs) });
      } finally {
        await tf.setBackend('wasm');
      }
      expect(maxErr(native, plain)).to.be.below(5e-6);
      expect(maxErr(native, cpu)).to.be.below(5e-6);
    });
  }

  for (const epsMode of ['corrected', 'uncorrected'] as const) {
    it(`fused Adam (${epsMode}): moments and direction equal scaleByAdam's tfjs ops on plain wasm bit for bit`, async () => {
      // t = 3: bc1 = 1 - 0.9^3, bc2 = 1 - 0.999^3.
      const c = { beta1: 0.9, beta2: 0.999, eps: 1e-8, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3, epsMode };
      const run = (ops: typeof COMPOSED_OPS) => {
        const out = tf.tidy(() => {
          const r = ops.adam(input([5, 13], 1), input([5, 13], 2), tf.abs(input([5, 13], 3)), c);
          return [r.m, r.v, r.update];
        });
        const arrays = out.map((t) => Array.from(t.dataSync()));
        tf.dispose(out);
        return arrays;
      };
      const native = run(fusedOps()!);
      expect(native).to.deep.equal(withOriginals(() => run(COMPOSED_OPS)));
      await tf.setBackend('cpu');
      try {
        const cpu = run(COMPOSED_OPS);
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
        const all = (ops: typeof COMPOSED_OPS) => {
          const mo = ops.auonMomentum(g(), m(), c.momentum);
          const full = ops.auon(g(), m(), c);
          return [mo.m, mo.u, full.m, full.update, ops.auonBrake(tf.mul(g(), 3), c)];
        };
        const native = auonArrays(() => all(fusedOps()!));
        const composed = auonArrays(() => all(COMPOSED_OPS)); // native Sum and Mean, wasm's Cosh
        const plain = withOriginals(() => auonArrays(() => all(COMPOSED_OPS)));
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
          const cpu = auonArrays(() => all(COMPOSED_OPS));
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
        const r = fusedOps()!.auon(tf.zeros([9, 5]), tf.zeros([9, 5]), c);
        return [r.m, r.update, fusedOps()!.auonBrake(tf.zeros([3, 17]), c)];
      });
      for (const a of [m, update, braked]) expect(Array.from(a).every((v) => v === 0), mode).to.equal(true);
    }
    // gamma 45: 2 gamma |u| / d reaches 90 at the spike, past the vector cosh's range (and cosh(90)
    // overflows float32: r = inf, a zero step, on both sides); gamma 30 stays finite (r^2 ~ sinh^2(30)/N).
    for (const gamma of [30, 45]) {
      const c: AuonConstants = { momentum: 0.95, gamma, mode: 'code', factor: 1 };
      const spike = () => tf.add(tf.mul(input([6, 7], 9), 1e-3), tf.mul(tf.reshape(tf.oneHot(tf.tensor1d([17], 'int32'), 42), [6, 7]), 5));
      const native = auonArrays(() => [fusedOps()!.auonBrake(spike(), c)])[0];
      const composed = auonArrays(() => [COMPOSED_OPS.auonBrake(spike(), c)])[0];
      await tf.setBackend('cpu');
      let cpu: Float32Array;
      try {
        cpu = auonArrays(() => [COMPOSED_OPS.auonBrake(spike(), c)])[0];
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

  it('simplifies transposes by dropping size-1 axes and merging axes that move together', () => {
    expect(simplifyTranspose([16, 64, 4, 32], [0, 2, 1, 3])).to.deep.equal({ shape: [16, 64, 4, 32], perm: [0, 2, 1, 3] });
    expect(simplifyTranspose([2, 3, 4, 5], [2, 3, 0, 1])).to.deep.equal({ shape: [6, 20], perm: [1, 0] });
    expect(simplifyTranspose([3, 1, 5, 1], [2, 3, 0, 1])).to.deep.equal({ shape: [3, 5], perm: [1, 0] });
    expect(simplifyTranspose([1, 1], [1, 0])).to.deep.equal({ shape: [1], perm: [0] });
  });

  it('keeps tensor and heap buffer counts flat when every case runs again', () => {
    const all: Case[] = [...CASES, ...FUSED_CASES.map(([name, shapes, fn]) => ({ name, shapes, fn: (...xs: tf.Tensor[]) => fn(fusedOps()!, ...xs) }))];
    for (const c of all) evaluate(c);
    const tensors = tf.memory().numTensors;
    const buffers = numDataIds();
    for (const c of all) evaluate(c);
    expect(tf.memory().numTensors).to.equal(tensors);
    expect(numDataIds()).to.equal(buffers);
  });

  it('Identity and same-dtype Cast share the buffer and free it with the last reference', () => {
    const buffers = numDataIds();
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.clone(a);
    const c = tf.cast(a, 'float32');
    expect(heapOffset(b)).to.equal(heapOffset(a));
    expect(heapOffset(c)).to.equal(heapOffset(a));
    expect(numDataIds()).to.equal(buffers + 1);
    a.dispose();
    expect(Array.from(b.dataSync())).to.deep.equal([1, 2, 3]);
    b.dispose();
    expect(Array.from(c.dataSync())).to.deep.equal([1, 2, 3]);
    c.dispose();
    expect(numDataIds()).to.equal(buffers);
  });

  it('a variable assigned a clone keeps its value after the source is disposed', () => {
    const v = tf.variable(tf.zeros([4]), true, 'native_assign');
    const src = tf.tensor1d([4, 3, 2, 1]);
    v.assign(tf.clone(src));
    src.dispose();
    tf.tidy(() => {
      const next = tf.add(v, 1);
      v.assign(next);
    });
    expect(Array.from(v.dataSync())).to.deep.equal([5, 4, 3, 2]);
    v.dispose();
  });

  it('writes into the current heap when allocating the output grows wasm memory', () => {
    const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8;
    // An outer product whose output is larger than the whole heap: makeOutput must grow memory.
    const n = Math.ceil(Math.sqrt(heap.length / 4 + 1024 * 1024));
    const a = tf.tensor2d(Float32Array.from({ length: n }, (_, i) => i % 7), [n, 1]);
    const b = tf.tensor2d(Float32Array.from({ length: n }, (_, j) => (j % 5) - 2), [1, n]);
    const buffer = heap.buffer;
    const c = tf.matMul(a, b);
    expect((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer).to.not.equal(buffer);
    const v = c.dataSync();
    for (const [i, j] of [[0, 0], [3, 1], [n - 1, n - 1], [n >> 1, n >> 2]]) expect(v[i * n + j]).to.equal((i % 7) * ((j % 5) - 2));
    tf.dispose([a, b, c]);
  });

  it('fused matMul relu keeps NaN, as tfjs relu does', () => {
    const y = tf.tidy(() => tf.fused.matMul({ a: tf.tensor2d([[NaN, 1], [-1, 2]]), b: tf.tensor2d([[1], [1]]), activation: 'relu' }).dataSync());
    expect(Number.isNaN(y[0])).to.equal(true);
    expect(y[1]).to.equal(1);
  });

  it('flushes denormals inside kernels only: JavaScript arithmetic keeps them', () => {
    // 1e-20 * 1e-20 = 1e-40 is a float32 denormal: flushed to 0 in the kernel (as TensorFlow does),
    // while the JS double 1e-300 * 1e-10 must stay a (double) denormal after the call.
    const c = tf.tidy(() => tf.matMul(tf.fill([2, 3], 1e-20), tf.fill([3, 2], 1e-20)));
    expect(Array.from(c.dataSync())).to.deep.equal([0, 0, 0, 0]);
    c.dispose();
    const v = new Float64Array([1e-300, 1e-10]);
    expect(v[0] * v[1]).to.be.above(0);
    expect(withOriginals(() => tf.tidy(() => tf.matMul(tf.fill([2, 3], 1e-20), tf.fill([3, 2], 1e-20)).dataSync()[0]))).to.be.above(0);
  });

  it('takes the OpenBLAS thread count from OPTLAB_BLAS_THREADS and rejects a bad one', async () => {
    try {
      process.env.OPTLAB_BLAS_THREADS = '2';
      expect((await enableNativeKernels()).threads).to.equal(2);
      expect(nativeStatus().blas).to.match(/, 2 threads$/);
      process.env.OPTLAB_BLAS_THREADS = 'two';
      let err: Error | undefined;
      try {
        await enableNativeKernels();
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.equal("OPTLAB_BLAS_THREADS: expected a positive integer, got 'two'");
    } finally {
      delete process.env.OPTLAB_BLAS_THREADS;
      expect((await enableNativeKernels()).threads).to.equal(1);
    }
  });

  it('is deterministic for a given OpenBLAS thread count', async () => {
    const run = () => {
      const out = tf.tidy(() => {
        const a = input([96, 160], 1);
        const b = input([160, 128], 2);
        return tf.sum(tf.tanh(tf.matMul(a, b)), 0);
      });
      const v = Float32Array.from(out.dataSync());
      out.dispose();
      return v;
    };
    try {
      for (const threads of [1, 2]) {
        await enableNativeKernels({ threads });
        expect(Array.from(run())).to.deep.equal(Array.from(run()));
      }
    } finally {
      await enableNativeKernels({ threads: 1 });
    }
  });

  it('a small transformer-like step with AdamW gives the same losses and weights as plain wasm, tensor count flat', () => {
    // x [B*T, C] -> layer norm -> dense -> tanh-GELU -> dense -> residual -> attention-like softmax
    // mixing -> softmax cross-entropy: every kernel family above, forward and backward.
    const train = () => {
      const w1 = tf.tidy(() => tf.variable(input([12, 20], 3), true));
      const w2 = tf.tidy(() => tf.variable(tf.mul(input([20, 12], 4), 0.5), true));
      const params = [
        { name: 'w1', variable: w1, role: 'matrix' as const },
        { name: 'w2', variable: w2, role: 'matrix' as const },
      ];
      const opt = buildOptimizer(params, adamw({ lr: 0.01 }));
      const x = input([2, 6, 12], 5);
      const labels = tf.tensor1d([1, 3, 0, 11, 7, 2, 5, 5, 9, 10, 4, 6], 'int32');
      const loss = () => {
        const mu = tf.mean(x, -1, true);
        const h = tf.div(tf.sub(x, mu), tf.sqrt(tf.add(tf.mean(tf.square(tf.sub(x, mu)), -1, true), 1e-5)));
        const z = tf.matMul(tf.reshape(h, [12, 12]), w1);
        const g = tf.mul(tf.mul(z, 0.5), tf.add(tf.tanh(tf.mul(tf.add(z, tf.mul(tf.mul(z, tf.square(z)), 0.044715)), 0.7978845608)), 1));
        const y = tf.reshape(tf.add(tf.reshape(h, [12, 12]), tf.matMul(g, w2)), [2, 6, 12]);
        const att = tf.softmax(tf.matMul(y, tf.transpose(y, [0, 2, 1])));
        const logits = tf.reshape(tf.matMul(att, y), [12, 12]);
        return tf.losses.softmaxCrossEntropy(tf.cast(tf.oneHot(labels, 12), 'float32'), logits) as tf.Scalar;
      };
      const losses: number[] = [];
      let counts: number[] = [];
      for (let step = 0; step < 6; step++) {
        const { value, grads } = tf.variableGrads(loss, [w1, w2]);
        opt.step(new Map([['w1', grads[w1.name]], ['w2', grads[w2.name]]]));
        losses.push(value.dataSync()[0]);
        tf.dispose([value, ...Object.values(grads)]);
        if (step === 1) counts = [tf.memory().numTensors, numDataIds()];
      }
      const after = [tf.memory().numTensors, numDataIds()];
      const weights = [Float32Array.from(w1.dataSync()), Float32Array.from(w2.dataSync())];
      opt.dispose();
      tf.dispose([w1, w2, x, labels]);
      return { losses, weights, counts, after };
    };
    const before = tf.memory().numTensors;
    const native = train();
    const plain = withOriginals(train);
    expect(native.after).to.deep.equal(native.counts);
    expect(tf.memory().numTensors).to.equal(before);
    native.losses.forEach((l, i) => expect(l).to.be.closeTo(plain.losses[i], 1e-5));
    expect(native.losses[5]).to.be.below(native.losses[0]);
    expect(maxErr(native.weights, plain.weights)).to.be.below(1e-5);
  });

  it('falls back to plain wasm, saying so, when the self-test finds a mismatch', async () => {
    disableNativeKernels();
    try {
      const st = await enableNativeKernels({ selfTestTolerance: -1 });
      expect(st.active).to.equal(false);
      expect(st.message).to.match(/failed their self-test, using plain wasm: BatchMatMul/);
      expect(nativeStatus().active).to.equal(false);
      const original = withOriginals(() => tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc);
      expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).to.equal(original);
    } finally {
      expect((await enableNativeKernels()).active).to.equal(true);
    }
  });

  it('OPTLAB_NATIVE=0 keeps plain wasm, and the backend picker reports wasm+native otherwise', async () => {
    disableNativeKernels();
    const before = process.env.OPTLAB_NATIVE;
    process.env.OPTLAB_NATIVE = '0';
    try {
      const st = await enableNativeKernels();
      expect(st.active).to.equal(false);
      expect(st.message).to.equal('native kernels off (OPTLAB_NATIVE=0)');
      const plain = await selectBackend('wasm', { quiet: true });
      expect(plain.label).to.equal('wasm');
      expect(plain.message).to.equal('backend: wasm (requested); native kernels off (OPTLAB_NATIVE=0)');
    } finally {
      if (before === undefined) delete process.env.OPTLAB_NATIVE;
      else process.env.OPTLAB_NATIVE = before;
    }
    const choice = await selectBackend('wasm', { quiet: true });
    expect(choice.name).to.equal('wasm');
    expect(choice.label).to.equal('wasm-native');
    expect(choice.message).to.match(/^backend: wasm\+native, OpenBLAS [\d.]+, 1 thread \(requested\)$/);
  });
}, { only: ['wasm-native'] });
