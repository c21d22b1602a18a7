/**
 * Every option of every registered method has a domain (optimizers/domains.ts), its default lies in
 * it, and a value outside it is refused by every entry point: the method's factory, the tf.Optimizer
 * adapter (`adamw({lr: -0.01})`) and the runner's config (a ConfigError naming the key, before any run
 * starts). A method added to the registry without a domain table fails here.
 */
import { expect } from 'chai';
import { applyOverrides, ConfigError, expandRuns } from '../../experiments/runner/config.js';
import { REGISTRY, type Domain } from '../../optimizers/index.js';
import { tfOptimizerFactory } from '../../optimizers/tfjs.js';
import { tinyExperiment } from '../experiments/helpers.js';
import { describeBackends } from '../shared/backends.js';

const METHODS = Object.entries(REGISTRY) as [keyof typeof REGISTRY, (typeof REGISTRY)[keyof typeof REGISTRY]][];

/** Every (method, option, out-of-range value) triple the registry's domains name. */
function outOfRange(): { method: keyof typeof REGISTRY; key: string; value: unknown; domain: Domain }[] {
  const out: { method: keyof typeof REGISTRY; key: string; value: unknown; domain: Domain }[] = [];
  for (const [method, f] of METHODS) {
    for (const [key, domain] of Object.entries((f.domains ?? {}) as Record<string, Domain>)) {
      const d = (f.defaults as Record<string, unknown>)[key];
      // Only values of the option's own type: a wrong type has its own check and message.
      for (const value of domain.outside) if (typeof value === typeof d) out.push({ method, key, value, domain });
    }
  }
  return out;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('option domains', () => {
  it('every option of every registered method has a domain that holds its default', () => {
    for (const [method, f] of METHODS) {
      expect(f.domains, `${method}: no domains (pass { domains: ${method.toUpperCase().replace(/-/g, '_')}_DOMAINS } to defineOptimizer)`).to.be.an('object');
      expect(Object.keys(f.domains!).sort(), method).to.deep.equal(Object.keys(f.defaults).sort());
      for (const [k, v] of Object.entries(f.defaults)) expect((f.domains as Record<string, Domain>)[k].contains(v), `${method}.${k} = ${JSON.stringify(v)}`).to.equal(true);
    }
  });

  it('every numeric option and enumeration has out-of-range examples, so the checks below cover it', () => {
    for (const [method, f] of METHODS) {
      for (const [k, v] of Object.entries(f.defaults)) {
        if (typeof v === 'boolean') continue;
        expect((f.domains as Record<string, Domain>)[k].outside.length, `${method}.${k}`).to.be.above(0);
      }
    }
  });

  it('the factory refuses every out-of-range value, naming the method, the option, the value and the range', () => {
    const cases = outOfRange();
    expect(cases.length).to.be.above(100);
    for (const { method, key, value, domain } of cases) {
      expect(() => REGISTRY[method]({ [key]: value } as never), `${method} ${key}=${JSON.stringify(value)}`).to.throw(`${method}: option '${key}' must be ${domain.range}, got ${JSON.stringify(value)}`);
    }
  });

  it('the tf.Optimizer adapter refuses them too (adamw({lr: -0.01}) throws)', () => {
    for (const { method, key, value } of outOfRange()) {
      expect(() => tfOptimizerFactory(method)({ [key]: value } as never), `${method} ${key}=${JSON.stringify(value)}`).to.throw(new RegExp(`option '${key}' must be`));
    }
  });

  it('the runner config refuses them as a ConfigError naming the key, for fixed values, grid lists and search ranges', () => {
    for (const { method, key, value } of outOfRange()) {
      // In a config file a list is a grid of values (Shampoo's exponentOverride example is a list).
      if (Array.isArray(value)) continue;
      const e = configError(() => applyOverrides(tinyExperiment({ optimizers: [{ name: method, [key]: value }] }), []));
      expect(e.path, e.message).to.equal(`optimizers[0].${key}`);
      expect(e.message).to.include(`${method}: option '${key}' must be`);
    }
    const grid = configError(() => applyOverrides(tinyExperiment({ optimizers: [{ name: 'adamw', lr: [1e-3, -0.01] }] }), []));
    expect(grid.path).to.equal('optimizers[0].lr');
    const tuning = { trials: 2 };
    const range = configError(() => applyOverrides(tinyExperiment({ tuning, optimizers: [{ name: 'adamw', search: { beta1: { low: 0.5, high: 1.5 } } }] }), []));
    expect(range.path, range.message).to.equal('optimizers[0].search.beta1.high');
    expect(range.message).to.include("adamw: option 'beta1' must be in [0, 1), got 1.5");
  });

  it("the issue's cases: AdamW lr -0.01, beta1 1.5, beta2 -1, eps -1; SGD and REG momentum 1.5", () => {
    const cases: [keyof typeof REGISTRY, string, number, string][] = [
      ['adamw', 'lr', -0.01, '> 0'], ['adamw', 'beta1', 1.5, 'in [0, 1)'], ['adamw', 'beta2', -1, 'in [0, 1)'], ['adamw', 'eps', -1, '> 0'],
      ['sgd', 'momentum', 1.5, 'in [0, 1)'], ['reg', 'momentum', 1.5, 'in [0, 1)'], ['muon', 'lr', -0.01, '> 0'], ['shampoo', 'lr', -0.01, '> 0'],
    ];
    for (const [m, k, v, range] of cases) {
      expect(() => REGISTRY[m]({ [k]: v } as never)).to.throw(`${m}: option '${k}' must be ${range}, got ${v}`);
      expect(() => tfOptimizerFactory(m)({ [k]: v } as never)).to.throw(`${m}: option '${k}' must be ${range}`);
    }
  });

  it("values a tester found accepted before the merged methods had tables: NorMuon's and AdaMuon's AdamW options, Scion's radii, Muon's weight decay", () => {
    const cases: [keyof typeof REGISTRY, string, number, string][] = [
      ['normuon', 'adamLr', -1, '> 0'], ['normuon', 'adamBeta1', 2, 'in [0, 1)'], ['normuon', 'adamEps', -1, '> 0'], ['normuon', 'adamWeightDecay', -3, '>= 0'],
      ['adamuon', 'adamBeta2', 1.5, 'in [0, 1)'], ['adamuon', 'adamEps', 0, '> 0'],
      ['scion', 'scale', 0, '> 0'], ['scion', 'headScale', -1, '> 0'], ['scion', 'momentum', 0, 'in (0, 1]'], ['muon', 'weightDecay', -1, '>= 0'],
      ['lion', 'beta1', 1, 'in [0, 1)'], ['soap', 'shampooBeta', -0.5, "one of -1 or in [0, 1)"], ['psgd-kron', 'betaL', 1.5, 'in [0, 1]'], ['dion', 'scalarLr', 0, 'one of -1 or > 0'],
    ];
    for (const [m, k, v, range] of cases) {
      expect(() => REGISTRY[m]({ [k]: v } as never)).to.throw(`${m}: option '${k}' must be ${range}, got ${v}`);
      expect(() => tfOptimizerFactory(m)({ [k]: v } as never)).to.throw(`${m}: option '${k}' must be ${range}`);
      expect(configError(() => applyOverrides(tinyExperiment({ optimizers: [{ name: m, [k]: v }] }), [])).path).to.equal(`optimizers[0].${k}`);
    }
  });

  it("Scion's constrained step needs lr in (0, 1] (W <- W (1 - lr) ...); the unconstrained one takes any lr > 0", () => {
    const msg = "scion: option 'lr' must be in (0, 1] with unconstrained false";
    expect(() => REGISTRY.scion({ lr: 2 })).to.throw(msg);
    expect(() => tfOptimizerFactory('scion')({ lr: 2 } as never)).to.throw(msg);
    const e = configError(() => expandRuns(applyOverrides(tinyExperiment({ optimizers: [{ name: 'scion', lr: 2 }] }), [])));
    expect(e.path).to.equal('optimizers[0]');
    expect(e.message).to.include(msg);
    expect(() => REGISTRY.scion({ lr: 1 })).to.not.throw();
    expect(() => REGISTRY.scion({ lr: 2, unconstrained: true })).to.not.throw();
  });
});

describeBackends('the tf.Optimizer adapter with checkFinite', () => {
  it('names the variable whose gradient is not finite and leaves the weights', async () => {
    const tf = await import('@tensorflow/tfjs-core');
    const w = tf.variable(tf.ones([3, 2]), true, 'checkfinite_test/kernel');
    const b = tf.variable(tf.zeros([2]), true, 'checkfinite_test/bias');
    const opt = tfOptimizerFactory('muon')({ checkFinite: true, printRouting: false });
    const grads = { [w.name]: tf.fill([3, 2], 0.5), [b.name]: tf.tensor1d([NaN, 0]) };
    expect(() => opt.applyGradients(grads)).to.throw(/gradient of 'checkfinite_test\/bias' is not finite \(NaN or Inf\) at step 1/);
    expect(Array.from(w.dataSync())).to.deep.equal([1, 1, 1, 1, 1, 1]);
    opt.dispose();
    tf.dispose([w, b, ...Object.values(grads)]);
  });
});
