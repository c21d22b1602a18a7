/**
 * The experiment file: one zod schema for model, data, training, schedule, seeds, target and the
 * optimizer grid, YAML loading, `--set key=value` overrides, and the expansion into runs.
 *
 * A bad file fails here, before any training, with the key path and what was expected
 * (`training.stpes: unknown key (did you mean 'steps'?)`). Overrides follow nanoGPT's
 * configurator.py minus its `exec`: the value is parsed as YAML and the result must pass the same
 * schema, so unknown keys and changed types throw.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve, resolve as resolvePath } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { OPTIMIZERS, type OptimizerFactory } from '../../optimizers/index.js';
import { domainViolation, type Domain } from '../../optimizers/domains.js';
import type { BackendName } from '../../kernels/backend.js';
import { checkSchedule, compressSchedule, ScheduleError, type ScheduleConfig } from './schedule.js';
import { DATA_KINDS, MODEL_KINDS, modelDefaults } from './tasks.js';

/** A configuration mistake, with the key path it concerns ('' for the whole file). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly path = '',
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

const posInt = z.number().int().positive();

/** Backend names (as kernels/backend.ts's BACKENDS, repeated so loading a config does not load the backends). */
const BACKEND_NAMES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'wasm-native', 'wasm-plain', 'cpu'] as const satisfies readonly BackendName[];

const TrainingSchema = z.strictObject({
  /** Optimizer steps per run. */
  steps: posInt.describe('Optimizer steps per run.'),
  /** Sequences (token models) or images per step. */
  batchSize: posInt.describe('Sequences (token models) or images per step.'),
  /** A CSV row (train loss averaged since the previous row, gradient norm, update RMS) every this many steps. */
  logEvery: posInt.default(10).describe('A CSV row (train loss averaged since the previous row, gradient norm, update RMS) every this many steps.'),
  /** Validation on the fixed evaluation batches every this many steps (a multiple of logEvery) and at the end. */
  evalEvery: posInt.default(100).describe('Validation on the fixed evaluation batches every this many steps (a multiple of logEvery) and at the end.'),
  /** Number of fixed evaluation batches. */
  evalBatches: posInt.default(10).describe('Number of fixed evaluation batches.'),
  /** Global-norm gradient clipping threshold (0: off). */
  clipNorm: z.number().nonnegative().default(0).describe('Global-norm gradient clipping threshold (0: off).'),
  /** Checkpoint every this many steps (0: only on exit); does not change results, so not part of the run id. */
  checkpointEvery: z.number().int().nonnegative().default(100).describe('Checkpoint every this many steps (0: only on exit); not part of the run id.'),
  /** Characters a finished language model generates into its record and the report (0: none); does not change results, so not part of the run id. */
  sampleChars: z.number().int().nonnegative().default(300).describe('Characters a finished language model generates into its record and the report (0: none); not part of the run id.'),
  /**
   * Keep a finished run's last checkpoint (weights and optimizer state) in the results folder. False
   * deletes it when the run finishes, which keeps a folder of many runs small; a run another
   * experiment starts from (`init.from`) needs it. Does not change results, so not part of the run id.
   */
  keepCheckpoints: z.boolean().default(true).describe("Keep a finished run's last checkpoint in the results folder (false deletes it; a run another experiment starts from with init.from needs it); not part of the run id."),
});

const warmup = z.number().int().nonnegative().optional().describe('Steps of linear warmup from 0 to the peak learning rate.');
const total = posInt.optional().describe('Steps the decay spans (default training.steps).');
const floor = z.number().min(0).max(1).optional().describe('Final learning-rate multiplier, in [0, 1] (default 0).');
const ScheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant').describe('Constant after the warmup.'), warmup }),
  z.strictObject({ kind: z.literal('cosine').describe('Cosine decay from the peak to floor over total steps.'), warmup, total, floor }),
  z.strictObject({ kind: z.literal('wsd').describe('Warmup-stable-decay: constant, then a linear decay over the last decay steps.'), warmup, total, floor, decay: posInt.describe('Steps of the final decay (wsd).') }),
  z.strictObject({ kind: z.literal('linear').describe('Linear decay from the peak to floor over total steps.'), warmup, total, floor }),
]);

/** A searched hyperparameter: a list of values, or a range (log scale by default for learning rates). */
const SearchRangeSchema = z.strictObject({
  low: z.number().describe('Lower end of the range.'),
  high: z.number().describe('Upper end of the range.'),
  /** 'log' (default for keys ending in lr/Lr) or 'linear' (default otherwise). */
  scale: z.enum(['log', 'linear']).optional().describe("'log' (default for keys ending in lr or Lr) or 'linear' (default otherwise)."),
  /** Round sampled values to integers. */
  integer: z.boolean().optional().describe('Round sampled values to integers.'),
});

/** Equal-budget tuning of every optimizer before the final runs (experiments/sweep/tuning.ts). */
const TuningSchema = z.strictObject({
  /** 'grid', 'quasi-random' (Halton) or 'coordinate-descent'. */
  method: z.enum(['grid', 'quasi-random', 'coordinate-descent']).default('quasi-random').describe("Search method: 'grid', 'quasi-random' (Halton) or 'coordinate-descent'."),
  /** Trials per optimizer: the same budget for every one. */
  trials: posInt.describe('Trials per optimizer: the same budget for every one (bracketing extensions count in it).'),
  /**
   * Steps of a tuning trial (default training.steps: the full horizon with the full schedule, as
   * AlgoPerf). A shorter horizon compresses the schedule to it; the best `rerunTop` trials are then
   * rerun at the full horizon before anything is selected (docs/protocol.md).
   */
  horizon: posInt.optional().describe('Steps of a tuning trial (default training.steps: the full horizon and schedule). A shorter horizon compresses the schedule; the best rerunTop trials are then rerun at the full horizon before selection (docs/protocol.md).'),
  /** The older name of `horizon` (one of the two at most). */
  steps: posInt.optional().describe('The older name of horizon (give one of the two at most).'),
  /** Trials rerun at the full horizon when `horizon` < training.steps; the selection is the best of these. */
  rerunTop: posInt.default(2).describe('Trials rerun at the full horizon when horizon < training.steps; the selection is the best of these.'),
  /** Tuning seeds, or a count n meaning 1000..1000+n-1 (kept apart from the final seeds); 2 by default, fewer is flagged in the report. */
  seeds: z.union([z.array(z.number().int().nonnegative()).min(1), posInt]).default(2).describe('Tuning seeds, or a count n meaning 1000..1000+n-1 (kept apart from the final seeds); fewer than 2 is flagged in the report.'),
  /** Coordinate descent: values per range axis. */
  points: z.number().int().min(2).default(5).describe('Coordinate descent: values per range axis.'),
  /**
   * Bracketing: while the best trial sits at the smallest or largest value tried of a range, one more
   * trial steps `factor` beyond that edge (log ranges: times or divided by factor; linear ranges: a
   * step of (high - low) / 4, x (factor - 1)), until the best is interior, an extension diverges
   * or the method rejects the value, or `maxExtensions` extension trials were run (per optimizer;
   * they count in its trials).
   */
  bracket: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Extend a range while the best trial sits at its edge.'),
      maxExtensions: z.number().int().nonnegative().default(4).describe('Most extension trials per optimizer (they count in its trials).'),
      factor: z.number().gt(1).default(2).describe('How far each extension steps beyond the edge (log ranges: times or divided by factor).'),
    })
    .prefault({})
    .describe('Bracketing: while the best trial sits at the smallest or largest value tried of a range, one more trial steps beyond that edge, until the best is interior, an extension diverges or is rejected, or maxExtensions is reached; a selection still at an edge is flagged (docs/protocol.md).'),
  /**
   * The tuning protocol: 2 (this one: ends of ranges tried, bracketing, full-horizon selection);
   * 1 is what results recorded before it used (Halton from index 1, no bracketing, selection at the
   * tuning horizon); a stored experiment without the key plans as 1, so its results stay complete.
   */
  protocol: z.union([z.literal(1), z.literal(2)]).default(2).describe('2: range ends tried, bracketing, full-horizon selection (docs/protocol.md); 1: the protocol of results recorded before it (a stored experiment without the key plans as 1).'),
});

