/**
 * What an experiment trains on: the model kinds and data kinds an experiment file may name, and the
 * Task a run drives (a model, an endless seeded train stream, fixed evaluation batches).
 *
 * The run seed sets the initial weights and the order of training batches; evaluation batches depend
 * only on the data settings (`evalSeed`), so every run of an experiment is scored on the same data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createGPT, GPT, GPT_DEFAULTS, resolveGPTConfig } from '../../models/gpt.js';
import { Rng } from '../../models/layers.js';
import { createViT, resolveViTConfig, VIT_DEFAULTS } from '../../models/vit.js';
import { fixedImageBatches, fixedTextBatches, imageBatches, loadImageDataset, loadShakespeare, loadTextCorpus, textBatches, type BatchStream, type ImageDatasetName } from '../../models/data.js';
import type { Batch, TrainableModel } from '../../models/model.js';
import type { RunConfig } from './config.js';

/** The kinds of data a model takes. */
export type InputKind = 'text' | 'image';

/** Model kinds: option defaults (the keys an experiment may set), the data they take, and a check of the values that allocates nothing. */
export const MODEL_KINDS: Record<string, { defaults: Record<string, unknown>; data: InputKind; check: (opts: Record<string, unknown>) => void }> = {
  gpt: { defaults: { ...GPT_DEFAULTS }, data: 'text', check: (o) => resolveGPTConfig(o) },
  vit: { defaults: { ...VIT_DEFAULTS }, data: 'image', check: (o) => resolveViTConfig(o) },
};

/**
 * Data kinds: what they provide, their option defaults, and `check`, which reads the data files once
 * before any run starts and throws naming the file (missing, corrupt, empty, binary, too short).
 * `text` is a user's own UTF-8 file (`path`, relative to the working folder): character vocabulary
 * built from it, the same 90/10 split as `shakespeare`.
 */
export const DATA_KINDS: Record<string, { input: InputKind; defaults: Record<string, unknown>; check: (opts: Record<string, unknown>, model: Record<string, unknown>) => void }> = {
  shakespeare: { input: 'text', defaults: { evalSeed: 1234 }, check: () => void loadShakespeare() },
  text: { input: 'text', defaults: { path: '', evalSeed: 1234 }, check: (o, m) => void loadTextCorpus(textPath(o), { minSplitTokens: Number(m.contextLength) + 2 }) },
  mnist: { input: 'image', defaults: {}, check: () => void loadImageDataset('mnist') },
  'fashion-mnist': { input: 'image', defaults: {}, check: () => void loadImageDataset('fashion-mnist') },
};

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
  sample?(chars: number): { prompt: string; text: string; temperature: number; seed: number };
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

/** Builds the model and data of a run. Throws with the data file named when data is missing. */
export function createTask(cfg: RunConfig, seed: number, batchSize: number, evalBatches: number): Task {
  const { kind: modelKind, ...modelOpts } = cfg.model;
  const { kind: dataKind, ...dataOpts } = cfg.data;
  if (modelKind === 'gpt') {
    if (DATA_KINDS[dataKind]?.input !== 'text') throw new Error(`model gpt needs text data, got '${dataKind}'`);
    const contextLength = Number(modelOpts.contextLength);
    const corpus = dataKind === 'text' ? loadTextCorpus(textPath(dataOpts), { minSplitTokens: contextLength + 2 }) : loadShakespeare();
    const model = createGPT({ ...(modelOpts as object), vocabSize: corpus.tokenizer.vocabSize }, seed);
    const stream: BatchStream = textBatches(corpus.train, { batchSize, contextLength, seed: seed + 1 });
    const evals = fixedTextBatches(corpus.val, { batchSize, contextLength, count: evalBatches, seed: Number(dataOpts.evalSeed) });
    const task = finish(model, stream, evals, 'tokens', batchSize * contextLength);
    task.sample = (chars) => gptSample(model, corpus.tokenizer, chars);
    return task;
  }
  if (MODEL_KINDS[modelKind]?.data === 'image') {
    const ds = loadImageDataset(dataKind as ImageDatasetName);
    const model = createImageModel(modelKind, { ...modelOpts, numClasses: ds.numClasses }, seed);
    const stream = imageBatches(ds.train, { batchSize, seed: seed + 1 });
    const evals = fixedImageBatches(ds.test, { batchSize, count: evalBatches });
    return finish(model, stream, evals, 'samples', batchSize);
  }
  throw new Error(`no task for model '${modelKind}' on data '${dataKind}'`);
}

/** Constructors of the image models. */
const IMAGE_MODELS: Record<string, (opts: Record<string, unknown>, seed: number) => TrainableModel> = {
  vit: (opts, seed) => createViT(opts, seed),
};

function createImageModel(kind: string, opts: Record<string, unknown>, seed: number): TrainableModel {
  const make = IMAGE_MODELS[kind];
  if (!make) throw new Error(`unknown image model '${kind}'`);
  return make(opts, seed);
}

function finish(model: TrainableModel, stream: BatchStream, evals: Batch[], unit: Task['unit'], unitsPerStep: number): Task {
  return {
    model,
    nextBatch: () => stream.next(),
    evalBatches: evals,
    unit,
    unitsPerStep,
    ...rngAccess(model),
    dispose() {
      for (const b of evals) tf.dispose([b.x, b.y]);
      model.dispose();
    },
  };
}

/** `chars` characters generated by a GPT after TEXT_SAMPLE.prompt (a prompt character outside the vocabulary starts from token 0). */
function gptSample(model: GPT, tok: { encode(s: string): number[]; decode(ids: readonly number[]): string }, chars: number): { prompt: string; text: string; temperature: number; seed: number } {
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
