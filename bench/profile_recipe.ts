/**
 * Where one iteration of nanoGPT's recipe (bench/recipe.ts) spends its time, kernel by kernel and
 * outside the kernels, on the active backend (wasm-native unless OPTLAB_NATIVE=0 or --backend says
 * otherwise); then the same split for the PyTorch peers when a Python with torch is installed
 * (bench/peer_torch.py: forward, backward, optimizer).
 *
 *   npx tsx bench/profile_recipe.ts [--warmup 100] [--iters 100] [--backend wasm] [--no-peers] [--out bench/results/profile.md]
 *
 * How: every kernel registered for the backend is wrapped by a timer (wall time of its kernel
 * function, which on wasm and cpu runs synchronously), attributed to the phase of the iteration it
 * ran in: data, forward (tape recording: the engine's gradientDepth > 0), backward (the rest of
 * tf.variableGrads), optimizer (clipping and the AdamW step) and read-back. Time of a phase outside
 * its kernels is JavaScript: tfjs's op wrappers, engine bookkeeping, the tape, tidy, and our own
 * code. tf.profile is not used: it reads every kernel's output back, which is itself a cost.
 * Figures are per iteration, averaged over the profiled iterations (means, so the parts add up);
 * the timers themselves add about a microsecond per kernel call.
 */
import * as tf from '@tensorflow/tfjs-core';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { selectBackend } from '../kernels/backend.js';
import { nativeStatus } from '../kernels/wasm_kernels.js';
import { findPeers, runPeer, type PeerResult } from './peer.js';
import { createRecipe, gptTrainFlops, peakGflops, RECIPE_BATCH, RECIPE_GPT, type RecipePhase } from './recipe.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};

const PHASES: readonly RecipePhase[] = ['data', 'forward', 'backward', 'optimizer', 'readback'];

/** Wall and CPU milliseconds, and calls. */
interface Cost {
  wall: number;
  cpu: number;
  calls: number;
}

const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const add = (m: Map<string, Cost>, key: string, wall: number, cpu: number): void => {
  const e = m.get(key) ?? { wall: 0, cpu: 0, calls: 0 };
  e.wall += wall;
  e.cpu += cpu;
  e.calls += 1;
  m.set(key, e);
};

/** Wraps every kernel of `backend` with a wall and CPU clock, keyed `${phase} ${kernel}`; returns the costs and a function that puts the originals back. */
function instrument(backend: string, phaseNow: () => RecipePhase): { costs: Map<string, Cost>; restore: () => void } {
  const costs = new Map<string, Cost>();
  const saved = tf.getKernelsForBackend(backend);
  for (const k of saved) {
    const f = k.kernelFunc as unknown as (args: unknown) => unknown;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: unknown) => {
        const key = `${phaseNow()} ${k.kernelName}`;
        const c0 = cpuMs();
        const t0 = performance.now();
        try {
          return f(args);
        } finally {
          add(costs, key, performance.now() - t0, cpuMs() - c0);
        }
      }) as unknown as tf.KernelFunc,
    });
  }
  return {
    costs,
    restore: () => {
      for (const k of saved) {
        tf.unregisterKernel(k.kernelName, backend);
        tf.registerKernel(k);
      }
    },
  };
}

