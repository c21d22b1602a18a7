/**
 * `optlab bench` (`npm run bench`): runs the suites of bench/suites.ts once per backend, each backend in
 * its own child process (a fresh tfjs engine; plain wasm and wasm with the native kernels differ only by
 * OPTLAB_NATIVE), collects the JSON lines the children print and writes bench/results/<stem>.csv and
 * <stem>.md. With `--json` the parent prints every measurement as one JSON line on stdout; progress goes
 * to stderr.
 *
 * Budget: the whole default run (cpu, wasm, wasm-native) is sized for under 10 minutes on 2 cores. The
 * cpu backend is about 100x slower than wasm, so it gets one small shape and few repetitions.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { disableNativeKernels, enableNativeKernels, nativeStatus } from '../kernels/wasm_kernels.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { timingMeasurement, type Measurement, type RepOptions } from './harness.js';
import { checkLoad, forcedByEnv } from './cost_scaling.js';
import { findPeers, peerCandidates, peerLabel, runPeer } from './peer.js';
import { gptTrainFlops } from './recipe.js';
import { formatCsv, formatMarkdown, type RunInfo } from './report.js';
import { BENCH_GPT, BENCH_GPT_BATCH, MATRIX_SHAPES, runSuites, SUITES, type BenchContext, type Suite } from './suites.js';

/**
 * Backends `optlab bench` measures unless told otherwise. `tensorflow` (tfjs-node, set up offline by
 * `npm run setup:tensorflow`) is measured when installed and reported as not installed otherwise.
 * 'pytorch' is the PyTorch peer of the GPT rows (bench/peer.ts): every Python with torch found, at 1 and
 * 2 threads; "not installed" without one.
 */
export const DEFAULT_BACKENDS = ['cpu', 'wasm', 'wasm-native', 'tensorflow', 'pytorch'] as const;

/** Options of `optlab bench`. */
export interface BenchOptions {
  /** Backend labels: cpu, wasm, wasm-native, webgpu, tensorflow. @default cpu, wasm, wasm-native, tensorflow */
  backends: string[];
  /** Suite names and/or optimizer names to restrict the run to (empty: everything). @default [] */
  only: string[];
  /** Fewer shapes and repetitions (a minute or two). @default false */
  quick: boolean;
  /** Print every measurement as a JSON line on stdout. @default false */
  json: boolean;
  /** Folder for the CSV and markdown; null writes nothing. @default 'bench/results' */
  out: string | null;
}

/** Suites and optimizers selected by `--only` tokens; an unknown token throws. */
export function parseOnly(tokens: readonly string[]): { suites: Suite[]; optimizers: string[] } {
  const suites: Suite[] = [];
  const optimizers: string[] = [];
  for (const t of tokens.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean)) {
    if ((SUITES as readonly string[]).includes(t)) suites.push(t as Suite);
    else if (OPTIMIZERS[t]) optimizers.push(t);
    else throw new Error(`--only: '${t}' is neither a suite (${SUITES.join(', ')}) nor an optimizer (${Object.keys(OPTIMIZERS).join(', ')})`);
  }
  return { suites: suites.length ? suites : [...SUITES], optimizers: optimizers.length ? optimizers : Object.keys(OPTIMIZERS) };
}

/** Shapes, suites and repetitions for one backend: the cpu backend gets the small cases only. */
export function planFor(backend: string, opts: Pick<BenchOptions, 'only' | 'quick'>): { suites: Suite[]; ctx: Omit<BenchContext, 'emit' | 'progress'> } {
  const sel = parseOnly(opts.only);
  const cpu = backend === 'cpu';
  let suites = sel.suites;
  // On cpu (about 100x slower) only the small cases run by default: no steps on the whole GPT (one
  // Shampoo step there takes minutes), no batching question, no ViT, no 2048x2048 Newton-Schulz.
  if (cpu && !opts.only.some((t) => (SUITES as readonly string[]).includes(t))) suites = suites.filter((s) => !['gpt-steps', 'ns-batching', 'vit', 'auon-scaling', 'nanogpt-recipe'].includes(s));
  // 'auon-cost' (claim 2's measurement, minutes long and refusing a loaded machine) runs only when named.
  if (!opts.only.flatMap((t) => t.split(',')).map((t) => t.trim()).includes('auon-cost')) suites = suites.filter((s) => s !== 'auon-cost');
  // The recipe's iterations 101-300 as nanoGPT times them; plain wasm (about 7x slower) stops at 130.
  const recipeIters = opts.quick ? (backend === 'wasm-native' ? 150 : 110) : backend === 'wasm-native' ? 300 : 130;
  const quickReps: RepOptions = { warmup: 1, minReps: 3, maxReps: 5, budgetMs: 500 };
  const reps: RepOptions = cpu ? { warmup: 1, minReps: 3, maxReps: 5, budgetMs: 1000 } : opts.quick ? quickReps : { warmup: 2, minReps: 5, maxReps: 21, budgetMs: 1500 };
  const modelReps: RepOptions = cpu ? { warmup: 1, minReps: 2, maxReps: 3, budgetMs: 4000 } : opts.quick ? { warmup: 1, minReps: 3, maxReps: 3 } : { warmup: 2, minReps: 5, maxReps: 9, budgetMs: 4000 };
  const shapes = cpu ? MATRIX_SHAPES.slice(0, 1) : opts.quick ? MATRIX_SHAPES.slice(0, 2) : MATRIX_SHAPES;
  const trainOptimizers = cpu ? ['adamw'] : opts.quick ? sel.optimizers.filter((n) => ['adamw', 'muon'].includes(n)) : sel.optimizers;
  return {
    suites,
    ctx: {
      backend,
      optimizers: sel.optimizers,
      shapes,
      rootSizes: cpu || opts.quick ? [128] : [128, 384, 512],
      trainOptimizers,
      reps,
      modelReps,
      gpt: BENCH_GPT,
      gptBatch: BENCH_GPT_BATCH,
      recipeIters,
      recipeFrom: 100,
    },
  };
}

