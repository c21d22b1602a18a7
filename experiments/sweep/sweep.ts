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
import { threadsPerRun } from '../../kernels/addon.js';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { shardFromEnvironment } from './cluster.js';
import { ConfigError, configName, defaultOutDir, entryRuns, expandRuns, seedList, tuningSeedList, type Experiment, type RunSpec } from '../runner/config.js';
import { OPTIMIZERS } from '../../optimizers/index.js';
import { checkPluginNames, loadExperimentFile } from '../runner/plugins.js';
import { describeFsFault, isFsFault } from '../runner/fs_faults.js';
import { acquireRunLock, describeHolder, staleAfterMs, type RunLock } from '../runner/run_lock.js';
import { backendLines, checkData, checkInit, checkPackages, checkOutputFolder, checkSameBackend, commandName, nativeHint, probeBackend, runnerCommand } from '../runner/preflight.js';
import { wrapParagraph } from '../analysis/text_table.js';
import { checkSameBuild } from '../runner/build.js';
import { readExperimentRecord, writeReport, type ExperimentRecord } from '../analysis/report.js';
import { describeOutcome, environment, initRun, readCheckpointMeta, readCurve, readRecord, runPaths, writeAtomic, writeRecord, type ChildMessage, type CurveRow, type RunRecord, type RunStatus } from '../runner/runner.js';

/** Options of `runSweep`. */
export interface SweepOptions {
  out?: string;
  sets?: string[];
  jobs?: number;
  /** 'I/N', 1-based, or 'auto' (from the scheduler's environment: cluster.ts). */
  shard?: string;
  /** Shard count for `--shard auto` under Kubernetes (the Job's completions). */
  shards?: number;
  resume?: boolean;
  /** Start over in a results folder that already holds results. */
  overwrite?: boolean;
  /** Only these optimizer entries (labels or registry names). */
  only?: string[];
  /** Let runs of one comparison use different backends. */
  allowMixedBackends?: boolean;
  /** Let the final runs of one comparison come from different builds (commit, clean tree, backend, BLAS family, threads; experiments/runner/build.ts). */
  allowMixedBuilds?: boolean;
  /** Rewrite report.html while the sweep runs (the page reloads itself). */
  live?: boolean;
  /** Seconds between live report rewrites. @default 15 */
  liveEvery?: number;
  backend?: string;
  /** Progress bars (default: when stdout is a terminal). */
  tty?: boolean;
  /** Where progress bars draw (default: cli-progress's, stderr); given, they draw even when it is not a terminal. */
  progressStream?: NodeJS.WritableStream;
  /** Print the ranking at the end (default true). */
  print?: boolean;
  /** List the runs this call would start, without training or writing anything. */
  dryRun?: boolean;
  /** Add seeds to optimizers whose verdict against the baseline is undecided, until decided or `maxSeeds` (experiments/sweep/tuning.ts). */
  untilDecided?: boolean;
  /** Most final seeds per optimizer with `untilDecided`. @default 10 */
  maxSeeds?: number;
  /** Run exactly these runs (one batch of a tuned experiment) instead of the file's grid. */
  runs?: RunSpec[];
  /** The experiment's grid so far, for experiment.json (with `runs`). */
  grid?: string[];
  /** Write the report at the end (default true). */
  report?: boolean;
  /**
   * Also write each run's curve as TensorBoard scalars into `<tensorboard>/<run id>` ('' means
   * `<out>/tensorboard`); needs @tensorflow/tfjs-node or -gpu, checked before any run starts
   * (experiments/runner/tensorboard.ts). @default undefined (off)
   */
  tensorboard?: string;
}

/** What a sweep did. */
export interface SweepOutcome {
  dir: string;
  statuses: Record<string, RunStatus>;
  /** The user stopped the sweep (Ctrl-C or SIGTERM). */
  interrupted: boolean;
  /** A file-system fault stopped the sweep (no space, no permission, the folder removed), in one line. */
  fault?: string;
}

/** Exit code of `optlab run`: 130 when the user stopped it, 1 when any run failed or was interrupted or a file-system fault stopped it, else 0. */
export function sweepExitCode(o: Pick<SweepOutcome, 'statuses' | 'interrupted' | 'fault'>): number {
  if (o.interrupted) return 130;
  if (o.fault) return 1;
  return Object.values(o.statuses).some((s) => s === 'failed' || s === 'interrupted') ? 1 : 0;
}

