/** `optlab kronecker`: Shampoo's preconditioner against the optimal Kronecker approximation (experiments/claims/kronecker_experiment.ts). */
import { join } from 'node:path';
import YAML from 'yaml';
import type { CommandModule } from 'yargs';
import { selectBackend } from '../kernels/backend.js';
import { KRONECKER_DEFAULTS, KRONECKER_TASKS, resolveKroneckerOptions, runKronecker, writeKronecker, type KroneckerOptions } from '../experiments/claims/kronecker_experiment.js';
import { backendHelp } from './backend_help.js';

interface KroneckerArgs {
  task: string;
  optimizer?: string;
  options?: string;
  steps?: number;
  every?: number;
  'batch-size'?: number;
  seeds?: number[];
  layers?: string[];
  'gn-samples'?: number;
  beta2?: number;
  'max-dim'?: number;
  out?: string;
  backend?: string;
}

/** Parses `--options` (YAML or JSON) into an object, naming the flag on failure. */
function parseOptions(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  const v = YAML.parse(text);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`--options must be a mapping such as '{lr: 0.001}', got ${JSON.stringify(text)}`);
  return v as Record<string, unknown>;
}

/** The `optlab kronecker` subcommand. */
export const kroneckerCommand: CommandModule<object, KroneckerArgs> = {
  command: 'kronecker',
  describe: "Cosine similarity of Shampoo's and the optimal Kronecker approximation to a layer's Adagrad and Gauss-Newton matrices over training; writes kronecker.csv/.svg/.json",
  builder: (y) =>
    y
      .option('task', { type: 'string', choices: [...KRONECKER_TASKS], default: 'mnist2-mlp', describe: 'mnist2-mlp (binary MNIST subset, pooled 7x7, MLP 49-32-32-2) or gpt (char GPT, width 32)' })
      .option('optimizer', { type: 'string', describe: `registry name of the optimizer that trains the model (default ${KRONECKER_DEFAULTS['mnist2-mlp'].optimizer})` })
      .option('options', { type: 'string', describe: "its options as YAML, e.g. '{lr: 0.001}' (default per task)" })
      .option('steps', { type: 'number', describe: 'training steps' })
      .option('every', { type: 'number', describe: 'compute the similarities every this many steps' })
      .option('batch-size', { type: 'number', describe: 'training batch' })
      .option('seeds', { type: 'array', describe: 'a list of seeds, one run each, e.g. --seeds 0 1 2', coerce: (xs: unknown[]) => xs.map(Number) })
      .option('layers', { type: 'string', array: true, describe: 'parameter names to track (default per task)' })
      .option('gn-samples', { type: 'number', describe: 'per-example gradients per Gauss-Newton estimate (0: Adagrad only)' })
      .option('beta2', { type: 'number', describe: 'EMA of H, L, R; 1 = sums (Adagrad, Shampoo default)' })
      .option('max-dim', { type: 'number', describe: 'largest m*n tracked (H takes 8 (m n)^2 bytes)' })
      .option('out', { type: 'string', describe: 'results folder (default results/kronecker/<task>)' })
      .option('backend', { type: 'string', describe: backendHelp('$OPTLAB_BACKEND, then auto') }) as never,
  handler: async (args) => {
    let opts: KroneckerOptions;
    try {
      opts = resolveKroneckerOptions({
        task: args.task,
        optimizer: args.optimizer,
        optimizerOptions: parseOptions(args.options),
        steps: args.steps,
        every: args.every,
        batchSize: args['batch-size'],
        seeds: args.seeds,
        layers: args.layers?.flatMap((l) => l.split(',')).filter(Boolean),
        gnSamples: args['gn-samples'],
        beta2: args.beta2,
        maxDim: args['max-dim'],
      });
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    const backend = await selectBackend(args.backend);
    console.log(backend.message);
    let res;
    try {
      res = runKronecker(opts, (line) => console.log(line));
    } catch (e) {
      // A bad layer name or too large a layer is found once the model exists, before training.
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    const dir = args.out ?? join('results', 'kronecker', opts.task);
    await writeKronecker(dir, opts, res, backend.label);
    console.log(`${res.rows.length} rows in ${(res.wallMs / 1000).toFixed(1)} s${res.unconverged ? `; ${res.unconverged} power iterations hit the cap (their 'optimal' is a lower bound)` : ''}\nwrote ${join(dir, 'kronecker.csv')}, kronecker.svg, kronecker.json`);
  },
};
