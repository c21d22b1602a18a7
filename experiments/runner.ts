/**
 * One run: the training loop, its curve CSV and JSON record, checkpoints, resume, divergence and
 * Ctrl-C. A sweep starts each run as a child process of this file (`node runner.js <dir> <id>`);
 * `trainRun` is the same loop in-process, for tests and scripts.
 *
 * Files of run <id> in the results folder:
 *   <id>.json              the run spec, resolved config, environment, status and final figures
 *   <id>.csv               the curve, one row every `logEvery` steps plus step 0 (initial validation)
 *   checkpoints/<id>.ckpt  parameters, optimizer state, step, accumulators and generator states
 *   logs/<id>.log          what the child printed (backend choice, errors)
 *
 * Curve columns: step; tokens (text) or samples (images) seen; train_loss, the mean training loss
 * since the previous row; val_loss and val_acc on the fixed evaluation batches (every evalEvery steps,
 * at step 0 and at the end; accuracy only for classifiers); lr_scale, the schedule's multiplier on
 * every learning rate; grad_norm, the global gradient norm before clipping; update_rms, the RMS of
 * W_after - W_before over all weights (weight decay included); wall_ms, training time so far.
 * Then, unless the experiment sets `diagnostics: false`, one column per update diagnostic
 * `<route>/<metric>` (optimizers/diagnostics.ts: update RMS, update-to-weight ratio and spectral norm
 * per route, Newton-Schulz singular values, MARS clipping, AuON's brake, ...) and per model diagnostic
 * (`model/attn_logit_max` for the GPT), measured at the logged step.
 * Tensors are read once per row (await data()), never inside a step.
 *
 * A resumed run is bit-identical to an uninterrupted one: the checkpoint holds everything the next
 * step reads (weights, optimizer slots and step counts, MARS's previous weights, the running train
 * loss sum, the model's dropout generators), and the batch stream is replayed to its position.
 *
 * Warnings: wall_ms counts time inside training steps only (not evaluation or checkpoints), so it
 * differs between a resumed and an uninterrupted run; every other column is identical.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createObjectCsvWriter } from 'csv-writer';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../models/data.js';
import { lossAndGrads } from '../models/layers.js';
import { buildOptimizer, getOptimizerFactory, globalNorm, type Optimizer } from '../optimizers/index.js';
import type { RunSpec } from './config.js';
import { makeSchedule } from './schedule.js';
import { createTask, type Task } from './tasks.js';

/** Where a run stands. */
export type RunStatus = 'pending' | 'running' | 'finished' | 'diverged' | 'interrupted' | 'failed';

/** The machine and code a run used. */
export interface RunEnvironment {
  gitCommit: string | null;
  gitDirty: boolean | null;
  optlabVersion: string;
  tfjsVersion: string;
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  hostname: string;
  backend?: string;
}

/** Final figures of a run (null where not reached or not applicable). */
export interface RunResult {
  steps: number;
  seen: number;
  finalTrainLoss: number | null;
  finalValLoss: number | null;
  finalValAcc: number | null;
  bestValLoss: number | null;
  stepsToTarget: number | null;
  wallMsToTarget: number | null;
  wallMs: number;
  /** Each diagnostics column over the run's rows: mean, last and largest finite value. */
  diagnostics?: Record<string, { mean: number; last: number; max: number }>;
}

