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

/** A schedule that does not fit: `key` is the schedule value that broke ('schedule.total'), `message` says how. */
export class ScheduleError extends Error {
  constructor(message: string, readonly key: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

/**
 * Checks a schedule, as written or as derived (a tuning horizon's compressed schedule), for a run of
 * `steps` steps when given: a known kind, warmup >= 0, total > warmup, floor in [0, 1], wsd's decay in
 * (0, total - warmup], total <= steps and (constant) warmup <= steps. Every place that derives a
 * schedule calls it on the result. `where` names the derivation ('compressed to tuning.steps 4 from
 * training.steps 12'); the message then says the values are derived. Throws ScheduleError naming the
 * value that broke.
 */
export function checkSchedule(c: ScheduleConfig, steps?: number, where?: string): void {
  const name = (k: string) => `${where ? 'derived ' : ''}schedule.${k}`;
  const fail = (k: string, what: string): never => {
    throw new ScheduleError(`${where ? `the schedule ${where}: ` : ''}${what}`, `schedule.${k}`);
  };
  if (!['constant', 'cosine', 'wsd', 'linear'].includes(c.kind)) fail('kind', `unknown schedule kind '${c.kind}'; expected constant, cosine, wsd or linear`);
  const warmup = c.warmup ?? 0;
  if (!(Number.isInteger(warmup) && warmup >= 0)) fail('warmup', `${name('warmup')} must be an integer >= 0, got ${warmup}`);
  if (c.kind === 'constant') {
    if (steps !== undefined && warmup > steps) fail('warmup', `${name('warmup')} (${warmup}) exceeds the run's ${steps} steps: the learning rate would never reach its peak`);
    return;
  }
  if (!(c.total > warmup)) fail('total', `${name('total')} (${c.total}) must exceed ${name('warmup')} (${warmup})`);
  if (steps !== undefined && c.total > steps) fail('total', `${name('total')} (${c.total}) exceeds the run's ${steps} steps`);
  if (c.floor !== undefined && !(c.floor >= 0 && c.floor <= 1)) fail('floor', `${name('floor')} must be in [0, 1], got ${c.floor}`);
  if (c.kind === 'wsd' && !(c.decay > 0 && c.decay <= c.total - warmup)) fail('decay', `${name('decay')} (${c.decay}) must be in (0, total - warmup] = (0, ${c.total - warmup}]`);
}

/** Schedule settings as written, before training.steps fills in an unset total. */
export type ScheduleSettings = { kind: ScheduleConfig['kind']; warmup?: number; total?: number; decay?: number; floor?: number };

/**
 * The schedule of a run of `steps` steps from one written for `fullSteps` (a tuning horizon shorter
 * than training.steps): warmup, total (training.steps when unset) and decay scale by steps / fullSteps,
 * rounded, total and decay at least 1. The same schedule (total filled in) when steps = fullSteps.
 * Callers check the result with `checkSchedule`.
 */
export function compressSchedule(s: ScheduleSettings, fullSteps: number, steps: number): ScheduleConfig {
  const f = steps / fullSteps;
  const scaled = (x: number | undefined) => (x === undefined ? undefined : Math.max(f === 1 ? x : Math.round(x * f), 0));
  const c = s;
  const out = (c.kind === 'constant'
    ? { ...c, warmup: scaled(c.warmup) }
    : { ...c, warmup: scaled(c.warmup), total: Math.max(scaled(c.total ?? fullSteps)!, 1), ...('decay' in c ? { decay: Math.max(scaled(c.decay)!, 1) } : {}) }) as ScheduleConfig;
  if (out.warmup === undefined) delete (out as { warmup?: number }).warmup;
  return out;
}

/** Builds a schedule from its config, checking the numbers make sense (checkSchedule). */
export function makeSchedule(c: ScheduleConfig): Schedule {
  checkSchedule(c);
  const warmup = c.warmup ?? 0;
  switch (c.kind) {
    case 'constant':
      return constant(warmup);
    case 'cosine':
      return warmupCosine(c);
    case 'wsd':
      return wsd(c);
    case 'linear':
      return linearDecay(c);
    default:
      throw new Error(`unknown schedule kind '${(c as { kind: string }).kind}'; expected constant, cosine, wsd or linear`);
  }
}
