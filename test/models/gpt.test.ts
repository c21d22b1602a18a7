import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { loadShakespeare, textBatches } from '../../models/data.js';
import { createGPT, GPT_DEFAULTS, type GPTConfig } from '../../models/gpt.js';
import { lossAndGrads } from '../../models/layers.js';
import type { Batch } from '../../models/model.js';
import { describeBackends, testBackends, useBackend } from '../shared/backends.js';
import { adamwLosses, checkGradients, perturb, tensorCounts } from './helpers.js';

const TINY: Partial<GPTConfig> = { vocabSize: 11, contextLength: 8, width: 16, nHead: 2, nLayer: 1 };

/** A batch of token ids from a fixed pattern: y is x shifted by one. */
function tokenBatch(b: number, t: number, vocab: number, seed = 1): Batch {
  const x = Int32Array.from({ length: b * t }, (_, i) => (i * 7 + seed * 3 + Math.floor(i / t)) % vocab);
  const y = Int32Array.from({ length: b * t }, (_, i) => (i * 7 + seed * 3 + Math.floor(i / t) + 7) % vocab);
  return { x: tf.tensor2d(x, [b, t], 'int32'), y: tf.tensor2d(y, [b, t], 'int32') };
}

describe('gpt config and parameters', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('defaults are nanoGPT-like (vocab 65, context 64, width 128, 4 heads, 2 layers, tied, no bias)', () => {
    expect(GPT_DEFAULTS).to.include({ vocabSize: 65, contextLength: 64, width: 128, nHead: 4, nLayer: 2, tieEmbeddings: true, bias: false, dropout: 0 });
  });

  it('tied embeddings appear once as embedding; roles and [fan_in, fan_out] shapes as documented', () => {
    const m = createGPT({ ...TINY, tieEmbeddings: true, bias: false });
    const byName = new Map(m.params.map((p) => [p.name, p]));
    expect(byName.has('head')).to.equal(false);
    expect(byName.get('wte')!.role).to.equal('embedding');
    expect(byName.get('wpe')!.role).to.equal('embedding');
    expect(byName.get('blocks.0.attn.qkv')!.variable.shape).to.deep.equal([16, 48]);
    expect(byName.get('blocks.0.mlp.proj')!.variable.shape).to.deep.equal([64, 16]);
    expect(byName.get('blocks.0.ln1.g')!.role).to.equal('vector');
    const matrices = m.params.filter((p) => p.role === 'matrix').map((p) => p.name);
    expect(matrices).to.deep.equal(['blocks.0.attn.qkv', 'blocks.0.attn.proj', 'blocks.0.mlp.fc', 'blocks.0.mlp.proj']);
    // 11*16 + 8*16 + 2 LN gains *16 + (16*48 + 16*16 + 16*64 + 64*16) + final LN gain 16
    expect(m.numParams()).to.equal(176 + 128 + 32 + 3072 + 16);
    m.dispose();
  });

  it('untied head has role head; bias adds vector parameters', () => {
    const m = createGPT({ ...TINY, tieEmbeddings: false, bias: true });
    const roles = Object.fromEntries(m.params.map((p) => [p.name, p.role]));
    expect(roles.head).to.equal('head');
    expect(roles['blocks.0.attn.qkv.bias']).to.equal('vector');
    expect(roles['lnF.b']).to.equal('vector');
    expect(m.params.find((p) => p.name === 'head')!.variable.shape).to.deep.equal([16, 11]);
    m.dispose();
  });

  it('init is seeded (same seed, same weights) and residual projections use 0.02/sqrt(2 n_layer)', () => {
    const a = createGPT({ vocabSize: 65, nLayer: 2 }, 3);
    const b = createGPT({ vocabSize: 65, nLayer: 2 }, 3);
    for (let i = 0; i < a.params.length; i++) expect(Array.from(a.params[i].variable.dataSync())).to.deep.equal(Array.from(b.params[i].variable.dataSync()));
    const std = (name: string) => {
      const v = Array.from(a.params.find((p) => p.name === name)!.variable.dataSync());
      return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    };
    expect(std('blocks.0.mlp.fc')).to.be.closeTo(0.02, 0.001);
    expect(std('blocks.0.mlp.proj')).to.be.closeTo(0.02 / Math.sqrt(4), 0.0007);
    a.dispose();
    b.dispose();
  });

  it('rejects unknown keys and widths not divisible by heads', () => {
    expect(() => createGPT({ widht: 3 } as never)).to.throw(/unknown config key 'widht'/);
    expect(() => createGPT({ width: 10, nHead: 4 })).to.throw(/not divisible/);
  });
});

