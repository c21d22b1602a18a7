/** `optlab bench [--json] [--only ...] [--backends ...] [--quick] [--out dir]`: step costs and throughput (bench/run.ts). */
import type { CommandModule } from 'yargs';
import { loadavg } from 'node:os';
import { DEFAULT_BACKENDS, parseOnly, planFor, runBench, runWorker } from '../bench/run.js';
import { checkLoad, forcedByEnv } from '../bench/cost_scaling.js';

interface BenchArgs {
  json: boolean;
  only: string[];
  backends: string[];
  quick: boolean;
  out: string;
  worker?: string;
  'force-load': boolean;
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Measure optimizer step time, state size and model throughput per backend; write bench/results/*.csv and *.md',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per measurement on stdout' })
      .option('only', { type: 'string', array: true, default: [], describe: 'suites (matrix-steps, gpt-steps, state, gpt, ns, ns-batching, inverse-root, shampoo-cost, vit, auon-scaling, auon-cost, nanogpt-recipe) and/or optimizer names, comma-separated' })
      .option('backends', { type: 'string', array: true, default: [...DEFAULT_BACKENDS], describe: 'cpu, wasm, wasm-native (wasm with the OpenBLAS kernels), pytorch (the PyTorch peers of the GPT rows, when torch is installed), webgpu, tensorflow' })
      .option('quick', { type: 'boolean', default: false, describe: 'fewer shapes and repetitions' })
      .option('out', { type: 'string', default: 'bench/results', describe: "folder for the CSV and markdown ('none' writes nothing)" })
      .option('force-load', { type: 'boolean', default: false, describe: 'suite auon-cost: measure even when the 1-min load average is above 0.5 (the result then records the load and that it was forced)' })
      .option('worker', { type: 'string', hidden: true, describe: 'internal: measure one backend in this process' }) as never,
  handler: async (args) => {
    try {
      parseOnly(args.only);
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    // Read by bench/cost_scaling.ts in this process and in the workers it starts (they inherit the environment).
    if (args['force-load']) process.env.OPTLAB_FORCE_LOAD = '1';
    const backends = args.backends.flatMap((b) => b.split(',')).map((b) => b.trim()).filter(Boolean);
    if (args.worker) return runWorker(args.worker, { only: args.only, quick: args.quick });
    try {
      // Suite auon-cost's load guard, as a clear error before anything runs (runBench checks it too).
      if (planFor(backends[0] ?? 'wasm-native', { only: args.only, quick: args.quick }).suites.includes('auon-cost')) checkLoad(loadavg()[0], forcedByEnv());
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    await runBench({ backends, only: args.only, quick: args.quick, json: args.json, out: args.out === 'none' ? null : args.out });
  },
};