/** Counts of run statuses in a fixed order, e.g. '3 finished, 1 diverged, 1 failed'. */
export function statusCounts(statuses: readonly RunStatus[]): string {
  const order: RunStatus[] = ['finished', 'diverged', 'failed', 'interrupted', 'running', 'pending'];
  const label: Record<RunStatus, string> = { finished: 'finished', diverged: 'diverged', failed: 'failed', interrupted: 'interrupted', running: 'running', pending: 'not started' };
  return order.filter((s) => statuses.includes(s)).map((s) => `${statuses.filter((x) => x === s).length} ${label[s]}`).join(', ') || 'no runs';
}

/**
 * Keeps the optimizer entries named in `only` (labels or registry names); unknown names fail listing the
 * known ones. The kept entries' options are checked first against the whole file, so an error names the
 * entry by its index in the file (`optimizers[2] (lion)`), not by its place among the kept ones.
 */
export function selectOptimizers(exp: Experiment, only: readonly string[] | undefined): Experiment {
  if (!only || only.length === 0) return exp;
  const names = only.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean);
  const known = exp.optimizers.map((o) => (o.label as string | undefined) ?? o.name);
  const unknown = names.filter((n) => !exp.optimizers.some((o) => o.label === n || o.name === n));
  if (unknown.length) throw new ConfigError(`--only ${unknown.join(',')}: no such optimizer entry in ${exp.name}; entries: ${known.join(', ')}`, 'optimizers');
  const kept = exp.optimizers.filter((o) => names.includes(o.name) || (o.label !== undefined && names.includes(o.label as string)));
  const keptLabels = kept.map((o) => o.label ?? o.name);
  const orphan = kept.find((o) => o.settingsFrom !== undefined && !keptLabels.includes(o.settingsFrom));
  if (orphan) throw new ConfigError(`--only ${names.join(',')}: '${orphan.label ?? orphan.name}' takes its settings from '${orphan.settingsFrom}' (settingsFrom); select that entry too`, 'optimizers');
  exp.optimizers.forEach((o, i) => {
    if (!kept.includes(o)) return;
    // The first point of the entry's grid (list-valued options, as expandRuns crosses them); no runs are made (no seeds).
    const defaults = OPTIMIZERS[o.name]?.defaults as Record<string, unknown> | undefined;
    const { name: _n, label: _l, search: _s, settingsFrom: _f, ...opts } = o;
    const first = Object.fromEntries(Object.entries(opts).filter(([k, v]) => Array.isArray(v) && !Array.isArray(defaults?.[k])).map(([k, v]) => [k, (v as unknown[])[0]]));
    entryRuns(exp, i, first, []);
  });
  return { ...exp, optimizers: kept };
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

const DONE: readonly RunStatus[] = ['finished', 'diverged'];

function fmt(x: number | null | undefined, d = 3): string {
  return x === null || x === undefined ? '-' : Number.isFinite(x) ? x.toFixed(d) : String(x);
}

/** Backend lines this process has printed, by results folder: a tuned sweep runs one sweep per stage into one folder, the line is printed once. */
const printedBackends = new Set<string>();

/** Runs an experiment file; writes results and the report into the output folder. */
export async function runSweep(file: string, opts: SweepOptions = {}): Promise<SweepOutcome> {
  const sets = opts.sets ?? [];
  const exp = selectOptimizers(await loadExperimentFile(file, sets), opts.only);
  const auto = opts.shard?.trim() === 'auto' ? shardFromEnvironment(process.env, opts.shards) : null;
  const shard = auto ? auto.shard : opts.shard;
  if (!opts.runs && (exp.tuning || opts.untilDecided)) return runPlanned(file, exp, opts, shard);
  const all = opts.runs ?? expandRuns(exp);
  const mine = shardRuns(all, shard);
  const dir = opts.out ?? defaultOutDir(exp);
  const jobs = Math.max(1, opts.jobs ?? os.cpus().length);
  const shardNote = shard ? ` (shard ${shard} of ${all.length}${auto ? `, from ${auto.source}` : ''})` : '';
  const grid = opts.grid ?? all.map((r) => r.id);
  // A batch of a tuned experiment (opts.runs) was checked before its first batch (runPlanned).
  const batch = opts.runs !== undefined;
  // --dry-run runs the same checks as a run (data, init, results folder, backend), then lists.
  if (!batch) checkBeforeRuns(exp, dir, opts, shard, grid, mine);
  const backend = opts.backend ?? exp.backend;
  const tensorboard = opts.tensorboard === undefined ? undefined : opts.tensorboard || join(dir, 'tensorboard');
  const probe = probeBackend(backend, requestedBackend(file, exp, opts), { tensorboard: tensorboard !== undefined });
  if (opts.dryRun) return listRuns(exp, mine, dir, shardNote);
  if (opts.resume) checkResumedBackend(dir, mine, probe.label, opts.allowMixedBackends === true);
  if (opts.resume) checkResumedBuild(dir, mine, opts.allowMixedBuilds === true);

  const locks = new Map<string, RunLock>();
  try {
    const { statuses, todo, replaced, held } = cleanOnFailedStart(dir, () => {
      declareRuns(dir, file, exp, opts, { grid, mine, shard, shardSource: auto?.source, batch, backendCheck: probe.message });
      return prepareRuns(dir, exp, mine, opts.resume === true, locks);
    });
    return await trainPrepared({ file, exp, opts, dir, mine, jobs, shardNote, skippedNote: held, probe, tensorboard, backend, statuses, todo, replaced, locks });
  } finally {
    for (const l of locks.values()) l.release();
  }
}

