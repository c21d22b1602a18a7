import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { auon, COMPOSED_AUON, composedAuonBrake, coshBrake, hybridAuon, type AuonConstants } from '../../optimizers/auon.js';
import { buildOptimizer, type Parameter, type Role } from '../../optimizers/core.js';
import { AuonOptimizer, HybridAuonOptimizer } from '../../optimizers/tfjs_classes.js';
import { describeBackends } from '../shared/backends.js';
import { itBehavesLikeOptimizer } from '../shared/optimizer_contract.js';
import { seeded } from '../shared/problems.js';
import { itReplaysFixtures, itReplaysWideFixtures } from '../parity/replay_helpers.js';

// Code-mode AuON is Nesterov SGD on the raw momentum (r ~ 1), so Rosenbrock's 100x gradients need a small lr.
itBehavesLikeOptimizer('auon', {
  make: () => auon({ lr: 0.05, adamLr: 0.05 }),
  makeRosenbrock: () => auon({ lr: 1e-4 }),
  makeTf: () => new AuonOptimizer({ lr: 0.05, adamLr: 0.01 }),
});
itBehavesLikeOptimizer('auon paper mode, routing all, wd', { make: () => auon({ lr: 0.1, mode: 'paper', routing: 'all', weightDecay: 0.01 }), makeRosenbrock: () => auon({ lr: 0.02, mode: 'paper' }) });
itBehavesLikeOptimizer('hybrid-auon', { make: () => hybridAuon({ lr: 0.1, adamLr: 0.05 }), makeRosenbrock: () => hybridAuon({ lr: 0.02 }), makeTf: () => new HybridAuonOptimizer({ lr: 0.05, adamLr: 0.01 }) });
itBehavesLikeOptimizer('hybrid-auon paper mode, one NS step', { make: () => hybridAuon({ lr: 0.1, adamLr: 0.05, mode: 'paper', nsSteps: 1 }), makeRosenbrock: () => hybridAuon({ lr: 0.02, mode: 'paper', nsSteps: 1 }) });

itReplaysFixtures('auon');
itReplaysFixtures('hybrid-auon');
// Code-mode AuON is elementwise plus a whole-tensor norm, and NS5 of a transpose is the transpose of NS5.
itReplaysWideFixtures('auon');
itReplaysWideFixtures('hybrid-auon');

function param(name: string, role: Role, shape: number[], data: ArrayLike<number>): Parameter {
  return { name, role, variable: tf.variable(tf.tensor(Float32Array.from(data), shape), true, `auon_test/${name}/${Math.random()}`) };
}

