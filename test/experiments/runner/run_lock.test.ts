import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { acquireRunLock, lockPath, readLock, staleReason } from '../../../experiments/runner/run_lock.js';
import { removeTempDirs, tempDir } from '../helpers.js';

const write = (dir: string, id: string, info: object) => writeFileSync(lockPath(dir, id), JSON.stringify(info));

describe('run locks', () => {
  after(removeTempDirs);

  it('a free run is locked with host, pid and heartbeat; a second taker sees the live holder; release frees it', () => {
    const dir = tempDir();
    const a = acquireRunLock(dir, 'r');
    if (!('lock' in a)) throw new Error('expected the lock');
    expect(readLock(lockPath(dir, 'r'))).to.deep.include({ host: os.hostname(), pid: process.pid });
    const b = acquireRunLock(dir, 'r');
    expect('heldBy' in b && b.heldBy.token).to.equal(a.lock.info.token);
    const before = a.lock.info.heartbeat;
    expect(a.lock.refresh()).to.equal(true);
    expect(readLock(lockPath(dir, 'r'))!.heartbeat).to.be.at.least(before);
    a.lock.release();
    expect(existsSync(lockPath(dir, 'r'))).to.equal(false);
  });

  it('same host: a dead pid is stale and taken over; another host: stale only after the heartbeat timeout', async () => {
    const dir = tempDir();
    const gone = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => gone.on('exit', r));
    const now = Date.now();
    write(dir, 'dead', { host: os.hostname(), pid: gone.pid, token: 't', since: now, heartbeat: now });
    const took = acquireRunLock(dir, 'dead');
    expect('lock' in took && took.tookOver).to.match(new RegExp(`pid ${gone.pid} is not running`));
    write(dir, 'far', { host: 'elsewhere', pid: 1, token: 'f', since: now, heartbeat: now - 5_000 });
    expect('heldBy' in acquireRunLock(dir, 'far', { staleMs: 60_000 })).to.equal(true);
    const old = acquireRunLock(dir, 'far', { staleMs: 1_000 });
    expect('lock' in old && old.tookOver).to.match(/no heartbeat from elsewhere for 5 s/);
    expect(staleReason({ host: 'elsewhere', pid: 1, token: 'x', since: now, heartbeat: now }, now + 200_000, 120_000)).to.match(/200 s/);
  });

  it('of processes racing for one stale lock, exactly one gets it', async () => {
    const dir = tempDir();
    write(dir, 'race', { host: 'elsewhere', pid: 1, token: 'old', since: 0, heartbeat: 0 });
    const src = new URL('../../../experiments/runner/run_lock.ts', import.meta.url).pathname;
    const script = `const { acquireRunLock } = await import(${JSON.stringify(src)}); const r = acquireRunLock(${JSON.stringify(dir)}, 'race'); console.log('lock' in r ? 'got' : 'held'); setTimeout(() => {}, 1500);`;
    const outs = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<string>((resolve) => {
        const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('exit', () => resolve(out.trim()));
      })),
    );
    expect(outs.filter((o) => o === 'got'), outs.join(' | ')).to.have.length(1);
    expect(outs.filter((o) => o === 'held')).to.have.length(3);
    expect(JSON.parse(readFileSync(lockPath(dir, 'race'), 'utf8')).token).to.not.equal('old');
  });
});