/** Activates a backend by its bench label; returns a reason when it cannot run here. */
export async function activateBackend(label: string): Promise<{ ok: true; note: string } | { ok: false; reason: string }> {
  try {
    if (label === 'wasm-native') {
      await selectBackend('wasm', { quiet: true });
      const s = await enableNativeKernels();
      return s.active ? { ok: true, note: s.message } : { ok: false, reason: s.message };
    }
    if (label === 'wasm') {
      await selectBackend('wasm', { quiet: true });
      if (nativeStatus().active) disableNativeKernels();
      return { ok: true, note: 'plain wasm (tfjs-backend-wasm, XNNPACK, one thread)' };
    }
    const c = await selectBackend(label, { quiet: true });
    return { ok: true, note: c.libtensorflow ? `${c.label}, libtensorflow ${c.libtensorflow}` : c.label };
  } catch (e) {
    return { ok: false, reason: String((e as Error).message ?? e).split('\n')[0] };
  }
}

/** A line of a worker's stdout that is not a measurement. */
interface MetaLine {
  meta: { backend: string; ok: boolean; note: string; wallS?: number };
}

/** The child side: measures one backend in this process and prints JSON lines on stdout. */
export async function runWorker(label: string, opts: Pick<BenchOptions, 'only' | 'quick'>): Promise<void> {
  const t0 = performance.now();
  const act = await activateBackend(label);
  if (!act.ok) {
    console.log(JSON.stringify({ meta: { backend: label, ok: false, note: act.reason } } satisfies MetaLine));
    return;
  }
  console.log(JSON.stringify({ meta: { backend: label, ok: true, note: act.note } } satisfies MetaLine));
  const plan = planFor(label, opts);
  await runSuites(plan.suites, {
    ...plan.ctx,
    emit: (m) => console.log(JSON.stringify(m)),
    progress: (line) => console.error(line),
  });
  console.log(JSON.stringify({ meta: { backend: label, ok: true, note: act.note, wallS: (performance.now() - t0) / 1000 } } satisfies MetaLine));
}

/**
 * The PyTorch peers (bench/peer.ts) in this process: the tiny GPT train step for suite 'gpt' and the
 * recipe for 'nanogpt-recipe', every torch found at 1 and 2 threads; measurements labelled
 * 'pytorch <version>, <n> threads', split by phase like the recipe's.
 */
export function runPeers(opts: Pick<BenchOptions, 'only' | 'quick'>, emit: (m: Measurement) => void, progress: (line: string) => void): { ok: boolean; note: string } {
  const { suites } = parseOnly(opts.only);
  const cases = [...(suites.includes('gpt') ? (['tiny'] as const) : []), ...(suites.includes('nanogpt-recipe') ? (['recipe'] as const) : [])];
  if (cases.length === 0) return { ok: false, note: 'no suite with a PyTorch peer selected (gpt, nanogpt-recipe)' };
  const peers = findPeers();
  if (peers.length === 0) return { ok: false, note: `no Python with torch found (tried ${peerCandidates().join(', ')}; OPTLAB_PEER_PYTHON names others)` };
  const iters = opts.quick ? 150 : 300;
  const notes: string[] = [];
  for (const p of peers) {
    for (const threads of [1, 2]) {
      for (const c of cases) {
        progress(`  ${p.label} (${p.executable}), ${threads} thread${threads === 1 ? '' : 's'}: ${c === 'tiny' ? 'GPT train step' : 'nanoGPT recipe'}, ${iters} iterations`);
        const r = runPeer(p, c, threads, { iters, from: 100 });
        if (typeof r === 'string') {
          notes.push(`${p.label} ${c}: ${r}`);
          continue;
        }
        const label = peerLabel(r.torch, r.threads);
        const shape = `b${r.batch}xT${r.context}`;
        const t = { median: r.median_ms.total, min: r.min_ms, max: r.max_ms, mean: r.mean_ms, reps: r.samples };
        const vocab = c === 'tiny' ? (BENCH_GPT.vocabSize ?? 65) : 65;
        const flops = gptTrainFlops({ vocabSize: vocab, contextLength: r.context, width: 128, nLayer: r.layers }, r.batch);
        const kind = c === 'tiny' ? 'gpt-train-step' : 'nanogpt-recipe';
        emit(timingMeasurement(kind, kind, label, shape, t, { optimizer: 'adamw', value: flops / 1e6 / t.median, unit: 'GFLOP/s' }));
        for (const ph of ['data', 'forward', 'backward', 'optimizer', 'readback'] as const) {
          const v = r.median_ms[ph];
          emit(timingMeasurement(`${kind}-phase`, ph, label, shape, { median: v, min: v, max: v, mean: v, reps: r.samples }));
        }
      }
    }
  }
  return { ok: true, note: `${peers.map((p) => `${p.label} (${p.executable})`).join(', ')}; bench/peer_torch.py, median over iterations 101-${iters}${notes.length ? `; failed: ${notes.join('; ')}` : ''}` };
}