const OptimizerEntrySchema = z
  .object({
    /** Registry name ('adamw', 'mars-m', ...). */
    name: z.string().describe("Registry name of the method ('adamw', 'mars-m', ..., or a plugin's); `optlab list` shows each one's options, which the entry sets as further keys (a list of values is a grid)."),
    /** Display name in plots and tables; defaults to the registry name. */
    label: z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'letters, digits and _ . + - only').optional().describe('Display name in plots and tables (default: the registry name).'),
    /**
     * Label of another entry of a tuned experiment whose selected setting this entry's final runs use
     * (plus this entry's own fixed options); the entry gets no trials of its own, as MARS-M reuses
     * Muon's tuned settings (arXiv 2510.21800). Excludes `search`.
     */
    settingsFrom: z.string().optional().describe("Label of another entry of a tuned experiment whose selected setting this entry's final runs use (excludes search)."),
  })
  .catchall(z.unknown());

/**
 * Initial weights of every run from a checkpoint instead of the model's random initialization
 * (fine-tuning): `from`, the results folder of another experiment, picks its finished run of entry
 * `optimizer` (default: its only entry) with seed `seed` ('same': the run's own seed, so seed s
 * fine-tunes the model pretrained with seed s); or `checkpoint`, a checkpoint file. Parameter names
 * and shapes must match; the optimizer state starts fresh. Paths are relative to the working folder.
 */
const InitSchema = z.union([
  z.strictObject({
    from: z.string().min(1).describe('Results folder of another experiment whose finished run supplies the initial weights.'),
    optimizer: z.string().optional().describe('Entry label in that folder (default: its only entry).'),
    seed: z.union([z.literal('same'), z.number().int().nonnegative()]).default('same').describe("Seed of the run there: 'same' (the run's own seed) or a seed."),
  }),
  z.strictObject({ checkpoint: z.string().min(1).describe('A checkpoint file whose parameters are the initial weights.') }),
]);

/** Absolute paths of the plugin files loaded in this process (experiments/runner/plugins.ts adds them). */
export const LOADED_PLUGINS = new Set<string>();

/** Schema of an experiment file (options of models and optimizers are checked against their defaults). */
export const ExperimentSchema = z.strictObject({
  /** Results go to results/<name>/ unless --out says otherwise. */
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits and _ . - only').describe('Results go to results/<name>/ unless --out says otherwise.'),
  description: z.string().optional().describe('Free text, shown in the report.'),
  /**
   * Modules (.ts, .mjs or .js; paths relative to this file) exporting any of `optimizers`, `models`,
   * `data` and `metrics`: records from name to definition, loaded in every process of the sweep before
   * this file is checked (experiments/runner/plugins.ts). Their names join the built-ins'.
   */
  plugins: z.array(z.string().min(1)).optional().describe("Plugin modules (.ts, .mjs or .js; relative to this file) exporting optimizers, models, data and metrics of one's own, loaded in every process of the sweep."),
  model: z.object({ kind: z.string().describe("Model kind: a built-in or a plugin's.") }).catchall(z.unknown()).describe("The model: kind (gpt, vit, or a plugin's) and its options (see Model kinds)."),
  data: z.object({ kind: z.string().describe("Data kind: a built-in or a plugin's.") }).catchall(z.unknown()).describe("The data: kind (shakespeare, text, mnist, fashion-mnist, or a plugin's) and its options (see Data kinds)."),
  training: TrainingSchema.describe('How each run trains.'),
  schedule: ScheduleSchema.default({ kind: 'constant' }).describe('Learning-rate schedule, a multiplier on every learning rate of the method.'),
  /** Seeds, or a count n meaning 0..n-1. */
  seeds: z.union([z.array(z.number().int().nonnegative()).min(1), posInt]).default([0]).describe('Seeds, or a count n meaning 0..n-1.'),
  /**
   * Optional target: steps and wall time to reach this validation loss (`valLoss`, reached at or
   * below) or validation accuracy (`valAcc`, at or above; in the direction of `metric.goal` when
   * the target is on the deciding metric) are reported. Exactly one of the two. A target on another
   * metric than `metric.name` is allowed; the report names the target's metric (targetOf).
   */
  target: z
    .strictObject({
      valLoss: z.number().positive().optional().describe('The validation loss to reach (at or below).'),
      valAcc: z.number().gt(0).max(1).optional().describe('The validation accuracy to reach (at or above), in (0, 1].'),
    })
    .superRefine((t, ctx) => {
      const n = (t.valLoss !== undefined ? 1 : 0) + (t.valAcc !== undefined ? 1 : 0);
      if (n !== 1) ctx.addIssue({ code: 'custom', message: n ? 'give one of valLoss and valAcc, not both' : 'give valLoss or valAcc' });
    })
    .optional()
    .describe('A validation loss ({ valLoss }) or accuracy ({ valAcc }) whose steps and wall time to reach are reported; exactly one (docs/protocol.md).'),
  /** Per-route update diagnostics and model diagnostics as CSV columns at every log row (optimizers/diagnostics.ts). */
  diagnostics: z.boolean().default(true).describe('Per-route update diagnostics and model diagnostics as CSV columns at every log row.'),
  /** Label of the optimizer every other one is compared with (verdicts, speed-ups); default 'adamw' when present. */
  baseline: z.string().optional().describe("Label of the optimizer every other one is compared with (default 'adamw' when present)."),
  /**
   * The metric that decides (docs/protocol.md): tuning scores, verdicts, power and equivalence use the
   * final value of `name` on the validation batches; `goal` defaults to min for val_loss and max for
   * val_acc. Speed-ups are on it too (the baseline's mean curve of `name`); `target` names its own
   * metric.
   */
  metric: z
    .strictObject({
      name: z.enum(['val_loss', 'val_acc']).default('val_loss').describe('The validation metric whose final value decides.'),
      goal: z.enum(['min', 'max']).optional().describe('min or max (default: min for val_loss, max for val_acc).'),
    })
    .optional()
    .describe('The metric that decides tuning scores, verdicts, power, equivalence and speed-ups (default val_loss, min); target names its own metric (docs/protocol.md).'),
  /**
   * The smallest difference that matters (docs/protocol.md): the report gives the seeds a paired
   * t-test needs to detect it at `power` (from the tuning seeds of the selected settings as pilots,
   * or `sd`, the sd of per-seed differences, when stated), and tests equivalence within +-margin (two
   * one-sided tests) for the verdicts that find no difference.
   */
  power: z
    .strictObject({
      margin: z.number().positive().describe('The smallest difference of the metric that matters.'),
      sd: z.number().positive().optional().describe('The sd of per-seed differences, when known (else from the pilot seeds).'),
      power: z.number().gt(0).lt(1).default(0.8).describe('The power the seed count is computed for.'),
    })
    .optional()
    .describe('Power before the runs and equivalence tests: the seeds a paired t-test needs to detect margin at power, printed before final runs start; two one-sided tests within +-margin for verdicts that find no difference (docs/protocol.md).'),
  /** Tune every optimizer's `search` space with one budget, then run the selected settings with `seeds`. */
  tuning: TuningSchema.optional().describe("Tune every optimizer's search space with one budget, then run the selected settings with seeds."),
  /**
   * A JSON file of tuned settings (experiments/tuned/*.json, written from a tuning run, with its
   * command, budget and machine): `settings.<label>` fills that optimizer entry's options. Relative to
   * the experiment file. An option set both there and in the entry is an error.
   */
  tuned: z.string().optional().describe("A JSON file of tuned settings (experiments/tuned/*.json; relative to this file) filling the optimizer entries' options."),
  /** Tfjs backend for the runs ('auto', 'wasm', 'cpu', ...); --backend overrides it, $OPTLAB_BACKEND applies when neither is set. */
  backend: z.enum(BACKEND_NAMES).optional().describe('Tfjs backend for the runs; --backend overrides it, $OPTLAB_BACKEND applies when neither is set.'),
  /** Start every run from a checkpoint's weights (fine-tuning); see InitSchema. */
  init: InitSchema.optional().describe("Start every run from a checkpoint's weights (fine-tuning): { from, optimizer?, seed? } or { checkpoint }."),
  optimizers: z.array(OptimizerEntrySchema).min(1).describe('The optimizer entries: each one method with fixed options, lists (a grid) or a search.'),
});