/** The JSON record of a run (`<id>.json`). */
export interface RunRecord extends RunSpec {
  experiment: string;
  status: RunStatus;
  /** Last step whose results are on disk (0 before training). */
  step: number;
  env?: RunEnvironment;
  result?: RunResult;
  divergedAt?: number;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

/** The columns of every curve CSV, in order; the second is `tokens` for text and `samples` for images. */
export const CURVE_COLUMNS = ['step', 'tokens', 'train_loss', 'val_loss', 'val_acc', 'lr_scale', 'grad_norm', 'update_rms', 'wall_ms'] as const;

/** One row of a curve; empty fields are null. */
export interface CurveRow {
  step: number;
  seen: number;
  train_loss: number | null;
  val_loss: number | null;
  val_acc: number | null;
  lr_scale: number;
  grad_norm: number | null;
  update_rms: number | null;
  wall_ms: number;
  /** Diagnostics columns (`<route>/<metric>`) of the row; absent when diagnostics are off. */
  diag?: Record<string, number | null>;
}

/** Paths of a run's files. */
export function runPaths(dir: string, id: string) {
  return { json: join(dir, `${id}.json`), csv: join(dir, `${id}.csv`), ckpt: join(dir, 'checkpoints', `${id}.ckpt`), log: join(dir, 'logs', `${id}.log`) };
}

/** Writes a file atomically: a temporary file in the same folder, fsync, then rename over the target. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Reads a run record. */
export function readRecord(path: string): RunRecord {
  return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
}

/** Writes a run record atomically. */
export function writeRecord(path: string, r: RunRecord): void {
  writeAtomic(path, JSON.stringify(r, null, 1) + '\n');
}

/** Writes a fresh `pending` record for a run and removes any files an earlier run of the same id left. */
export function initRun(dir: string, spec: RunSpec, experiment: string, env: RunEnvironment = environment()): RunRecord {
  const p = runPaths(dir, spec.id);
  for (const f of [p.csv, p.ckpt, p.log]) rmSync(f, { force: true });
  const rec: RunRecord = { ...spec, experiment, status: 'pending', step: 0, env };
  writeRecord(p.json, rec);
  return rec;
}

/** Parses a curve CSV written by the runner. */
export function readCurve(path: string): CurveRow[] {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return [];
  const header = lines[0].split(',');
  const idx = (c: string) => header.indexOf(c);
  const seenCol = idx('tokens') >= 0 ? idx('tokens') : idx('samples');
  const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));
  const fixed = new Set<string>([...CURVE_COLUMNS, 'samples']);
  const extra = header.map((c, i) => [c, i] as const).filter(([c]) => !fixed.has(c));
  return lines.slice(1).map((l) => {
    const f = l.split(',');
    return {
      ...(extra.length ? { diag: Object.fromEntries(extra.map(([c, i]) => [c, num(f[i])])) } : {}),
      step: Number(f[idx('step')]),
      seen: Number(f[seenCol]),
      train_loss: num(f[idx('train_loss')]),
      val_loss: num(f[idx('val_loss')]),
      val_acc: num(f[idx('val_acc')]),
      lr_scale: Number(f[idx('lr_scale')]),
      grad_norm: num(f[idx('grad_norm')]),
      update_rms: num(f[idx('update_rms')]),
      wall_ms: Number(f[idx('wall_ms')]),
    };
  });
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** The code and machine of this process (git commit of the package folder, versions, CPU). */
export function environment(): RunEnvironment {
  const root = packageRoot();
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const commit = git(['rev-parse', 'HEAD']);
  const dirty = commit === null ? null : (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '';
  let version = 'unknown';
  try {
    version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  } catch {
    /* a missing package.json leaves the version unknown */
  }
  const cpus = os.cpus();
  return {
    gitCommit: commit,
    gitDirty: dirty,
    optlabVersion: version,
    tfjsVersion: tf.version_core,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    hostname: os.hostname(),
  };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: a little-endian uint32 header length, a JSON header, then float32/int32 tensor data.

interface CheckpointHeader {
  version: 1;
  id: string;
  hash: string;
  step: number;
  wallMs: number;
  lossSum: number;
  lossCount: number;
  rng: number[][];
  tensors: { key: string; shape: number[]; dtype: 'float32' | 'int32'; offset: number; length: number }[];
}

/** What a checkpoint holds besides tensors. */
export type CheckpointMeta = Omit<CheckpointHeader, 'version' | 'tensors'>;

/** Saves named tensors and metadata atomically. */
export async function saveCheckpoint(path: string, meta: CheckpointMeta, tensors: Map<string, tf.Tensor>): Promise<void> {
  const parts: Uint8Array[] = [];
  const entries: CheckpointHeader['tensors'] = [];
  let offset = 0;
  for (const [key, t] of tensors) {
    const data = await t.data();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
    const copy = dtype === t.dtype ? bytes : new Uint8Array(Float32Array.from(data as ArrayLike<number>).buffer);
    entries.push({ key, shape: t.shape, dtype, offset, length: copy.byteLength });
    parts.push(copy);
    offset += copy.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ version: 1, ...meta, tensors: entries } satisfies CheckpointHeader));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  writeAtomic(path, Buffer.concat([len, header, ...parts]));
}