/** The part of runSweep after the runs are prepared and locked: progress, the queue, the report. */
async function trainPrepared(a: {
  file: string; exp: Experiment; opts: SweepOptions; dir: string; mine: readonly RunSpec[]; jobs: number; shardNote: string; skippedNote: string[];
  probe: ReturnType<typeof probeBackend>; tensorboard: string | undefined; backend: string | undefined;
  statuses: Record<string, RunStatus>; todo: RunSpec[]; replaced: number; locks: Map<string, RunLock>;
}): Promise<SweepOutcome> {
  const { file, exp, opts, dir, mine, jobs, shardNote, probe, tensorboard, backend, statuses, todo, replaced, locks } = a;
  const parallel = Math.min(jobs, todo.length);
  const progress = new Progress(opts.tty ?? process.stdout.isTTY === true, mine.length, mine.length - todo.length, parallel, opts.progressStream);
  const elsewhere = Object.values(statuses).filter((x) => x === 'running').length;
  const skipped = mine.length - todo.length - elsewhere;
  // One backend line per command (a tuned sweep comes here once per stage), the whole check in experiment.json.
  if (!printedBackends.has(`${resolve(dir)}\n${probe.message}`)) {
    printedBackends.add(`${resolve(dir)}\n${probe.message}`);
    const { line, hints } = backendLines(probe.message, join(dir, 'experiment.json'));
    progress.line(line);
    for (const h of [...hints.map((x) => `hint: ${x}`), nativeHint(probe)]) if (h) progress.line(wrapParagraph(h));
  }
  progress.line(`${exp.name}: ${plural(mine.length, 'run')}${shardNote}${skipped ? `, ${skipped} already done` : ''}${elsewhere ? `, ${elsewhere} trained by another process` : ''}, ${parallel} at a time -> ${dir}`);
  if (replaced) progress.line(`--overwrite: ${replaced} earlier runs in ${dir} are started over`);
  for (const line of a.skippedNote) progress.line(line);
  if (tensorboard !== undefined) progress.line(`tensorboard: scalars in ${tensorboard}/<run id>, ${probe.tensorboard?.message} (view: tensorboard --logdir ${tensorboard})`);

  const child: ChildOptions = { dir, backend, tensorboard, expectBackend: opts.allowMixedBackends ? undefined : probe.label, threads: parallel, locks };
  // Heartbeats of the locks this call holds, while it trains (experiments/runner/run_lock.ts).
  const heartbeat = setInterval(() => {
    for (const [id, l] of locks) {
      if (l.refresh()) continue;
      progress.line(`${id}: its lock was taken over by another process (this one's heartbeat was late)`);
      locks.delete(id);
    }
  }, Math.min(10_000, staleAfterMs() / 4));
  heartbeat.unref();
  const { interrupted, killed, fault } = await runQueue(todo, jobs, child, statuses, progress, opts).finally(() => clearInterval(heartbeat));
  for (const spec of todo) statuses[spec.id] ??= 'pending';
  progress.stop(Object.values(statuses));

  const again = resumeCommand(file, opts);
  if (fault) {
    // One line for the fault; the report is not written into a folder that cannot take writes.
    console.error(`error: ${fault}`);
    console.log(`the sweep stopped (${statusCounts(Object.values(statuses))}); once the folder can be written again (space freed, permissions fixed), continue with: ${again}`);
    return { dir, statuses, interrupted, fault };
  }
  if (interrupted) console.log(`interrupted${killed ? ' (runs killed)' : ''}; continue with: ${again}`);
  else if (Object.values(statuses).some((s) => s === 'failed' || s === 'interrupted')) console.log(`some runs did not finish (logs in ${join(dir, 'logs')}); after fixing the cause, continue with: ${again}`);
  if (opts.report === false) return { dir, statuses, interrupted };
  const { ranking } = await writeReport(dir, { allowMixedBackends: opts.allowMixedBackends, ...(opts.allowMixedBuilds ? { allowMixedBuilds: true } : {}) });
  if (opts.print !== false) console.log(`\n${ranking}\n\nreport: ${join(dir, 'report.html')}`);
  return { dir, statuses, interrupted };
}

