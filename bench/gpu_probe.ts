/**
 * The JavaScript half of the GPU probe (bench/gpu_probe.sh runs it, from the self-contained bundle
 * bench/gpu_probe_pack.mjs makes): whether the `webgpu` npm package (Dawn) finds an adapter, and if
 * it does, the GPT train step (AdamW and Muon) on tfjs's webgpu backend, against the cpu backend in
 * the same process (the parity fixtures run through the bundled CLI's `replay`: bench/gpu_probe.sh).
 * Prints Markdown on stdout; exit 0 whatever it finds (a missing GPU is a finding, not a failure), 3
 * when there is no adapter (so the shell script skips the fixtures), 1 when the probe itself breaks.
 *
 * Options: --steps <timed GPT steps> (default 10), --backend <name> (run the tfjs part on that backend
 * instead of webgpu, adapter or not: how the probe's own code is checked on a machine without a GPU).
 */
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../kernels/backend.js';
import { createGPT } from '../models/gpt.js';
import { lossAndGrads } from '../models/layers.js';
import { buildOptimizer } from '../optimizers/core.js';
import { OPTIMIZERS } from '../optimizers/index.js';
import { BENCH_GPT, BENCH_GPT_BATCH } from './suites.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const say = (line = '') => console.log(line);

interface Dawn {
  create(opts: string[]): { requestAdapter(o?: object): Promise<null | { info?: Record<string, unknown>; features: Set<string>; limits: Record<string, number> }> };
  globals: object;
}

async function adapterReport(): Promise<boolean> {
  say('## WebGPU (npm `webgpu`, Dawn)');
  let dawn: Dawn;
  try {
    dawn = (await import('webgpu' as string)) as Dawn;
  } catch (e) {
    say(`- package: not loadable (${String((e as Error).message).split('\n')[0]})`);
    return false;
  }
  say('- package: loaded');
  for (const pref of ['high-performance', 'low-power']) {
    const adapter = await dawn.create([]).requestAdapter({ powerPreference: pref });
    if (!adapter) {
      say(`- adapter (${pref}): none (Dawn found no usable Vulkan device; its warnings are in stderr.log)`);
      continue;
    }
    const info = adapter.info ?? {};
    say(`- adapter (${pref}): ${['vendor', 'architecture', 'device', 'description'].map((k) => `${k} ${JSON.stringify(info[k] ?? '')}`).join(', ')}`);
    say(`- features: ${[...adapter.features].sort().join(', ') || 'none'}`);
    say(`- limits: maxBufferSize ${adapter.limits.maxBufferSize}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize}, maxComputeWorkgroupSizeX ${adapter.limits.maxComputeWorkgroupSizeX}`);
    return true;
  }
  return false;
}

/** Median ms of `steps` AdamW and Muon train steps of the bench GPT on the active backend, and the last loss. */
async function gptSteps(steps: number): Promise<string[]> {
  const rows: string[] = [];
  for (const name of ['adamw', 'muon'] as const) {
    const model = createGPT(BENCH_GPT, 0);
    const opt = buildOptimizer(model.params, OPTIMIZERS[name]());
    const x = tf.randomUniform([BENCH_GPT_BATCH, BENCH_GPT.contextLength ?? 64], 0, BENCH_GPT.vocabSize ?? 65, 'int32', 1);
    const y = tf.randomUniform([BENCH_GPT_BATCH, BENCH_GPT.contextLength ?? 64], 0, BENCH_GPT.vocabSize ?? 65, 'int32', 2);
    const times: number[] = [];
    let loss = NaN;
    for (let i = 0; i < steps + 2; i++) {
      const t0 = performance.now();
      const r = lossAndGrads(model, { x, y }, { training: true });
      opt.step(r.grads);
      loss = (await r.loss.data())[0];
      tf.dispose([r.loss, ...r.grads.values()]);
      if (i >= 2) times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    rows.push(`| ${tf.getBackend()} | ${name} | ${times[times.length >> 1].toFixed(1)} | ${loss.toFixed(4)} |`);
    opt.dispose();
    model.dispose();
    tf.dispose([x, y]);
  }
  return rows;
}

async function main(): Promise<void> {
  const found = await adapterReport();
  const forced = arg('backend', '');
  say();
  if (!found && !forced) {
    say('No WebGPU adapter: the GPT step and the fixtures were not run on webgpu.');
    process.exitCode = 3;
    return;
  }
  say(`## tfjs ${forced || 'webgpu'} backend${forced ? ' (--backend: a check of the probe itself, not a GPU measurement)' : ''}`);
  const choice = await selectBackend(forced || 'webgpu', { quiet: true });
  say(`- ${choice.message}`);
  const steps = Number(arg('steps', '10'));
  const rows = ['| backend | optimizer | ms/step (median) | last loss |', '|---|---|---|---|'];
  rows.push(...(await gptSteps(steps)));
  await selectBackend('cpu', { quiet: true });
  rows.push(...(await gptSteps(Math.min(steps, 3))));
  say();
  say(`GPT train step (bench GPT, batch ${BENCH_GPT_BATCH}), ${steps} timed steps after 2 warm-up ones (cpu: ${Math.min(steps, 3)}):`);
  say();
  for (const r of rows) say(r);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
