import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { adamw } from '../../optimizers/adamw.js';
import { buildOptimizer } from '../../optimizers/core.js';
import { AdamWOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';

itBehavesLikeOptimizer('adamw', { make: () => adamw({ lr: 0.05 }), makeTf: () => new AdamWOptimizer({ lr: 0.01 }) });
itBehavesLikeOptimizer('adamw amsgrad', { make: () => adamw({ lr: 0.05, amsgrad: true }) });

describeBackends('adamw', () => {
  it('first step moves every element by lr * sign(g) (bias correction cancels the moment scale)', () => {
    // t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) ~ lr * sign(g); wd 0.
    const w = tf.variable(tf.tensor1d([1, -2, 3]), true, 'adamw_first');
    const opt = buildOptimizer([{ name: 'w', variable: w, role: 'vector' }], adamw({ lr: 0.1, weightDecay: 0 }));
    opt.step(new Map([['w', tf.tensor1d([0.5, -3, 1e-3])]]));
    const got = Array.from(w.dataSync());
    expect(got[0]).to.be.closeTo(0.9, 1e-6);
    expect(got[1]).to.be.closeTo(-1.9, 1e-6);
    expect(got[2]).to.be.closeTo(3 - 0.1 * (1e-3 / (1e-3 + 1e-8)), 1e-6);
    opt.dispose();
    w.dispose();
  });

  it("decayOn picks the decayed parameters: 'all', 'rank2' (nanoGPT's rule), 'matrix'", () => {
    // Zero gradients: Adam's direction is 0, so a parameter moves only by the decay W (1 - lr wd).
    const decayed = (decayOn: 'all' | 'rank2' | 'matrix') => {
      const vars = {
        w: tf.variable(tf.ones([3, 2]), true, `decay_w_${decayOn}`),
        emb: tf.variable(tf.ones([4, 2]), true, `decay_emb_${decayOn}`),
        b: tf.variable(tf.ones([2]), true, `decay_b_${decayOn}`),
      };
      const roles = { w: 'matrix', emb: 'embedding', b: 'vector' } as const;
      const params = (Object.keys(vars) as (keyof typeof vars)[]).map((n) => ({ name: n, variable: vars[n], role: roles[n] }));
      const opt = buildOptimizer(params, adamw({ lr: 0.1, weightDecay: 0.5, decayOn }));
      opt.step(new Map(params.map((p) => [p.name, tf.zerosLike(p.variable)])));
      const out = Object.fromEntries(params.map((p) => [p.name, p.variable.dataSync()[0]]));
      // The routing table says per parameter whether it decays.
      const row = (name: string) => opt.describe().split('\n').find((l) => l.startsWith(`${name} `))!;
      for (const p of params) expect(row(p.name), `${decayOn}: ${p.name}`).to.include(decayOn === 'all' ? 'wd=0.5' : out[p.name] === 1 ? `no wd (decayOn ${decayOn})` : `wd=0.5 on ${decayOn}`);
      opt.dispose();
      tf.dispose(Object.values(vars));
      return out;
    };
    expect(decayed('all')).to.deep.equal({ w: Math.fround(0.95), emb: Math.fround(0.95), b: Math.fround(0.95) });
    expect(decayed('rank2')).to.deep.equal({ w: Math.fround(0.95), emb: Math.fround(0.95), b: 1 });
    expect(decayed('matrix')).to.deep.equal({ w: Math.fround(0.95), emb: 1, b: 1 });
    expect(() => adamw({ decayOn: 'matrices' } as never)).to.throw(/option 'decayOn' must be one of 'all', 'rank2', 'matrix', got "matrices"/);
  });

  it('rejects unknown and mistyped options naming the key', () => {
    expect(() => adamw({ lrr: 1 } as never)).to.throw(/unknown option 'lrr'/);
    expect(() => adamw({ beta1: '0.9' } as never)).to.throw(/'beta1' must be a number/);
  });
});
