import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { dion, dionDef, dionLayout, dionMonitor, DION_DEFAULTS } from '../../optimizers/dion.js';
import { DionOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('dion', { make: () => dion({ lr: 0.05 }), makeTf: () => new DionOptimizer({ lr: 0.01 }) });
itBehavesLikeOptimizer('dion (low rank, cqr, 2 power iterations, lion)', { make: () => dion({ lr: 0.05, rankFraction: 0.5, qrMethod: 'cqr', cqrWarmupSteps: 2, powerIters: 2, scalarAlgorithm: 'lion', scalarLr: 0.01 }) });
itReplaysFixtures('dion');

function matrix(shape: [number, number], seed: number): Parameter {
  return { name: 'w', role: 'matrix', variable: tf.variable(tf.tensor2d(seeded(shape[0] * shape[1], seed), shape), true, `dion_${seed}_${Math.random()}`) };
}

describeBackends('dion', () => {
  it("scalar Lion moves every coordinate with a nonzero direction, tiny ones too (wasm's tf.sign returns 0 below 1.19e-7; core.ts exactSign)", () => {
    const b: Parameter = { name: 'b', role: 'vector', variable: tf.variable(tf.zeros([4]), true, 'dion_lion_b') };
    const opt = buildOptimizer([b], dion({ lr: 0.1, scalarAlgorithm: 'lion', weightDecay: 0 }));
    const g = tf.tensor1d([1e-9, -1e-9, 0.5, 0]);
    opt.step(new Map([['b', g]]));
    // Lion: dW = -lr sign(lerp(0, g, 1 - beta1)): -0.1, +0.1, -0.1 and 0 for the zero gradient.
    expect(Array.from(b.variable.dataSync())).to.deep.equal([-0.1, 0.1, -0.1, 0].map((x) => Math.fround(x)));
    opt.dispose();
    tf.dispose([g, b.variable]);
  });

  it('full rank, first step: M = mu G (error feedback keeps mu of the rank-r part) and ||dW||_F = lr sqrt(out/in) sqrt(r)', () => {
    // P is orthogonal (square full-rank G), so P P^T G = G and M <- G - (1 - mu) G; Q's r columns are unit
    // vectors and P has orthonormal columns, so ||P Q^T||_F^2 = trace(Q Q^T) = r.
    const w = matrix([6, 6], 1);
    const w0 = w.variable.clone();
    const opt = buildOptimizer([w], dion({ lr: 0.1, mu: 0.9, weightDecay: 0 }));
    const g = tf.tensor2d(seeded(36, 2), [6, 6]);
    opt.step(new Map([['w', g]]));
    const st = opt.state();
    const mErr = tf.tidy(() => tf.max(tf.abs(tf.sub(st.get('w/momentum')!, tf.mul(g, 0.9)))).dataSync()[0]);
    expect(mErr).to.be.below(1e-5);
    const dw = tf.tidy(() => tf.norm(tf.sub(w.variable, w0)).dataSync()[0]);
    expect(dw).to.be.closeTo(0.1 * Math.sqrt(6), 1e-5);
    for (const t of st.values()) t.dispose();
    g.dispose();
    w0.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it('randomized Cholesky QR gives the trajectory of Householder QR (the sketch changes rounding only)', () => {
    const run = (qrMethod: 'rcqr' | 'qr') => {
      const w = matrix([24, 5], 3);
      const opt = buildOptimizer([w], dion({ lr: 0.05, qrMethod, rankFraction: 0.6 }));
      for (let i = 0; i < 5; i++) {
        const g = tf.tensor2d(seeded(120, 30 + i), [24, 5]);
        opt.step(new Map([['w', g]]));
        g.dispose();
      }
      const out = w.variable.dataSync().slice();
      opt.dispose();
      w.variable.dispose();
      return out;
    };
    const a = run('rcqr');
    const b = run('qr');
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    expect(d).to.be.below(1e-5);
  });

  it('counts Cholesky failures on a rank-deficient momentum (cqr falls back to rcqr)', () => {
    const w = matrix([8, 4], 4);
    const def = dion({ qrMethod: 'cqr', cqrWarmupSteps: 0 });
    const opt = buildOptimizer([w], def);
    const warn = console.warn;
    const lines: string[] = [];
    console.warn = (m: string) => lines.push(m);
    try {
      // Rank one: u v^T.
      const g = tf.tidy(() => tf.outerProduct(tf.tensor1d(seeded(8, 5)), tf.tensor1d(seeded(4, 6))));
      opt.step(new Map([['w', g]]));
      g.dispose();
    } finally {
      console.warn = warn;
    }
    expect(dionMonitor(def)!.diagnostics().dion_qr_fallbacks).to.be.at.least(1);
    expect(lines[0]).to.match(/dion: Cholesky QR failed .* for 'w' at step 1/);
    expect(w.variable.dataSync().every(Number.isFinite)).to.equal(true);
    opt.dispose();
    w.variable.dispose();
  });

  it("orients each matrix as the reference (PyTorch [out, in], transposed when out < in) and rounds the rank", () => {
    // optlab [in, out] = [16, 64]: PyTorch X is 64 x 16 (out >= in), not transposed: B = X, Q is in x r.
    expect(dionLayout([16, 64], { rankFraction: 1, rankMultipleOf: 1 })).to.deep.equal({ transposed: true, m: 64, n: 16, r: 16 });
    expect(dionLayout([64, 16], { rankFraction: 1, rankMultipleOf: 1 })).to.deep.equal({ transposed: false, m: 64, n: 16, r: 16 });
    expect(dionLayout([32, 32], { rankFraction: 0.25, rankMultipleOf: 3 }).r).to.equal(9);
  });

  it('rejects options outside their domain, naming method, option, value and range', () => {
    expect(() => dion({ rankFraction: 0 })).to.throw("dion: option 'rankFraction' must be in (0, 1], got 0");
    expect(() => dion({ qrMethod: 'svd' as never })).to.throw("dion: option 'qrMethod' must be one of 'rcqr', 'cqr', 'qr', got \"svd\"");
    expect(() => dionDef({ ...DION_DEFAULTS, epsilon: 0 })).to.throw("dion: option 'epsilon' must be > 0, got 0");
  });
});
