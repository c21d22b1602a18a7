/**
 * The cost of update diagnostics (optimizers/diagnostics.ts) at an experiment's log interval, on its
 * model, data and optimizer settings: training steps (forward, backward, optimizer step) alternate
 * between plain and diagnosed (the model records its attention logit, the optimizer measures every
 * route, `diagnostics()` reads them back) in one process on one model; the overhead is
 *
 *   (median diagnosed step - median plain step) / (logEvery * median plain step),
 *
 * the extra time of the one diagnosed step per log interval over the interval's training time.
 * Medians of interleaved steps hold up on a machine shared with other jobs, where whole runs timed
 * on and off differ by tens of percent from load alone. A figure a person reads, not a pass/fail test.
 *
 *   npx tsx experiments/runner/diagnostics_overhead.ts [--config experiments/configs/shakespeare-char.yaml]
 *       [--optimizers adamw,muon] [--steps 60] [--warmup 6] [--backend auto]
 */
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { selectBackend } from '../../kernels/backend.js';
import { expandRuns, loadExperiment } from './config.js';
import { createTask } from './tasks.js';
import { lossAndGrads } from '../../models/layers.js';
import { buildOptimizer, getOptimizerFactory } from '../../optimizers/index.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const file = arg('config', 'experiments/configs/shakespeare-char.yaml');
  const names = arg('optimizers', 'adamw,muon').split(',');
  const steps = Number(arg('steps', '60'));
  const warmup = Number(arg('warmup', '6'));
  const choice = await selectBackend(arg('backend', 'auto'));
  const exp = loadExperiment(file, ['seeds=[0]']);
  const logEvery = exp.training.logEvery;
  console.log(`${file}: log every ${logEvery}; ${steps} steps per optimizer, diagnosed and plain alternating after ${warmup} warm-up steps; backend ${choice.label}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const name of names) {
    const spec = expandRuns({ ...exp, optimizers: exp.optimizers.filter((o) => (o.label ?? o.name) === name) })[0];
    if (!spec) throw new Error(`${file} has no optimizer '${name}'`);
    const cfg = spec.config;
    const task = createTask(cfg, 0, cfg.training.batchSize, 1);
    const opt = buildOptimizer(task.model.params, getOptimizerFactory(cfg.optimizer.name)(cfg.optimizer.options), { clipNorm: cfg.training.clipNorm });
    const plain: number[] = [];
    const diag: number[] = [];
    let keys = 0;
    for (let i = 0; i < warmup + steps; i++) {
      const on = i % 2 === 1;
      const t0 = performance.now();
      const batch = task.nextBatch();
      const recorded: tf.Scalar[] = [];
      const { loss, grads } = lossAndGrads(task.model, batch, { training: true, ...(on ? { record: (_k: string, v: tf.Scalar) => recorded.push(tf.keep(v)) } : {}) });
      opt.step(grads, { diagnose: on });
      const d = on ? opt.diagnostics() : {};
      await Promise.all([loss.data(), ...recorded.map((r) => r.data())]);
      const dt = performance.now() - t0;
      tf.dispose([loss, batch.x, batch.y, ...grads.values(), ...recorded]);
      if (i >= warmup) (on ? diag : plain).push(dt);
      if (on) keys = Object.keys(d).length + recorded.length;
    }
    opt.dispose();
    task.dispose();
    const p = median(plain);
    const q = median(diag);
    console.log(`${name.padEnd(14)} plain step ${p.toFixed(1)} ms, diagnosed step ${q.toFixed(1)} ms (${keys} diagnostics): overhead ${((100 * (q - p)) / (logEvery * p)).toFixed(1)}% of the log interval`);
  }
  console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

await main();
