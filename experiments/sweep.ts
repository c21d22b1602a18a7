/**
 * A sweep: the runs of an experiment file (optimizers x grid x seeds), `--jobs` child processes at a
 * time, an optional deterministic `--shard I/N` slice, `--resume`, progress, then the report.
 *
 * The results folder holds `experiment.json` (the resolved experiment, the full grid of run ids in
 * order, and the ids this folder is responsible for) beside the run files of runner.ts. The report
 * reads only the runs listed there, so editing the grid and rerunning into the same folder does not
 * mix old runs into the summary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { threadsPerRun } from '../kernels/addon.js';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { CommandModule } from 'yargs';
import { ConfigError, configName, defaultOutDir, expandRuns, loadExperiment, type Experiment, type RunSpec } from './config.js';
import { readExperimentRecord, writeReport, type ExperimentRecord } from './report.js';
import { environment, initRun, readRecord, runPaths, writeAtomic, writeRecord, type ChildMessage, type CurveRow, type RunRecord, type RunStatus } from './runner.js';

/** Options of `runSweep`. */
export interface SweepOptions {
  out?: string;
  sets?: string[];
  jobs?: number;
  /** 'I/N', 1-based. */
  shard?: string;
  resume?: boolean;
  backend?: string;
  /** Progress bars (default: when stdout is a terminal). */
  tty?: boolean;
  /** Print the ranking at the end (default true). */
  print?: boolean;
  /** List the runs this call would start, without training or writing anything. */
  dryRun?: boolean;
}

/** What a sweep did. */
export interface SweepOutcome {
  dir: string;
  statuses: Record<string, RunStatus>;
  interrupted: boolean;
}

/** Parses 'I/N' (1 <= I <= N). */
export function parseShard(s: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) throw new ConfigError(`--shard ${s}: expected I/N with 1 <= I <= N, e.g. 2/4`);
  return { index, count };
}

/** The runs of shard I of N: every N-th run of the grid starting at the I-th, so each shard gets a mix of optimizers. */
export function shardRuns<T>(runs: readonly T[], shard?: string): T[] {
  if (!shard) return [...runs];
  const { index, count } = parseShard(shard);
  return runs.filter((_, k) => k % count === index - 1);
}

/** How to start runner.ts as a child: the compiled .js under node, or the .ts source through tsx. */
function runnerCommand(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { file: here.replace(/sweep\.ts$/, 'runner.ts'), execArgv: ['--import', 'tsx'] };
  return { file: here.replace(/sweep\.js$/, 'runner.js'), execArgv: [] };
}

const DONE: readonly RunStatus[] = ['finished', 'diverged'];

function fmt(x: number | null | undefined, d = 3): string {
  return x === null || x === undefined ? '-' : Number.isFinite(x) ? x.toFixed(d) : String(x);
}