/** Reads a checkpoint's metadata (step, accumulators) without creating tensors. */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const buf = readFileSync(path);
  const n = buf.readUInt32LE(0);
  const { version: _v, tensors: _t, ...meta } = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as CheckpointHeader;
  return meta;
}

/** Loads a checkpoint; the caller disposes the tensors. */
export function loadCheckpoint(path: string): { meta: CheckpointMeta; tensors: Map<string, tf.Tensor> } {
  const buf = readFileSync(path);
  const n = buf.readUInt32LE(0);
  const header = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as CheckpointHeader;
  if (header.version !== 1) throw new Error(`${path}: checkpoint version ${header.version} is not supported`);
  const base = 4 + n;
  const tensors = new Map<string, tf.Tensor>();
  for (const e of header.tensors) {
    const raw = buf.subarray(base + e.offset, base + e.offset + e.length);
    const copy = new Uint8Array(raw); // aligned copy
    const values = e.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
    tensors.set(e.key, tf.tensor(values, e.shape, e.dtype));
  }
  const { version: _v, tensors: _t, ...meta } = header;
  return { meta, tensors };
}

// ---------------------------------------------------------------------------------------------

/** Options of `trainRun`. */
export interface TrainOptions {
  /** Results folder holding `<id>.json`. */
  dir: string;
  /** Called on each curve row (for progress bars). */
  onRow?: (row: CurveRow, rec: RunRecord) => void;
  /** Returns true when the run should checkpoint and stop (Ctrl-C). */
  shouldStop?: () => boolean;
  /** Stop (as if interrupted) after this step; for tests of resume. */
  stopAfter?: number;
  /** Backend label for the record (default: the active tfjs backend's name). */
  backendLabel?: string;
}

const finite = (x: number | null) => x !== null && Number.isFinite(x);

/**
 * Trains the run recorded in `<dir>/<id>.json`, resuming from its checkpoint when there is one.
 * The backend must already be selected. Returns the final record.
 */