describeBackends('gpt', () => {
  it('initial loss is close to ln(vocab) on Tiny Shakespeare', () => {
    const corpus = loadShakespeare();
    const m = createGPT({ vocabSize: corpus.tokenizer.vocabSize, width: 32, nLayer: 1 }, 0);
    const batch = textBatches(corpus.train, { batchSize: 2, contextLength: 64, seed: 0 }).next();
    const loss = tf.tidy(() => m.loss(batch).dataSync()[0]);
    // logits ~ 0.02-scale weights: softmax nearly uniform, so loss = ln 65 = 4.174 up to a few percent.
    expect(loss).to.be.closeTo(Math.log(65), 0.1);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('gradients match finite differences (tied, no bias)', () => {
    const m = createGPT({ ...TINY, tieEmbeddings: true, bias: false }, 1);
    perturb(m, 0.3, 2);
    const batch = tokenBatch(2, 8, 11);
    checkGradients(m, batch);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('gradients match finite differences (untied head, biases, shorter sequence than context)', () => {
    const m = createGPT({ ...TINY, tieEmbeddings: false, bias: true }, 1);
    perturb(m, 0.3, 3);
    const batch = tokenBatch(2, 6, 11);
    checkGradients(m, batch);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('is causal: changing token j leaves the logits of positions < j unchanged', () => {
    const m = createGPT(TINY, 1);
    perturb(m, 0.3, 4);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const changed = [...ids];
    changed[5] = 0;
    const [a, b] = [ids, changed].map((s) => tf.tidy(() => Array.from(m.logits(tf.tensor2d(s, [1, 8], 'int32')).dataSync())));
    const v = 11;
    for (let i = 0; i < 5 * v; i++) expect(b[i]).to.be.closeTo(a[i], 1e-5);
    const after = a.slice(5 * v).map((x, i) => Math.abs(x - b[5 * v + i]));
    expect(Math.max(...after)).to.be.greaterThan(1e-3);
    m.dispose();
  });

  it('a few AdamW steps lower the loss', () => {
    const m = createGPT(TINY, 0);
    const batch = tokenBatch(4, 8, 11);
    const losses = adamwLosses(m, batch, 8, 1e-2);
    expect(losses[7]).to.be.lessThan(losses[0] - 0.1);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('keeps the tensor count flat over repeated steps (dropout on)', () => {
    const m = createGPT({ ...TINY, dropout: 0.1 }, 0);
    let k = 0;
    const counts = tensorCounts(m, () => tokenBatch(2, 8, 11, k++), 5);
    expect(new Set(counts.slice(1)).size, `counts ${counts}`).to.equal(1);
    m.dispose();
  });

  it('same seed gives the same batches and the same loss curve', () => {
    const corpus = loadShakespeare();
    const run = () => {
      const m = createGPT({ vocabSize: 65, contextLength: 16, width: 16, nHead: 2, nLayer: 1 }, 7);
      const stream = textBatches(corpus.train, { batchSize: 2, contextLength: 16, seed: 9 });
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const b = stream.next();
        losses.push(...adamwLosses(m, b, 1, 1e-2));
        tf.dispose([b.x, b.y]);
      }
      m.dispose();
      return losses;
    };
    expect(run()).to.deep.equal(run());
  });

  it('dropout changes the training loss only; evaluation is deterministic', () => {
    const m = createGPT({ ...TINY, dropout: 0.5 }, 0);
    perturb(m, 0.3, 5);
    const batch = tokenBatch(2, 8, 11);
    const evalA = tf.tidy(() => m.loss(batch).dataSync()[0]);
    const evalB = tf.tidy(() => m.loss(batch).dataSync()[0]);
    const train = tf.tidy(() => m.loss(batch, { training: true }).dataSync()[0]);
    expect(evalA).to.equal(evalB);
    expect(train).to.not.equal(evalA);
    tf.dispose([batch.x, batch.y]);
    m.dispose();
  });

  it('generate samples deterministic token ids within the vocabulary', () => {
    const m = createGPT(TINY, 0);
    const a = m.generate([1, 2], 12, { seed: 3, topK: 4 });
    const b = m.generate([1, 2], 12, { seed: 3, topK: 4 });
    expect(a).to.deep.equal(b);
    expect(a.length).to.equal(14);
    expect(a.slice(0, 2)).to.deep.equal([1, 2]);
    for (const t of a) expect(t).to.be.within(0, 10);
    m.dispose();
  });
});

// Each configuration other than cpu against cpu (with the native kernels on exactly for wasm-native).
for (const other of testBackends().includes('cpu') ? testBackends().filter((b) => b !== 'cpu') : []) {
  describe(`gpt: cpu and ${other} agree`, function () {
    after(() => useBackend('cpu'));
    it('loss and gradients within float32 tolerance', async () => {
      const out: { loss: number; grads: Map<string, Float32Array> }[] = [];
      for (const backend of ['cpu', other] as const) {
        await useBackend(backend);
        const m = createGPT({ ...TINY, bias: true, tieEmbeddings: false }, 11);
        perturb(m, 0.3, 6);
        const batch = tokenBatch(2, 8, 11);
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
