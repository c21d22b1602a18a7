import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { buildOptimizer, chain, decoupledWeightDecay, route, scaleByLr, type Parameter, type Role, type StepContext, type Transform, type UpdateItem } from '../../optimizers/core.js';
import { describeBackends } from '../shared/backends.js';
import { seeded } from '../shared/problems.js';

let counter = 0;
function params(specs: { name: string; shape: number[]; role?: Role }[]): Parameter[] {
  counter++;
  return specs.map((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const variable = tf.tidy(() => tf.variable(tf.tensor(seeded(n, 500 + i), s.shape), true, `core_test${counter}/${s.name}`));
    return { name: s.name, role: s.role ?? 'matrix', variable };
  });
}

/**
 * A stateful transform (acc <- acc + t u, out = 0.5 acc) whose `updateMany` computes on the stacked
 * items, logging the calls it receives.
 */
function accumulate(log: { many: number[][]; single: string[] }, withMany: boolean): Transform {
  const t: Transform = {
    name: 'acc',
    init: (_p, slot) => ({ acc: slot('acc', 'zeros') }),
    update(u, s, p, ctx) {
      log.single.push(`${p.name}@${ctx.t}`);
      s.acc.assign(tf.add(s.acc, tf.mul(u, ctx.t)));
      return tf.mul(s.acc, 0.5);
    },
  };
  if (withMany) {
    t.updateMany = (items: readonly UpdateItem[], ctx: StepContext) => {
      log.many.push([items.length, ctx.t]);
      const acc = tf.add(tf.stack(items.map((i) => i.s.acc)), tf.mul(tf.stack(items.map((i) => i.u)), ctx.t));
      const accs = tf.unstack(acc);
      items.forEach((i, k) => i.s.acc.assign(accs[k]));
      return accs.map((a) => tf.mul(a, 0.5));
    };
  }
  return t;
}

const SPECS = [
  { name: 'a', shape: [2, 3] },
  { name: 'b', shape: [2, 3] },
  { name: 'odd', shape: [3, 2] },
  { name: 'c', shape: [2, 3] },
  { name: 'v', shape: [3], role: 'vector' as Role },
];

/** Runs the steps (each a list of parameter names that get a gradient) and returns values and state. */
function run(def: (log: { many: number[][]; single: string[] }) => Parameters<typeof buildOptimizer>[1], steps: string[][], clipNorm?: number) {
  const log = { many: [] as number[][], single: [] as string[] };
  const ps = params(SPECS);
  const opt = buildOptimizer(ps, def(log), { clipNorm });
  steps.forEach((names, k) => {
    const grads = new Map(names.map((n) => {
      const p = ps.find((q) => q.name === n)!;
      return [n, tf.tensor(seeded(p.variable.size, 900 + 10 * k + names.indexOf(n)), p.variable.shape)] as [string, tf.Tensor];
    }));
    opt.step(grads, { lrScale: 0.5 + k });
    tf.dispose([...grads.values()]);
  });
  const state = opt.state();
  const out = {
    values: Object.fromEntries(ps.map((p) => [p.name, Array.from(p.variable.dataSync())])),
    state: Object.fromEntries([...state].map(([k, v]) => [k, Array.from(v.dataSync())])),
    describe: opt.describe(),
    log,
  };
  tf.dispose([...state.values()]);
  opt.dispose();
  for (const p of ps) p.variable.dispose();
  return out;
}

