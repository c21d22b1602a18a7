/**
 * Callbacks for tfjs-layers' `model.fit({callbacks})` that drive optlab's tf.Optimizer adapter
 * (optimizers/tfjs.ts) from optlab's learning-rate schedules (experiments/runner/schedule.ts).
 */
import { makeSchedule, type Schedule, type ScheduleConfig } from './schedule.js';

/** What the callback needs of the optimizer: its step count and the schedule factor it applies. */
export interface Schedulable {
  /** Steps taken so far (tf.Optimizer's `iterations`, restored by `setWeights`). */
  readonly iterations: number;
  /** Multiplier on the learning rate for the next steps. */
  lrScale: number;
}

/** What `model.fit({callbacks})` accepts as a custom callback. */
export interface FitCallback {
  onTrainBegin: () => Promise<void>;
  onBatchBegin: (batch: number) => Promise<void>;
}

/**
 * Sets `optimizer.lrScale = schedule(step)` before every batch, `step` being the optimizer's
 * 1-based number of the coming step (`iterations + 1`). So a model saved with its optimizer and
 * loaded elsewhere resumes the schedule where it stopped. The schedule is a function of the step or
 * an experiment file's schedule settings (`{kind: 'cosine', warmup: 100, total: 2000, floor: 0.1}`;
 * 'constant', 'cosine' = warmup-cosine, 'wsd', 'linear'), checked here. `learningRate` stays the
 * peak; the rate used is learningRate * lrScale.
 */
export function scheduleCallback(optimizer: Schedulable, schedule: Schedule | ScheduleConfig): FitCallback {
  if (optimizer == null || typeof optimizer.iterations !== 'number' || !('lrScale' in optimizer)) {
    throw new Error('scheduleCallback: the optimizer must be an optlab tf.Optimizer (it sets lrScale from iterations)');
  }
  const fn = typeof schedule === 'function' ? schedule : makeSchedule(schedule);
  const apply = async () => {
    const scale = fn(optimizer.iterations + 1);
    if (!Number.isFinite(scale) || scale < 0) throw new Error(`scheduleCallback: the schedule gave ${scale} at step ${optimizer.iterations + 1}; expected a finite number >= 0`);
    optimizer.lrScale = scale;
  };
  return { onTrainBegin: apply, onBatchBegin: apply };
}
