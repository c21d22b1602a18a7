/**
 * Starting a sweep: --dry-run runs the same checks as a run, a start that fails writes nothing into
 * the results folder, and a refusal of a folder holding another experiment's results says what differs.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

/** Runs `optlab` from source to completion. */
export function optlabSync(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const TUNED = tinyExperiment({
  name: 'start-test',
  backend: 'cpu',
  training: { steps: 4, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 1, checkpointEvery: 4, sampleChars: 8 },
  schedule: { kind: 'constant' },
  tuning: { trials: 2 },
  optimizers: [{ name: 'adamw', search: { lr: [0.01, 0.02] } }],
});

describe('starting a sweep', function () {
  this.timeout(600_000);
  after(removeTempDirs);

  it('--dry-run runs the preflight checks of a run: a missing data file fails it (plain and tuned experiments)', () => {
    const dir = tempDir();
    const data = { kind: 'text', path: join(dir, 'missing.txt') };
    for (const doc of [tinyExperiment({ data, backend: 'cpu' }), { ...TUNED, data }]) {
      const file = writeExperiment(dir, doc);
      const r = optlabSync(['run', file, '--out', join(dir, 'out'), '--dry-run']);
      expect(r.code, r.out).to.equal(2);
      expect(r.out).to.include('data.path').and.include('missing.txt');
      expect(existsSync(join(dir, 'out'))).to.equal(false);
    }
  });

  it('a start that fails preflight writes nothing into the results folder, so the next try with other settings is not refused', () => {
    const dir = tempDir();
    const file = writeExperiment(dir, TUNED);
    const out = join(dir, 'out');
    mkdirSync(out);
    // The tensorflow backend needs @tensorflow/tfjs-node, which the test environment does not install.
    const bad = optlabSync(['run', file, '--out', out, '--backend', 'tensorflow']);
    expect(bad.code, bad.out).to.not.equal(0);
    expect(readdirSync(out), bad.out).to.deep.equal([]);
    const good = optlabSync(['run', file, '--out', out, '--set', 'training.steps=2', '--set', 'training.evalEvery=2']);
    expect(good.out).to.not.include('already holds');
  });

  it('"already holds results of another experiment grid" says what differs', () => {
    const dir = tempDir();
    const doc = tinyExperiment({ name: 'held', backend: 'cpu', schedule: { kind: 'constant' }, training: { steps: 2, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, checkpointEvery: 2, sampleChars: 8 } });
    const file = writeExperiment(dir, doc);
    const out = join(dir, 'out');
    const first = optlabSync(['run', file, '--out', out]);
    expect(first.code, first.out).to.equal(0);
    const second = optlabSync(['run', file, '--out', out, '--set', 'optimizers.adamw.lr=0.02']);
    expect(second.code).to.equal(2);
    expect(second.out).to.include('already holds results of another experiment grid').and.include('0 in common').and.include('differs in optimizers[0].lr 0.01 -> 0.02');
    // A folder holding only a declaration (experiment.json, empty logs/) is not results.
    const bare = join(dir, 'bare');
    mkdirSync(join(bare, 'logs'), { recursive: true });
    writeFileSync(join(bare, 'experiment.json'), '{"name":"x","grid":["other"],"runs":[],"experiment":{}}');
    const third = optlabSync(['run', file, '--out', bare, '--dry-run']);
    expect(third.code, third.out).to.equal(0);
  });
});
