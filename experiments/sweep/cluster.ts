/**
 * `--shard auto`: the shard index and count from a cluster scheduler's environment, so one job
 * script serves every task of an array (experiments/cluster/ has an sbatch script and a Kubernetes
 * Indexed Job manifest).
 *
 *   SLURM job array (`sbatch --array=0-7`): SLURM_ARRAY_TASK_ID, with SLURM_ARRAY_TASK_COUNT or
 *     SLURM_ARRAY_TASK_MIN/MAX (and SLURM_ARRAY_TASK_STEP for `--array=0-14:2`); the count must agree
 *     with `--shards N` when both are given.
 *   Kubernetes Indexed Job: JOB_COMPLETION_INDEX (0-based), the count from `--shards N` or
 *     $OPTLAB_SHARDS (the Job's `completions`: Kubernetes does not put it in the environment).
 *
 * Each task runs every N-th run of the grid (sweep.ts `shardRuns`), so with N smaller than the grid
 * a task runs several runs in turn: size the array as ceil(runs / runs per task).
 */
import { ConfigError } from '../runner/config.js';

/** A shard as `--shard I/N` takes it (1-based), with where it came from. */
export interface ShardChoice {
  /** 'I/N', 1-based. */
  shard: string;
  index: number;
  count: number;
  /** How it was found, e.g. 'SLURM_ARRAY_TASK_ID=3 of SLURM_ARRAY_TASK_COUNT=8'. */
  source: string;
}

const intVar = (env: NodeJS.ProcessEnv, name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new ConfigError(`--shard auto: $${name} is '${v}', expected a non-negative integer`);
  return Number(v);
};

/**
 * Reads the shard from the scheduler's environment. `shards` is `--shards N` (needed for Kubernetes
 * unless $OPTLAB_SHARDS is set). Throws ConfigError naming the variable when none is set or they
 * disagree.
 */
export function shardFromEnvironment(env: NodeJS.ProcessEnv = process.env, shards?: number): ShardChoice {
  if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1)) throw new ConfigError(`--shards ${shards}: expected a positive integer`);
  const make = (zeroBased: number, count: number, source: string): ShardChoice => {
    if (zeroBased >= count) throw new ConfigError(`--shard auto: index ${zeroBased} (${source}) is not below the count ${count}`);
    return { shard: `${zeroBased + 1}/${count}`, index: zeroBased + 1, count, source };
  };
  const slurmId = intVar(env, 'SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) {
    const min = intVar(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
    const step = intVar(env, 'SLURM_ARRAY_TASK_STEP') ?? 1;
    const max = intVar(env, 'SLURM_ARRAY_TASK_MAX');
    let count = intVar(env, 'SLURM_ARRAY_TASK_COUNT');
    let how = 'SLURM_ARRAY_TASK_COUNT';
    if (count === undefined && max !== undefined) {
      count = Math.floor((max - min) / step) + 1;
      how = `SLURM_ARRAY_TASK_MIN/MAX ${min}-${max}${step > 1 ? `:${step}` : ''}`;
    }
    if (count === undefined) {
      if (shards === undefined) throw new ConfigError('--shard auto: $SLURM_ARRAY_TASK_ID is set but neither $SLURM_ARRAY_TASK_COUNT nor $SLURM_ARRAY_TASK_MIN/MAX; give --shards N');
      count = shards;
      how = '--shards';
    }
    if (shards !== undefined && shards !== count) throw new ConfigError(`--shards ${shards} disagrees with the SLURM array (${count} tasks from ${how})`);
    if (step < 1 || slurmId < min || (slurmId - min) % step !== 0) {
      throw new ConfigError(`--shard auto: SLURM_ARRAY_TASK_ID=${slurmId} is not on the array's range ${min}-${max ?? '?'}:${step}; use a contiguous array such as --array=0-${count - 1}`);
    }
    return make((slurmId - min) / step, count, `SLURM_ARRAY_TASK_ID=${slurmId} of ${count} tasks (${how})`);
  }
  const k8s = intVar(env, 'JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const fromEnv = intVar(env, 'OPTLAB_SHARDS');
    const count = shards ?? fromEnv;
    if (count === undefined) throw new ConfigError('--shard auto: $JOB_COMPLETION_INDEX is set but not the count; give --shards N (the Job\'s completions) or set $OPTLAB_SHARDS');
    if (shards !== undefined && fromEnv !== undefined && shards !== fromEnv) throw new ConfigError(`--shards ${shards} disagrees with $OPTLAB_SHARDS=${fromEnv}`);
    return make(k8s, count, `JOB_COMPLETION_INDEX=${k8s} of ${count} completions (${shards !== undefined ? '--shards' : '$OPTLAB_SHARDS'})`);
  }
  throw new ConfigError('--shard auto: no scheduler index in the environment ($SLURM_ARRAY_TASK_ID of a SLURM job array or $JOB_COMPLETION_INDEX of a Kubernetes Indexed Job); give --shard I/N instead');
}
