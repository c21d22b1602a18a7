import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { createViT, patchify, VIT_DEFAULTS, type ViTConfig } from '../../models/vit.js';
import { lossAndGrads, Rng } from '../../models/layers.js';
import type { Batch } from '../../models/model.js';
import { describeBackends, testBackends, useBackend } from '../shared/backends.js';
import { adamwLosses, checkGradients, perturb, tensorCounts } from './helpers.js';

const TINY: Partial<ViTConfig> = { width: 8, nHead: 2, nLayer: 1, mlpRatio: 2 };

/** Random images in [0, 1) and labels in 0..9 from a fixed seed. */
function imageBatch(b: number, seed = 1, shape: 'flat' | 'square' = 'flat'): Batch {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: b * 784 }, () => rng.next());
  const y = Int32Array.from({ length: b }, () => rng.int(10));
  return { x: shape === 'flat' ? tf.tensor2d(x, [b, 784]) : tf.tensor3d(x, [b, 28, 28]), y: tf.tensor1d(y, 'int32') };
}

describe('vit config and parameters', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('defaults: 28x28 input, patch 7, class token, 10 classes', () => {
    expect(VIT_DEFAULTS).to.include({ imageSize: 28, patchSize: 7, numClasses: 10, pool: 'cls' });
  });

  it('roles and shapes: patch matrix [49, width], head [width, 10], class token a vector, positions an embedding', () => {
    const m = createViT(TINY);
    const p = Object.fromEntries(m.params.map((q) => [q.name, q]));
    expect(p.patch.variable.shape).to.deep.equal([49, 8]);
    expect(p.patch.role).to.equal('matrix');
    expect(p.head.role).to.equal('head');
    expect(p.head.variable.shape).to.deep.equal([8, 10]);
    expect(p.cls.role).to.equal('vector');
    expect(p.pos.role).to.equal('embedding');
    expect(p.pos.variable.shape).to.deep.equal([17, 8]);
    expect(p['blocks.0.attn.qkv'].role).to.equal('matrix');
    m.dispose();
    const mean = createViT({ ...TINY, pool: 'mean' });
    expect(mean.params.some((q) => q.name === 'cls')).to.equal(false);
    expect(mean.params.find((q) => q.name === 'pos')!.variable.shape).to.deep.equal([16, 8]);
    mean.dispose();
  });

  it('rejects a patch size that does not divide the image', () => {
    expect(() => createViT({ patchSize: 5 })).to.throw(/does not divide/);
  });
});

describeBackends('vit', () => {
  it('initial loss is close to ln(10) and accuracy is a fraction', () => {
    const m = createViT({}, 0);
    const batch = imageBatch(16);
    const loss = tf.tidy(() => m.loss(batch).dataSync()[0]);
    expect(loss).to.be.closeTo(Math.log(10), 0.1);
    const acc = tf.tidy(() => m.accuracy(batch).dataSync()[0]);
    expect(acc).to.be.within(0, 1);
    expect(Math.round(acc * 16)).to.be.closeTo(acc * 16, 1e-5);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('patchify cuts row-major patches: patch k holds rows 7*floor(k/4).. and cols 7*(k%4).. in order', () => {
    const img = Float32Array.from({ length: 2 * 784 }, (_, i) => i % 784);
    const got = tf.tidy(() => Array.from(patchify(tf.tensor2d(img, [2, 784]), 28, 7).dataSync()));
    expect(got.length).to.equal(2 * 16 * 49);
    for (let n = 0; n < 2; n++) {
      for (let k = 0; k < 16; k++) {
        const r0 = 7 * Math.floor(k / 4);
        const c0 = 7 * (k % 4);
        for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) expect(got[(n * 16 + k) * 49 + i * 7 + j]).to.equal((r0 + i) * 28 + c0 + j);
      }
    }
  });

  it('flat [B, 784] and square [B, 28, 28] inputs give the same logits', () => {
    const m = createViT(TINY, 0);
    perturb(m, 0.3, 1);
    const a = imageBatch(3, 4, 'flat');
    const b = imageBatch(3, 4, 'square');
    const la = tf.tidy(() => Array.from(m.logits(a.x).dataSync()));
    const lb = tf.tidy(() => Array.from(m.logits(b.x).dataSync()));
    expect(lb).to.deep.equal(la);
    tf.dispose([a.x, a.y, b.x, b.y]);
    m.dispose();
  });

  for (const pool of ['cls', 'mean'] as const) {
    it(`gradients match finite differences (pool ${pool})`, () => {
      const m = createViT({ ...TINY, pool }, 1);
      perturb(m, 0.3, 2);
      const batch = imageBatch(3, 5);
      checkGradients(m, batch);
      tf.dispose([batch.x, batch.y]);
      m.dispose();
    });
  }

  it('a few AdamW steps lower the loss', () => {
    const m = createViT(TINY, 0);
    const batch = imageBatch(8, 6);
    const losses = adamwLosses(m, batch, 8, 1e-2);
    expect(losses[7]).to.be.lessThan(losses[0] - 0.1);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('keeps the tensor count flat over repeated steps', () => {
    const m = createViT({ ...TINY, dropout: 0.1 }, 0);
    let k = 0;
    const counts = tensorCounts(m, () => imageBatch(4, k++), 5);
    expect(new Set(counts.slice(1)).size, `counts ${counts}`).to.equal(1);
    m.dispose();
  });
});

// Each configuration other than cpu against cpu (with the native kernels on exactly for wasm-native).
for (const other of testBackends().includes('cpu') ? testBackends().filter((b) => b !== 'cpu') : []) {
  describe(`vit: cpu and ${other} agree`, function () {
    after(() => useBackend('cpu'));
    it('loss and gradients within float32 tolerance', async () => {
      const out: { loss: number; grads: Map<string, Float32Array> }[] = [];
      for (const backend of ['cpu', other] as const) {
        await useBackend(backend);
        const m = createViT(TINY, 11);
        perturb(m, 0.3, 6);
        const batch = imageBatch(3, 7);
        const { loss, grads } = lossAndGrads(m, batch);
        out.push({ loss: loss.dataSync()[0], grads: new Map([...grads].map(([k, g]) => [k, g.dataSync() as Float32Array])) });
        loss.dispose();
        for (const g of grads.values()) g.dispose();
        tf.dispose([batch.x, batch.y]);
        m.dispose();
      }
      expect(out[1].loss).to.be.closeTo(out[0].loss, 1e-5);
      for (const [k, g] of out[0].grads) {
        const w = out[1].grads.get(k)!;
        const scale = Math.max(...Array.from(g, Math.abs));
        for (let i = 0; i < g.length; i++) expect(Math.abs(w[i] - g[i]), k).to.be.at.most(1e-4 * scale + 1e-6);
      }
    });
  });
}
