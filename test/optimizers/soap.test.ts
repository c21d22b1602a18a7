import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer, type Parameter } from '../../optimizers/core.js';
import { soap, soapDef, soapLayout, soapMergedShape, soapMonitor, SOAP_DEFAULTS } from '../../optimizers/soap.js';
import { SoapOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('soap', { make: () => soap({ lr: 0.05, preconditionFrequency: 3 }), makeTf: () => new SoapOptimizer({ lr: 0.01 }) });
itBehavesLikeOptimizer('soap (merged dims, 1-D factors, normalized)', { make: () => soap({ lr: 0.02, mergeDims: true, maxPrecondDim: 12, precondition1d: true, normalizeGrads: true, preconditionFrequency: 2 }) });
itReplaysFixtures('soap');
// SOAP treats every dimension alike, so a tall fixture transposed to wide replays too.
itReplaysWideFixtures('soap');

function param(name: string, shape: number[], seed: number): Parameter {
  return { name, role: shape.length > 1 ? 'matrix' : 'vector', variable: tf.variable(tf.tensor(seeded(shape.reduce((a, b) => a * b, 1), seed), shape), true, `soap_test_${name}_${seed}_${Math.random()}`) };
}

describeBackends('soap', () => {
  it('is Adam (eps on the uncorrected sqrt v) started one step late when no dimension has a basis', () => {
    // maxPrecondDim 1: both dimensions of a 5x3 matrix keep the identity, so G' = G and N = m / (sqrt(v) + eps);
    // step 1 only accumulates, step s+1 is Adam's step s with lr sqrt(1 - b2^s) / (1 - b1^s).
    const a = param('w', [5, 3], 3);
    const b = param('w', [5, 3], 3);
    const s = buildOptimizer([a], soap({ lr: 0.01, maxPrecondDim: 1, weightDecay: 0 }));
    const ref = buildOptimizer([b], adamw({ lr: 0.01, beta1: 0.95, beta2: 0.95, eps: 1e-8, weightDecay: 0, epsMode: 'uncorrected' }));
    for (let i = 0; i < 5; i++) {
      const g = tf.tensor(seeded(15, 10 + i), [5, 3]);
      s.step(new Map([['w', g]]));
      if (i > 0) ref.step(new Map([['w', g]]));
      else expect(Array.from(a.variable.dataSync())).to.deep.equal(Array.from(b.variable.dataSync()));
      g.dispose();
    }
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a.variable, b.variable))).dataSync()[0]);
    expect(d).to.be.below(1e-6);
    s.dispose();
    ref.dispose();
    a.variable.dispose();
    b.variable.dispose();
  });

  it('rotates into the eigenbasis of the factors: Q^T GG Q is diagonal, eigenvalues descending', () => {
    const w = param('w', [4, 6], 4);
    const opt = buildOptimizer([w], soap({}));
    const g = tf.tensor(seeded(24, 5), [4, 6]);
    opt.step(new Map([['w', g]]));
    const st = opt.state();
    for (const k of [0, 1]) {
      const gg = st.get(`w/GG.${k}`)! as tf.Tensor2D;
      const q = st.get(`w/Q.${k}`)! as tf.Tensor2D;
      const d = tf.tidy(() => tf.matMul(tf.matMul(q, gg, true, false), q).arraySync() as number[][]);
      const n = d.length;
      let off = 0;
      let scale = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) (i === j ? (scale = Math.max(scale, Math.abs(d[i][j]))) : (off = Math.max(off, Math.abs(d[i][j]))));
      expect(off / scale).to.be.below(1e-5);
      for (let i = 1; i < n; i++) expect(d[i][i]).to.be.at.most(d[i - 1][i - 1] + 1e-6 * scale);
    }
    for (const t of st.values()) t.dispose();
    g.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it('counts a failed eigendecomposition, warns once and keeps the identity basis', () => {
    const w = param('w', [3, 3], 6);
    const def = soap({});
    const opt = buildOptimizer([w], def);
    const warn = console.warn;
    const lines: string[] = [];
    console.warn = (m: string) => lines.push(m);
    try {
      const g = tf.tensor([NaN, 1, 2, 3, 4, 5, 6, 7, 8], [3, 3]);
      opt.step(new Map([['w', g]]));
      g.dispose();
    } finally {
      console.warn = warn;
    }
    expect(soapMonitor(def)!.diagnostics().soap_basis_failures).to.equal(2);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/soap: the eigendecomposition of factor 0 \(3x3\) of 'w' failed at step 1/);
    const q = opt.state().get('w/Q.0')!;
    expect(Array.from(q.dataSync())).to.deep.equal([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    opt.dispose();
    w.variable.dispose();
  });

  it("merges dimensions as the reference's merge_dims and preconditions 1-D only on request", () => {
    expect(soapMergedShape([2, 2, 3, 4], 12)).to.deep.equal([12, 4]);
    expect(soapMergedShape([3, 20000], 10000)).to.deep.equal([3, 20000]);
    expect(soapLayout([16], { maxPrecondDim: 10000, mergeDims: false, precondition1d: false }).preconditioned).to.deep.equal([false]);
    expect(soapLayout([65, 64], { maxPrecondDim: 64, mergeDims: false, precondition1d: false }).preconditioned).to.deep.equal([false, true]);
  });

  it('rejects options outside their domain, naming method, option, value and range', () => {
    expect(() => soap({ beta2: 1 })).to.throw("soap: option 'beta2' must be in [0, 1), got 1");
    expect(() => soap({ preconditionFrequency: 0 })).to.throw("soap: option 'preconditionFrequency' must be an integer >= 1, got 0");
    // soapDef (the parity replay's entry, outside the factory) checks the same table.
    expect(() => soapDef({ ...SOAP_DEFAULTS, eps: 0 })).to.throw("soap: option 'eps' must be > 0, got 0");
  });
});
