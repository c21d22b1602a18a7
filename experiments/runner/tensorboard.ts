/**
 * TensorBoard event files of a run's curve (`optlab run --tensorboard [dir]`), written by tfjs-node's
 * `tf.node.summaryFileWriter` into `<dir>/<run id>/events.out.tfevents.*`, so `tensorboard --logdir <dir>`
 * shows one run per run id. Off by default; tfjs-node is loaded only when it is on.
 *
 * Tags are the curve CSV's column names (runner.ts): train_loss, val_loss, val_acc, lr_scale (the
 * schedule's multiplier on every learning rate), grad_norm, update_rms, wall_ms and every diagnostics
 * column (`<route>/<metric>`, `model/attn_logit_max`), at the CSV row's step; empty cells are not
 * written, NaN and infinite losses are. Events are flushed at every row with a validation loss and when
 * the run ends, however it ends (finished, diverged, interrupted, failed with an error).
 *
 * tfjs-node's writer works only while the tensorflow backend is active; a run on another backend
 * (wasm-native, wasm, cpu) with tfjs-node installed switches to it for the writes of a row and back.
 *
 * Warnings:
 * - No histograms: tfjs-node 4.22.0's `histogram()` throws "ConcatOp : Can't concatenate scalars" for
 *   any tensor whose values are all equal (a zero-initialized bias, a scalar), because its bucketing
 *   concatenates rank-0 tensors (nodejs_kernel_backend.js, `buckets`); pinned in
 *   test/experiments/runner/tensorboard.test.ts.
 * - A resumed run appends a second events file to its folder whose first steps repeat those after the
 *   checkpoint. A fresh run (not resumed) deletes the folder's earlier events files first.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadTfjsNode, type SummaryFileWriter } from '../../kernels/backend.js';

/** The scalars of one curve row: [tag, value] for every non-empty cell but the step and tokens/samples. */
export function rowScalars(row: {
  train_loss: number | null;
  val_loss: number | null;
  val_acc: number | null;
  lr_scale: number;
  grad_norm: number | null;
  update_rms: number | null;
  wall_ms: number;
  diag?: Record<string, number | null>;
}): [string, number][] {
  const cells: [string, number | null | undefined][] = [
    ['train_loss', row.train_loss],
    ['val_loss', row.val_loss],
    ['val_acc', row.val_acc],
    ['lr_scale', row.lr_scale],
    ['grad_norm', row.grad_norm],
    ['update_rms', row.update_rms],
    ['wall_ms', row.wall_ms],
    ...Object.entries(row.diag ?? {}),
  ];
  return cells.filter((c): c is [string, number] => c[1] !== null && c[1] !== undefined);
}

/** Folders this process has opened a writer on: tfjs-node keeps that writer (and its file) for the process's life. */
const opened = new Set<string>();

/** Scalar events of one run, through tfjs-node's summary writer. */
export class TensorboardWriter {
  private constructor(
    /** The run's folder of events files. */
    readonly logdir: string,
    /** The package that writes ('@tensorflow/tfjs-node' or '-gpu'). */
    readonly writerPackage: string,
    private readonly writer: SummaryFileWriter,
  ) {}

  /**
   * Opens the writer of folder `logdir` (created if missing). `fresh`: delete the folder's earlier
   * events files first (a run started over), unless this process already writes into it. Throws, with
   * what to install, when neither @tensorflow/tfjs-node nor @tensorflow/tfjs-node-gpu loads.
   */
  static async open(logdir: string, opts: { fresh?: boolean } = {}): Promise<TensorboardWriter> {
    const node = await loadTfjsNode();
    mkdirSync(logdir, { recursive: true });
    if (opts.fresh && !opened.has(logdir)) {
      for (const f of readdirSync(logdir)) if (f.startsWith('events.out.tfevents.')) rmSync(join(logdir, f));
    }
    opened.add(logdir);
    // maxQueue 10 and flushMillis 120 s are tfjs-node's defaults; rows with a validation loss and the end flush explicitly.
    const writer = await withTensorflowBackend(() => node.summaryFileWriter(logdir));
    return new TensorboardWriter(logdir, node.package, writer);
  }

  /** Appends the scalars of one curve row at its step; `flush` also writes them to the file. */
  async write(row: Parameters<typeof rowScalars>[0] & { step: number }, flush = false): Promise<void> {
    const scalars = rowScalars(row);
    await withTensorflowBackend(() => {
      for (const [tag, value] of scalars) this.writer.scalar(tag, value, row.step);
      if (flush) this.writer.flush();
    });
  }

  /** Writes buffered events to the file. */
  async flush(): Promise<void> {
    await withTensorflowBackend(() => this.writer.flush());
  }
}

/** Runs `fn` with the tensorflow backend active (tfjs-node's writer asserts it), then reactivates the backend active before. */
async function withTensorflowBackend<T>(fn: () => T): Promise<T> {
  const before = tf.getBackend();
  if (before !== 'tensorflow' && !(await tf.setBackend('tensorflow'))) throw new Error('TensorBoard: the tensorflow backend did not initialize');
  try {
    return fn();
  } finally {
    if (before !== 'tensorflow') await tf.setBackend(before);
  }
}
