/**
 * itBehavesLikeOptimizer: the contract every optlab method passes, on every test backend.
 * (1) lowers a quadratic and a small Rosenbrock; (2) no tensor growth after a warm-up step;
 * (3) save -> restore into a fresh instance -> continue equals an uninterrupted run;
 * (4) dispose() returns the tensor count to baseline; (5) a parameter without gradient keeps its state;
 * (6) works as a tf.Optimizer (LayersModel.fit lowers the loss; getWeights/setWeights continue exactly).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { buildOptimizer, type OptimizerDef, type Parameter } from '../../optimizers/core.js';
import { OptlabTfOptimizer } from '../../optimizers/tfjs.js';
import { describeBackends } from './backends.js';
import { cloneParams, disposeGrads, disposeParams, gradsOf, lossValue, makeParams, MIXED_SPECS, quadratic, rosenbrock, type Loss, type ParamSpec } from './problems.js';

export interface ContractOptions {
  /** Builds the method's definition; options here are the ones the contract needs (e.g. a larger lr). */
  make: () => OptimizerDef;
  /** Builds the method for Rosenbrock, whose gradients are 100x larger. @default make */
  makeRosenbrock?: () => OptimizerDef;
  /** Builds the tf.Optimizer for the LayersModel checks. */
  makeTf?: () => OptlabTfOptimizer<any>;
  /** Steps for the quadratic. @default 60 */
  quadraticSteps?: number;
  /** Required final/initial loss ratio on the quadratic. @default 0.5 */
  quadraticRatio?: number;
  /** Steps for Rosenbrock. @default 100 */
  rosenbrockSteps?: number;
  /** Required final/initial loss ratio on Rosenbrock. @default 0.5 */
  rosenbrockRatio?: number;
  /** Parameter specs of the quadratic. @default MIXED_SPECS */
  specs?: ParamSpec[];
}

function run(def: OptimizerDef, params: Parameter[], loss: Loss, steps: number): number {
  const opt = buildOptimizer(params, def);
  for (let i = 0; i < steps; i++) {
    const { grads } = gradsOf(loss, params);
    opt.step(grads);
    disposeGrads(grads);
  }
  opt.dispose();
  return lossValue(loss, params);
}

function maxAbsDiff(a: Parameter[], b: Parameter[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i].variable.dataSync();
    const y = b[i].variable.dataSync();
    for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j] - y[j]));
  }
  return m;
}