/** An experiment file as written (after defaults). */
export type Experiment = z.infer<typeof ExperimentSchema>;
/** Training settings after defaults. */
export type TrainingConfig = z.infer<typeof TrainingSchema>;
/** The tuning block after defaults. */
export type TuningConfig = z.infer<typeof TuningSchema>;
/** One searched hyperparameter as written: a list of values or a range. */
export type SearchSpec = unknown[] | z.infer<typeof SearchRangeSchema>;
/** The `init` block after defaults: a results folder (with entry and seed) or a checkpoint file. */
export type InitConfig = z.infer<typeof InitSchema>;

/** Everything that determines one run's numbers except its seed; hashed into the run id. */
export interface RunConfig {
  model: Record<string, unknown> & { kind: string };
  data: Record<string, unknown> & { kind: string };
  training: Omit<TrainingConfig, 'checkpointEvery' | 'sampleChars' | 'keepCheckpoints'>;
  schedule: ScheduleConfig;
  optimizer: { name: string; options: Record<string, unknown> };
  /** Where the initial weights come from, as written (absent: the model's random initialization). */
  init?: InitConfig;
  /**
   * The experiment's plugin modules by file name and SHA-256 of their text (absent without plugins):
   * a plugin's code decides the numbers, so an edited plugin gives new run ids and --resume reruns them.
   */
  plugins?: { file: string; sha256: string }[];
}

/** One run of a sweep. */
export interface RunSpec {
  /** `<optimizer>-<hash>-s<seed>`: file stem of the run's results. */
  id: string;
  /** Hash of `config` (without the seed): runs that differ only in seed share it. */
  hash: string;
  /** Display name of the optimizer entry ('adamw', or the entry's label). */
  label: string;
  /** The values of the keys this entry varies over, e.g. {lr: 0.01}; empty when it varies none. */
  grid: Record<string, unknown>;
  seed: number;
  config: RunConfig;
  checkpointEvery: number;
  /** Characters of the text sample a finished language model writes (training.sampleChars). */
  sampleChars?: number;
  /** Validation loss target of the experiment, when it has one (reached at or below; the field stored results were written with). */
  targetValLoss?: number;
  /** Any other target (a validation accuracy, or a loss under `metric.goal: max`): column, value and direction (targetOf). Absent with targetValLoss. */
  target?: RunTarget;
  /** False when the experiment switched diagnostics off; not part of the hash (they do not change results). */
  diagnostics?: boolean;
  /** 'tune' for a tuning trial, 'final' for a run of the selected settings (experiments with a tuning block). */
  stage?: 'tune' | 'final';
  /** Index of the tuning trial within its optimizer's search (tuning runs and the final runs of the selected trial). */
  trial?: number;
  /** Final runs of an entry with `settingsFrom`: the label whose selected setting they use (`trial` is that entry's trial). */
  settingsFrom?: string;
  /** False: the runner deletes the checkpoint when the run finishes (training.keepCheckpoints). */
  keepCheckpoint?: boolean;
  /** Absolute paths of the experiment's plugins, which the run's process loads before it builds the run; not part of the hash. */
  plugins?: string[];
}

/** JSON with sorted keys, so equal configs hash equally whatever the key order in the file. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** First 8 hex digits of the SHA-256 of the stable JSON of `v`. */
export function shortHash(v: unknown): string {
  return createHash('sha256').update(stableStringify(v)).digest('hex').slice(0, 8);
}

function fmtPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