/**
 * A tuned experiment, or one run `--until-decided`: planned batch by batch from the results
 * (experiments/sweep/tuning.ts, loaded here because it imports this module). The checks that need
 * no training run once, before the first batch.
 */
async function runPlanned(file: string, exp: Experiment, opts: SweepOptions, shard: string | undefined): Promise<SweepOutcome> {
  // The same checks with and without --dry-run, before anything is written.
  const dir = opts.out ?? defaultOutDir(exp);
  checkPluginNames(exp);
  checkPackages(exp, opts);
  checkData(exp);
  checkInit(exp, [...seedList(exp), ...(exp.tuning ? tuningSeedList(exp.tuning) : [])]);
  checkOutputFolder(dir, { resume: opts.resume, overwrite: opts.overwrite, shard: shard !== undefined, grid: [], mine: [], differs: differenceFrom(dir, exp) }, gridOf);
  probeBackend(opts.backend ?? exp.backend, requestedBackend(file, exp, opts), { tensorboard: opts.tensorboard !== undefined });
  const { runStaged } = await import('./tuning.js');
  const existed = existsSync(join(dir, 'experiment.json'));
  try {
    return await runStaged(file, exp, { ...opts, shard, shards: undefined });
  } catch (e) {
    // A start that fails before any run was recorded leaves the folder as it found it.
    if (!existed && !holdsRuns(dir)) removeDeclaration(dir);
    throw e;
  }
}

/** How the backend was asked for, for messages: the flag, the experiment file's key or the environment. */
function requestedBackend(file: string, exp: Experiment, opts: SweepOptions): string {
  return opts.backend ? `--backend ${opts.backend}` : exp.backend ? `backend: ${exp.backend} (in ${file})` : `backend ${process.env.OPTLAB_BACKEND ?? 'auto'}`;
}

/** The grid a results folder's experiment.json declares, or null when it has none. */
const gridOf = (d: string) => (existsSync(join(d, 'experiment.json')) ? readExperimentRecord(d).grid : null);

/** Whether a results folder holds any run record (a `<id>.json` beside experiment.json). */
function holdsRuns(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.json') && f !== 'experiment.json');
}

/** Removes what declaring runs made in a folder that holds no run: experiment.json, an empty logs/ and the folder itself when empty. */
function removeDeclaration(dir: string): void {
  rmSync(join(dir, 'experiment.json'), { force: true });
  for (const d of [join(dir, 'logs'), dir]) {
    try {
      if (existsSync(d) && readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      /* left in place: not empty or not ours */
    }
  }
}

/** Runs the first writes of a start; when they throw and the folder held no run record, the declaration is removed again. */
function cleanOnFailedStart<T>(dir: string, fn: () => T): T {
  const existed = existsSync(join(dir, 'experiment.json'));
  try {
    return fn();
  } catch (e) {
    if (!existed && !holdsRuns(dir)) removeDeclaration(dir);
    throw e;
  }
}

/**
 * What differs between the experiment a results folder's experiment.json records and `exp`, as
 * 'training.steps 12 -> 30, optimizers[0].lr 0.01 -> 0.02' (at most 6 keys), or undefined.
 */
function differenceFrom(dir: string, exp: Experiment): string | undefined {
  if (!existsSync(join(dir, 'experiment.json'))) return undefined;
  let theirs: unknown;
  try {
    theirs = readExperimentRecord(dir).experiment;
  } catch {
    return undefined;
  }
  const diffs: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (diffs.length > 6) return;
    const obj = (x: unknown) => x !== null && typeof x === 'object';
    if (obj(a) && obj(b) && Array.isArray(a) === Array.isArray(b)) {
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      diffs.push(`${path} ${a === undefined ? '(unset)' : JSON.stringify(a)} -> ${b === undefined ? '(unset)' : JSON.stringify(b)}`);
    }
  };
  walk(theirs, exp, '');
  if (diffs.length === 0) return undefined;
  return diffs.slice(0, 6).join(', ') + (diffs.length > 6 ? ', ...' : '');
}

