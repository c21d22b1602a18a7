/**
 * GPT forward + backward time per step: vocab 65, context 64, width 128, 4 heads, 2 layers, batch 16
 * (the figure of issue 5; target <= 220 ms/step on wasm). A figure to read, not a pass/fail check.
 *
 *   npx tsx bench/model_speed.ts [--backend wasm|cpu] [--steps 20] [--batch 16] [--layers 2]
 *
 * Prints ms/step (median and mean over the timed steps after 3 warm-up steps) and the tensor count.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../experiments/backend.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';
import { textBatches, loadShakespeare } from '../models/data.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const backend = await selectBackend(arg('backend', 'wasm'));
  const steps = Number(arg('steps', '20'));
  const batchSize = Number(arg('batch', '16'));
  const nLayer = Number(arg('layers', '2'));
  const model = createGPT({ vocabSize: 65, contextLength: 64, width: 128, nHead: 4, nLayer }, 0);
  const corpus = loadShakespeare();
  const stream = textBatches(corpus.train, { batchSize, contextLength: 64, seed: 0 });
  const times: number[] = [];
  let last = 0;
  for (let i = 0; i < steps + 3; i++) {
    const batch = stream.next();
    const t0 = performance.now();
    const { loss, grads } = lossAndGrads(model, batch, { training: true });
    // Reading one number waits for the whole step (wasm and cpu run synchronously anyway).
    last = (await loss.data())[0];
    const dt = performance.now() - t0;
    loss.dispose();
    for (const g of grads.values()) g.dispose();
    tf.dispose([batch.x, batch.y]);
    if (i >= 3) times.push(dt);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(
    `gpt fwd+bwd [${backend.label}] vocab 65, context 64, width 128, 4 heads, ${nLayer} layers, batch ${batchSize}, ${model.numParams()} params: ` +
      `median ${median.toFixed(1)} ms/step, mean ${mean.toFixed(1)} ms/step over ${steps} steps (loss ${last.toFixed(3)}, tensors ${tf.memory().numTensors})`,
  );
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
