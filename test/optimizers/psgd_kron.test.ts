import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { join } from 'node:path';
import { buildOptimizer } from '../../optimizers/core.js';
import { eighTridiagonalQL } from '../../optimizers/eigh.js';
import { normLowerBound, procrustesStep, psgdKron, psgdKronDef, psgdKronLayout, PSGD_KRON_DEFAULTS } from '../../optimizers/psgd_kron.js';
import { PsgdKronOptimizer } from '../../optimizers/tfjs_classes.js';
import { loadFixture } from '../../parity/fixture.js';
import { replayFixture } from '../../parity/replay.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { FIXTURE_DIR, itReplaysFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('psgd-kron', { make: () => psgdKron({ lr: 0.02 }), makeRosenbrock: () => psgdKron({ lr: 0.005 }), makeTf: () => new PsgdKronOptimizer({ lr: 0.01 }) });
itBehavesLikeOptimizer('psgd-kron (gradient whitening, L2, update after, coin 0.5)', {
  make: () => psgdKron({ lr: 0.02, whitenGrad: true, momentum: 0, decoupledWeightDecay: false, weightDecay: 0.01, updatePreconditionerFirst: false, preconditionerUpdateProbability: 0.5, preconditionerMaxSkew: 3 }),
  makeRosenbrock: () => psgdKron({ lr: 0.005, whitenGrad: true, momentum: 0 }),
});
itReplaysFixtures('psgd-kron');

describeBackends('psgd-kron', () => {
  it('bounds the spectral norm from below, within 5% on a random SPD matrix', () => {
    const n = 16;
    const g = seeded(n * n, 3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += g[i * n + k] * g[j * n + k];
    const lmax = eighTridiagonalQL(a, n).values[n - 1];
    const est = tf.tidy(() => normLowerBound(tf.tensor2d(Float32Array.from(a), [n, n]), tf.randomNormal([32, n], 0, 1, 'float32', 1) as tf.Tensor2D, 'diag').dataSync()[0]);
    expect(est).to.be.at.most(lmax * (1 + 1e-5));
    expect(est).to.be.at.least(lmax * 0.95);
  });

  it('a Procrustes step moves Q towards symmetry without changing Q^T Q much', () => {
    const q0 = tf.tidy(() => tf.add(tf.eye(8), tf.mul(tf.tensor2d(seeded(64, 9), [8, 8]), 0.05)) as tf.Tensor2D);
    const [before, after] = tf.tidy(() => {
      const q1 = procrustesStep(q0, tf.randomNormal([32, 8], 0, 1, 'float32', 2) as tf.Tensor2D);
      const asym = (q: tf.Tensor2D) => tf.norm(tf.sub(q, tf.transpose(q))).dataSync()[0];
      return [asym(q0), asym(q1)];
    });
    expect(after).to.be.below(before);
    q0.dispose();
  });

  it('gives diagonal factors to skewed dimensions and squeezes singletons', () => {
    expect(psgdKronLayout([64, 16], { preconditionerMaxSize: -1, preconditionerMaxSkew: 1 }).dense).to.deep.equal([false, true]);
    expect(psgdKronLayout([1, 5, 1], { preconditionerMaxSize: -1, preconditionerMaxSkew: 1 })).to.deep.equal({ work: [5], dense: [false] });
    expect(psgdKronLayout([8, 8], { preconditionerMaxSize: 4, preconditionerMaxSkew: 1 }).dense).to.deep.equal([false, false]);
  });

  it("replay fails, naming the draw, when optlab's draws differ from the reference's", () => {
    const fx = loadFixture(join(FIXTURE_DIR, 'psgd-kron-official-default-tall.json'));
    (fx.steps[3] as unknown as { draws: { fn: string }[] }).draws.splice(2, 1);
    expect(() => replayFixture(fx)).to.throw(/step 4: expected the reference's/);
  });

  it('draws the same numbers after a checkpoint as without one (keyed, not a stream)', () => {
    const run = (stopAt: number) => {
      const w = tf.variable(tf.tensor2d(seeded(12, 1), [4, 3]), true, `psgd_${Math.random()}`);
      let opt = buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], psgdKron({ lr: 0.01, preconditionerUpdateProbability: 0.5 }));
      for (let i = 0; i < 6; i++) {
        if (i === stopAt) {
          const st = opt.state();
          opt.dispose();
          opt = buildOptimizer([{ name: 'w', variable: w, role: 'matrix' }], psgdKron({ lr: 0.01, preconditionerUpdateProbability: 0.5 }));
          opt.load(st);
          for (const t of st.values()) t.dispose();
        }
        const g = tf.tensor2d(seeded(12, 20 + i), [4, 3]);
        opt.step(new Map([['w', g]]));
        g.dispose();
      }
      const out = Array.from(w.dataSync());
      opt.dispose();
      w.dispose();
      return out;
    };
    expect(run(3)).to.deep.equal(run(-1));
  });

  it('rejects options outside their domain, naming method, option, value and range', () => {
    expect(() => psgdKron({ lrPreconditioner: 1 })).to.throw("psgd-kron: option 'lrPreconditioner' must be in (0, 1), got 1");
    expect(() => psgdKron({ gradClipMaxAmp: 3, gradClipMaxElement: 2 })).to.throw("psgd-kron: option 'gradClipMaxElement' must be >= gradClipMaxAmp (3), got 2");
    expect(() => psgdKronDef({ ...PSGD_KRON_DEFAULTS, seed: 0.5 })).to.throw("psgd-kron: option 'seed' must be an integer, got 0.5");
    expect(() => psgdKron({ momentum: 0 })).to.throw(/whitenGrad false .* needs momentum > 0/);
  });
});