function nearest(word: string, known: readonly string[]): string | undefined {
  const lev = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = lev(word.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function unknownKey(path: string, key: string, known: readonly string[]): ConfigError {
  const full = path ? `${path}.${key}` : key;
  const near = nearest(key, known);
  return new ConfigError(`${full}: unknown key${near ? ` (did you mean '${near}'?)` : ''}; expected one of: ${known.join(', ')}`, full);
}

/** Keys the schema accepts at an object path (for "expected one of" in messages). */
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let nodes: z.ZodType[] = [schema];
  const unwrap = (s: z.ZodType): z.ZodType[] => {
    const def = (s as unknown as { _zod: { def: { innerType?: z.ZodType; options?: z.ZodType[]; element?: z.ZodType } } })._zod.def;
    if (def.innerType) return unwrap(def.innerType);
    if (def.options) return def.options.flatMap(unwrap);
    return [s];
  };
  for (const seg of [...path, null]) {
    nodes = nodes.flatMap(unwrap);
    if (seg === null) break;
    nodes = nodes.flatMap((n) => {
      const shape = (n as unknown as { shape?: Record<string, z.ZodType> }).shape;
      const element = (n as unknown as { _zod: { def: { element?: z.ZodType } } })._zod.def.element;
      if (typeof seg === 'number' && element) return [element];
      return shape && typeof seg === 'string' && shape[seg] ? [shape[seg]] : [];
    });
  }
  const keys = new Set<string>();
  for (const n of nodes) for (const k of Object.keys((n as unknown as { shape?: object }).shape ?? {})) keys.add(k);
  return [...keys];
}

function describeIssue(issue: z.core.$ZodIssue): ConfigError {
  const path = fmtPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return unknownKey(path, issue.keys[0], knownKeys(ExperimentSchema, issue.path));
  }
  if (issue.code === 'invalid_union' && issue.path.at(-1) === 'schedule') {
    return new ConfigError(`${path}: expected a schedule with kind constant, cosine, wsd or linear`, path);
  }
  if (issue.code === 'invalid_union' && path === 'init') {
    return new ConfigError(`init: expected { from: <results folder>, optimizer?: <entry label there>, seed?: same | <seed> } or { checkpoint: <file> }`, path);
  }
  return new ConfigError(`${path || '(file)'}: ${issue.message.replace(/^Invalid input: /, '')}`, path);
}

const typeName = (v: unknown) => (Array.isArray(v) ? 'list' : v === null ? 'null' : typeof v);

/**
 * Checks `given` against an options object with defaults: known keys, same JS types (lists expand when
 * `allowLists`) and, with an optimizer `factory`, each value inside the option's domain
 * (optimizers/domains.ts), so an out-of-range value fails here, naming the key, before any run starts.
 */
function checkOptions(path: string, given: Record<string, unknown>, defaults: Record<string, unknown>, allowLists: boolean, factory?: OptimizerFactory<any>): void {
  const known = Object.keys(defaults);
  for (const [k, v] of Object.entries(given)) {
    if (!known.includes(k)) throw unknownKey(path, k, known);
    const d = defaults[k];
    if (d === undefined || d === null) continue;
    const values = allowLists && Array.isArray(v) && !Array.isArray(d) ? v : [v];
    if (values.length === 0) throw new ConfigError(`${path}.${k}: empty list`, `${path}.${k}`);
    for (const x of values) {
      if (typeName(x) !== typeName(d)) {
        throw new ConfigError(`${path}.${k}: expected a ${typeName(d)}${allowLists ? ` (or a list of them)` : ''} like the default ${JSON.stringify(d)}, got ${JSON.stringify(x)}`, `${path}.${k}`);
      }
      if (typeof x === 'number' && !Number.isFinite(x)) throw new ConfigError(`${path}.${k}: expected a finite number, got ${x}`, `${path}.${k}`);
      const bad = factory && domainViolation(factory.methodName, factory.domains as Record<string, Domain> | undefined, k, x);
      if (bad) throw new ConfigError(`${path}.${k}: ${bad}`, `${path}.${k}`);
    }
  }
}

/** A model or data kind must be registered: built in, or from the experiment's plugins (loaded before validation). */
function checkKind(what: 'model' | 'data', kind: string, known: Readonly<Record<string, unknown>>, plugins: readonly string[] | undefined): void {
  if (Object.hasOwn(known, kind)) return;
  const near = nearest(kind, Object.keys(known));
  const hint = plugins?.length ? ` (plugins loaded: ${plugins.join(', ')})` : "; a kind of one's own comes from a plugin (plugins: [./my_models.ts])";
  throw new ConfigError(`${what}.kind: unknown ${what} kind '${kind}'${near ? ` (did you mean '${near}'?)` : ''}; known: ${Object.keys(known).join(', ')}${hint}`, `${what}.kind`);
}

/** Validates a parsed experiment document; throws ConfigError naming the first bad key. */
export function validateExperiment(raw: unknown): Experiment {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('expected a YAML mapping at the top level');
  const parsed = ExperimentSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = [...parsed.error.issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
    throw describeIssue(issues[0]);
  }
  const exp = parsed.data;
  const { kind: modelKind, ...modelOpts } = exp.model;
  checkKind('model', modelKind, MODEL_KINDS, exp.plugins);
  checkKind('data', exp.data.kind, DATA_KINDS, exp.plugins);
  checkOptions('model', modelOpts, modelDefaults(modelKind), false);
  try {
    MODEL_KINDS[modelKind].check?.(modelOpts);
  } catch (e) {
    throw new ConfigError(`model: ${(e as Error).message}`, 'model');
  }
  const { kind: dataKind, ...dataOpts } = exp.data;
  if ('path' in dataOpts && !('path' in DATA_KINDS[dataKind].defaults)) {
    throw new ConfigError(`data.path: kind '${dataKind}' reads its own files; for a text file of your own write data: { kind: text, path: <file> }`, 'data.path');
  }
  checkOptions('data', dataOpts, DATA_KINDS[dataKind].defaults, false);
  if (dataKind === 'text' && !dataOpts.path) throw new ConfigError(`data.path: kind 'text' needs the path of a UTF-8 text file`, 'data.path');
  if (MODEL_KINDS[modelKind].data !== DATA_KINDS[dataKind].input) {
    throw new ConfigError(`data.kind: model '${modelKind}' takes ${MODEL_KINDS[modelKind].data} data, '${dataKind}' is ${DATA_KINDS[dataKind].input} data`, 'data.kind');
  }
  const t = exp.training;
  if (t.evalEvery % t.logEvery !== 0) throw new ConfigError(`training.evalEvery (${t.evalEvery}) must be a multiple of training.logEvery (${t.logEvery})`, 'training.evalEvery');
  const s = exp.schedule;
  if (s.kind !== 'constant' && s.total !== undefined && s.total > t.steps) {
    throw new ConfigError(`schedule.total (${s.total}) exceeds training.steps (${t.steps})`, 'schedule.total');
  }
  checkScheduleAgainstSteps(s, t.steps);
  const labels = new Set<string>();
  exp.optimizers.forEach((o, i) => {
    const path = `optimizers[${i}]`;
    const factory = OPTIMIZERS[o.name];
    if (!factory) {
      const near = nearest(o.name, Object.keys(OPTIMIZERS));
      throw new ConfigError(`${path}.name: unknown optimizer '${o.name}'${near ? ` (did you mean '${near}'?)` : ''}; known: ${Object.keys(OPTIMIZERS).join(', ')}`, `${path}.name`);
    }
    const { name: _n, label, search, settingsFrom, ...opts } = o;
    checkOptions(path, opts, factory.defaults as Record<string, unknown>, true, factory);
    if (settingsFrom !== undefined) {
      if (!exp.tuning) throw new ConfigError(`${path}.settingsFrom: takes the setting another entry's tuning selected; it needs a tuning block (tuning: { trials: N, ... })`, `${path}.settingsFrom`);
      if (search !== undefined) throw new ConfigError(`${path}.search: this entry takes its settings from '${settingsFrom}' (settingsFrom); it cannot also search its own`, `${path}.search`);
    } else {
      checkSearch(path, exp, search, opts, factory);
    }
    const l = label ?? o.name;
    if (labels.has(l)) throw new ConfigError(`${path}.label: two optimizer entries are called '${l}'; give one a distinct label`, `${path}.label`);
    labels.add(l);
  });
  if (exp.tuned !== undefined) applyTuned(exp);
  if (exp.baseline !== undefined && !labels.has(exp.baseline)) {
    throw new ConfigError(`baseline: '${exp.baseline}' is not an optimizer of this experiment; labels: ${[...labels].join(', ')}`, 'baseline');
  }
  if (exp.tuning) checkTuning(exp);
  return exp;
}