describeBackends('core: updateMany', () => {
  // Step 2 leaves 'b' without a gradient, so in step 3 'b' is at t = 2 while 'a' and 'c' are at t = 3.
  const STEPS = [['a', 'b', 'odd', 'c', 'v'], ['a', 'odd', 'c', 'v'], ['a', 'b', 'c', 'odd'], ['a', 'b', 'c', 'v']];
  const table = (withMany: boolean) => (log: { many: number[][]; single: string[] }) =>
    route(
      { label: 'acc', roles: ['matrix'], transform: chain(accumulate(log, withMany), decoupledWeightDecay(0.1, 0.2), scaleByLr(0.2)) },
      { label: 'plain', roles: ['vector'], transform: chain(accumulate(log, false), scaleByLr(0.1)) },
    );

  it('updates same-shape parameters of one route at the same step count together, with the per-parameter result', () => {
    const before = tf.memory().numTensors;
    const many = run(table(true), STEPS, 1.0);
    const single = run(table(false), STEPS, 1.0);
    expect(tf.memory().numTensors).to.equal(before);
    // Groups: step 1 {a, b, c} at t=1; step 2 {a, c} at t=2; step 3 {a, c} at t=3 ('b' alone at t=2);
    // step 4 {a, c} at t=4, 'b' alone at t=3.
    expect(many.log.many).to.deep.equal([[3, 1], [2, 2], [2, 3], [2, 4]]);
    // Everything else (odd shape, lone 'b', the vector route without updateMany) goes through update.
    expect(many.log.single).to.deep.equal(['odd@1', 'v@1', 'odd@2', 'v@2', 'b@2', 'odd@3', 'b@3', 'v@3']);
    expect(Object.keys(many.state).sort()).to.deep.equal(Object.keys(single.state).sort());
    for (const k of Object.keys(single.state)) expect(many.state[k], k).to.deep.equal(single.state[k]);
    expect(many.state['b/step']).to.deep.equal([3]);
    for (const k of Object.keys(single.values)) {
      const d = Math.max(...single.values[k].map((v, i) => Math.abs(v - many.values[k][i])));
      expect(d, k).to.be.lessThan(1e-6);
    }
    expect(many.describe).to.equal(single.describe);
  });

  it('chain has updateMany only when a member has one, and hands it the whole group', () => {
    const log = { many: [] as number[][], single: [] as string[] };
    expect(chain(scaleByLr(1), decoupledWeightDecay(0.1, 1)).updateMany).to.equal(undefined);
    const c = chain(scaleByLr(2), accumulate(log, true), scaleByLr(3));
    expect(c.updateMany).to.be.a('function');
    const [p, q] = params([{ name: 'p', shape: [2, 2] }, { name: 'q', shape: [2, 2] }]);
    const state = (x: Parameter) => ({ acc: tf.variable(tf.zeros(x.variable.shape)) });
    const sp = state(p);
    const sq = state(q);
    const ctx: StepContext = { t: 2, lrScale: 1 };
    const out = tf.tidy(() => c.updateMany!([{ u: tf.ones([2, 2]), s: sp, p }, { u: tf.fill([2, 2], 3), s: sq, p: q }], ctx).map((t) => Array.from(t.dataSync())));
    // u -> -2u -> acc = 2 * (-2u), out = 0.5 acc -> * -3: 6u
    expect(out).to.deep.equal([[6, 6, 6, 6], [18, 18, 18, 18]]);
    expect(log.many).to.deep.equal([[2, 2]]);
    expect(log.single).to.deep.equal([]);
    tf.dispose([p.variable, q.variable, sp.acc, sq.acc]);
  });

  it('rejects an updateMany that returns the wrong number of updates, before changing any parameter', () => {
    const bad: Transform = { name: 'bad', update: (u) => u, updateMany: (items) => items.slice(1).map((i) => i.u) };
    const ps = params([{ name: 'a', shape: [2] }, { name: 'b', shape: [2] }]);
    const opt = buildOptimizer(ps, bad);
    const a0 = Array.from(ps[0].variable.dataSync());
    const grads = new Map(ps.map((p) => [p.name, tf.ones([2])] as [string, tf.Tensor]));
    expect(() => opt.step(grads)).to.throw(/transform 'bad': updateMany returned 1 updates for 2 parameters/);
    expect(Array.from(ps[0].variable.dataSync())).to.deep.equal(a0);
    tf.dispose([...grads.values()]);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
  });
});

/** A transform with one zero-initialized slot named `slotName`, adding the gradient into it. */
function slotted(name: string, slotName: string): Transform {
  return {
    name,
    init: (_p, slot) => ({ [slotName]: slot(slotName, 'zeros') }),
    update(u, s) {
      s[slotName].assign(tf.add(s[slotName], u));
      return u;
    },
  };
}

