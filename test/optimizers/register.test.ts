/**
 * `registerOptimizer` (optimizers/index.ts): a method of one's own, made with defineOptimizer and the
 * transforms, works where a built-in does: the tf.Optimizer adapter (model.compile / fit), the
 * tf.serialization registry (save with optimizer state, reload in a fresh process that imports the
 * method, continue exactly), and the live registry the runner, `optlab list` and replay read. Names
 * that collide, and factories not made by defineOptimizer, are refused naming the problem.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chain, defineOptimizer, getOptimizerFactory, OPTIMIZERS, optimizerSource, registerOptimizer, scaleByLr, type Transform } from '../../optimizers/index.js';
import { tfOptimizerClass, tfOptimizerFactory, type OptlabTfOptimizer } from '../../optimizers/tfjs.js';
import { listOptimizers } from '../../cli/list_command.js';
import { describeBackends } from '../shared/backends.js';
import { dense431, HOP, QUIET, regressionData, weightsOf } from './tfjs_helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The method module a user writes: sign descent with momentum, registered as 'signum-test'. */
const METHOD_MODULE = (optimizers: string) => `import * as tf from '@tensorflow/tfjs-core';
import { chain, defineOptimizer, registerOptimizer, scaleByLr } from '${optimizers}';
/** m <- beta m + (1 - beta) g; W <- W - lr sign(m). */
export const signumTest = registerOptimizer('signum-test', defineOptimizer('signum-test', { lr: 0.01, beta: 0.9 }, (o) =>
  chain({
    name: 'signum',
    init: (_p, slot) => ({ m: slot('m', 'zeros') }),
    update(g, s) {
      const m = tf.add(tf.mul(s.m, o.beta), tf.mul(g, 1 - o.beta));
      s.m.assign(m);
      return tf.sign(m);
    },
  }, scaleByLr(o.lr))));
`;

// One method module for every backend's suite: importing another file would register a second factory under the name.
let work = '';
let moduleFile = '';
after(() => work && rmSync(work, { recursive: true, force: true }));

describeBackends('registerOptimizer', () => {
  const dir = join(ROOT, '.cache');
  before(async () => {
    if (work) return;
    mkdirSync(dir, { recursive: true });
    work = mkdtempSync(join(dir, 'register-'));
    moduleFile = join(work, 'signum.ts');
    writeFileSync(moduleFile, METHOD_MODULE(pathToFileURL(join(ROOT, 'optimizers', 'api.ts')).href));
    await import(pathToFileURL(moduleFile).href);
  });

  it('joins the live registry: lookups, list, and a tf.Optimizer class registered with tf.serialization', () => {
    expect(getOptimizerFactory('signum-test').defaults).to.deep.equal({ lr: 0.01, beta: 0.9 });
    expect(optimizerSource('signum-test')).to.equal('registerOptimizer');
    expect(listOptimizers().map((o) => o.name)).to.include('signum-test');
    const cls = tfOptimizerClass('signum-test');
    expect(cls.className).to.equal('SignumTestOptimizer');
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    expect(map.SignumTestOptimizer?.[0]).to.equal(cls);
  });

  it('trains a LayersModel with compile/fit, and model.save(includeOptimizer) reloads in a fresh process that imports the method, continuing exactly', async function () {
    this.timeout(120_000);
    const { x, y } = regressionData();
    const make = tfOptimizerFactory('signum-test');
    const whole = dense431('reg_whole');
    whole.compile({ optimizer: make(QUIET), loss: 'meanSquaredError' });
    const h = await whole.fit(x, y, { ...HOP, epochs: 3 });
    expect(h.history.loss.at(-1) as number).to.be.below(h.history.loss[0] as number);
    const first = dense431('reg_first');
    first.compile({ optimizer: make(QUIET), loss: 'meanSquaredError' });
    await first.fit(x, y, HOP);
    rmSync(join(work, 'm1'), { recursive: true, force: true });
    await first.save(`file://${work}/m1`, { includeOptimizer: true });
    const script = join(work, 'second.ts');
    writeFileSync(script, [
      `import * as tfl from '@tensorflow/tfjs-layers';`,
      `import { selectBackend } from '${pathToFileURL(join(ROOT, 'kernels', 'backend.ts')).href}';`,
      `import '${pathToFileURL(moduleFile).href}';`,
      `import { HOP, regressionData } from '${pathToFileURL(join(ROOT, 'test', 'optimizers', 'tfjs_helpers.ts')).href}';`,
      `await selectBackend('${tf.getBackend()}', { quiet: true });`,
      `const { x, y } = regressionData();`,
      `const model = await tfl.loadLayersModel('file://${work}/m1/model.json');`,
      `if (model.optimizer.getClassName() !== 'SignumTestOptimizer') throw new Error('got ' + model.optimizer.getClassName());`,
      `await model.fit(x, y, HOP);`,
      `await model.save('file://${work}/m2', { includeOptimizer: true });`,
    ].join('\n'));
    const native = tf.getBackend() === 'wasm' && tf.getKernel('OptlabAdam', 'wasm') !== undefined;
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OPTLAB_NATIVE: native ? '1' : '0' } });
    expect(r.status, r.stderr).to.equal(0);
    const last = await tfl.loadLayersModel(`file://${work}/m2/model.json`);
    expect((last.optimizer as unknown as OptlabTfOptimizer).method).to.equal('signum-test');
    await last.fit(x, y, HOP);
    expect(weightsOf(last)).to.deep.equal(weightsOf(whole));
    for (const m of [whole, first, last]) {
      m.optimizer.dispose();
      m.dispose();
    }
    tf.dispose([x, y]);
  });

  it('refuses built-in names, a second owner, another methodName, a taken class name and factories not made by defineOptimizer', () => {
    const ident: Transform = { name: 'id', update: (u) => u };
    const f = (name: string, extras?: { className?: string }) => defineOptimizer(name, { lr: 0.1 }, (o) => chain(ident, scaleByLr(o.lr)), extras);
    expect(() => registerOptimizer('adamw', f('adamw'))).to.throw(/'adamw' is a built-in method/);
    expect(() => registerOptimizer('signum-test', f('signum-test'))).to.throw(/already registered by registerOptimizer/);
    expect(() => registerOptimizer('other-name', f('mine'))).to.throw(/defined as 'mine'/);
    expect(() => registerOptimizer('mine-two', f('mine-two', { className: 'AdamWOptimizer' }))).to.throw(/'AdamWOptimizer' is taken by 'adamw'/);
    expect(() => registerOptimizer('Bad_Name', f('Bad_Name'))).to.throw(/lower case/);
    expect(() => registerOptimizer('plain', ((o: unknown) => o) as never)).to.throw(/made with defineOptimizer/);
    expect(Object.keys(OPTIMIZERS)).to.not.include.members(['other-name', 'mine-two', 'plain']);
    // Registering the same factory again is a no-op (a module imported twice).
    expect(registerOptimizer('signum-test', OPTIMIZERS['signum-test'])).to.equal(OPTIMIZERS['signum-test']);
  });
});