export async function trainRun(id: string, opts: TrainOptions): Promise<RunRecord> {
  const paths = runPaths(opts.dir, id);
  const rec = readRecord(paths.json);
  const cfg = rec.config;
  const t = cfg.training;
  const task = createTask(cfg, rec.seed, t.batchSize, t.evalBatches);
  const params = task.model.params;
  let opt: Optimizer | undefined;
  let prevParams: Map<string, tf.Tensor> | null = null;
  let lossAcc: tf.Scalar = tf.scalar(0);
  try {
    opt = buildOptimizer(params, getOptimizerFactory(cfg.optimizer.name)(cfg.optimizer.options), { clipNorm: t.clipNorm });
    const schedule = makeSchedule(cfg.schedule);
    const exact = opt.needsPreviousGrads;
    const diagOn = rec.diagnostics !== false;
    const diagKeys = diagOn ? [...opt.diagnosticKeys(), ...(task.model.diagnosticKeys?.() ?? [])] : [];

    // Resume or start fresh.
    let step = 0;
    let wallMs = 0;
    let lossCount = 0;
    let resumed = false;
    const rows: CurveRow[] = [];
    if (existsSync(paths.ckpt)) {
      const { meta, tensors } = loadCheckpoint(paths.ckpt);
      if (meta.hash !== rec.hash) throw new Error(`${paths.ckpt} belongs to config ${meta.hash}, not ${rec.hash}`);
      for (const p of params) {
        const v = tensors.get(`param/${p.name}`);
        if (!v) throw new Error(`${paths.ckpt} lacks parameter '${p.name}'`);
        p.variable.assign(v);
      }
      const optState = new Map([...tensors].filter(([k]) => k.startsWith('opt/')).map(([k, v]) => [k.slice(4), v]));
      opt.load(optState);
      if (exact && meta.step > 0) {
        prevParams = new Map(params.map((p) => [p.name, tf.keep(tensors.get(`prev/${p.name}`)!.clone())]));
      }
      tf.dispose([...tensors.values()]);
      lossAcc.dispose();
      lossAcc = tf.scalar(meta.lossSum);
      lossCount = meta.lossCount;
      task.setRngState(meta.rng);
      for (let i = 0; i < meta.step; i++) {
        const b = task.nextBatch();
        tf.dispose([b.x, b.y]);
      }
      step = meta.step;
      wallMs = meta.wallMs;
      resumed = true;
      // Rows after the checkpoint were written by the interrupted process and will be written again.
      const kept = existsSync(paths.csv) ? readCurve(paths.csv).filter((r) => r.step <= step) : [];
      rows.push(...kept);
      writeCurve(paths.csv, task.unit, kept, diagKeys);
    }
    const csv = createObjectCsvWriter({
      path: paths.csv,
      header: [...CURVE_COLUMNS.map((c) => ({ id: c === 'tokens' ? 'seen' : c, title: c === 'tokens' ? task.unit : c })), ...diagKeys.map((k) => ({ id: k, title: k }))],
      append: resumed,
    });
    rec.status = 'running';
    rec.startedAt ??= new Date().toISOString();
    rec.env = { ...(rec.env ?? environment()), backend: opts.backendLabel ?? tf.getBackend() };
    writeRecord(paths.json, rec);

    const writeRow = async (row: CurveRow) => {
      rows.push(row);
      await csv.writeRecords([{ ...row, ...row.diag }]);
      opts.onRow?.(row, rec);
    };
    const checkpoint = async () => {
      const tensors = opt!.state();
      const all = new Map<string, tf.Tensor>();
      for (const p of params) all.set(`param/${p.name}`, p.variable);
      for (const [k, v] of tensors) all.set(`opt/${k}`, v);
      if (prevParams) for (const [k, v] of prevParams) all.set(`prev/${k}`, v);
      const lossSum = (await lossAcc.data())[0];
      await saveCheckpoint(paths.ckpt, { id, hash: rec.hash, step, wallMs, lossSum, lossCount, rng: task.rngState() }, all);
      tf.dispose([...tensors.values()]);
    };

    if (!resumed) {
      const ev = evaluate(task.model, task.evalBatches);
      await writeRow({ step: 0, seen: 0, train_loss: null, val_loss: ev.loss, val_acc: ev.accuracy ?? null, lr_scale: schedule(1), grad_norm: null, update_rms: null, wall_ms: 0 });
    }

    let diverged = false;
    let stopped = false;
    while (step < t.steps) {
      if (opts.shouldStop?.() || (opts.stopAfter !== undefined && step >= opts.stopAfter)) {
        stopped = true;
        break;
      }
      const s = step + 1;
      const logNow = s % t.logEvery === 0 || s === t.steps;
      const lrScale = schedule(s);
      const t0 = performance.now();
      const batch = task.nextBatch();
      // The model's diagnostics (the GPT's largest attention logit) come from this training forward pass.
      const modelDiag: Record<string, tf.Scalar> = {};
      const record = diagOn && logNow ? (k: string, v: tf.Scalar) => (modelDiag[k] = tf.keep(v)) : undefined;
      const { loss, grads } = lossAndGrads(task.model, batch, { training: true, ...(record ? { record } : {}) });
      let previousGrads: Map<string, tf.Tensor> | undefined;
      if (exact && prevParams) {
        // MARS exact mode: the gradient at the previous step's weights on this batch.
        const current = params.map((p) => p.variable.clone());
        for (const p of params) p.variable.assign(prevParams.get(p.name)!);
        const second = lossAndGrads(task.model, batch, { training: true });
        second.loss.dispose();
        previousGrads = second.grads;
        params.forEach((p, i) => p.variable.assign(current[i]));
        tf.dispose(current);
      }
      tf.dispose([batch.x, batch.y]);
      const gradNorm = logNow ? globalNorm(grads.values()) : null;
      const before = logNow ? params.map((p) => p.variable.clone()) : null;
      if (exact) {
        if (prevParams) tf.dispose([...prevParams.values()]);
        prevParams = new Map(params.map((p) => [p.name, p.variable.clone()]));
      }
      opt.step(grads, { lrScale, previousGrads, diagnose: diagOn && logNow });
      const optDiag = diagOn && logNow ? opt.diagnostics() : undefined;
      tf.dispose([...grads.values()]);
      if (previousGrads) tf.dispose([...previousGrads.values()]);
      const nextAcc = tf.add(lossAcc, loss) as tf.Scalar;
      lossAcc.dispose();
      loss.dispose();
      lossAcc = nextAcc;
      lossCount += 1;
      const updateRms = before
        ? tf.tidy(() => {
            const n = params.reduce((a, p) => a + p.variable.size, 0);
            const sq = params.map((p, i) => tf.sum(tf.square(tf.sub(p.variable, before[i]))));
            return tf.sqrt(tf.div(tf.addN(sq), n)) as tf.Scalar;
          })
        : null;
      if (before) tf.dispose(before);
      step = s;
      if (logNow) {
        const modelKeys = Object.keys(modelDiag);
        const [lossSum, gn, ur, ...md] = await Promise.all([lossAcc.data(), gradNorm!.data(), updateRms!.data(), ...modelKeys.map((k) => modelDiag![k].data())]);
        tf.dispose([gradNorm!, updateRms!, ...Object.values(modelDiag)]);
        const diag = diagOn ? Object.fromEntries(diagKeys.map((k) => [k, optDiag?.[k] ?? null])) : undefined;
        modelKeys.forEach((k, i) => diag && (diag[k] = md[i][0]));
        wallMs += performance.now() - t0;
        const trainLoss = lossSum[0] / lossCount;
        lossAcc.dispose();
        lossAcc = tf.scalar(0);
        lossCount = 0;
        let valLoss: number | null = null;
        let valAcc: number | null = null;
        if (Number.isFinite(trainLoss) && (s % t.evalEvery === 0 || s === t.steps)) {
          const ev = evaluate(task.model, task.evalBatches);
          valLoss = ev.loss;
          valAcc = ev.accuracy ?? null;
        }
        await writeRow({ step: s, seen: s * task.unitsPerStep, train_loss: trainLoss, val_loss: valLoss, val_acc: valAcc, lr_scale: lrScale, grad_norm: gn[0], update_rms: ur[0], wall_ms: Math.round(wallMs), ...(diag ? { diag } : {}) });
        if (!Number.isFinite(trainLoss) || (valLoss !== null && !Number.isFinite(valLoss))) {
          diverged = true;
          break;
        }
      } else {
        wallMs += performance.now() - t0;
      }
      if (rec.checkpointEvery > 0 && s % rec.checkpointEvery === 0 && s < t.steps) await checkpoint();
      // Lets signal handlers run between steps.
      await new Promise((r) => setImmediate(r));
    }

    rec.step = step;
    if (diverged) {
      rec.status = 'diverged';
      rec.divergedAt = step;
    } else if (stopped) {
      await checkpoint();
      rec.status = 'interrupted';
    } else {
      await checkpoint();
      rec.status = 'finished';
    }
    rec.result = summarizeCurve(rows, rec.targetValLoss, wallMs);
    if (rec.status !== 'interrupted') rec.finishedAt = new Date().toISOString();
    writeRecord(paths.json, rec);
    return rec;
  } finally {
    opt?.dispose();
    lossAcc.dispose();
    if (prevParams) tf.dispose([...prevParams.values()]);
    task.dispose();
  }
}