/**
 * The schedule must fit the run: a warmup shorter than the decay's total (training.steps when
 * schedule.total is not set), and checkSchedule's checks, here rather than when each run starts.
 */
function checkScheduleAgainstSteps(s: Experiment['schedule'], steps: number): void {
  const warm = s.warmup ?? 0;
  if (s.kind === 'constant') {
    if (warm > steps) throw new ConfigError(`schedule.warmup (${warm}) exceeds training.steps (${steps}): the learning rate would never reach its peak`, 'schedule.warmup');
  } else {
    const total = s.total ?? steps;
    if (warm >= total) {
      const what = s.total !== undefined ? `schedule.total (${total})` : `training.steps (${steps}), the schedule's total when schedule.total is not set`;
      throw new ConfigError(`schedule.warmup (${warm}) must be less than ${what}`, 'schedule.warmup');
    }
  }
  try {
    checkSchedule((s.kind === 'constant' ? s : { ...s, total: s.total ?? steps }) as ScheduleConfig, steps);
  } catch (e) {
    throw new ConfigError((e as Error).message, e instanceof ScheduleError ? e.key : 'schedule');
  }
}

/**
 * The schedule of a run of `steps` steps of `exp` (compressSchedule from training.steps), checked by
 * checkSchedule: a horizon that compresses the schedule into an invalid one throws ConfigError at
 * `key` (default 'tuning.steps') naming the derived value, before any run starts.
 */
export function derivedSchedule(exp: Experiment, steps: number, key = 'tuning.steps'): ScheduleConfig {
  const full = exp.training.steps;
  const schedule = compressSchedule(exp.schedule, full, steps);
  if (steps === full) return schedule;
  try {
    checkSchedule(schedule, steps, `compressed to ${steps} steps (${key}) from training.steps ${full}`);
  } catch (e) {
    if (e instanceof ScheduleError) throw new ConfigError(`${key}: ${e.message}; choose a horizon that keeps the schedule valid or shorten schedule.warmup`, key);
    throw e;
  }
  return schedule;
}

/** A tuned-settings file (experiments/tuned/*.json): the selected options per optimizer label and where they came from. */
export interface TunedFile {
  /** Selected options by optimizer label. */
  settings: Record<string, Record<string, unknown>>;
  /** How they were selected: command, budget, machine, commit, date, results. */
  provenance: Record<string, unknown>;
}

/** Reads `exp.tuned` and fills the optimizer entries with its settings (checked like entry options). */
function applyTuned(exp: Experiment): void {
  const path = exp.tuned!;
  let doc: TunedFile;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as TunedFile;
  } catch (e) {
    throw new ConfigError(`tuned: cannot read tuned settings ${path} (${(e as Error).message.split('\n')[0]})`, 'tuned');
  }
  if (!doc || typeof doc.settings !== 'object' || doc.settings === null || typeof doc.provenance !== 'object') {
    throw new ConfigError(`tuned: ${path} needs 'settings' (options by optimizer label) and 'provenance'`, 'tuned');
  }
  const labels = exp.optimizers.map((o) => o.label ?? o.name);
  for (const [label, values] of Object.entries(doc.settings)) {
    const i = labels.indexOf(label);
    if (i < 0) throw new ConfigError(`tuned: ${path} has settings for '${label}', which is not an optimizer of this experiment; labels: ${labels.join(', ')}`, 'tuned');
    const o = exp.optimizers[i];
    checkOptions(`tuned (${path}) settings.${label}`, values, OPTIMIZERS[o.name].defaults as Record<string, unknown>, false, OPTIMIZERS[o.name]);
    for (const k of Object.keys(values)) {
      if (k in o) throw new ConfigError(`optimizers[${i}].${k}: also set by the tuned settings in ${path}; keep one`, `optimizers[${i}].${k}`);
      if (o.search && k in (o.search as object)) throw new ConfigError(`optimizers[${i}].search.${k}: also set by the tuned settings in ${path}; keep one`, `optimizers[${i}].search.${k}`);
    }
    exp.optimizers[i] = { ...o, ...values };
  }
}

