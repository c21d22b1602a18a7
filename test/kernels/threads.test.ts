/**
 * The native kernels' threads (native/threads.c) and the thread and OpenBLAS-kernel policies of
 * kernels/addon.ts: products split over two threads (by rows, by columns, by batch, each transpose)
 * against one thread and plain wasm; threadsPerRun for one run and for `--jobs` (the OpenBLAS kernel-set
 * policy is tested in blas_family.test.ts). The native cases are skipped, saying why, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { blasThreads, threadsPerRun } from '../../kernels/addon.js';
import { enableNativeKernels, nativeStatus, withOriginals } from '../../kernels/wasm_kernels.js';
import { describeNative, input, maxErr } from './helpers.js';

describe('thread policies (kernels/addon.ts)', () => {
  it('threadsPerRun: the cores for one run (at most 4), floor(cores / runs) for parallel runs, at least 1', () => {
    expect(threadsPerRun(1, 2)).to.equal(2);
    expect(threadsPerRun(2, 2)).to.equal(1);
    expect(threadsPerRun(3, 2)).to.equal(1);
    expect(threadsPerRun(1, 64)).to.equal(4);
    expect(threadsPerRun(4, 16)).to.equal(4);
    expect(threadsPerRun(8, 16)).to.equal(2);
    expect(threadsPerRun(1, 1)).to.equal(1);
  });

  it('blasThreads: an explicit count wins, OPTLAB_BLAS_THREADS next, and anything but a positive integer throws', () => {
    const saved = process.env.OPTLAB_BLAS_THREADS;
    try {
      process.env.OPTLAB_BLAS_THREADS = '3';
      expect(blasThreads()).to.equal(3);
      expect(blasThreads(1)).to.equal(1);
      process.env.OPTLAB_BLAS_THREADS = 'two';
      expect(() => blasThreads()).to.throw(/OPTLAB_BLAS_THREADS: expected a positive integer, got 'two'/);
      delete process.env.OPTLAB_BLAS_THREADS;
      expect(blasThreads()).to.equal(threadsPerRun());
    } finally {
      if (saved === undefined) delete process.env.OPTLAB_BLAS_THREADS;
      else process.env.OPTLAB_BLAS_THREADS = saved;
    }
  });
});

/** [a shape, b shape, transposeA, transposeB]: each large enough (>= 2^18 multiply-adds) to be split. */
const PRODUCTS: [number[], number[], boolean, boolean][] = [
  [[300, 200], [200, 100], false, false], // rows
  [[200, 300], [200, 100], true, false], // rows of A^T: columns of A
  [[20, 300], [300, 400], false, false], // wider than tall: columns
  [[20, 300], [400, 300], false, true], // columns of B^T: rows of B
  [[3, 80, 90], [3, 90, 70], false, false], // a batch of three
  [[1, 90, 80], [90, 70], true, false], // one product of a batch, shared right operand
];

describeNative('products over the native kernels\' threads', () => {
  for (const [sa, sb, ta, tb] of PRODUCTS) {
    it(`[${sa}]${ta ? 'ᵀ' : ''} x [${sb}]${tb ? 'ᵀ' : ''}: two threads agree with one and with plain wasm`, async () => {
      const threads = nativeStatus().threads;
      const run = () => {
        const out = tf.tidy(() => tf.matMul(input(sa, 3), input(sb, 5), ta, tb));
        const v = Float32Array.from(out.dataSync() as Float32Array);
        out.dispose();
        return v;
      };
      try {
        await enableNativeKernels({ threads: 2 });
        expect(nativeStatus().threads).to.equal(2);
        const two = run();
        await enableNativeKernels({ threads: 1 });
        const one = run();
        const plain = withOriginals(run);
        expect(maxErr([two], [one])).to.be.below(1e-5);
        expect(maxErr([two], [plain])).to.be.below(1e-5);
        expect(two.some((v) => v !== 0)).to.equal(true);
      } finally {
        await enableNativeKernels({ threads });
      }
    });
  }
});