/** Registers the contract suite for one method. */
export function itBehavesLikeOptimizer(label: string, o: ContractOptions): void {
  const specs = o.specs ?? MIXED_SPECS;
  describeBackends(`${label} contract`, () => {
    it('lowers a quadratic over every role and orientation', () => {
      const params = makeParams(specs, 3);
      const loss = quadratic(specs);
      const before = lossValue(loss, params);
      const after = run(o.make(), params, loss, o.quadraticSteps ?? 60);
      disposeParams(params);
      expect(after, `loss ${before} -> ${after}`).to.be.lessThan(before * (o.quadraticRatio ?? 0.5));
    });

    it('lowers a small Rosenbrock', () => {
      const params: Parameter[] = [{ name: 'rosen', role: 'matrix', variable: tf.variable(tf.tensor([[-1.2, -0.5, 0.3], [1, 0.8, -0.4]]), true, `rosen${Math.random()}`) }];
      const loss = rosenbrock();
      const before = lossValue(loss, params);
      const after = run((o.makeRosenbrock ?? o.make)(), params, loss, o.rosenbrockSteps ?? 100);
      disposeParams(params);
      expect(Number.isFinite(after)).to.equal(true);
      expect(after, `loss ${before} -> ${after}`).to.be.lessThan(before * (o.rosenbrockRatio ?? 0.5));
    });

    it('allocates no tensors after the warm-up step', () => {
      const params = makeParams(specs, 4);
      const loss = quadratic(specs);
      const opt = buildOptimizer(params, o.make());
      const stepOnce = () => {
        const { grads } = gradsOf(loss, params);
        opt.step(grads);
        disposeGrads(grads);
      };
      stepOnce();
      const n = tf.memory().numTensors;
      for (let i = 0; i < 4; i++) stepOnce();
      expect(tf.memory().numTensors).to.equal(n);
      opt.dispose();
      disposeParams(params);
    });

    it('save -> restore into a fresh instance -> continue equals an uninterrupted run', () => {
      const loss = quadratic(specs);
      const a = makeParams(specs, 5);
      const b = cloneParams(a);
      const optA = buildOptimizer(a, o.make());
      const stepWith = (opt: ReturnType<typeof buildOptimizer>, ps: Parameter[]) => {
        const { grads } = gradsOf(loss, ps);
        opt.step(grads);
        disposeGrads(grads);
      };
      for (let i = 0; i < 3; i++) stepWith(optA, a);
      // snapshot: params and optimizer state after 3 steps
      const saved = optA.state();
      const resumed = cloneParams(a);
      const optB = buildOptimizer(resumed, o.make());
      optB.load(saved);
      for (const t of saved.values()) t.dispose();
      for (let i = 0; i < 4; i++) {
        stepWith(optA, a);
        stepWith(optB, resumed);
      }
      // an independent uninterrupted run from the same start
      const optC = buildOptimizer(b, o.make());
      for (let i = 0; i < 7; i++) stepWith(optC, b);
      expect(maxAbsDiff(a, resumed)).to.equal(0);
      expect(maxAbsDiff(a, b)).to.equal(0);
      for (const x of [optA, optB, optC]) x.dispose();
      for (const x of [a, b, resumed]) disposeParams(x);
    });

    it('dispose() returns the tensor count to baseline', () => {
      const params = makeParams(specs, 6);
      const loss = quadratic(specs);
      const base = tf.memory().numTensors;
      const opt = buildOptimizer(params, o.make());
      for (let i = 0; i < 3; i++) {
        const { grads } = gradsOf(loss, params);
        opt.step(grads);
        disposeGrads(grads);
      }
      const s = opt.state();
      for (const t of s.values()) t.dispose();
      opt.dispose();
      expect(tf.memory().numTensors).to.equal(base);
      disposeParams(params);
    });

    it('a parameter without a gradient keeps its value and state', () => {
      const params = makeParams(specs, 7);
      const loss = quadratic(specs);
      const opt = buildOptimizer(params, o.make());
      for (let i = 0; i < 2; i++) {
        const { grads } = gradsOf(loss, params);
        opt.step(grads);
        disposeGrads(grads);
      }
      const idle = params[params.length - 2].name;
      const before = opt.state();
      const valueBefore = Array.from(params.find((p) => p.name === idle)!.variable.dataSync());
      const { grads } = gradsOf(loss, params);
      grads.get(idle)!.dispose();
      grads.delete(idle);
      opt.step(grads);
      disposeGrads(grads);
      const after = opt.state();
      for (const [k, v] of before) {
        if (!k.startsWith(`${idle}/`)) continue;
        expect(Array.from(after.get(k)!.dataSync()), k).to.deep.equal(Array.from(v.dataSync()));
      }
      expect(Array.from(params.find((p) => p.name === idle)!.variable.dataSync())).to.deep.equal(valueBefore);
      for (const t of [...before.values(), ...after.values()]) t.dispose();
      opt.dispose();
      disposeParams(params);
    });

    if (o.makeTf) {
      const makeTf = o.makeTf;
      it('trains a small MLP through LayersModel.fit and resumes exactly from getWeights/setWeights', async () => {
        const x = tf.tensor2d(Array.from(seededRange(64 * 4, 11)), [64, 4]);
        const y = tf.tidy(() => tf.tanh(tf.sum(tf.mul(x, tf.tensor1d([0.5, -1, 0.25, 2])), 1, true)));
        const build = (seedName: string) => {
          const m = tfl.sequential();
          m.add(tfl.layers.dense({ units: 16, inputShape: [4], activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), name: `${seedName}_d1` }));
          m.add(tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), name: `${seedName}_d2` }));
          return m;
        };
        const model = build('mlp');
        const opt = makeTf();
        model.compile({ optimizer: opt, loss: 'meanSquaredError' });
        const h = await model.fit(x, y, { epochs: 25, batchSize: 16, shuffle: false, verbose: 0 });
        const losses = h.history.loss as number[];
        expect(losses[losses.length - 1]).to.be.lessThan(losses[0] * 0.8);
        // save optimizer state and weights, restore into a fresh model, continue both
        const saved = (await opt.getWeights()).map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
        const weights = model.getWeights().map((w) => w.clone());
        const fresh = build('mlp');
        fresh.setWeights(weights);
        const opt2 = OptlabTfOptimizer.fromConfig(opt.constructor as any, opt.getConfig()) as OptlabTfOptimizer<any>;
        fresh.compile({ optimizer: opt2, loss: 'meanSquaredError' });
        await opt2.setWeights(saved);
        await model.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
        await fresh.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
        const a = model.getWeights().map((w) => Array.from(w.dataSync()));
        const b = fresh.getWeights().map((w) => Array.from(w.dataSync()));
        expect(b).to.deep.equal(a);
        for (const t of [x, y, ...weights, ...saved.map((s) => s.tensor)]) t.dispose();
        opt.dispose();
        opt2.dispose();
        model.dispose();
        fresh.dispose();
      });
    }
  });
}

function seededRange(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}