/** `--dry-run`: the runs this call would start, with their state, without training or writing. */
function listRuns(exp: Experiment, mine: readonly RunSpec[], dir: string, shardNote: string): SweepOutcome {
  console.log(`${exp.name}: ${plural(mine.length, 'run')}${shardNote} -> ${dir}`);
  for (const r of mine) {
    const p = runPaths(dir, r.id);
    const state = existsSync(p.json) ? readRecord(p.json).status : 'new';
    console.log(`${r.id}  ${configName(r)} s${r.seed}  (${state})`);
  }
  return { dir, statuses: {}, interrupted: false };
}

/** Everything that needs no training, checked once before any run starts: plugins, optional packages, data, init checkpoints, the results folder. */
function checkBeforeRuns(exp: Experiment, dir: string, opts: SweepOptions, shard: string | undefined, grid: readonly string[], mine: readonly RunSpec[]): void {
  checkPluginNames(exp);
  checkPackages(exp, opts);
  checkData(exp);
  checkInit(exp, mine.map((r) => r.seed));
  checkOutputFolder(dir, { resume: opts.resume, overwrite: opts.overwrite, shard: shard !== undefined, grid: [...grid], mine: mine.map((r) => r.id), differs: differenceFrom(dir, exp) }, gridOf);
}

/** With --resume: finished runs kept from earlier calls must share this call's backend (or a warning says they do not). */
function checkResumedBackend(dir: string, mine: readonly RunSpec[], backend: string, allowMixed: boolean): void {
  const kept = mine.map((r) => runPaths(dir, r.id).json).filter((p) => existsSync(p)).map((p) => readRecord(p)).filter((r) => DONE.includes(r.status));
  const warn = checkSameBackend([...kept.map((r) => ({ id: r.id, backend: r.env?.backend })), { id: 'this call', backend }], allowMixed, `resuming ${dir}`);
  if (warn) console.error(warn);
}

/**
 * Refuses to add final runs on this process's commit or tree state to final runs of another one in
 * the same folder, unless `allowMixed` (--allow-mixed-builds): their comparison would mix builds
 * (backend and BLAS are checked per run by the report, experiments/runner/build.ts).
 */
export function checkResumedBuild(dir: string, mine: readonly Pick<RunSpec, 'id' | 'stage'>[], allowMixed: boolean): void {
  const kept = mine.filter((r) => r.stage !== 'tune').map((r) => runPaths(dir, r.id).json).filter((p) => existsSync(p)).map((p) => readRecord(p)).filter((r) => r.status === 'finished' && r.env);
  if (!kept.length) return;
  const here = environment();
  const strip = (e: { gitCommit: string | null; gitDirty: boolean | null }) => ({ gitCommit: e.gitCommit, gitDirty: e.gitDirty });
  const warn = checkSameBuild([...kept.map((r) => ({ id: r.id, rec: { env: strip(r.env!) } })), { id: 'this call', rec: { env: strip(here) } }], allowMixed, `resuming the final runs in ${dir}`);
  if (warn) console.error(`warning: ${warn}`);
}

/**
 * Writes experiment.json: the experiment, its grid and the runs this folder holds. Shards of one
 * grid may share a folder (job arrays): the runs the others declared are kept; a batch of a tuned
 * experiment keeps the earlier batches' runs (its grid extends theirs).
 */
function declareRuns(dir: string, file: string, exp: Experiment, opts: SweepOptions, at: { grid: readonly string[]; mine: readonly RunSpec[]; shard?: string; shardSource?: string; batch: boolean; backendCheck: string }): void {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  let held = new Set(at.mine.map((r) => r.id));
  if ((at.shard || at.batch) && existsSync(join(dir, 'experiment.json'))) {
    const prev = readExperimentRecord(dir);
    const inGrid = new Set(at.grid);
    if (prev.grid.join('\n') === at.grid.join('\n') || (opts.runs && prev.grid.every((id) => inGrid.has(id)))) held = new Set([...prev.runs, ...held]);
  }
  const sets = opts.sets ?? [];
  const record: ExperimentRecord = { name: exp.name, source: { file, sets, ...(opts.only?.length ? { only: opts.only } : {}) }, experiment: exp, grid: [...at.grid], runs: at.grid.filter((id) => held.has(id)), shard: at.shard ?? null, ...(at.shardSource ? { shardSource: at.shardSource } : {}), backendCheck: at.backendCheck };
  writeAtomic(join(dir, 'experiment.json'), JSON.stringify(record, null, 1) + '\n');
}

/**
 * Sorts this call's runs: with --resume a finished or diverged run of the same config is kept, an
 * unfinished one continues from its checkpoint (its record refreshed to pending), and any other is
 * recorded afresh. Returns the kept statuses, the runs to start, and how many earlier records are replaced.
 */
