/**
 * GPT forward + backward time per step: vocab 65, context 64, width 128, 4 heads, 2 layers, batch 16
 * (the figure of issue 5; target <= 220 ms/step on plain wasm). A figure to read, not a pass/fail check.
 *
 *   npx tsx bench/model_speed.ts [--backend wasm|cpu] [--steps 20] [--batch 16] [--layers 2] [--rounds 2]
 *
 * With the native kernels of kernels/wasm_kernels.ts active, plain wasm and wasm+native are timed in
 * alternating rounds in one process, so both see the same machine load. Prints the median ms/step
 * over the timed steps (3 warm-up steps per round), wall and CPU time of this process (the backends
 * compute on one thread, so on a loaded machine CPU time is the steadier of the two), and the tensor count.
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { withOriginals } from '../kernels/wasm_kernels.js';
import { loadShakespeare, textBatches } from '../models/data.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const backend = await selectBackend(arg('backend', 'wasm'));
  const steps = Number(arg('steps', '20'));
  const batchSize = Number(arg('batch', '16'));
  const nLayer = Number(arg('layers', '2'));
  const rounds = Number(arg('rounds', '2'));
  const model = createGPT({ vocabSize: 65, contextLength: 64, width: 128, nHead: 4, nLayer }, 0);
  const stream = textBatches(loadShakespeare().train, { batchSize, contextLength: 64, seed: 0 });

  /** Times `steps` fwd+bwd steps after 3 warm-up steps; synchronous, so it can run inside withOriginals. */
  const timeSteps = (): { times: number[]; cpu: number[]; loss: number } => {
    const times: number[] = [];
    const cpu: number[] = [];
    let loss = 0;
    for (let i = 0; i < steps + 3; i++) {
      const batch = stream.next();
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = lossAndGrads(model, batch, { training: true });
      loss = r.loss.dataSync()[0]; // waits for the whole step (wasm and cpu run synchronously anyway)
      const dt = performance.now() - t0;
      const dc = process.cpuUsage(c0);
      if (i >= 3) cpu.push((dc.user + dc.system) / 1000);
      r.loss.dispose();
      for (const g of r.grads.values()) g.dispose();
      tf.dispose([batch.x, batch.y]);
      if (i >= 3) times.push(dt);
    }
    return { times, cpu, loss };
  };

  const variants: [string, () => { times: number[]; cpu: number[]; loss: number }][] =
    backend.label === 'wasm-native' ? [['wasm (plain)', () => withOriginals(timeSteps)], ['wasm+native', timeSteps]] : [[backend.label, timeSteps]];
  const all = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  const allCpu = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  let lastLoss = 0;
  for (let r = 0; r < rounds; r++) {
    for (const [name, run] of variants) {
      const { times, cpu, loss } = run();
      all.get(name)!.push(...times);
      allCpu.get(name)!.push(...cpu);
      lastLoss = loss;
      console.log(`  round ${r + 1} ${name}: median ${median(times).toFixed(1)} ms/step`);
    }
  }
  console.log(`gpt fwd+bwd: vocab 65, context 64, width 128, 4 heads, ${nLayer} layers, batch ${batchSize}, ${model.numParams()} params (loss ${lastLoss.toFixed(3)}, tensors ${tf.memory().numTensors})`);
  for (const [name, times] of all) {
    console.log(`  ${name}: median ${median(times).toFixed(1)} ms/step wall, ${median(allCpu.get(name)!).toFixed(1)} ms/step CPU time of this process, over ${times.length} steps`);
  }
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
