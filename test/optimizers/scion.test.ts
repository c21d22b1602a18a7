import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, type Parameter, type Role } from '../../optimizers/core.js';
import { newtonSchulz } from '../../optimizers/linalg.js';
import { muon } from '../../optimizers/muon.js';
import { scion } from '../../optimizers/scion.js';
import { ScionOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures } from '../parity/replay_helpers.js';

itBehavesLikeOptimizer('scion unconstrained with momentum', {
  make: () => scion({ lr: 0.02, momentum: 0.5, unconstrained: true }),
  makeTf: () => new ScionOptimizer({ lr: 0.005, momentum: 0.1, unconstrained: true }),
});
itBehavesLikeOptimizer('scion constrained, sign head, col-norm embedding', {
  make: () => scion({ lr: 0.05, momentum: 0.5, scale: 3, vectorScale: 3, headNorm: 'sign', headScale: 10, embeddingNorm: 'col-norm', embeddingScale: 3 }),
});

// The spectral factor sqrt(fan_out / fan_in) is not symmetric in (rows, cols): no transposed replay.
itReplaysFixtures('scion');

function param(name: string, role: Role, data: Float32Array, shape: number[]): Parameter {
  return { name, role, variable: tf.variable(tf.tensor(data, shape), true, `scion_test/${name}/${Math.random()}`) };
}

describeBackends('scion', () => {
  it('a constrained spectral step is W (1 - lr) - lr scale sqrt(fan_out/fan_in) NS5(G); a sign head moves by lr scale / fan_in', () => {
    const [fanIn, fanOut, lr, scale] = [4, 9, 0.05, 2];
    const w0 = seeded(fanIn * fanOut, 1);
    const g = seeded(fanIn * fanOut, 2);
    const h0 = seeded(fanIn * 3, 3);
    const hg = seeded(fanIn * 3, 4);
    const ps = [param('W', 'matrix', w0, [fanIn, fanOut]), param('H', 'head', h0, [fanIn, 3])];
    const opt = buildOptimizer(ps, scion({ lr, scale, headNorm: 'sign', headScale: 5 }));
    opt.step(new Map([['W', tf.tensor2d(g, [fanIn, fanOut])], ['H', tf.tensor2d(hg, [fanIn, 3])]]));
    const o = tf.tidy(() => newtonSchulz(tf.tensor2d(g, [fanIn, fanOut])).dataSync());
    const w1 = ps[0].variable.dataSync();
    for (let i = 0; i < w1.length; i++) expect(w1[i]).to.be.closeTo(w0[i] * (1 - lr) - lr * scale * Math.sqrt(fanOut / fanIn) * o[i], 1e-6);
    const h1 = ps[1].variable.dataSync();
    for (let i = 0; i < h1.length; i++) expect(h1[i]).to.be.closeTo(h0[i] * (1 - lr) - (lr * 5 * Math.sign(hg[i])) / fanIn, 1e-6);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
  });

  it('constrained iterates stay in the ball the LMO draws: ||W||_inf of a sign layer stays <= scale / fan_in from any start inside it', () => {
    // W_{t+1} = (1 - lr) W_t + lr * (-scale sign(G) / fan_in): a convex combination of points of the ball.
    const fanIn = 5;
    const p = param('H', 'head', seeded(fanIn * 2, 5).map((v) => (v / 10) * (2 / fanIn)), [fanIn, 2]);
    const opt = buildOptimizer([p], scion({ lr: 0.3, headNorm: 'sign', headScale: 2 }));
    for (let s = 0; s < 20; s++) opt.step(new Map([['H', tf.tensor(seeded(fanIn * 2, 100 + s), [fanIn, 2])]]));
    const maxAbs = Math.max(...Array.from(p.variable.dataSync(), Math.abs));
    expect(maxAbs).to.be.at.most(2 / fanIn + 1e-6);
    expect(maxAbs).to.be.greaterThan(0.5 * (2 / fanIn));
    opt.dispose();
    p.variable.dispose();
  });

  it("diagnostics: ns_sv_* and ns_orth_error read Newton-Schulz's output before the shape factor and radius, as Muon's do", () => {
    // Scion's spectral LMOs multiply NS5(G) by sqrt(fan_out / fan_in) (/ (kh kw) for conv) and the radius;
    // the singular-value metrics describe the orthogonalization, so they must equal Muon's on the same
    // direction (Muon with momentum 0 and no Nesterov orthogonalizes the gradient itself).
    for (const [shape, role] of [[[8, 32], 'matrix'], [[3, 3, 2, 4], 'conv']] as [number[], Role][]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const g = seeded(size, 21);
      const read = (def: ReturnType<typeof scion>) => {
        const p = param('W', role, seeded(size, 20), shape);
        const opt = buildOptimizer([p], def);
        const gt = tf.tensor(g, shape);
        opt.step(new Map([['W', gt]]), { diagnose: true });
        const d = opt.diagnostics();
        gt.dispose();
        opt.dispose();
        p.variable.dispose();
        return d;
      };
      const s = read(scion({ lr: 0.01, scale: 3 }));
      const m = read(muon({ momentum: 0, nesterov: false, batchNewtonSchulz: 'never' }));
      for (const k of ['ns_sv_min', 'ns_sv_max', 'ns_orth_error']) {
        expect(s[`scion/${k}`], `[${shape}] ${k}: scion ${s[`scion/${k}`]}, muon ${m[`muon/${k}`]}`).to.be.closeTo(m[`muon/${k}`], 1e-5);
      }
      // NS5's singular values stay near 1 (about [0.68, 1.13]), whatever the factor (here 2 and 3 sqrt(2) / 9).
      expect(s['scion/ns_sv_max']).to.be.within(0.6, 1.3);
    }
  });

  it("routing tables say which LMO 'auto' resolves to on each parameter (buildOptimizer, the tf.Optimizer, before a step)", async () => {
    const ps = [param('K', 'conv', seeded(18, 1), [3, 3, 1, 2]), param('W', 'matrix', seeded(8, 2), [2, 4]), param('b', 'vector', seeded(4, 3), [4]), param('H', 'head', seeded(8, 4), [4, 2])];
    const opt = buildOptimizer(ps, scion({ headNorm: 'sign' }));
    const row = (table: string, name: string) => table.split('\n').find((l) => l.startsWith(`${name} `))!;
    const table = opt.describe();
    expect(row(table, 'K')).to.include('scion(auto:spectral-conv,');
    expect(row(table, 'W')).to.include('scion(auto:spectral,');
    expect(row(table, 'b')).to.include('scion(auto:bias-rms,');
    expect(row(table, 'H')).to.include('scion(sign,');
    opt.dispose();
    for (const p of ps) p.variable.dispose();
    const tfl = await import('@tensorflow/tfjs-layers');
    const model = tfl.sequential({ layers: [tfl.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [4, 4, 1], name: 'scion_describe_conv' }), tfl.layers.flatten(), tfl.layers.dense({ units: 1, name: 'scion_describe_out' })] });
    const tfOpt = new ScionOptimizer({ printRouting: false });
    model.compile({ optimizer: tfOpt, loss: 'meanSquaredError' });
    // tfjs-layers makes weight names unique per process (a `_N` suffix on later backends).
    const weightRow = (name: string) => tfOpt.describe().split('\n').find((l) => new RegExp(`^${name}(_\\d+)? `).test(l))!;
    expect(weightRow('scion_describe_conv/kernel')).to.include('scion(auto:spectral-conv,');
    expect(weightRow('scion_describe_conv/bias')).to.include('scion(auto:bias-rms,');
    expect(weightRow('scion_describe_out/kernel')).to.match(/head .*scion-head +scion\(auto:spectral,/);
    tfOpt.dispose();
    model.dispose();
  });

  it('names the problem for a norm that does not fit the parameter and for options out of range', () => {
    expect(() => scion({ momentum: 0 })).to.throw("scion: option 'momentum' must be in (0, 1], got 0");
    expect(() => scion({ lr: -1 })).to.throw("scion: option 'lr' must be > 0, got -1");
    expect(() => scion({ lr: 1.5 })).to.throw("scion: option 'lr' must be in (0, 1] with unconstrained false");
    expect(() => scion({ headScale: 0 })).to.throw("scion: option 'headScale' must be > 0, got 0");
    expect(() => scion({ headNorm: 'frobenius' as never })).to.throw("scion: option 'headNorm' must be one of 'auto', 'spectral'");
    const b = param('b', 'vector', seeded(4, 1), [4]);
    expect(() => buildOptimizer([b], scion({ vectorNorm: 'spectral' }))).to.throw(/scion: norm 'spectral' needs a matrix; 'b'/);
    const w = param('w', 'matrix', seeded(4, 1), [2, 2]);
    expect(() => buildOptimizer([w], scion({ norm: 'bias-rms' }))).to.throw(/scion: norm 'bias-rms' needs a 1-D parameter; 'w'/);
    b.variable.dispose();
    w.variable.dispose();
  });
});