function prepareRuns(dir: string, exp: Experiment, mine: readonly RunSpec[], resume: boolean, locks: Map<string, RunLock>): { statuses: Record<string, RunStatus>; todo: RunSpec[]; replaced: number; held: string[] } {
  const env = environment();
  const statuses: Record<string, RunStatus> = {};
  const todo: RunSpec[] = [];
  const held: string[] = [];
  const replaced = resume ? 0 : mine.filter((r) => existsSync(runPaths(dir, r.id).json)).length;
  try {
    for (const spec of mine) prepareRun(dir, exp, spec, resume, env, { statuses, todo, held, locks });
  } catch (e) {
    // A fault (no space, no permission) while preparing: the locks taken so far are given back.
    for (const l of locks.values()) l.release();
    locks.clear();
    throw e;
  }
  return { statuses, todo, replaced, held };
}

/** prepareRuns for one run: kept, skipped (another process holds its lock), continued or recorded afresh. */
function prepareRun(dir: string, exp: Experiment, spec: RunSpec, resume: boolean, env: ReturnType<typeof environment>, into: { statuses: Record<string, RunStatus>; todo: RunSpec[]; held: string[]; locks: Map<string, RunLock> }): void {
  const { statuses, todo, held, locks } = into;
  const p = runPaths(dir, spec.id);
  if (resume && existsSync(p.json)) {
    const old = readRecord(p.json);
    if (old.hash === spec.hash && DONE.includes(old.status)) {
      statuses[spec.id] = old.status;
      return;
    }
  }
  // A run another live process trains is left to it; a stale lock is taken over.
  const got = acquireRunLock(dir, spec.id);
  if ('heldBy' in got) {
    statuses[spec.id] = 'running';
    held.push(`${spec.id}: skipped, another process trains it: ${describeHolder(got.heldBy)}`);
    return;
  }
  locks.set(spec.id, got.lock);
  if (got.tookOver) held.push(`${spec.id}: took over a stale lock (${got.tookOver})`);
  if (resume && existsSync(p.json)) {
    const old = readRecord(p.json);
    if (old.hash === spec.hash) {
      // Keep the checkpoint and curve; refresh the spec (target or checkpoint interval may have changed).
      writeRecord(p.json, { ...old, ...spec, experiment: exp.name, status: 'pending' });
      todo.push(spec);
      return;
    }
  }
  initRun(dir, spec, exp.name, env);
  todo.push(spec);
}

/** How each run's child process is started. */
interface ChildOptions {
  dir: string;
  backend?: string;
  tensorboard?: string;
  /** The backend label every run must get (absent with --allow-mixed-backends). */
  expectBackend?: string;
  /** Runs at a time: each child gets its share of the native kernels' threads. */
  threads: number;
  /** The run locks this call holds, released as each run settles. */
  locks?: Map<string, RunLock>;
  /** Called with the one-line description of a file-system fault a run (or settling its record) met. */
  onFault?: (line: string) => void;
}

/**
 * Starts the runs, `jobs` at a time, each in its own child process, and waits for them. The first
 * Ctrl-C (or SIGTERM) lets running runs checkpoint and starts no new one; a second kills them.
 * With --live, report.html is rewritten every few seconds and after each run, one write at a time.
 */
async function runQueue(todo: readonly RunSpec[], jobs: number, child: ChildOptions, statuses: Record<string, RunStatus>, progress: Progress, opts: SweepOptions): Promise<{ interrupted: boolean; killed: boolean; fault?: string }> {
  const active = new Map<string, ChildProcess>();
  const stop = { interrupted: false, killed: false, signal: '', fault: '' };
  // A file-system fault of one run concerns them all: no new run starts, running ones checkpoint if they can and stop.
  child.onFault = (line) => {
    if (stop.fault) return;
    stop.fault = line;
    progress.line(`${line}: stopping the sweep`);
    for (const c of active.values()) c.kill('SIGINT');
  };
  const onSignal = (sig: string) => () => {
    if (stop.interrupted) {
      stop.killed = true;
      for (const c of active.values()) c.kill('SIGKILL');
      return;
    }
    stop.interrupted = true;
    stop.signal = sig;
    progress.line(`${sig}: letting running runs checkpoint; press Ctrl-C again to kill them`);
    for (const c of active.values()) c.kill('SIGINT');
  };
  const onSigint = onSignal('SIGINT');
  const onSigterm = onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  let reportChain: Promise<unknown> = Promise.resolve();
  const liveReport = () => {
    if (!opts.live) return;
    reportChain = reportChain.then(() => writeReport(child.dir, { live: true, allowMixedBackends: true }).catch((e) => progress.line(`live report: ${(e as Error).message}`)));
  };
  const liveTimer = opts.live ? setInterval(liveReport, (opts.liveEvery ?? 15) * 1000) : undefined;
  if (opts.live) {
    liveReport();
    progress.line(`live report: ${join(child.dir, 'report.html')} (reloads itself every ${opts.liveEvery ?? 15} s)`);
  }
  try {
    const queue = [...todo];
    const workers = Array.from({ length: Math.min(jobs, queue.length) }, async () => {
      for (;;) {
        if (stop.interrupted || stop.fault) return;
        const spec = queue.shift();
        if (!spec) return;
        const status = await launchRun(spec, child, active, progress, () => stop.signal);
        child.locks?.get(spec.id)?.release();
        child.locks?.delete(spec.id);
        statuses[spec.id] = status;
        liveReport();
      }
    });
    await Promise.all(workers);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (liveTimer) clearInterval(liveTimer);
    await reportChain;
  }
  return { interrupted: stop.interrupted, killed: stop.killed, ...(stop.fault ? { fault: stop.fault } : {}) };
}

