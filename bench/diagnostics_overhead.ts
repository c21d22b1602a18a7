/**
 * The cost of update diagnostics (optimizers/diagnostics.ts) at an experiment's log interval: the
 * same runs with `diagnostics: true` and `false`, interleaved in one process (on, off, off, on, ...),
 * comparing the training time the runner records (wall_ms: steps, and the log rows' reads and
 * diagnostics; no evaluation) and the process CPU time of each run (model set-up, one evaluation
 * batch at start and end, training). On a machine shared with other jobs wall time swings by tens of
 * percent between identical runs; CPU time of this single-threaded process is the steadier figure.
 * A figure a person reads, not a pass/fail test.
 *
 *   npx tsx bench/diagnostics_overhead.ts [--config experiments/configs/shakespeare-char.yaml]
 *       [--optimizers adamw,muon] [--steps 100] [--reps 2] [--backend auto]
 *
 * Prints one line per optimizer: median process CPU time and median training wall time, off and on,
 * over the repetitions, and the overhead (on - off) / off of the medians.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../experiments/backend.js';
import { expandRuns, loadExperiment } from '../experiments/config.js';
import { initRun, trainRun } from '../experiments/runner.js';

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
  const steps = Number(arg('steps', '100'));
  const reps = Number(arg('reps', '2'));
  const choice = await selectBackend(arg('backend', 'auto'));
  const dir = mkdtempSync(join(os.tmpdir(), 'optlab-diag-overhead-'));
  const base = loadExperiment(file, [`training.steps=${steps}`, `training.evalEvery=${steps}`, 'training.evalBatches=1', 'training.checkpointEvery=0', 'seeds=[0]']);
  const logEvery = base.training.logEvery;
  console.log(`${file}: ${steps} steps, log every ${logEvery}, ${reps} repetitions, backend ${choice.label}, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const times = new Map<string, { on: number[]; off: number[]; cpuOn: number[]; cpuOff: number[] }>();
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const name of names) {
        const order = rep % 2 === 0 ? [true, false] : [false, true];
        for (const on of order) {
          const exp = { ...base, diagnostics: on, optimizers: base.optimizers.filter((o) => (o.label ?? o.name) === name) };
          if (exp.optimizers.length === 0) throw new Error(`${file} has no optimizer '${name}'`);
          const spec = expandRuns(exp)[0];
          initRun(dir, spec, 'overhead');
          const cpu0 = process.cpuUsage();
          const rec = await trainRun(spec.id, { dir });
          const cpu = process.cpuUsage(cpu0);
          const t = times.get(name) ?? { on: [], off: [], cpuOn: [], cpuOff: [] };
          (on ? t.on : t.off).push(rec.result!.wallMs);
          (on ? t.cpuOn : t.cpuOff).push((cpu.user + cpu.system) / 1000);
          times.set(name, t);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const line = (what: string, off: number[], on: number[]) =>
    `${what} off ${(median(off) / 1000).toFixed(2)} s, on ${(median(on) / 1000).toFixed(2)} s: ${((100 * (median(on) - median(off))) / median(off)).toFixed(1)}% (off ${off.map((x) => (x / 1000).toFixed(2)).join(' ')}; on ${on.map((x) => (x / 1000).toFixed(2)).join(' ')})`;
  for (const [name, t] of times) console.log(`${name.padEnd(12)} cpu ${line('', t.cpuOff, t.cpuOn)} | wall_ms ${line('', t.off, t.on)}`);
  console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

await main();
