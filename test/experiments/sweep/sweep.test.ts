import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { readExperimentRecord } from '../../../experiments/analysis/report.js';
import { readCheckpointMeta, readRecord, runPaths } from '../../../experiments/runner/runner.js';
import { curveWithoutWall, summaryWithoutWall, removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

/** Starts `optlab` from source as its own process group (so the test can kill the whole sweep). */
function optlab(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })));
  return { child, done };
}

async function waitFor(cond: () => boolean, what: string, ms = 60000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// Two configurations x two seeds on a tiny GPT: adamw at a working lr and at one that diverges.
const DOC = tinyExperiment({
  name: 'sweep-test',
  training: { steps: 40, batchSize: 4, logEvery: 5, evalEvery: 10, evalBatches: 2, checkpointEvery: 5, sampleChars: 24 },
  seeds: [0, 1],
  target: { valLoss: 3.9 },
  // cpu: pure JS kernels, the same numbers in every process (results of different backends differ in the last bits).
  backend: 'cpu',
  optimizers: [{ name: 'adamw', lr: [0.01, 1e20] }],
});

describe('sweep (child processes)', function () {
  const ids = expandRuns(applyOverrides(DOC, [])).map((r) => r.id);
  // Made in the hook, not at load time: other files' after-hooks remove the temp folders made so far.
  let root = '';
  let file = '';
  let full = '';
  let fullOut = '';

  after(removeTempDirs);

  before(async function () {
    // Six processes start before the first run trains: minutes when other jobs load the machine.
    this.timeout(600_000);
    root = tempDir();
    file = writeExperiment(root, DOC);
    full = join(root, 'full');
    const { done } = optlab(['run', file, '--out', full, '--jobs', '2']);
    const r = await done;
    if (r.code !== 0) throw new Error(`sweep failed (${r.code}):\n${r.out}`);
    fullOut = r.out;
  });

  it('prints plain progress lines when stdout is not a terminal, then the ranking', () => {
    expect(fullOut).to.not.include('\u001b['); // no terminal control sequences
    expect(fullOut).to.match(/\[\d\/4\] adamw lr=0\.01 s0  step 10\/40  train \d\.\d{3} val \d\.\d{3}/);
    // A diverged run says where, and shows no 'final' loss (its last evaluation is the untrained step 0).
    expect(fullOut).to.match(/\[\d\/4\] adamw lr=1e20 s1  diverged at step 5 \(loss not finite; last finite loss: val \d\.\d{3} at step 0\)/);
    expect(fullOut.split('\n').filter((l) => l.includes('lr=1e20') && l.includes('final val'))).to.deep.equal([]);
    expect(fullOut).to.include('backend: cpu (requested)').and.include('sweep: 4 runs in').and.include(': 2 finished, 2 diverged');
    expect(fullOut).to.match(/\n#  optimizer +final val \(mean ± sd\)[^\n]*\n[- ]+\n1  adamw lr=0\.01 +\d\.\d{3} ± \d\.\d{3}/);
  });

  it('writes curves, summary.csv, SVG plots and report.html, and records diverged runs without stopping', () => {
    for (const id of ids) expect(existsSync(runPaths(full, id).csv), id).to.equal(true);
    const plots = readdirSync(join(full, 'plots')).sort();
    // The curves, then one small plot per diagnostics metric (AdamW's update metrics, the GPT's attention logit).
    expect(plots).to.deep.equal([
      'diag-attn_logit_max.svg', 'diag-update_rms.svg', 'diag-update_spectral_norm.svg', 'diag-update_weight_ratio.svg',
      'lr-sensitivity.svg', 'train-loss-vs-step.svg', 'val-loss-vs-step.svg', 'val-loss-vs-time.svg',
    ]);
    for (const p of plots) expect(readFileSync(join(full, 'plots', p), 'utf8')).to.match(/^<svg[^]*<path[^]*<\/svg>$/);
    const html = readFileSync(join(full, 'report.html'), 'utf8');
    expect((html.match(/<svg/g) ?? []).length).to.equal(8);
    for (const id of ids) expect(html).to.include(id);
    const statuses = ids.map((id) => readRecord(runPaths(full, id).json).status);
    expect(statuses).to.deep.equal(['finished', 'finished', 'diverged', 'diverged']);
    const [header, ...rows] = summaryWithoutWall(full);
    const col = (row: string[], c: string) => row[header.indexOf(c)];
    // 4 runs, 2 configurations, 1 best-lr row
    expect(rows.map((r) => r[0])).to.deep.equal(['run', 'run', 'run', 'run', 'config', 'config', 'best-lr']);
    const [good, bad] = rows.filter((r) => r[0] === 'config');
    expect([col(good, 'runs'), col(good, 'diverged'), col(good, 'reached_target')]).to.deep.equal(['2', '0', '2']);
    expect([col(bad, 'runs'), col(bad, 'diverged'), col(bad, 'final_val_loss')]).to.deep.equal(['2', '2', '']);
    expect(Number(col(good, 'final_val_loss'))).to.be.below(3.9);
    expect(Number(col(good, 'final_val_loss_std'))).to.be.above(0);
    expect(col(rows[6], 'lr')).to.equal('0.01');
  });

  it('the command fails on a misspelled key before creating any results, naming the key', async function () {
    this.timeout(600_000);
    const doc = structuredClone(DOC) as { training: Record<string, unknown> };
    doc.training.evalEvry = 10;
    const bad = writeExperiment(root, doc, 'typo.yaml');
    const r = await optlab(['run', bad, '--out', join(root, 'typo')]).done;
    expect(r.code).to.equal(2);
    expect(r.out).to.include("training.evalEvry: unknown key (did you mean 'evalEvery'?)");
    expect(existsSync(join(root, 'typo'))).to.equal(false);
  });

  it('kill -9 mid-sweep, then --resume, gives the same curves and summary as an uninterrupted sweep', async function () {
    this.timeout(600_000);
    const dir = join(root, 'killed');
    const { child, done } = optlab(['run', file, '--out', dir, '--jobs', '1']);
    const first = runPaths(dir, ids[0]);
    await waitFor(() => existsSync(first.ckpt), 'the first checkpoint');
    process.kill(-child.pid!, 'SIGKILL');
    await done;
    expect(readCheckpointMeta(first.ckpt).step).to.be.within(5, 35);
    expect(readRecord(first.json).status).to.equal('running');
    const r = await optlab(['run', file, '--out', dir, '--jobs', '2', '--resume']).done;
    expect(r.code, r.out).to.equal(0);
    for (const id of ids) expect(curveWithoutWall(runPaths(dir, id).csv), id).to.deep.equal(curveWithoutWall(runPaths(full, id).csv));
    expect(summaryWithoutWall(dir)).to.deep.equal(summaryWithoutWall(full));
  });

  it('Ctrl-C checkpoints running runs and exits; --resume completes them identically', async function () {
    this.timeout(600_000);
    const dir = join(root, 'sigint');
    const { child, done } = optlab(['run', file, '--out', dir, '--jobs', '1']);
    await waitFor(() => existsSync(runPaths(dir, ids[0]).ckpt), 'the first checkpoint');
    process.kill(child.pid!, 'SIGINT');
    const r1 = await done;
    expect(r1.code, r1.out).to.equal(130);
    expect(readRecord(runPaths(dir, ids[0]).json).status).to.be.oneOf(['interrupted', 'finished']);
    expect(readRecord(runPaths(dir, ids[1]).json).status).to.equal('pending');
    const r2 = await optlab(['run', file, '--out', dir, '--jobs', '2', '--resume']).done;
    expect(r2.code, r2.out).to.equal(0);
    expect(summaryWithoutWall(dir)).to.deep.equal(summaryWithoutWall(full));
  });

  it('--shard 1/2 and 2/2 merged give the same summary as the unsharded sweep', async function () {
    this.timeout(600_000);
    const [a, b, merged] = ['shard1', 'shard2', 'merged'].map((d) => join(root, d));
    const [ra, rb] = await Promise.all([optlab(['run', file, '--out', a, '--shard', '1/2', '--jobs', '1']).done, optlab(['run', file, '--out', b, '--shard', '2/2', '--jobs', '1']).done]);
    expect(ra.code, ra.out).to.equal(0);
    expect(rb.code, rb.out).to.equal(0);
    const ea = readExperimentRecord(a).runs;
    const eb = readExperimentRecord(b).runs;
    expect(ea.filter((id) => eb.includes(id))).to.deep.equal([]);
    expect([...ea, ...eb].sort()).to.deep.equal([...ids].sort());
    const rm = await optlab(['merge', a, b, '--out', merged]).done;
    expect(rm.code, rm.out).to.equal(0);
    expect(summaryWithoutWall(merged)).to.deep.equal(summaryWithoutWall(full));
    // Shards may also share one folder (a job array writing to one place).
    const rs = await optlab(['run', file, '--out', a, '--shard', '2/2', '--jobs', '2']).done;
    expect(rs.code, rs.out).to.equal(0);
    expect(summaryWithoutWall(a)).to.deep.equal(summaryWithoutWall(full));
  });
});
