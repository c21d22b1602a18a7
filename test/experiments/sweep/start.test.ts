/**
 * Starting a sweep: --dry-run runs the same checks as a run, a start that fails writes nothing into
 * the results folder, and a refusal of a folder holding another experiment's results says what differs.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { lockPath } from '../../../experiments/runner/run_lock.js';
import { readRecord } from '../../../experiments/runner/runner.js';
import { optlabSync, removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

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
    // The webgpu backend needs the 'webgpu' package and an adapter, which no test machine has (the tensorflow
    // backend would not do: CI installs tfjs-node); the start then fails at the backend check.
    const bad = optlabSync(['run', file, '--out', out, '--backend', 'webgpu']);
    expect(bad.code, bad.out).to.not.equal(0);
    expect(readdirSync(out), bad.out).to.deep.equal([]);
    const good = optlabSync(['run', file, '--out', out, '--set', 'training.steps=2', '--set', 'training.evalEvery=2']);
    expect(good.out).to.not.include('already holds');
  });

  it('a second --resume skips a run another live process holds (its lock), says so and leaves its files alone; a dead holder is taken over', () => {
    const dir = tempDir();
    const doc = tinyExperiment({ name: 'locked', backend: 'cpu', schedule: { kind: 'constant' }, seeds: [0, 1], training: { steps: 2, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, checkpointEvery: 2, sampleChars: 8 } });
    const file = writeExperiment(dir, doc);
    const out = join(dir, 'out');
    const ids = expandRuns(applyOverrides(doc, [])).map((r) => r.id);
    mkdirSync(out);
    // This test process stands for a sweep on this host that trains the second run.
    const now = Date.now();
    writeFileSync(lockPath(out, ids[1]), JSON.stringify({ host: os.hostname(), pid: process.pid, token: 'other', since: now, heartbeat: now }));
    const r = optlabSync(['run', file, '--out', out, '--resume']);
    expect(r.code, r.out).to.equal(0);
    expect(r.out).to.include(`${ids[1]}: skipped, another process trains it: pid ${process.pid} on ${os.hostname()}`);
    expect(existsSync(join(out, `${ids[1]}.json`))).to.equal(false);
    expect(readRecord(join(out, `${ids[0]}.json`)).status).to.equal('finished');
    expect(existsSync(lockPath(out, ids[0])), 'its own lock is released').to.equal(false);
    expect(JSON.parse(readFileSync(lockPath(out, ids[1]), 'utf8')).token).to.equal('other');
    // The holder died: the next --resume takes the run over.
    writeFileSync(lockPath(out, ids[1]), JSON.stringify({ host: os.hostname(), pid: 2 ** 22 + 12345, token: 'dead', since: now, heartbeat: now }));
    const again = optlabSync(['run', file, '--out', out, '--resume']);
    expect(again.out).to.include(`${ids[1]}: took over a stale lock`).and.include('is not running');
    expect(readRecord(join(out, `${ids[1]}.json`)).status).to.equal('finished');
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
