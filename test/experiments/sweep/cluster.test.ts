import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { applyOverrides, ConfigError, expandRuns } from '../../../experiments/runner/config.js';
import { shardFromEnvironment } from '../../../experiments/sweep/cluster.js';
import { shardRuns } from '../../../experiments/sweep/sweep.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;
const CLUSTER = new URL('../../../experiments/cluster/', import.meta.url).pathname;

// (3 adamw lrs + 1 sgd) x 3 seeds = 12 runs: more runs than array tasks, so each task runs several.
const DOC = tinyExperiment({ optimizers: [{ name: 'adamw', lr: [1e-3, 3e-3, 1e-2] }, { name: 'sgd' }], seeds: 3 });
const RUNS = expandRuns(applyOverrides(DOC, []));
const IDS = RUNS.map((r) => r.id);

/** The run ids every task of an array gets, from the environment each task would see. */
function tasks(envs: NodeJS.ProcessEnv[], shards?: number): string[][] {
  return envs.map((env) => shardRuns(RUNS, shardFromEnvironment(env, shards).shard).map((r) => r.id));
}

/** The union of the tasks is the whole grid and no run is in two tasks. */
function expectPartition(parts: string[][]): void {
  const all = parts.flat();
  expect(new Set(all).size, 'no run twice').to.equal(all.length);
  expect([...all].sort()).to.deep.equal([...IDS].sort());
}

describe('--shard auto (cluster schedulers)', () => {
  after(removeTempDirs);

  it('SLURM array 0-3 with SLURM_ARRAY_TASK_COUNT: 4 tasks of 3 runs cover the grid without overlap', () => {
    const envs = [0, 1, 2, 3].map((i) => ({ SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' }));
    const parts = tasks(envs);
    expect(parts.map((p) => p.length)).to.deep.equal([3, 3, 3, 3]);
    expectPartition(parts);
    expect(shardFromEnvironment(envs[2]).shard).to.equal('3/4');
  });

  it('SLURM array 1-5 given only by MIN/MAX (no COUNT), and a stepped array 0-8:2', () => {
    expectPartition(tasks([1, 2, 3, 4, 5].map((i) => ({ SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '5' }))));
    const stepped = [0, 2, 4, 6, 8].map((i) => ({ SLURM_ARRAY_TASK_ID: String(i), SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '8', SLURM_ARRAY_TASK_STEP: '2' }));
    expect(stepped.map((e) => shardFromEnvironment(e).shard)).to.deep.equal(['1/5', '2/5', '3/5', '4/5', '5/5']);
    expectPartition(tasks(stepped));
  });

  it('Kubernetes Indexed Job: JOB_COMPLETION_INDEX with --shards N or $OPTLAB_SHARDS', () => {
    expectPartition(tasks([0, 1, 2, 3, 4].map((i) => ({ JOB_COMPLETION_INDEX: String(i) })), 5));
    expectPartition(tasks([0, 1].map((i) => ({ JOB_COMPLETION_INDEX: String(i), OPTLAB_SHARDS: '2' }))));
    expect(shardFromEnvironment({ JOB_COMPLETION_INDEX: '0' }, 5).source).to.match(/JOB_COMPLETION_INDEX=0 of 5/);
  });

  it('names the missing or conflicting variable', () => {
    const err = (env: NodeJS.ProcessEnv, shards?: number) => {
      try {
        shardFromEnvironment(env, shards);
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(err({})).to.match(/SLURM_ARRAY_TASK_ID.*JOB_COMPLETION_INDEX/);
    expect(err({ JOB_COMPLETION_INDEX: '1' })).to.match(/--shards N/);
    expect(err({ JOB_COMPLETION_INDEX: '5' }, 5)).to.match(/not below the count 5/);
    expect(err({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '4' }, 3)).to.match(/--shards 3 disagrees with the SLURM array \(4 tasks/);
    expect(err({ SLURM_ARRAY_TASK_ID: 'x', SLURM_ARRAY_TASK_COUNT: '4' })).to.match(/\$SLURM_ARRAY_TASK_ID is 'x'/);
  });

  it('optlab run --shard auto --dry-run under SLURM variables lists that task\'s runs', () => {
    const file = writeExperiment(tempDir(), DOC);
    const env = { ...process.env, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4' };
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'run', file, '--shard', 'auto', '--dry-run', '--out', tempDir()], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('shard 2/4 of 12, from SLURM_ARRAY_TASK_ID=1 of 4 tasks');
    const listed = r.stdout.split('\n').filter((l) => /-s\d  /.test(l)).map((l) => l.split(' ')[0]);
    expect(listed).to.deep.equal(shardRuns(RUNS, '2/4').map((x) => x.id));
  });

  it('experiments/cluster/sweep.sbatch runs its array task\'s shard (dry run, with the built CLI)', function () {
    this.timeout(300_000);
    const file = writeExperiment(tempDir(), DOC);
    const env = { ...process.env, SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3', SLURM_SUBMIT_DIR: ROOT };
    const r = spawnSync('bash', [`${CLUSTER}sweep.sbatch`, file, '--dry-run'], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('tiny: 3 runs (shard 4/4 of 12, from SLURM_ARRAY_TASK_ID=3 of 4 tasks (SLURM_ARRAY_TASK_COUNT)) -> results/tiny/task-3');
  });

  it('experiments/cluster/indexed-job.yaml is an Indexed Job whose OPTLAB_SHARDS equals its completions', () => {
    const job = YAML.parse(readFileSync(`${CLUSTER}indexed-job.yaml`, 'utf8'));
    expect(job.kind).to.equal('Job');
    expect(job.spec.completionMode).to.equal('Indexed');
    const c = job.spec.template.spec.containers[0];
    const shards = c.env.find((e: { name: string }) => e.name === 'OPTLAB_SHARDS').value;
    expect(Number(shards)).to.equal(job.spec.completions);
    expect(c.args.join(' ')).to.include('--shard auto').and.include('task-$JOB_COMPLETION_INDEX');
  });
});