// Routing and state guarantees of buildOptimizer, chain and load (optimizers/core.ts). They are plain
// bookkeeping, the same on every backend, so this suite runs once (on the cpu baseline).
describe('core: guarantees', () => {
  const TWO = [{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3], role: 'vector' as Role }];

  /** Builds over fresh parameters, asserting that a throw allocates nothing; returns the error. */
  function buildError(specs: { name: string; shape: number[]; role?: Role }[], def: Parameters<typeof buildOptimizer>[1]): Error {
    const ps = params(specs);
    const before = tf.memory().numTensors;
    let err: Error | undefined;
    try {
      buildOptimizer(ps, def).dispose();
    } catch (e) {
      err = e as Error;
    }
    expect(tf.memory().numTensors, 'tensors allocated by a failed build').to.equal(before);
    for (const p of ps) p.variable.dispose();
    expect(err, 'buildOptimizer did not throw').to.be.instanceOf(Error);
    return err!;
  }

  it('a parameter that two routes match is an error naming it and both routes, thrown before any state exists', () => {
    // 'w' is a matrix and its name matches /w/: both routes claim it.
    const err = buildError(TWO, route({ label: 'by-role', roles: ['matrix'], transform: slotted('a', 'm') }, { label: 'by-name', pattern: /^w$/, transform: slotted('b', 'm') }, { label: 'rest', roles: ['vector'], transform: slotted('c', 'm') }));
    expect(err.message).to.equal("parameter 'w' (role matrix, shape [2,3]) matches 2 routes: by-role, by-name; routes must not overlap");
  });

  it('two matching fallback routes are an error too', () => {
    const err = buildError(TWO, route({ label: 'mat', roles: ['matrix'], transform: slotted('a', 'm') }, { label: 'fb1', fallback: true, transform: slotted('b', 'm') }, { label: 'fb2', fallback: true, transform: slotted('c', 'm') }));
    expect(err.message).to.equal("parameter 'b' matches 2 fallback routes: fb1, fb2");
  });

  it('a parameter that no route matches is an error naming it and listing the routes', () => {
    const err = buildError(TWO, route({ label: 'muon', roles: ['matrix'], transform: slotted('a', 'm') }, { label: 'emb', roles: ['embedding', 'head'], transform: slotted('b', 'm') }));
    expect(err.message).to.equal("parameter 'b' (role vector, shape [3]) matches no route; routes: muon(matrix), emb(embedding|head)");
  });

  it('a fallback takes exactly the parameters no other route matches', () => {
    const ps = params(TWO);
    const opt = buildOptimizer(ps, route({ label: 'mat', roles: ['matrix'], transform: slotted('a', 'm') }, { label: 'fb', fallback: true, transform: slotted('b', 'v') }));
    const state = opt.state();
    expect([...state.keys()].sort()).to.deep.equal(['b/step', 'b/v', 'w/m', 'w/step']);
    tf.dispose([...state.values()]);
    opt.dispose();
    for (const p of ps) p.variable.dispose();
  });

  it('chain rejects two members that use the same state slot name, before any state is kept', () => {
    const err = buildError(TWO, chain(slotted('first', 'm'), slotted('second', 'v'), slotted('third', 'm')));
    expect(err.message).to.equal("chain: two transforms use the state slot 'm' (first, second, third)");
  });

  it("a transform may not use the reserved slot 'step'", () => {
    const err = buildError(TWO, slotted('counter', 'step'));
    expect(err.message).to.equal("transform 'counter' may not use the reserved slot 'step'");
  });

  describe('load()', () => {
    /** An optimizer over 'w' and 'b' after two steps, its saved state and a fresh twin to load into. */
    function setup() {
      const ps = params(TWO);
      const def = () => chain(slotted('acc', 'm'), scaleByLr(0.1));
      const opt = buildOptimizer(ps, def());
      for (let k = 0; k < 2; k++) {
        const grads = new Map(ps.map((p, i) => [p.name, tf.tensor(seeded(p.variable.size, 70 + 10 * k + i), p.variable.shape)] as [string, tf.Tensor]));
        opt.step(grads);
        tf.dispose([...grads.values()]);
      }
      const saved = opt.state();
      const fresh = buildOptimizer(ps, def());
      const snapshot = () => {
        const s = fresh.state();
        const out = Object.fromEntries([...s].map(([k, v]) => [k, Array.from(v.dataSync())]));
        tf.dispose([...s.values()]);
        return out;
      };
      const cleanup = () => {
        tf.dispose([...saved.values()]);
        opt.dispose();
        fresh.dispose();
        for (const p of ps) p.variable.dispose();
      };
      return { saved, fresh, snapshot, cleanup };
    }

    it('round trip: loading the saved state restores every slot and the step counts', () => {
      const { saved, fresh, snapshot, cleanup } = setup();
      fresh.load(saved);
      const got = snapshot();
      expect(Object.keys(got).sort()).to.deep.equal(['b/m', 'b/step', 'w/m', 'w/step']);
      for (const [k, v] of saved) expect(got[k], k).to.deep.equal(Array.from(v.dataSync()));
      expect(got['w/step']).to.deep.equal([2]);
      cleanup();
    });

    it('rejects an unknown key, changing nothing', () => {
      const { saved, fresh, snapshot, cleanup } = setup();
      const before = snapshot();
      const extra = tf.zeros([2, 3]);
      const bad = new Map([...saved, ['w/velocity', extra]]);
      expect(() => fresh.load(bad)).to.throw("optimizer state has unknown key 'w/velocity'");
      expect(snapshot()).to.deep.equal(before);
      extra.dispose();
      cleanup();
    });

    it('rejects a missing slot and a missing step count, changing nothing', () => {
      const { saved, fresh, snapshot, cleanup } = setup();
      const before = snapshot();
      for (const key of ['b/m', 'b/step']) {
        const bad = new Map([...saved].filter(([k]) => k !== key));
        expect(() => fresh.load(bad)).to.throw(`optimizer state lacks key '${key}'`);
        expect(snapshot(), key).to.deep.equal(before);
      }
      cleanup();
    });

    it('rejects a slot or step count of the wrong shape, changing nothing (not even the parameters checked before it)', () => {
      const { saved, fresh, snapshot, cleanup } = setup();
      const before = snapshot();
      const wrong = tf.zeros([4]);
      // 'b' comes after 'w': a load that assigned while checking would already have changed 'w'.
      const bad = new Map([...saved].map(([k, v]) => [k, k === 'b/m' ? wrong : v] as [string, tf.Tensor]));
      expect(() => fresh.load(bad)).to.throw("state 'b/m' has shape [4], expected [3]");
      expect(snapshot()).to.deep.equal(before);
      const badStep = new Map([...saved].map(([k, v]) => [k, k === 'b/step' ? wrong : v] as [string, tf.Tensor]));
      expect(() => fresh.load(badStep)).to.throw("state 'b/step' has shape [4], expected one value");
      expect(snapshot()).to.deep.equal(before);
      wrong.dispose();
      cleanup();
    });
  });
});

