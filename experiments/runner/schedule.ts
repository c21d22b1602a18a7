/**
 * Learning-rate schedules as functions of the step (1-based) returning the multiplier `lrScale` on
 * every learning rate of an optimizer, as `get_lr` in nanoGPT's train.py. Peak is 1.
 */

/** A schedule: step (1-based) -> multiplier on the learning rates. */
export type Schedule = (step: number) => number;

/** Schedule settings as they appear in experiment files. */
export type ScheduleConfig =
  | { kind: 'constant'; warmup?: number }
  | { kind: 'cosine'; warmup?: number; total: number; floor?: number }
  | { kind: 'wsd'; warmup?: number; total: number; decay: number; floor?: number }
  | { kind: 'linear'; warmup?: number; total: number; floor?: number };

function warm(step: number, warmup: number): number | null {
  return warmup > 0 && step <= warmup ? step / warmup : null;
}

/** Constant 1 after an optional linear warmup. */
export function constant(warmup = 0): Schedule {
  return (step) => warm(step, warmup) ?? 1;
}

/**
 * Linear warmup to 1 over `warmup` steps, then cosine from 1 to `floor` at `total`, then `floor`
 * (nanoGPT: lr 1e-3 -> 1e-4 is floor 0.1).
 */
export function warmupCosine(opts: { warmup?: number; total: number; floor?: number }): Schedule {
  const { warmup = 0, total, floor = 0 } = opts;
  return (step) => {
    const w = warm(step, warmup);
    if (w !== null) return w;
    if (step >= total) return floor;
    const ratio = (step - warmup) / Math.max(1, total - warmup);
    return floor + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (1 - floor);
  };
}

/** Warmup-stable-decay: warmup, flat at 1, then linear to `floor` over the last `decay` steps. */
export function wsd(opts: { warmup?: number; total: number; decay: number; floor?: number }): Schedule {
  const { warmup = 0, total, decay, floor = 0 } = opts;
  return (step) => {
    const w = warm(step, warmup);
    if (w !== null) return w;
    const start = total - decay;
    if (step <= start) return 1;
    if (step >= total) return floor;
    return 1 - ((step - start) / decay) * (1 - floor);
  };
}

/** Warmup, then linear from 1 to `floor` at `total`. */
export function linearDecay(opts: { warmup?: number; total: number; floor?: number }): Schedule {
  const { warmup = 0, total, floor = 0 } = opts;
  return (step) => {
    const w = warm(step, warmup);
    if (w !== null) return w;
    if (step >= total) return floor;
    return 1 - ((step - warmup) / Math.max(1, total - warmup)) * (1 - floor);
  };
}

/** Builds a schedule from its config, checking the numbers make sense. */
export function makeSchedule(c: ScheduleConfig): Schedule {
  if (!['constant', 'cosine', 'wsd', 'linear'].includes(c.kind)) throw new Error(`unknown schedule kind '${c.kind}'; expected constant, cosine, wsd or linear`);
  const warmup = c.warmup ?? 0;
  if (!(warmup >= 0)) throw new Error(`schedule.warmup must be >= 0, got ${warmup}`);
  if (c.kind !== 'constant') {
    if (!(c.total > warmup)) throw new Error(`schedule.total (${c.total}) must exceed schedule.warmup (${warmup})`);
    if (c.floor !== undefined && !(c.floor >= 0 && c.floor <= 1)) throw new Error(`schedule.floor must be in [0, 1], got ${c.floor}`);
  }
  switch (c.kind) {
    case 'constant':
      return constant(warmup);
    case 'cosine':
      return warmupCosine(c);
    case 'wsd':
      if (!(c.decay > 0 && c.decay <= c.total - warmup)) throw new Error(`schedule.decay must be in (0, total - warmup], got ${c.decay}`);
      return wsd(c);
    case 'linear':
      return linearDecay(c);
    default:
      throw new Error(`unknown schedule kind '${(c as { kind: string }).kind}'; expected constant, cosine, wsd or linear`);
  }
}