function frobenius(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

describeBackends('auon', () => {
  it('cosh brake: 1 <= r and r^2 <= 1 + sinh^2(gamma)/N, attained by a one-element spike', () => {
    // sum X_ij^2 = 1 for X = U/||U||, so r^2 = mean(cosh^2(gamma X)) = 1 + mean(sinh^2(gamma X)) <= 1 + sinh^2(gamma)/N
    // (sinh^2(gamma x) is convex in x^2 with value 0 at 0, so the sum peaks when all mass sits in one entry).
    const gamma = 1.5;
    const cases: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const shape of [[2, 3], [8, 8], [64, 32]]) {
      const n = shape[0] * shape[1];
      const gauss = seeded(n, 21);
      const heavy = seeded(n, 22).map((x) => Math.tan(1.5 * x)); // Cauchy-like tails
      const u = seeded(shape[0], 23);
      const v = seeded(shape[1], 24);
      const rank1 = new Float32Array(n).map((_, k) => u[Math.floor(k / shape[1])] * v[k % shape[1]]);
      const spike = new Float32Array(n);
      spike[n - 1] = -3;
      cases.push({ name: `gauss ${shape}`, shape, data: gauss }, { name: `heavy ${shape}`, shape, data: heavy }, { name: `rank1 ${shape}`, shape, data: rank1 }, { name: `spike ${shape}`, shape, data: spike });
    }
    for (const c of cases) {
      const n = c.data.length;
      const bound = 1 + Math.sinh(gamma) ** 2 / n;
      const r = tf.tidy(() => coshBrake(tf.tensor(c.data, c.shape), gamma).dataSync()[0]);
      expect(r, c.name).to.be.at.least(1 - 1e-6);
      expect(r * r, c.name).to.be.at.most(bound * (1 + 1e-6));
      // ||U|| + 1e-7 makes |X| slightly below 1, so the spike sits just under the bound.
      if (c.name.startsWith('spike')) expect(r * r, c.name).to.be.closeTo(bound, 1e-5 * bound);
    }
    // docs/optimizers/auon.md's numbers for gamma 1.5: r - 1 <= 5.6e-4 at 64x64
    expect(Math.sqrt(1 + Math.sinh(1.5) ** 2 / 4096) - 1).to.be.closeTo(5.6e-4, 1e-5);
  });

  it('code mode: the first step is lr (1 - mu) g / r, with r the brake of that direction', () => {
    // M_1 = lerp(0, g, 1 - mu) = 0.05 g; U = lerp(g, M_1, mu) = 0.05 g + 0.95 * 0.05 g = 0.0975 g.
    const g = seeded(12, 3);
    const w = param('w', 'matrix', [3, 4], seeded(12, 4));
    const w0 = Array.from(w.variable.dataSync());
    const opt = buildOptimizer([w], auon({ lr: 0.1 }));
    const gt = tf.tensor(g, [3, 4]);
    opt.step(new Map([['w', gt]]));
    const r = tf.tidy(() => coshBrake(gt, 1.5).dataSync()[0]); // the brake is scale-free
    const w1 = w.variable.dataSync();
    for (let i = 0; i < 12; i++) expect(w1[i]).to.be.closeTo(w0[i] - (0.1 * 0.0975 * g[i]) / (r + 1e-8), 1e-6);
    gt.dispose();
    opt.dispose();
    w.variable.dispose();
  });

  it("paper mode: a Frobenius-normalized step scaled by sqrt(max(1, fan_out/fan_in))", () => {
    // X = U/||U||, r = sqrt(mean(cosh(X)^2)); ||dW|| = lr * factor * ||X|| / (r + 1e-8) = lr * factor / r (wd 0).
    for (const [shape, factor] of [[[2, 8], 2], [[8, 2], 1]] as [number[], number][]) {
      const g = seeded(16, 5).map((x) => 100 * x);
      const w = param('w', 'matrix', shape, new Float32Array(16));
      const opt = buildOptimizer([w], auon({ lr: 0.1, mode: 'paper' }));
      const gt = tf.tensor(g, shape);
      opt.step(new Map([['w', gt]]));
      const r = tf.tidy(() => coshBrake(gt, 1).dataSync()[0]);
      expect(frobenius(w.variable.dataSync()), `shape ${shape}`).to.be.closeTo((0.1 * factor) / r, 1e-6);
      gt.dispose();
      opt.dispose();
      w.variable.dispose();
    }
  });

  it('a zero gradient gives a zero step (no NaN), weight decay still applies', () => {
    for (const def of [auon({ lr: 0.1, weightDecay: 0.5 }), hybridAuon({ lr: 0.1, weightDecay: 0.5 }), auon({ lr: 0.1, weightDecay: 0.5, mode: 'paper' })]) {
      const w = param('w', 'matrix', [3, 4], seeded(12, 7));
      const w0 = Array.from(w.variable.dataSync());
      const opt = buildOptimizer([w], def);
      const z = tf.zeros([3, 4]);
      opt.step(new Map([['w', z]]));
      const w1 = w.variable.dataSync();
      for (let i = 0; i < 12; i++) expect(w1[i]).to.be.closeTo(w0[i] * (1 - 0.1 * 0.5), 1e-7);
      z.dispose();
      opt.dispose();
      w.variable.dispose();
    }
  });

  it('composed brake: cosh series where its bound allows (no Cosh kernel), cosh elsewhere; both match the literal formula in double', async () => {
    const heavy = seeded(2048, 42).map((x) => Math.tan(1.5 * x));
    const spike = new Float32Array(2048).map((_, i) => (i === 77 ? 4 : 1e-3 * ((i % 13) - 6)));
    for (const mode of ['code', 'paper'] as const) {
      const cases: { name: string; shape: number[]; data: Float32Array; series: boolean }[] = [
        { name: 'GPT qkv-sized', shape: [128, 384], data: seeded(128 * 384, 41), series: true },
        // Heavy tails: past the series' bound with gamma 1.5, within it with paper mode's gamma 1.
        { name: 'heavy tails', shape: [64, 32], data: heavy, series: mode === 'paper' },
        { name: 'spike', shape: [64, 32], data: spike, series: false },
        { name: 'tiny', shape: [2, 3], data: seeded(6, 43), series: false },
        { name: 'zero', shape: [8, 8], data: new Float32Array(64), series: true },
      ];
      const c: AuonConstants = { momentum: 0.95, gamma: 1.5, mode, factor: 2 };
      for (const k of cases) {
        const u = tf.tensor(k.data, k.shape);
        const prof = await tf.profile(() => composedAuonBrake(u, c, true));
        const got = (prof.result as tf.Tensor).dataSync();
        // The spec's formula, in double: d = ||u|| + 1e-7, r = sqrt(mean(cosh(gamma u / d)^2)).
        const g = mode === 'paper' ? 1 : c.gamma;
        const d = frobenius(k.data) + 1e-7;
        let acc = 0;
        for (const v of k.data) acc += Math.cosh((g * v) / d) ** 2;
        const r = Math.sqrt(acc / k.data.length);
        const scale = mode === 'paper' ? c.factor / (d * (r + 1e-8)) : 1 / (r + 1e-8);
        let worst = 0;
        k.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i] - v * scale) / Math.max(Math.abs(v * scale), 1e-30))));
        const tag = `${mode} ${k.name}`;
        // The cosh path's mean of cosh values near 1: plain wasm sums it in float32 (5e-6 off on the spike).
        expect(worst, tag).to.be.below(k.series ? 3e-7 : tf.getBackend() === 'cpu' ? 2e-6 : 2e-5);
        expect(prof.kernelNames.includes('Cosh'), tag).to.equal(!k.series);
        // The tensor-scalar path (backends whose data live on a device) agrees.
        const viaTensors = tf.tidy(() => composedAuonBrake(u, c, false).dataSync());
        let diff = 0;
        got.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - viaTensors[i]) / Math.max(Math.abs(v), 1e-30))));
        // Plain wasm sums the tensor path's 49k cosh values in float32 (measured 2e-5 off); cpu sums in double.
        expect(diff, `${tag}: host vs tensor scalars`).to.be.below(tf.getBackend() === 'cpu' ? 2e-6 : 1e-4);
        tf.dispose([u, prof.result as tf.Tensor]);
      }
    }
    // The plain COMPOSED_AUON uses the host path here (cpu, wasm).
    const n0 = tf.memory().numTensors;
    const u = tf.tensor(seeded(4096, 44), [64, 64]);
    const a = tf.tidy(() => Array.from(COMPOSED_AUON.auonBrake(u, { momentum: 0.95, gamma: 1.5, mode: 'code', factor: 1 }).dataSync()));
    const b = tf.tidy(() => Array.from(composedAuonBrake(u, { momentum: 0.95, gamma: 1.5, mode: 'code', factor: 1 }, true).dataSync()));
    expect(a).to.deep.equal(b);
    u.dispose();
    expect(tf.memory().numTensors).to.equal(n0);
  });

  it("routing: 'split' sends only matrix and conv roles to AuON, 'all' sends everything (the reference)", () => {
    const ps = [param('w', 'matrix', [3, 4], seeded(12, 1)), param('k', 'conv', [2, 2, 1, 3], seeded(12, 2)), param('e', 'embedding', [5, 3], seeded(15, 3)), param('b', 'vector', [4], seeded(4, 4))];
    const split = buildOptimizer(ps, hybridAuon());
    const all = buildOptimizer(ps, auon({ routing: 'all' }));
    const lines = split.describe().split('\n');
    const route = (n: string) => lines.find((l) => l.startsWith(`${n} `))!.split(/\s+/)[3];
    expect(['w', 'k', 'e', 'b'].map(route)).to.deep.equal(['hybrid-auon', 'hybrid-auon', 'adamw', 'adamw']);
    expect(all.describe()).to.not.match(/adam/);
    split.dispose();
    all.dispose();
    for (const p of ps) p.variable.dispose();
    expect(() => auon({ mode: 'pape' as never })).to.throw(/mode/);
  });
});