describeBackends('non-finite gradients', () => {
  it('with checkFinite, a NaN or Inf gradient throws naming the parameter before any parameter changes, for every method of the registry', async () => {
    const { REGISTRY } = await import('../../optimizers/index.js');
    const { NonFiniteGradientError } = await import('../../optimizers/core.js');
    for (const [method, factory] of Object.entries(REGISTRY)) {
      const ps = params([{ name: 'w', shape: [6, 4] }, { name: 'b', shape: [4], role: 'vector' }]);
      const opt = buildOptimizer(ps, factory(), { checkFinite: true });
      const before = ps.map((p) => Array.from(p.variable.dataSync()));
      for (const bad of [NaN, Infinity]) {
        const grads = new Map<string, tf.Tensor>([['w', tf.fill([6, 4], 0.1)], ['b', tf.tensor1d([0.1, bad, 0.1, 0.1])]]);
        expect(() => opt.step(grads), `${method} ${bad}`).to.throw(NonFiniteGradientError, "gradient of 'b' is not finite (NaN or Inf) at step 1; no parameter was changed");
        tf.dispose([...grads.values()]);
      }
      expect(ps.map((p) => Array.from(p.variable.dataSync())), method).to.deep.equal(before);
      // A finite step goes through and counts as step 1.
      const ok = new Map<string, tf.Tensor>([['w', tf.fill([6, 4], 0.1)], ['b', tf.fill([4], 0.1)]]);
      opt.step(ok);
      tf.dispose([...ok.values()]);
      opt.dispose();
      for (const p of ps) p.variable.dispose();
    }
  });
});