/** Checks an optimizer entry's `search` (needs a tuning block; keys are options of the method, not also fixed). */
function checkSearch(path: string, exp: Experiment, search: unknown, opts: Record<string, unknown>, factory: OptimizerFactory<any>): void {
  const defaults = factory.defaults as Record<string, unknown>;
  const p = `${path}.search`;
  if (search === undefined) {
    if (exp.tuning) throw new ConfigError(`${p}: empty search space; with a tuning block every optimizer needs a search (e.g. search: { lr: { low: 1e-4, high: 1e-2 } })`, p);
    return;
  }
  if (!exp.tuning) throw new ConfigError(`${p}: a search space needs a tuning block (tuning: { trials: N, ... })`, p);
  if (!search || typeof search !== 'object' || Array.isArray(search)) throw new ConfigError(`${p}: expected a mapping from option to a list or a range {low, high}`, p);
  const entries = Object.entries(search as Record<string, unknown>);
  if (entries.length === 0) throw new ConfigError(`${p}: empty search space`, p);
  for (const [k, v] of entries) {
    const kp = `${p}.${k}`;
    if (!(k in defaults)) throw unknownKey(p, k, Object.keys(defaults));
    if (k in opts) throw new ConfigError(`${kp}: '${k}' is both fixed in the entry and searched; keep one`, kp);
    if (Array.isArray(v)) {
      if (v.length === 0) throw new ConfigError(`${kp}: empty list`, kp);
      checkOptions(p, { [k]: v }, defaults, true, factory);
      continue;
    }
    const r = SearchRangeSchema.safeParse(v);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new ConfigError(`${kp}${issue.path.length ? `.${fmtPath(issue.path)}` : ''}: expected a list of values or a range {low, high, scale?: log|linear, integer?}: ${issue.message.replace(/^Invalid input: /, '')}`, kp);
    }
    if (typeof defaults[k] !== 'number') throw new ConfigError(`${kp}: a range needs a numeric option; '${k}' is a ${typeName(defaults[k])}: give a list`, kp);
    const { low, high, scale } = r.data;
    if (!Number.isFinite(low) || !Number.isFinite(high)) throw new ConfigError(`${kp}: low and high must be finite`, kp);
    if (!(low < high)) throw new ConfigError(`${kp}: low (${low}) must be below high (${high})`, kp);
    if ((scale ?? defaultScale(k)) === 'log' && !(low > 0)) throw new ConfigError(`${kp}: a log-scale range needs low > 0, got ${low}`, kp);
    for (const [end, x] of [['low', low], ['high', high]] as const) {
      const bad = domainViolation(factory.methodName, factory.domains as Record<string, Domain> | undefined, k, x);
      if (bad) throw new ConfigError(`${kp}.${end}: ${bad}`, `${kp}.${end}`);
    }
  }
}

/** The scale of a range that does not name one: log for learning rates (keys ending in lr or Lr), linear otherwise. */
export function defaultScale(key: string): 'log' | 'linear' {
  return /(^|[a-z0-9])(lr|Lr)$/.test(key) ? 'log' : 'linear';
}

/** Checks the tuning block against the optimizers (no list-valued options, which would be a second, unbudgeted grid). */
function checkTuning(exp: Experiment): void {
  const t = exp.tuning!;
  if (t.steps !== undefined && t.horizon !== undefined) throw new ConfigError('tuning.steps and tuning.horizon name the same thing (steps of a tuning trial); keep tuning.horizon', 'tuning.steps');
  const key = t.horizon !== undefined ? 'tuning.horizon' : 'tuning.steps';
  const h = t.horizon ?? t.steps;
  if (h !== undefined && h > exp.training.steps) throw new ConfigError(`${key} (${h}) exceeds training.steps (${exp.training.steps})`, key);
  if (h !== undefined && h % exp.training.logEvery !== 0) throw new ConfigError(`${key} (${h}) must be a multiple of training.logEvery (${exp.training.logEvery})`, key);
  // The compressed schedule a tuning trial runs (entryRuns derives it), checked as the full one is.
  if (h !== undefined) derivedSchedule(exp, h, key);
  exp.optimizers.forEach((o, i) => {
    const defaults = OPTIMIZERS[o.name].defaults as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (k !== 'search' && Array.isArray(v) && !Array.isArray(defaults[k])) {
        throw new ConfigError(`optimizers[${i}].${k}: a list of values is a grid outside the tuning budget; move it to optimizers[${i}].search.${k}`, `optimizers[${i}].${k}`);
      }
    }
  });
  checkSettingsFrom(exp);
}

/**
 * The entry whose search supplies entry `i`'s setting: `settingsFrom` followed to an entry that
 * searches (chains allowed); throws ConfigError naming optimizers[i].settingsFrom for an unknown
 * label or a cycle.
 */
export function settingsSource(exp: Experiment, i: number): number {
  const labels = exp.optimizers.map((o) => o.label ?? o.name);
  const path = `optimizers[${i}].settingsFrom`;
  const seen = [i];
  let k = i;
  while (exp.optimizers[k].settingsFrom !== undefined) {
    const from = exp.optimizers[k].settingsFrom!;
    const next = labels.indexOf(from);
    if (next < 0) throw new ConfigError(`${path}: '${from}' is not an optimizer of this experiment; labels: ${labels.join(', ')}`, path);
    if (seen.includes(next)) throw new ConfigError(`${path}: a cycle: ${[...seen, next].map((x) => labels[x]).join(' -> ')}; one entry of the chain must search`, path);
    seen.push(next);
    k = next;
  }
  return k;
}

/** Every `settingsFrom` resolves to a searching entry whose searched keys this entry's method takes and does not fix. */
function checkSettingsFrom(exp: Experiment): void {
  exp.optimizers.forEach((o, i) => {
    if (o.settingsFrom === undefined) return;
    const src = exp.optimizers[settingsSource(exp, i)];
    const path = `optimizers[${i}].settingsFrom`;
    const defaults = OPTIMIZERS[o.name].defaults as Record<string, unknown>;
    for (const k of Object.keys((src.search as Record<string, unknown> | undefined) ?? {})) {
      if (!(k in defaults)) throw new ConfigError(`${path}: '${src.label ?? src.name}' searches '${k}', which ${o.name} has no option for`, path);
      if (k in o) throw new ConfigError(`optimizers[${i}].${k}: also comes from '${src.label ?? src.name}' (settingsFrom), which searches it; keep one`, `optimizers[${i}].${k}`);
    }
  });
}

/** The deciding metric of an experiment: its name, goal and the run result's field ('finalValLoss', 'finalValAcc'); default val_loss, min. */
export function metricOf(exp: { metric?: { name?: 'val_loss' | 'val_acc'; goal?: 'min' | 'max' } }): { name: 'val_loss' | 'val_acc'; goal: 'min' | 'max'; field: 'finalValLoss' | 'finalValAcc' } {
  const name = exp.metric?.name ?? 'val_loss';
  return { name, goal: exp.metric?.goal ?? (name === 'val_acc' ? 'max' : 'min'), field: name === 'val_acc' ? 'finalValAcc' : 'finalValLoss' };
}

/** A target of an experiment: the curve column it is on, the value, and the direction that reaches it (min: at or below, max: at or above). */
export interface RunTarget {
  metric: 'val_loss' | 'val_acc';
  value: number;
  goal: 'min' | 'max';
}

/**
 * The target of an experiment (undefined without one): `target.valLoss` or `target.valAcc`, reached
 * in the direction of `metric.goal` when the target is on the deciding metric, else in the target
 * metric's own direction (min for val_loss, max for val_acc).
 */