/** Rewrites a curve CSV with the given rows (header included), atomically. */
function writeCurve(path: string, unit: Task['unit'], rows: CurveRow[], diagKeys: readonly string[] = []): void {
  const cell = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  const lines = [[...CURVE_COLUMNS.map((c) => (c === 'tokens' ? unit : c)), ...diagKeys].join(',')];
  for (const r of rows) lines.push([r.step, r.seen, r.train_loss, r.val_loss, r.val_acc, r.lr_scale, r.grad_norm, r.update_rms, r.wall_ms, ...diagKeys.map((k) => r.diag?.[k])].map(cell).join(','));
  writeAtomic(path, lines.join('\n') + '\n');
}

/** Final, best and time-to-target figures of a curve. */
export function summarizeCurve(rows: readonly CurveRow[], target: number | undefined, wallMs?: number): RunResult {
  const evals = rows.filter((r) => r.val_loss !== null);
  const trains = rows.filter((r) => r.train_loss !== null);
  const last = evals.at(-1);
  const finiteVals = evals.map((r) => r.val_loss!).filter((v) => Number.isFinite(v));
  const hit = target === undefined ? undefined : evals.find((r) => finite(r.val_loss) && r.val_loss! <= target);
  const lastRow = rows.at(-1);
  return {
    steps: lastRow?.step ?? 0,
    seen: lastRow?.seen ?? 0,
    finalTrainLoss: trains.at(-1)?.train_loss ?? null,
    finalValLoss: last?.val_loss ?? null,
    finalValAcc: last?.val_acc ?? null,
    bestValLoss: finiteVals.length ? Math.min(...finiteVals) : null,
    stepsToTarget: hit ? hit.step : null,
    wallMsToTarget: hit ? hit.wall_ms : null,
    wallMs: Math.round(wallMs ?? lastRow?.wall_ms ?? 0),
    ...(rows.some((r) => r.diag) ? { diagnostics: summarizeDiagnostics(rows) } : {}),
  };
}