const f1 = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = (head: string[], rows: string[][]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

async function main(): Promise<void> {
  const warmup = Number(opt('warmup', '100'));
  const iters = Number(opt('iters', '100'));
  if (!(Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(iters) && iters >= 1)) throw new Error('--warmup must be >= 0 and --iters >= 1 (integers)');
  const choice = await selectBackend(opt('backend', 'wasm'), { quiet: true });
  const r = createRecipe({ iters: 2000 });
  for (let i = 0; i < warmup; i++) await r.iteration((i + 1) % 100 === 0);
  let phase: RecipePhase = 'data';
  const { costs, restore } = instrument(choice.name, () => phase);
  const phases = new Map<string, Cost>();
  let t = performance.now();
  let c = cpuMs();
  // Each phase change closes the previous phase's wall and CPU interval.
  const onPhase = (next: RecipePhase) => {
    const t1 = performance.now();
    const c1 = cpuMs();
    add(phases, phase, t1 - t, c1 - c);
    phase = next;
    t = t1;
    c = c1;
  };
  const load0 = loadavg()[0];
  const wall0 = performance.now();
  const cpu0 = cpuMs();
  try {
    for (let i = 0; i < iters; i++) {
      const readLoss = (r.done + 1) % 100 === 0;
      await r.iteration(readLoss, onPhase);
    }
    onPhase('data');
  } finally {
    restore();
  }
  const wall = (performance.now() - wall0) / iters;
  const cpu = (cpuMs() - cpu0) / iters;
  const per = (x: number) => x / iters;
  const flops = gptTrainFlops({ ...RECIPE_GPT, vocabSize: r.corpus.tokenizer.vocabSize }, RECIPE_BATCH);
  const peak = peakGflops();
  const inKernels = (ph: string) => [...costs].filter(([k]) => k.startsWith(`${ph} `)).reduce((a, [, e]) => ({ wall: a.wall + e.wall, cpu: a.cpu + e.cpu }), { wall: 0, cpu: 0 });
  const lines: string[] = [];
  lines.push(`# Profile of one nanoGPT recipe iteration`, '');
  lines.push(`\`npx tsx bench/profile_recipe.ts --warmup ${warmup} --iters ${iters}\` on ${choice.label}${nativeStatus().active ? ` (${nativeStatus().blas})` : ''}: iterations ${warmup + 1}-${warmup + iters}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores.`);
  lines.push(`Per iteration: ${f1(wall)} ms wall, ${f1(cpu)} ms of process CPU time (every thread of the process, the garbage collector's included). ${(flops / 1e9).toFixed(2)} GFLOP per iteration (bench/recipe.ts gptTrainFlops) = ${f1(flops / 1e6 / wall)} GFLOP/s of wall time, ${((100 * flops) / 1e6 / wall / peak).toFixed(1)}% of the ${peak} GFLOP/s peak.`);
  lines.push('CPU time counts the work done; wall time also counts waiting for a core, so on a shared machine (load above the core count) the CPU columns are the ones to read. Kernel times are of the kernel function alone; the rest of a phase is JavaScript (tfjs op wrappers, engine bookkeeping, the gradient tape, tidy, optlab code).', '');
  lines.push('## By phase', '');
  lines.push(
    table(
      ['phase', 'wall ms', 'CPU ms', 'CPU share', 'kernels CPU ms', 'outside kernels CPU ms'],
      PHASES.map((ph) => {
        const e = phases.get(ph) ?? { wall: 0, cpu: 0, calls: 0 };
        const k = inKernels(ph);
        return [ph, f1(per(e.wall)), f1(per(e.cpu)), `${((100 * per(e.cpu)) / cpu).toFixed(1)}%`, f1(per(k.cpu)), f1(per(e.cpu - k.cpu))];
      }),
    ),
    '',
  );
  const byKernel = new Map<string, Cost & { phases: Map<RecipePhase, number> }>();
  for (const [key, e] of costs) {
    const [ph, name] = key.split(' ') as [RecipePhase, string];
    const k = byKernel.get(name) ?? { wall: 0, cpu: 0, calls: 0, phases: new Map<RecipePhase, number>() };
    k.wall += e.wall;
    k.cpu += e.cpu;
    k.calls += e.calls;
    k.phases.set(ph, (k.phases.get(ph) ?? 0) + e.cpu);
    byKernel.set(name, k);
  }
  const kt = [...byKernel.values()].reduce((a, e) => ({ wall: a.wall + e.wall, cpu: a.cpu + e.cpu, calls: a.calls + e.calls }), { wall: 0, cpu: 0, calls: 0 });
  lines.push(`## By kernel`, '');
  lines.push(`${f1(per(kt.cpu))} ms of CPU time in ${f1(per(kt.calls))} kernel calls per iteration (${f1((1000 * kt.cpu) / kt.calls)} us per call on average), ${f1(cpu - per(kt.cpu))} ms outside kernels.`, '');
  lines.push(
    table(
      ['kernel', 'CPU ms', 'share of CPU', 'wall ms', 'calls', 'CPU us / call', 'forward CPU ms', 'backward CPU ms', 'optimizer CPU ms'],
      [...byKernel]
        .sort((a, b) => b[1].cpu - a[1].cpu)
        .map(([name, e]) => [name, f1(per(e.cpu)), `${((100 * per(e.cpu)) / cpu).toFixed(1)}%`, f1(per(e.wall)), f1(per(e.calls)), f1((1000 * e.cpu) / e.calls), ...(['forward', 'backward', 'optimizer'] as RecipePhase[]).map((p) => f1(per(e.phases.get(p) ?? 0)))]),
    ),
    '',
  );
  if (!argv.includes('--no-peers')) {
    const peers = findPeers();
    lines.push('## PyTorch peers (bench/peer_torch.py --case recipe, median ms over iterations 101-300)', '');
    if (peers.length === 0) lines.push('No Python with torch found (set OPTLAB_PEER_PYTHON to a python3 that has torch).', '');
    else {
      const rows: string[][] = [];
      for (const p of peers) {
        for (const threads of [1, 2]) {
          const res: PeerResult | string = runPeer(p, 'recipe', threads);
          if (typeof res === 'string') rows.push([`${p.label}, ${threads} thread${threads > 1 ? 's' : ''}`, res, '', '', '', '', '']);
          else {
            const m = res.median_ms;
            rows.push([`torch ${res.torch}, ${res.threads} thread${res.threads > 1 ? 's' : ''}`, f1(m.total), f1(m.data), f1(m.forward), f1(m.backward), f1(m.optimizer), f1(m.readback)]);
          }
        }
      }
      lines.push(table(['set-up', 'ms / iter', 'data', 'forward', 'backward', 'optimizer', 'read-back'], rows), '');
      lines.push(`Load average after the peers: ${loadavg()[0].toFixed(1)}.`, '');
    }
  }
  const text = lines.join('\n');
  console.log(text);
  const out = opt('out', '');
  if (out) writeFileSync(out, `${text}\n`);
  r.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