/** Runs one run in a child process (experiments/runner/runner.ts) and returns how it ended. */
function launchRun(spec: RunSpec, child: ChildOptions, active: Map<string, ChildProcess>, progress: Progress, stopSignal: () => string): Promise<RunStatus> {
  return new Promise((resolve) => {
    const p = runPaths(child.dir, spec.id);
    const { file: runnerFile, execArgv } = runnerCommand();
    const log = openSync(p.log, 'a');
    const args = [...execArgv, runnerFile, child.dir, spec.id, ...(child.backend ? ['--backend', child.backend] : []), ...(child.tensorboard !== undefined ? ['--tensorboard', child.tensorboard] : []), ...(child.expectBackend ? ['--expect-backend', child.expectBackend] : [])];
    // Parallel runs share the cores: each gets its part of the native kernels' threads (kernels/addon.ts).
    const childEnv = process.env.OPTLAB_BLAS_THREADS ? process.env : { ...process.env, OPTLAB_BLAS_THREADS: String(threadsPerRun(child.threads)) };
    const proc = spawn(process.execPath, args, { stdio: ['ignore', log, log, 'ipc'], env: childEnv });
    closeSync(log);
    active.set(spec.id, proc);
    const name = `${configName(spec)} s${spec.seed}`;
    progress.start(spec.id, name, spec.config.training.steps);
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'done' && m.fault) child.onFault?.(m.fault);
      if (m.type === 'row') progress.row(spec.id, name, m.row, m.steps);
    });
    proc.on('exit', (code, signal) => {
      active.delete(spec.id);
      let settled: ReturnType<typeof settleRecord>;
      try {
        settled = settleRecord(p, code, signal, stopSignal());
      } catch (e) {
        // The record cannot be written (the fault the run met): failed here, --resume continues it.
        if (!isFsFault(e)) throw e;
        child.onFault?.(describeFsFault(e));
        settled = { status: 'failed' };
      }
      progress.finish(spec.id, name, settled.status, settled.rec, p.log);
      resolve(settled.status);
    });
  });
}

/**
 * How a run ended, from its record once its process exited. A child that died without writing its
 * end (a signal, or a crash) is recorded as interrupted or failed, with how far it got, so no record
 * says "running" after the sweep; an unreadable record counts as failed.
 */
function settleRecord(p: ReturnType<typeof runPaths>, code: number | null, signal: NodeJS.Signals | null, stopSignal: string): { status: RunStatus; rec?: RunRecord } {
  let rec: RunRecord;
  try {
    rec = readRecord(p.json);
  } catch {
    return { status: 'failed' };
  }
  if (rec.status !== 'running' && rec.status !== 'pending') return { status: rec.status, rec };
  const status: RunStatus = signal || code === 130 ? 'interrupted' : 'failed';
  const curve = existsSync(p.csv) ? readCurve(p.csv) : [];
  const ckpt = existsSync(p.ckpt) ? readCheckpointMeta(p.ckpt).step : undefined;
  const fix: RunRecord = { ...rec, status, step: curve.at(-1)?.step ?? rec.step, ...(ckpt !== undefined ? { checkpointStep: ckpt } : {}) };
  if (status === 'interrupted') fix.signal = signal ?? (stopSignal || 'exit code 130');
  else fix.error = rec.error ?? `the run's process exited with code ${code} before recording an end; see ${p.log}`;
  writeRecord(p.json, fix);
  return { status, rec: fix };
}