/** Runs an experiment file; writes results and the report into the output folder. */
export async function runSweep(file: string, opts: SweepOptions = {}): Promise<SweepOutcome> {
  const sets = opts.sets ?? [];
  const exp = loadExperiment(file, sets);
  const all = expandRuns(exp);
  const mine = shardRuns(all, opts.shard);
  const dir = opts.out ?? defaultOutDir(exp);
  const jobs = Math.max(1, opts.jobs ?? os.cpus().length);
  if (opts.dryRun) {
    console.log(`${exp.name}: ${mine.length} runs${opts.shard ? ` (shard ${opts.shard} of ${all.length})` : ''} -> ${dir}`);
    for (const r of mine) {
      const p = runPaths(dir, r.id);
      const state = existsSync(p.json) ? readRecord(p.json).status : 'new';
      console.log(`${r.id}  ${configName(r)} s${r.seed}  (${state})`);
    }
    return { dir, statuses: {}, interrupted: false };
  }
  const backend = opts.backend ?? exp.backend;
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const grid = all.map((r) => r.id);
  let held = new Set(mine.map((r) => r.id));
  if (opts.shard && existsSync(join(dir, 'experiment.json'))) {
    // Shards of one grid may share a folder (job arrays): keep the runs the others declared.
    const prev = readExperimentRecord(dir);
    if (prev.grid.join('\n') === grid.join('\n')) held = new Set([...prev.runs, ...held]);
  }
  const record: ExperimentRecord = { name: exp.name, source: { file, sets }, experiment: exp, grid, runs: grid.filter((id) => held.has(id)), shard: opts.shard ?? null };
  writeAtomic(join(dir, 'experiment.json'), JSON.stringify(record, null, 1) + '\n');

  const env = environment();
  const statuses: Record<string, RunStatus> = {};
  const todo: RunSpec[] = [];
  const replaced = opts.resume ? 0 : mine.filter((r) => existsSync(runPaths(dir, r.id).json)).length;
  for (const spec of mine) {
    const p = runPaths(dir, spec.id);
    if (opts.resume && existsSync(p.json)) {
      const old = readRecord(p.json);
      if (old.hash === spec.hash && DONE.includes(old.status)) {
        statuses[spec.id] = old.status;
        continue;
      }
      if (old.hash === spec.hash) {
        // Keep the checkpoint and curve; refresh the spec (target or checkpoint interval may have changed).
        writeRecord(p.json, { ...old, ...spec, experiment: exp.name, status: 'pending' });
        todo.push(spec);
        continue;
      }
    }
    initRun(dir, spec, exp.name, env);
    todo.push(spec);
  }

  const tty = opts.tty ?? process.stdout.isTTY === true;
  const progress = new Progress(tty, mine.length, mine.length - todo.length);
  const skipped = mine.length - todo.length;
  progress.line(`${exp.name}: ${mine.length} runs${opts.shard ? ` (shard ${opts.shard} of ${all.length})` : ''}${skipped ? `, ${skipped} already done` : ''}, ${Math.min(jobs, todo.length)} at a time -> ${dir}`);
  if (replaced) progress.line(`starting over: ${replaced} earlier runs in ${dir} are replaced (--resume keeps finished runs and continues the others)`);

  const { file: runnerFile, execArgv } = runnerCommand();
  const active = new Map<string, ChildProcess>();
  let interrupted = false;
  let killed = false;
  const onSigint = () => {
    if (interrupted) {
      killed = true;
      for (const c of active.values()) c.kill('SIGKILL');
      return;
    }
    interrupted = true;
    progress.line('interrupt: letting running runs checkpoint; press Ctrl-C again to kill them');
    for (const c of active.values()) c.kill('SIGINT');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  const launch = (spec: RunSpec): Promise<void> =>
    new Promise((resolve) => {
      const p = runPaths(dir, spec.id);
      const log = openSync(p.log, 'a');
      const args = [...execArgv, runnerFile, dir, spec.id, ...(backend ? ['--backend', backend] : [])];
      // Parallel runs share the cores: each gets its part of the native kernels' threads (kernels/addon.ts).
      const childEnv = process.env.OPTLAB_BLAS_THREADS ? process.env : { ...process.env, OPTLAB_BLAS_THREADS: String(threadsPerRun(Math.min(jobs, todo.length))) };
      const child = spawn(process.execPath, args, { stdio: ['ignore', log, log, 'ipc'], env: childEnv });
      closeSync(log);
      active.set(spec.id, child);
      const name = `${configName(spec)} s${spec.seed}`;
      progress.start(spec.id, name, spec.config.training.steps);
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'row') progress.row(spec.id, name, m.row, m.steps);
      });
      child.on('exit', (code, signal) => {
        active.delete(spec.id);
        let status: RunStatus = 'failed';
        let rec: RunRecord | undefined;
        try {
          rec = readRecord(p.json);
          status = rec.status;
        } catch {
          /* unreadable record: counted as failed */
        }
        if (status === 'running' || status === 'pending') {
          status = signal || code === 130 ? 'interrupted' : 'failed';
          if (rec) writeRecord(p.json, { ...rec, status, error: rec.error ?? `child exited with ${signal ?? `code ${code}`}; see ${p.log}` });
        }
        statuses[spec.id] = status;
        progress.finish(spec.id, name, status, rec, p.log);
        resolve();
      });
    });

  const queue = [...todo];
  const workers = Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (;;) {
      if (interrupted) return;
      const spec = queue.shift();
      if (!spec) return;
      await launch(spec);
    }
  });
  await Promise.all(workers);
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  progress.stop();
  for (const spec of queue) statuses[spec.id] ??= 'pending';

  if (interrupted) {
    console.log(`interrupted${killed ? ' (runs killed)' : ''}; continue with: optlab run ${file} --resume${opts.out ? ` --out ${opts.out}` : ''}${opts.shard ? ` --shard ${opts.shard}` : ''}`);
  }
  const { ranking } = await writeReport(dir);
  if (opts.print !== false) console.log(`\n${ranking}\n\nreport: ${join(dir, 'report.html')}`);
  return { dir, statuses, interrupted };
}

