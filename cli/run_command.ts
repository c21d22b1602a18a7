/** `optlab run`: an experiment file's sweep (experiments/sweep/sweep.ts) from the command line. */
import type { CommandModule } from 'yargs';
import { ConfigError } from '../experiments/runner/config.js';
import { parseShard, runSweep, sweepExitCode } from '../experiments/sweep/sweep.js';
import { backendHelp } from './backend_help.js';

interface RunArgs {
  experiment: string;
  out?: string;
  set?: string[];
  jobs?: number;
  shard?: string;
  shards?: number;
  resume?: boolean;
  overwrite?: boolean;
  only?: string[];
  allowMixedBackends?: boolean;
  live?: boolean;
  backend?: string;
  dryRun?: boolean;
  untilDecided?: boolean;
  maxSeeds?: number;
  tensorboard?: string;
}

/** Where `run --help` sends a reader for the experiment file's keys. */
export const EXPERIMENT_FILE_HELP = "The experiment file: every key with its type, default, allowed values and meaning in docs/config.md (in the package: node_modules/optlab/docs/config.md); `optlab schema` prints its JSON Schema for editors (`optlab schema > experiment.schema.json`, then `# yaml-language-server: $schema=./experiment.schema.json` in the YAML). A method, model, data or metric of your own: `plugins: [./my_methods.ts]` (docs/config.md, Plugins).";

/** `optlab run <experiment.yaml> [--out DIR] [--set key=value ...] [--only NAMES] [--jobs N] [--shard I/N|auto [--shards N]] [--resume|--overwrite] [--live] [--backend NAME] [--allow-mixed-backends] [--tensorboard [DIR]]` */
export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <experiment>',
  describe: 'Run an experiment file (optimizers x hyperparameters x seeds) and write curves, summary, plots and report',
  builder: (y) =>
    y
      .positional('experiment', { type: 'string', demandOption: true, describe: 'experiment YAML (every key: docs/config.md; examples: experiments/configs/)' })
      .option('out', { type: 'string', describe: 'results folder (default results/<name>)' })
      .option('set', { type: 'string', array: true, describe: 'override a key, e.g. --set training.steps=100 --set optimizers.adamw.lr=[1e-3,3e-3]' })
      .option('only', { type: 'string', array: true, describe: 'run only these optimizer entries (labels or names), e.g. --only adamw,muon' })
      .option('jobs', { type: 'number', describe: 'runs at a time (default: one per core)' })
      .option('shard', { type: 'string', describe: 'run only slice I of N of the grid, e.g. 2/4; auto: from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX' })
      .option('shards', { type: 'number', describe: 'shard count for --shard auto when the scheduler does not give it (Kubernetes: the Job\'s completions)' })
      .option('resume', { type: 'boolean', default: false, describe: 'skip finished runs, continue unfinished ones from their checkpoints' })
      .option('overwrite', { type: 'boolean', default: false, describe: 'start over in a results folder that already holds results' })
      .option('live', { type: 'boolean', default: false, describe: 'keep report.html current while the sweep runs (the page reloads itself)' })
      .option('allow-mixed-backends', { type: 'boolean', default: false, describe: 'let runs of one comparison come from different backends' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'list the runs (ids, settings, state) without training' })
      .option('until-decided', { type: 'boolean', default: false, describe: 'add seeds to optimizers whose verdict against the baseline is undecided, until decided or --max-seeds' })
      .option('max-seeds', { type: 'number', describe: 'most final seeds per optimizer with --until-decided (default 10)' })
      .option('backend', { type: 'string', describe: backendHelp("the file's backend:, then $OPTLAB_BACKEND, then auto") })
      .option('tensorboard', { type: 'string', describe: 'also write TensorBoard scalars of every curve into DIR/<run id> (DIR default: <out>/tensorboard); needs tfjs-node (npm run setup:tensorflow)' })
      .epilog(EXPERIMENT_FILE_HELP) as never,
  handler: async (args) => {
    try {
      if (args.shard && args.shard.trim() !== 'auto') parseShard(args.shard);
      if (args.shards !== undefined && args.shard?.trim() !== 'auto') throw new ConfigError('--shards N goes with --shard auto (the count when the scheduler does not give it); with --shard I/N the count is N');
      if (args.resume && args.overwrite) throw new ConfigError('--resume and --overwrite exclude each other: continue the runs there, or start them over');
      const out = await runSweep(args.experiment, {
        out: args.out, sets: args.set, only: args.only, jobs: args.jobs, shard: args.shard, shards: args.shards, resume: args.resume, overwrite: args.overwrite,
        live: args.live, allowMixedBackends: args.allowMixedBackends, backend: args.backend, dryRun: args.dryRun,
        untilDecided: args.untilDecided, maxSeeds: args.maxSeeds, tensorboard: args.tensorboard,
      });
      process.exitCode = sweepExitCode(out);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`error: ${e.message}`);
      process.exitCode = 2;
    }
  },
};