/** Mean, last and largest finite value of every diagnostics column. */
function summarizeDiagnostics(rows: readonly CurveRow[]): Record<string, { mean: number; last: number; max: number }> {
  const out: Record<string, { mean: number; last: number; max: number }> = {};
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.diag ?? {})))];
  for (const k of keys) {
    const xs = rows.map((r) => r.diag?.[k]).filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
    if (xs.length) out[k] = { mean: xs.reduce((a, b) => a + b, 0) / xs.length, last: xs[xs.length - 1], max: Math.max(...xs) };
  }
  return out;
}

/** Messages a child sends its sweep over IPC. */
export type ChildMessage = { type: 'row'; id: string; row: CurveRow; steps: number } | { type: 'done'; id: string; status: RunStatus };

/** Child-process entry: `runner.js <dir> <id> [--backend NAME]`. Exit 0 finished/diverged, 130 interrupted, 1 failed. */
async function childMain(argv: string[]): Promise<void> {
  const [dir, id] = argv;
  const bi = argv.indexOf('--backend');
  const backend = bi >= 0 ? argv[bi + 1] : undefined;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('disconnect', onSignal);
  const paths = runPaths(dir, id);
  const send = (m: ChildMessage) => {
    if (process.send && process.connected) process.send(m);
  };
  try {
    // Loaded here, not at the top: the sweep process imports this module and never picks a backend.
    const { selectBackend } = await import('./backend.js');
    const choice = await selectBackend(backend);
    const rec = await trainRun(id, {
      dir,
      backendLabel: choice.label,
      shouldStop: () => stop,
      onRow: (row, r) => {
        send({ type: 'row', id, row, steps: r.config.training.steps });
        if (!process.send) console.log(`${id} step ${row.step} train ${row.train_loss ?? ''} val ${row.val_loss ?? ''}`);
      },
    });
    send({ type: 'done', id, status: rec.status });
    process.exitCode = rec.status === 'interrupted' ? 130 : 0;
  } catch (e) {
    const msg = (e as Error).stack ?? String(e);
    console.error(msg);
    try {
      const rec = readRecord(paths.json);
      rec.status = 'failed';
      rec.error = (e as Error).message ?? String(e);
      writeRecord(paths.json, rec);
    } catch {
      /* the record itself is unreadable; the log has the error */
    }
    send({ type: 'done', id, status: 'failed' });
    process.exitCode = 1;
  }
  if (process.connected) process.disconnect();
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && (process.argv[1] === self || process.argv[1] === self.replace(/\.ts$/, '.js'))) {
  await childMain(process.argv.slice(2));
}