/** Runs one backend in a child process (same script, `bench --worker <label>`), streaming its lines. */
function runChild(label: string, opts: BenchOptions, onLine: (line: Measurement | MetaLine) => void): Promise<number> {
  const args = [...process.execArgv, process.argv[1], 'bench', '--worker', label];
  if (opts.quick) args.push('--quick');
  for (const o of opts.only) args.push('--only', o);
  const env = { ...process.env, OPTLAB_NATIVE: label === 'wasm-native' ? '1' : '0' };
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => {
    const s = line.trim();
    if (!s.startsWith('{')) {
      if (s) console.error(s);
      return;
    }
    onLine(JSON.parse(s) as Measurement | MetaLine);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The machine, as the README and the markdown describe it. */
export function describeMachine(): RunInfo['machine'] {
  const model = sh('lscpu', []).split('\n').find((l) => l.startsWith('Model name'))?.replace(/^Model name:\s*/, '') ?? cpus()[0]?.model ?? 'unknown';
  const nproc = Number(sh('nproc', [])) || availableParallelism();
  return { cpu: model, nproc, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, tfjs: tf.version_core, load: loadavg()[0] };
}

/** The parent side: one child per backend, then the CSV and markdown. Returns the measurements. */
export async function runBench(opts: BenchOptions): Promise<Measurement[]> {
  const t0 = performance.now();
  parseOnly(opts.only);
  const loadBefore = loadavg()[0];
  // Suite auon-cost refuses a loaded machine: say so before any work, and before the result files of
  // an earlier run in `out` are overwritten by an empty one (the worker checks again when it starts).
  if (planFor(opts.backends[0] ?? 'wasm-native', opts).suites.includes('auon-cost')) checkLoad(loadBefore, forcedByEnv());
  const all: Measurement[] = [];
  const backends: RunInfo['backends'] = [];
  for (const label of opts.backends) {
    console.error(`== backend ${label}`);
    const tb = performance.now();
    let note = '';
    let ok = false;
    if (label === 'pytorch') {
      const r = runPeers(opts, (m) => {
        all.push(m);
        if (opts.json) console.log(JSON.stringify(m));
      }, (line) => console.error(line));
      const wallS = (performance.now() - tb) / 1000;
      backends.push({ label, ok: r.ok, note: r.note, wallS });
      console.error(`== backend ${label}: ${r.ok ? `done in ${wallS.toFixed(1)} s` : `not measured: ${r.note}`}`);
      continue;
    }
    const code = await runChild(label, opts, (line) => {
      if ('meta' in line) {
        ok = line.meta.ok;
        note = line.meta.note;
        return;
      }
      all.push(line);
      if (opts.json) console.log(JSON.stringify(line));
    });
    const wallS = (performance.now() - tb) / 1000;
    if (code !== 0) {
      ok = false;
      note = `worker exited with code ${code}${note ? ` (${note})` : ''}`;
    }
    backends.push({ label, ok, note, wallS });
    console.error(`== backend ${label}: ${ok ? `done in ${wallS.toFixed(1)} s` : `not measured: ${note}`}`);
  }
  const info: RunInfo = {
    date: new Date().toISOString(),
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    command: `optlab bench${opts.quick ? ' --quick' : ''}${opts.only.length ? ` --only ${opts.only.join(',')}` : ''} --backends ${opts.backends.join(',')}`,
    machine: { ...describeMachine(), loadBefore },
    backends,
    wallS: (performance.now() - t0) / 1000,
  };
  if (opts.out) {
    const full = !opts.quick && opts.only.length === 0 && DEFAULT_BACKENDS.every((b) => opts.backends.includes(b));
    const stem = full ? 'bench' : opts.quick ? 'bench-quick' : 'bench-partial';
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(join(opts.out, `${stem}.csv`), formatCsv(all));
    writeFileSync(join(opts.out, `${stem}.md`), formatMarkdown(all, info));
    console.error(`wrote ${join(opts.out, `${stem}.csv`)} and ${stem}.md (${all.length} measurements, ${info.wallS.toFixed(0)} s)`);
  }
  if (!opts.json) console.log(formatMarkdown(all, info));
  return all;
}