/** Progress: a bar for the sweep and one per active run on a terminal; plain lines otherwise. */
class Progress {
  private readonly multi?: cliProgress.MultiBar;
  private readonly total?: cliProgress.SingleBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private done: number;
  private readonly started = Date.now();
  private readonly lastVal = new Map<string, number>();

  constructor(
    tty: boolean,
    private readonly count: number,
    done: number,
  ) {
    this.done = done;
    if (tty) {
      this.multi = new cliProgress.MultiBar(
        { format: '{name} |{bar}| {value}/{total} {info} ETA {eta_formatted}', hideCursor: true, clearOnComplete: false, etaBuffer: 20, barsize: 24 },
        cliProgress.Presets.shades_classic,
      );
      this.total = this.multi.create(count, done, { name: 'sweep'.padEnd(28), info: 'runs' });
    }
  }

  line(s: string): void {
    if (this.multi) this.multi.log(`${s}\n`);
    else console.log(s);
  }

  start(id: string, name: string, steps: number): void {
    if (this.multi) this.bars.set(id, this.multi.create(steps, 0, { name: name.slice(0, 28).padEnd(28), info: '' }));
  }

  row(id: string, name: string, r: CurveRow, steps: number): void {
    if (r.val_loss !== null) this.lastVal.set(id, r.val_loss);
    const info = `train ${fmt(r.train_loss)} val ${fmt(this.lastVal.get(id))}`;
    if (this.multi) this.bars.get(id)?.update(r.step, { info });
    else if (r.val_loss !== null && r.step > 0) console.log(`[${this.done}/${this.count}] ${name}  step ${r.step}/${steps}  ${info}  ${(r.wall_ms / 1000).toFixed(1)} s`);
  }

  finish(id: string, name: string, status: RunStatus, rec: RunRecord | undefined, log: string): void {
    this.done += 1;
    const bar = this.bars.get(id);
    if (bar) {
      this.multi!.remove(bar);
      this.bars.delete(id);
    }
    this.total?.update(this.done);
    const r = rec?.result;
    const tail = status === 'failed' ? `: ${rec?.error ?? 'see log'} (${log})` : r ? `  final val ${fmt(r.finalValLoss)}  best ${fmt(r.bestValLoss)}  ${(r.wallMs / 1000).toFixed(1)} s` : '';
    this.line(`[${this.done}/${this.count}] ${name}  ${status}${tail}`);
  }

  stop(): void {
    this.multi?.stop();
    if (!this.multi) console.log(`sweep: ${this.done}/${this.count} runs in ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
  }
}

interface RunArgs {
  experiment: string;
  out?: string;
  set?: string[];
  jobs?: number;
  shard?: string;
  resume?: boolean;
  backend?: string;
  dryRun?: boolean;
}

/** `optlab run <experiment.yaml> [--out DIR] [--set key=value ...] [--jobs N] [--shard I/N] [--resume] [--backend NAME]` */
export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <experiment>',
  describe: 'Run an experiment file (optimizers x hyperparameters x seeds) and write curves, summary, plots and report',
  builder: (y) =>
    y
      .positional('experiment', { type: 'string', demandOption: true, describe: 'experiment YAML (see experiments/configs/)' })
      .option('out', { type: 'string', describe: 'results folder (default results/<name>)' })
      .option('set', { type: 'string', array: true, describe: 'override a key, e.g. --set training.steps=100 --set optimizers.adamw.lr=[1e-3,3e-3]' })
      .option('jobs', { type: 'number', describe: 'runs at a time (default: one per core)' })
      .option('shard', { type: 'string', describe: 'run only slice I of N of the grid, e.g. 2/4' })
      .option('resume', { type: 'boolean', default: false, describe: 'skip finished runs, continue unfinished ones from their checkpoints' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'list the runs (ids, settings, state) without training' })
      .option('backend', { type: 'string', describe: 'auto|tensorflow|webgpu|wasm|cpu (default: the file\'s, then $OPTLAB_BACKEND, then auto)' }) as never,
  handler: async (args) => {
    try {
      if (args.shard) parseShard(args.shard);
      const out = await runSweep(args.experiment, { out: args.out, sets: args.set, jobs: args.jobs, shard: args.shard, resume: args.resume, backend: args.backend, dryRun: args.dryRun });
      const failed = Object.values(out.statuses).filter((s) => s === 'failed').length;
      process.exitCode = out.interrupted ? 130 : failed > 0 ? 1 : 0;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`error: ${e.message}`);
      process.exitCode = 2;
    }
  },
};