describe('scion reference mapping', () => {
  it('maps param groups to role families and refuses norm options optlab does not expose', async () => {
    const { scionFromReference } = await import('../../parity/mapping_recent.js');
    const base = { name: 'x', optimizer: 'scion', variant: 'official', config: 'c', reference_hyper: {}, mode: 'replay' as const, params: { W: { shape: [4, 3] }, b: { shape: [4] } } };
    const m = scionFromReference({ ...base, resolved_param_groups: [
      { params: ['W'], lr: 0.01, momentum: 0.1, unconstrained: false, norm: 'Sign', norm_kwargs: {}, scale: 7 },
      { params: ['b'], lr: 0.01, momentum: 0.1, unconstrained: false, norm: 'BiasRMS', norm_kwargs: {}, scale: 2 },
    ] });
    expect(m.roles).to.deep.equal({ W: 'head', b: 'vector' });
    expect(m.options).to.include({ headNorm: 'sign', headScale: 7, vectorNorm: 'bias-rms', vectorScale: 2, lr: 0.01, momentum: 0.1 });
    expect(() => scionFromReference({ ...base, resolved_param_groups: [{ params: ['W', 'b'], lr: 0.01, momentum: 1, unconstrained: false, norm: 'ColNorm', norm_kwargs: { transpose: true }, scale: 1 }] })).to.throw(/norm_kwargs.transpose of ColNorm is not supported/);
  });
});