export function targetOf(exp: { target?: { valLoss?: number; valAcc?: number }; metric?: { name?: 'val_loss' | 'val_acc'; goal?: 'min' | 'max' } }): RunTarget | undefined {
  const t = exp.target;
  if (!t || (t.valLoss === undefined && t.valAcc === undefined)) return undefined;
  const name = t.valAcc !== undefined ? 'val_acc' : 'val_loss';
  const m = metricOf(exp);
  return { metric: name, value: (name === 'val_acc' ? t.valAcc : t.valLoss)!, goal: m.name === name ? m.goal : name === 'val_acc' ? 'max' : 'min' };
}

/** A target in words for headers and notes: the bare value for a validation-loss target reached at or below (as before), else 'val_acc 0.9'. */
export function targetLabel(t: RunTarget): string {
  return t.metric === 'val_loss' && t.goal === 'min' ? `${t.value}` : `${t.metric} ${t.value}`;
}

/** The target of a run as its record stores it: a loss reached at or below as `targetValLoss` (so stored records read as before), anything else as `target`. */
export function runTargetFields(exp: Parameters<typeof targetOf>[0]): Pick<RunSpec, 'targetValLoss' | 'target'> {
  const t = targetOf(exp);
  // Both keys always, so a resumed record ({ ...old, ...spec }) loses a target the experiment dropped.
  if (!t) return { targetValLoss: undefined, target: undefined };
  return t.metric === 'val_loss' && t.goal === 'min' ? { targetValLoss: t.value, target: undefined } : { targetValLoss: undefined, target: t };
}

/** The target a run record names: `target`, else `targetValLoss` as a loss reached at or below. */
export function recordTarget(r: Pick<RunSpec, 'targetValLoss' | 'target'>): RunTarget | undefined {
  return r.target ?? (r.targetValLoss !== undefined ? { metric: 'val_loss', value: r.targetValLoss, goal: 'min' } : undefined);
}

/** Steps of a tuning trial: tuning.horizon (or its older name tuning.steps), else training.steps (the full horizon). */
export function tuningHorizon(exp: Pick<Experiment, 'training'> & { tuning?: Pick<TuningConfig, 'horizon' | 'steps'> }): number {
  return exp.tuning?.horizon ?? exp.tuning?.steps ?? exp.training.steps;
}

/** The tuning seeds of an experiment as a list (a count n means 1000..1000+n-1). */
export function tuningSeedList(t: TuningConfig): number[] {
  return typeof t.seeds === 'number' ? Array.from({ length: t.seeds }, (_, i) => 1000 + i) : t.seeds;
}

