/**
 * nanoGPT's CPU recipe for Tiny Shakespeare (karpathy/nanoGPT README, "I only have a macbook"),
 * trained through optlab: the anchor of issue 5 (validation loss <= 1.95 on 20 eval batches;
 * nanoGPT reports 1.88; PyTorch on a machine of our kind gave 1.886 and 1.878 for two seeds).
 *
 *   4 layers, 4 heads, width 128, context 64, batch 12, 2000 iterations, no bias, no dropout, tied
 *   embeddings; AdamW lr 1e-3, betas (0.9, 0.99), 100 warmup steps then cosine to 1e-4 at 2000,
 *   weight decay 0.1 on role 'matrix' only (AdamW's decayOn 'matrix'), gradient clipping at global norm 1.0.
 *
 *   npx tsx bench/nanogpt_recipe.ts [--backend auto|wasm|cpu] [--iters 2000] [--seed 0] [--decay-embeddings] [--json FILE] [--save-weights FILE]
 *
 * Differs from reference: nanoGPT decays every 2-D tensor, embeddings included; `--decay-embeddings`
 * does that here (decayOn 'rank2'). Warmup is step/100 (1-based) against nanoGPT's (it+1)/101. Eval batches are 20
 * fixed batches of 12 per split (nanoGPT draws 20 fresh random ones per evaluation).
 * Prints progress every 100 iterations and, at the end, the validation loss on the 20 batches and on
 * the whole validation split (models/data.ts wholeTextBatches: its 1,742 non-overlapping windows of
 * 64, the evaluation bench/peer_torch.py --eval-whole runs in PyTorch; bench/results/baseline_fidelity.md),
 * the wall time and the median ms per iteration over iterations 101-300 (evaluations excluded).
 * `--json FILE` also writes these figures as JSON; `--save-weights FILE` the final weights (JSON {name:
 * {shape, data}}, the format bench/peer_torch.py --weights reads). The loop is bench/recipe.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { writeFileSync } from 'node:fs';
import { disposeBatches, evaluate, fixedTextBatches, wholeTextBatches } from '../models/data.js';
import { createRecipe, median, RECIPE_BATCH, RECIPE_GPT, RECIPE_LR } from './recipe.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const backend = await selectBackend(arg('backend', 'auto'));
  const iters = Number(arg('iters', '2000'));
  const seed = Number(arg('seed', '0'));
  const decayEmbeddings = process.argv.includes('--decay-embeddings');
  const r = createRecipe({ iters, seed, decayEmbeddings });
  const { model, opt, corpus } = r;
  const contextLength = RECIPE_GPT.contextLength;
  const evalTrain = fixedTextBatches(corpus.train, { batchSize: RECIPE_BATCH, contextLength, count: 20, seed: 1000 });
  const evalVal = fixedTextBatches(corpus.val, { batchSize: RECIPE_BATCH, contextLength, count: 20, seed: 1001 });
  console.log(`nanoGPT recipe: ${model.numParams()} parameters, ${iters} iterations, batch ${RECIPE_BATCH}, context ${contextLength}, seed ${seed}${decayEmbeddings ? ', embeddings decayed' : ''}`);
  console.log(opt.describe());

  const t0 = performance.now();
  let tLog = t0;
  const report = (it: number) => {
    const tr = evaluate(model, evalTrain).loss;
    const va = evaluate(model, evalVal).loss;
    console.log(`eval iter ${it}: train ${tr.toFixed(4)}, val ${va.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    return va;
  };
  report(0);
  // Iterations 101..300 (evaluations excluded): the figure nanoGPT's train.py prints as time per iter.
  const window: number[] = [];
  for (let it = 0; it < iters; it++) {
    const logNow = (it + 1) % 100 === 0;
    const { loss, times } = await r.iteration(logNow);
    if (it >= 100 && it < 300) window.push(times.total);
    if (logNow) {
      const now = performance.now();
      console.log(`iter ${it + 1}: loss ${loss.toFixed(4)}, lr ${(RECIPE_LR * r.schedule(it + 1)).toExponential(2)}, ${((now - tLog) / 100).toFixed(1)} ms/iter, tensors ${tf.memory().numTensors}`);
      tLog = now;
    }
    if ((it + 1) % 500 === 0 && it + 1 < iters) report(it + 1);
  }
  const trainMs = performance.now() - t0;
  const val = report(iters);
  const whole = wholeTextBatches(corpus.val, { batchSize: 64, contextLength });
  const wholeVal = evaluate(model, whole).loss;
  const windows = whole.reduce((n, b) => n + b.x.shape[0], 0);
  disposeBatches(whole);
  const sample = model.generate(corpus.tokenizer.encode('\n'), 200, { seed, temperature: 0.8 });
  console.log(`sample:\n${corpus.tokenizer.decode(sample)}\n`);
  const med = window.length ? `; median ${median(window).toFixed(1)} ms/iter over iterations 101-${100 + window.length} (evaluations excluded)` : '';
  console.log(`final whole-validation loss ${wholeVal.toFixed(4)} (${windows} non-overlapping windows of ${contextLength})`);
  console.log(`final val loss ${val.toFixed(4)} (20 batches of ${RECIPE_BATCH}x${contextLength}); wall ${(trainMs / 1000).toFixed(1)} s for ${iters} iterations (${(trainMs / iters).toFixed(1)} ms/iter incl. evals)${med} on ${backend.label}`);
  const jsonPath = arg('json', '');
  if (jsonPath) {
    const out = { tool: 'optlab', seed, iters, decayEmbeddings, backend: backend.label, params: model.numParams(), valLoss20: val, wholeValLoss: wholeVal, wholeValWindows: windows, wallS: trainMs / 1000 };
    writeFileSync(jsonPath, JSON.stringify(out) + '\n');
  }
  const weightsPath = arg('save-weights', '');
  if (weightsPath) {
    const w: Record<string, { shape: number[]; data: number[] }> = {};
    for (const p of model.params) w[p.name] = { shape: p.variable.shape, data: Array.from(p.variable.dataSync()) };
    writeFileSync(weightsPath, JSON.stringify(w));
  }
  disposeBatches(evalTrain);
  disposeBatches(evalVal);
  r.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