describeBackends('hybrid-auon batched Newton-Schulz', () => {
  it("batchNewtonSchulz 'always' equals 'never' over steps with same-shape matrices, a missing gradient and a flat tensor count", () => {
    const shapes: [string, number[], Role][] = [
      ['a', [12, 8], 'matrix'], ['b', [12, 8], 'matrix'], ['c', [12, 8], 'matrix'], ['wide', [5, 9], 'matrix'], ['wide2', [5, 9], 'matrix'], ['bias', [8], 'vector'],
    ];
    const run = (mode: 'always' | 'never') => {
      const params: Parameter[] = shapes.map(([n, s, role], i) => ({ name: n, role, variable: tf.variable(tf.tensor(seeded(tf.util.sizeFromShape(s), 10 + i), s), true, `hyb_${mode}_${n}`) }));
      const opt = buildOptimizer(params, hybridAuon({ lr: 0.05, adamLr: 0.01, mode: 'paper', batchNewtonSchulz: mode }));
      let count = -1;
      for (let step = 0; step < 4; step++) {
        const grads = new Map(params.filter((p) => !(step === 2 && p.name === 'b')).map((p, i) => [p.name, tf.tensor(seeded(p.variable.size, 100 * step + i), p.variable.shape)]));
        opt.step(grads);
        tf.dispose([...grads.values()]);
        if (step === 1) count = tf.memory().numTensors;
        if (step > 1) expect(tf.memory().numTensors).to.equal(count);
      }
      const out = params.map((p) => Array.from(p.variable.dataSync()));
      opt.dispose();
      tf.dispose(params.map((p) => p.variable));
      return out;
    };
    const never = run('never');
    const always = run('always');
    never.forEach((v, i) => v.forEach((x, j) => expect(always[i][j]).to.be.closeTo(x, 1e-5)));
    expect(() => hybridAuon({ batchNewtonSchulz: 'sometimes' } as never)).to.throw(/option 'batchNewtonSchulz' must be one of 'auto', 'always', 'never', got "sometimes"/);
  });
});