/** Reads and validates an experiment file, then applies `--set` overrides (each validated in turn). */
export function loadExperiment(file: string, sets: readonly string[] = []): Experiment {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read (${(e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  // A tuned-settings file is named relative to the experiment file.
  if (raw && typeof raw === 'object' && typeof (raw as Record<string, unknown>).tuned === 'string') {
    (raw as Record<string, unknown>).tuned = resolve(dirname(file), (raw as Record<string, string>).tuned);
  }
  resolvePlugins(raw, file);
  try {
    // Without overrides the file must stand alone; with them, the file and its overrides are validated as a whole.
    if (sets.length === 0) validateExperiment(raw);
    else if (!raw || typeof raw !== 'object' || Array.isArray(raw)) validateExperiment(raw);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message}`, e.path);
    throw e;
  }
  try {
    return applyOverrides(raw as Record<string, unknown>, sets);
  } catch (e) {
    if (e instanceof ConfigError && !e.message.startsWith('--set ')) throw new ConfigError(`${file}: ${e.message}`, e.path);
    throw e;
  }
}

/**
 * Plugin paths are relative to the experiment file: made absolute in `raw`, then each must have been
 * loaded in this process (`loadExperimentFile` in experiments/runner/plugins.ts loads them first), or
 * the names it registers would be unknown here.
 */
function resolvePlugins(raw: unknown, file: string): void {
  const doc = raw as Record<string, unknown> | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.plugins)) return;
  doc.plugins = doc.plugins.map((p) => (typeof p === 'string' && p ? resolve(dirname(file), p) : p));
  for (const p of doc.plugins as unknown[]) {
    if (typeof p === 'string' && p && !LOADED_PLUGINS.has(p)) {
      throw new ConfigError(`${file}: plugins: ${p} is not loaded in this process; load the file with loadExperimentFile (experiments/runner/plugins.ts), as optlab run does`, 'plugins');
    }
  }
}

/**
 * Applies `key=value` overrides to a raw experiment document, all of them, then validates the result
 * once, so their order does not matter (`--set training.steps=30 --set schedule.warmup=5` and the
 * reverse agree). Keys are dot paths; a segment after `optimizers` is an index or an entry's
 * label/name (`optimizers.adamw.lr=[1e-3,3e-3]`). A ConfigError names the override whose key holds
 * the bad value ('--set schedule.warmup=50: ...'), or lists the overrides when the fault is elsewhere.
 */
export function applyOverrides(raw: Record<string, unknown>, sets: readonly string[]): Experiment {
  const doc = structuredClone(raw);
  const applied: { key: string; text: string }[] = [];
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected key=value`);
    const key = s.slice(0, eq).trim();
    let value: unknown;
    try {
      value = YAML.parse(s.slice(eq + 1));
    } catch (e) {
      throw new ConfigError(`--set ${s}: value is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    setPath(doc, key, value, s);
    applied.push({ key, text: s });
  }
  try {
    return validateExperiment(doc);
  } catch (e) {
    if (!(e instanceof ConfigError) || applied.length === 0) throw e;
    // The last override whose key is the bad key, a key below it or above it.
    const path = (e.path ?? '').replace(/\[(\d+)\]/g, '.$1');
    const hit = [...applied].reverse().find((a) => path === a.key || path.startsWith(`${a.key}.`) || a.key.startsWith(`${path}.`));
    if (hit) throw new ConfigError(`--set ${hit.text}: ${e.message}`, e.path);
    throw new ConfigError(`${e.message} (with ${applied.map((a) => `--set ${a.text}`).join(' ')})`, e.path);
  }
}

function setPath(doc: Record<string, unknown>, key: string, value: unknown, original: string): void {
  const segs = key.split('.');
  let targets: Record<string, unknown>[] = [doc];
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i];
    const next: Record<string, unknown>[] = [];
    for (const t of targets) {
      const cur = t[seg];
      if (Array.isArray(cur)) {
        const sub = segs[++i];
        if (sub === undefined) throw new ConfigError(`--set ${original}: '${seg}' is a list; name an entry`);
        const byIndex = /^\d+$/.test(sub) ? [cur[Number(sub)]].filter((x) => x !== undefined) : cur.filter((x) => x && (x.label === sub || (x.label === undefined && x.name === sub)));
        if (byIndex.length === 0) throw new ConfigError(`--set ${original}: no entry '${sub}' in ${seg}`, `${segs.slice(0, i + 1).join('.')}`);
        next.push(...(byIndex as Record<string, unknown>[]));
      } else if (cur === undefined) {
        t[seg] = {};
        next.push(t[seg] as Record<string, unknown>);
      } else if (cur && typeof cur === 'object') {
        next.push(cur as Record<string, unknown>);
      } else {
        throw new ConfigError(`--set ${original}: '${segs.slice(0, i + 1).join('.')}' is a ${typeName(cur)}, not a mapping`, segs.slice(0, i + 1).join('.'));
      }
    }
    targets = next;
  }
  for (const t of targets) t[segs[segs.length - 1]] = value;
}

/** The seeds of an experiment as a list. */
export function seedList(exp: Experiment): number[] {
  return typeof exp.seeds === 'number' ? Array.from({ length: exp.seeds }, (_, i) => i) : exp.seeds;
}

function product(entries: [string, unknown[]][]): Record<string, unknown>[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, vs] of entries) out = out.flatMap((o) => vs.map((v) => ({ ...o, [k]: v })));
  return out;
}

/**
 * Expands an experiment into runs: each optimizer entry's list-valued options form a grid, crossed
 * with the seeds. Options are resolved against the method's defaults before hashing, so writing a
 * default explicitly gives the same run id as leaving it out.
 */
export function expandRuns(exp: Experiment): RunSpec[] {
  if (exp.tuning) throw new ConfigError(`${exp.name}: a tuned experiment's runs are planned stage by stage from its results (experiments/sweep/tuning.ts planExperiment), not expanded up front`, 'tuning');
  const runs: RunSpec[] = [];
  const ids = new Set<string>();
  exp.optimizers.forEach((o, i) => {
    const defaults = OPTIMIZERS[o.name].defaults as Record<string, unknown>;
    const { name: _n, label: _l, search: _s, settingsFrom: _f, ...opts } = o;
    const varied = Object.entries(opts).filter(([k, v]) => Array.isArray(v) && !Array.isArray(defaults[k])) as [string, unknown[]][];
    for (const g of product(varied)) {
      for (const r of entryRuns(exp, i, g, seedList(exp))) {
        if (ids.has(r.id)) throw new ConfigError(`optimizers[${i}]: run ${r.id} appears twice in the grid (two identical entries?)`, `optimizers[${i}]`);
        ids.add(r.id);
        runs.push(r);
      }
    }
  });
  return runs;
}

/**
 * The runs of optimizer entry `i` with the values `g` (grid or search values) over `seeds`, at
 * `opts.steps` (default training.steps; a shorter horizon compresses the schedule: warmup, total and
 * decay scale by steps / training.steps). Throws ConfigError when the method rejects the options.
 */
export function entryRuns(exp: Experiment, i: number, g: Record<string, unknown>, seeds: readonly number[], opts: { steps?: number; stage?: 'tune' | 'final'; trial?: number; settingsFrom?: string } = {}): RunSpec[] {
  const { checkpointEvery, sampleChars, keepCheckpoints, ...fullTraining } = exp.training;
  const steps = opts.steps ?? fullTraining.steps;
  const training = { ...fullTraining, steps };
  const schedule = derivedSchedule(exp, steps, exp.tuning?.horizon !== undefined ? 'tuning.horizon' : 'tuning.steps');
  const { kind: modelKind, ...modelOpts } = exp.model;
  const model = { kind: modelKind, ...modelDefaults(modelKind), ...modelOpts };
  const { kind: dataKind, ...dataOpts } = exp.data;
  const data: RunConfig['data'] = { kind: dataKind, ...DATA_KINDS[dataKind].defaults, ...dataOpts };
  // A user's text file is named by its absolute path in the run config, so child processes and the record agree.
  if (typeof data.path === 'string' && data.path) data.path = resolvePath(data.path);
  const o = exp.optimizers[i];
  const factory = OPTIMIZERS[o.name];
  const { name, label, search: _s, settingsFrom: _f, ...fixed } = o;
  const options: Record<string, unknown> = { ...(factory.defaults as Record<string, unknown>), ...fixed, ...g };
  // Options added after results were recorded stay out of the config (and the run id) at their default.
  for (const k of factory.unhashedDefaults ?? []) if (options[k] === (factory.defaults as Record<string, unknown>)[k]) delete options[k];
  try {
    factory(options);
  } catch (e) {
    throw new ConfigError(`optimizers[${i}] (${name}${Object.keys(g).length ? ` ${JSON.stringify(g)}` : ''}): ${(e as Error).message}`, `optimizers[${i}]`);
  }
  const plugins = exp.plugins?.length ? exp.plugins.map((p) => ({ file: basename(p), sha256: createHash('sha256').update(readFileSync(resolvePath(p))).digest('hex') })) : undefined;
  const config: RunConfig = { model, data, training, schedule, optimizer: { name, options }, ...(exp.init ? { init: exp.init } : {}), ...(plugins ? { plugins } : {}) };
  const hash = shortHash(config);
  return seeds.map((seed) => ({
    id: `${name}-${hash}-s${seed}`, hash, label: label ?? name, grid: g, seed, config, checkpointEvery, sampleChars, ...runTargetFields(exp),
    ...(exp.diagnostics === false ? { diagnostics: false } : {}),
    ...(opts.stage ? { stage: opts.stage } : {}),
    ...(opts.trial !== undefined ? { trial: opts.trial } : {}),
    ...(opts.settingsFrom !== undefined ? { settingsFrom: opts.settingsFrom } : {}),
    ...(keepCheckpoints === false ? { keepCheckpoint: false } : {}),
    ...(exp.plugins?.length ? { plugins: exp.plugins.map((p) => resolvePath(p)) } : {}),
  }));
}

/** A stable display name for a configuration: the label plus the values it varies, e.g. 'muon lr=0.02'. */
export function configName(r: Pick<RunSpec, 'label' | 'grid'>): string {
  const parts = Object.entries(r.grid).map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : JSON.stringify(v)}`);
  return [r.label, ...parts].join(' ');
}

/** A one-line description of hyperparameter values ('lr=3e-3 weightDecay=0.1'). */
export function describeValues(values: Record<string, unknown>): string {
  return Object.entries(values).map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : JSON.stringify(v)}`).join(' ');
}

/** Short number formatting for labels: 0.001 -> 1e-3, 0.02 -> 0.02. */
export function formatNumber(v: number): string {
  if (v !== 0 && (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e4)) return v.toExponential().replace(/\.?0+e/, 'e').replace('e+', 'e');
  return String(Number(v.toPrecision(6)));
}

/** The default results folder of an experiment file: results/<name>. */
export function defaultOutDir(exp: Experiment): string {
  return `results/${exp.name}`;
}
