/**
 * Native kernels inside the wasm backend (kernels/wasm_kernels.ts, kernels/wasm_replacements.ts): every
 * kernel against the plain wasm kernel (in the same process, swapping the originals back in) and
 * against the cpu backend, values and gradients, on odd shapes; tensor counts; copy-free Identity; heap
 * growth during a kernel; determinism; the self-test's fallback. Skipped, saying why, when the addon is
 * not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { blasKernels, threadsPerRun, TFJS_VERSION } from '../../kernels/addon.js';
import { selectBackend } from '../../kernels/backend.js';
import { addSelfTestCase, selfTestCases } from '../../kernels/self_test.js';
import '../../optimizers/auon.js';
import { disableNativeKernels, enableNativeKernels, nativeStatus, withOriginals } from '../../kernels/wasm_kernels.js';
import { simplifyTranspose } from '../../kernels/wasm_replacements.js';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { describeNative, evaluate, FUSED_CASES, fusedModelOps, input, maxErr, numDataIds, type Case } from './helpers.js';

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

function heapOffset(t: tf.Tensor): number {
  return (tf.backend() as unknown as { dataIdMap: { get(d: object): { memoryOffset: number } } }).dataIdMap.get(t.dataId).memoryOffset;
}

describe('native kernels: tfjs pin', () => {
  it('package.json pins every tfjs package to exactly the release the kernels read private fields of', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const tfjs = Object.entries(pkg.dependencies).filter(([name]) => name.startsWith('@tensorflow/'));
    expect(tfjs.length).to.be.at.least(3);
    for (const [name, version] of tfjs) expect(version, name).to.equal(TFJS_VERSION);
  });
});

describeNative('native kernels in the wasm backend', () => {
  it('replaces the wasm kernels the GPT step spends its time in', () => {
    const st = nativeStatus();
    expect(st.active).to.equal(true);
    // The default: the cores, at most 4 (kernels/addon.ts threadsPerRun), unless OPTLAB_BLAS_THREADS says otherwise.
    expect(st.threads).to.equal(process.env.OPTLAB_BLAS_THREADS ? Number(process.env.OPTLAB_BLAS_THREADS) : threadsPerRun());
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

  it('simplifies transposes by dropping size-1 axes and merging axes that move together', () => {
    expect(simplifyTranspose([16, 64, 4, 32], [0, 2, 1, 3])).to.deep.equal({ shape: [16, 64, 4, 32], perm: [0, 2, 1, 3] });
    expect(simplifyTranspose([2, 3, 4, 5], [2, 3, 0, 1])).to.deep.equal({ shape: [6, 20], perm: [1, 0] });
    expect(simplifyTranspose([3, 1, 5, 1], [2, 3, 0, 1])).to.deep.equal({ shape: [3, 5], perm: [1, 0] });
    expect(simplifyTranspose([1, 1], [1, 0])).to.deep.equal({ shape: [1], perm: [0] });
  });

  it('keeps tensor and heap buffer counts flat when every case runs again', () => {
    const all: Case[] = [...CASES, ...FUSED_CASES.map(([name, shapes, fn]) => ({ name, shapes, fn: (...xs: tf.Tensor[]) => fn(fusedModelOps(), ...xs) }))];
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
      expect((await enableNativeKernels()).threads).to.equal(threadsPerRun());
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

  it('the self-test covers the optimizer kernels (their cases come from the method files) and runs a case added while active at the next enable', async () => {
    const names = selfTestCases().map(([n]) => n);
    expect(names).to.include.members(['fused GELU', 'fused layer norm', 'fused Adam', 'fused AuON', 'fused AuON brake, paper mode']);
    let calls = 0;
    addSelfTestCase('late case (test)', () => {
      calls++;
      return tf.matMul(input([3, 4], 1), input([4, 2], 2));
    });
    expect(calls).to.equal(0);
    expect((await enableNativeKernels()).active).to.equal(true);
    expect(calls).to.equal(2); // once with the native kernels, once with the originals
    expect((await enableNativeKernels()).active).to.equal(true);
    expect(calls).to.equal(2);
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
    // e.g. 'backend: wasm+native, OpenBLAS 0.3.21 (SkylakeX kernels, verified), 2 threads (requested)', with
    // the explicit setting it honours and a note when a wider verified kernel set exists (kernels/blas_family.ts).
    const n = threadsPerRun();
    const blas = blasKernels()!;
    expect(choice.message).to.match(new RegExp(`^backend: wasm\\+native, OpenBLAS [\\d.]+ \\(${blas.family} kernels, verified(, from \\w+=\\w+)?\\), ${n} threads? \\(requested\\)(; wider \\w+ kernels pass the check here: OPTLAB_BLAS_CORE=\\w+ selects them for optlab \\(kernel sets round differently.*|; OpenBLAS picked .*)?$`));
    if (blas.widerAvailable) expect(choice.message).to.contain(`OPTLAB_BLAS_CORE=${blas.widerAvailable}`);
  });
});
