/**
 * File-system faults during a sweep, injected through OPTLAB_FS_FAULT (experiments/runner/fs_faults.ts)
 * and by removing the results folder while runs train: one line naming the error and the path, no
 * stack, the other runs stopped, no temporary files, no record left "running", and --resume goes on
 * once the folder can take writes again.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsFault } from '../../../experiments/runner/fs_faults.js';
import { readRecord, writeAtomic } from '../../../experiments/runner/runner.js';
import { optlabSync, removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

const DOC = tinyExperiment({
  name: 'fs-faults',
  backend: 'cpu',
  schedule: { kind: 'constant' },
  seeds: [0, 1, 2],
  training: { steps: 6, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, checkpointEvery: 2, sampleChars: 8 },
});

/** Every file below `dir`, relative. */
const filesIn = (dir: string) => (existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]) : []);

/** The statuses of the run records in `dir`. */
const statuses = (dir: string) => filesIn(dir).filter((f) => /^[^/]+-s\d+\.json$/.test(f)).map((f) => readRecord(join(dir, f)).status);

/** Stack frames in a command's output (a fault must be one line, not a Node stack). */
const stackLines = (out: string) => out.split('\n').filter((l) => /^\s+at /.test(l));

describe('file-system faults', function () {
  this.timeout(600_000);
  after(removeTempDirs);

  it('writeAtomic: a failed write leaves the old file and no temporary file, and names the path', () => {
    const dir = tempDir();
    const f = join(dir, 'r.json');
    writeAtomic(f, 'old');
    const prev = process.env.OPTLAB_FS_FAULT;
    process.env.OPTLAB_FS_FAULT = 'ENOSPC:4';
    try {
      expect(() => writeAtomic(f, 'new content')).to.throw(FsFault, `ENOSPC: no space left on device, write ${f}`);
      writeAtomic(f, 'ok'); // under the injected size: fits
    } finally {
      if (prev === undefined) delete process.env.OPTLAB_FS_FAULT;
      else process.env.OPTLAB_FS_FAULT = prev;
    }
    expect(readFileSync(f, 'utf8')).to.equal('ok');
    expect(readdirSync(dir)).to.deep.equal(['r.json']);
  });

  it('no space: one line naming ENOSPC and the checkpoint, other runs stopped, no temp files, no record running; --resume finishes once space is back', () => {
    const dir = tempDir();
    const file = writeExperiment(dir, DOC);
    const out = join(dir, 'out');
    // Checkpoints (tens of KB) no longer fit; records and curve rows still do.
    const r = optlabSync(['run', file, '--out', out, '--jobs', '2'], { OPTLAB_FS_FAULT: 'ENOSPC:20000' });
    expect(r.code, r.out).to.equal(1);
    expect(r.out).to.match(new RegExp(`error: ENOSPC: no space left on device, write ${out}/checkpoints/\\S+\\.ckpt`));
    expect(stackLines(r.out), r.out).to.deep.equal([]);
    expect(r.out).to.include('continue with:').and.include('--resume');
    expect(filesIn(out).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
    const st = statuses(out);
    expect(st).to.not.include('running');
    expect(st.filter((s) => s === 'failed').length, st.join(' ')).to.be.at.least(1);
    expect(st.every((s) => ['failed', 'interrupted', 'pending'].includes(s)), st.join(' ')).to.equal(true);
    const again = optlabSync(['run', file, '--out', out, '--jobs', '2', '--resume']);
    expect(again.code, again.out).to.equal(0);
    expect(statuses(out)).to.deep.equal(['finished', 'finished', 'finished']);
    expect(filesIn(out).filter((f) => f.includes('.tmp-') || f.endsWith('.lock'))).to.deep.equal([]);
  });

  it('no permission on the results folder: one line naming EACCES and the file, nothing left behind', () => {
    const dir = tempDir();
    const file = writeExperiment(dir, DOC);
    const out = join(dir, 'out');
    const r = optlabSync(['run', file, '--out', out], { OPTLAB_FS_FAULT: 'EACCES:0' });
    expect(r.code, r.out).to.equal(1);
    expect(r.out).to.match(new RegExp(`error: EACCES: permission denied, write ${out}/\\S+`));
    expect(stackLines(r.out), r.out).to.deep.equal([]);
    expect(filesIn(out).filter((f) => f.includes('.tmp-') || f.endsWith('.json'))).to.deep.equal([]);
  });

  it('the results folder removed while runs train: one line naming it, the sweep stops, the folder is not made again', async () => {
    const dir = tempDir();
    const file = writeExperiment(dir, { ...DOC, seeds: [0, 1], training: { ...(DOC.training as object), steps: 400, logEvery: 2, evalEvery: 2, checkpointEvery: 200 } });
    const out = join(dir, 'out');
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'run', file, '--out', out, '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const t0 = Date.now();
    while (!filesIn(out).some((f) => f.endsWith('.csv'))) {
      if (Date.now() - t0 > 300_000) throw new Error(`no curve appeared:\n${text}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    rmSync(out, { recursive: true, force: true });
    const code = await done;
    expect(code, text).to.equal(1);
    expect(text).to.include(`error: ENOENT: no such file or folder (was the results folder removed?), write into ${out}`);
    expect(stackLines(text), text).to.deep.equal([]);
    expect(existsSync(out), 'the removed folder is not made again').to.equal(false);
    writeFileSync(join(dir, 'done'), '');
  });
});