/** The command that continues this sweep (`optlab run <file> --resume` with this call's options). */
function resumeCommand(file: string, opts: SweepOptions): string {
  const sets = opts.sets ?? [];
  return `${commandName()} run ${file} --resume${opts.out ? ` --out ${opts.out}` : ''}${opts.shard ? ` --shard ${opts.shard}` : ''}${opts.shards ? ` --shards ${opts.shards}` : ''}${opts.only?.length ? ` --only ${opts.only.join(',')}` : ''}${sets.map((x) => ` --set '${x}'`).join('')}${opts.backend ? ` --backend ${opts.backend}` : ''}${opts.tensorboard !== undefined ? ` --tensorboard${opts.tensorboard ? ` ${opts.tensorboard}` : ''}` : ''}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Seconds as '42 s', '3m05s' or '1h02m'. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  if (sec < 60) return `${Math.round(sec)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(Math.round(sec % 60)).padStart(2, '0')}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}m`;
}

/** Progress: a bar for the sweep and one per active run on a terminal; plain lines otherwise. ETAs appear once they can be estimated. */
class Progress {
  private readonly multi?: cliProgress.MultiBar;
  private readonly total?: cliProgress.SingleBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private done: number;
  private finishedHere = 0;
  private readonly started = Date.now();
  private readonly lastVal = new Map<string, number>();

  constructor(
    tty: boolean,
    private readonly count: number,
    done: number,
    private readonly parallel: number,
    stream?: NodeJS.WritableStream,
  ) {
    this.done = done;
    if (tty) {
      this.multi = new cliProgress.MultiBar(
        // The ETA is a payload we compute (not cli-progress's {eta}/{eta_formatted}, which show 'NFs' until it has a rate).
        { format: '{name} |{bar}| {value}/{total} {info}{etaText}', hideCursor: true, clearOnComplete: false, barsize: 24, ...(stream ? { stream, noTTYOutput: true, notTTYSchedule: 100 } : {}) },
        cliProgress.Presets.shades_classic,
      );
      this.total = this.multi.create(count, done, { name: 'sweep'.padEnd(28), info: 'runs', etaText: '' });
    }
  }

  /** Remaining time of the sweep from the runs finished by this call; '' until one has. */
  private sweepEta(): string {
    if (this.finishedHere === 0) return '';
    const perRun = (Date.now() - this.started) / 1000 / this.finishedHere;
    return formatDuration((perRun * (this.count - this.done)) / Math.max(1, this.parallel));
  }

  line(s: string): void {
    if (this.multi) this.multi.log(`${s}\n`);
    else console.log(s);
  }

  start(id: string, name: string, steps: number): void {
    if (this.multi) this.bars.set(id, this.multi.create(steps, 0, { name: name.slice(0, 28).padEnd(28), info: '', etaText: '' }));
  }

  row(id: string, name: string, r: CurveRow, steps: number): void {
    if (r.val_loss !== null) this.lastVal.set(id, r.val_loss);
    const info = `train ${fmt(r.train_loss)} val ${fmt(this.lastVal.get(id))}`;
    // Training time per step so far; evaluation and checkpoints add a little on top.
    const eta = r.step > 0 && r.wall_ms > 0 ? formatDuration(((steps - r.step) * r.wall_ms) / r.step / 1000) : '';
    if (this.multi) this.bars.get(id)?.update(r.step, { info, etaText: eta ? `  ETA ${eta}` : '' });
    else if (r.val_loss !== null && r.step > 0) console.log(`[${this.done}/${this.count}] ${name}  step ${r.step}/${steps}  ${info}  ${(r.wall_ms / 1000).toFixed(1)} s${eta && r.step < steps ? `  ETA ${eta}` : ''}`);
  }

  finish(id: string, name: string, status: RunStatus, rec: RunRecord | undefined, log: string): void {
    this.done += 1;
    this.finishedHere += 1;
    const bar = this.bars.get(id);
    if (bar) {
      this.multi!.remove(bar);
      this.bars.delete(id);
    }
    const eta = this.done < this.count ? this.sweepEta() : '';
    this.total?.update(this.done, { etaText: eta ? `  ETA ${eta}` : '' });
    this.line(`[${this.done}/${this.count}] ${name}  ${describeOutcome(status, rec, log)}${eta && !this.multi ? `  (sweep ETA ${eta})` : ''}`);
  }

  /** Ends the bars and prints how every run of this call ended. */
  stop(statuses: RunStatus[]): void {
    this.multi?.stop();
    console.log(`sweep: ${plural(statuses.length, 'run')} in ${((Date.now() - this.started) / 1000).toFixed(1)} s: ${statusCounts(statuses)}`);
  }
}
