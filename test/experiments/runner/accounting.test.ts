import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { selectBackend } from '../../../kernels/backend.js';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { formatListing, listOptimizers } from '../../../cli/list_command.js';
import { initRun, readCurve, readRecord, runPaths, trainRun } from '../../../experiments/runner/runner.js';
import { runSweep } from '../../../experiments/sweep/sweep.js';
import { OPTIMIZERS } from '../../../optimizers/index.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const CLI = new URL('../../../cli/cli.ts', import.meta.url).pathname;

function optlab(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('exit', (code) => resolve({ code, out })));
  return { child, done };
}

async function waitFor(cond: () => boolean, what: string, ms = 300_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('run accounting (in process)', function () {
  this.timeout(300_000);
  after(removeTempDirs);
  before(() => selectBackend('cpu', { quiet: true }));

  /** Expands a tiny experiment and writes the pending record of its first run into a fresh folder. */
  function prepare(over: Record<string, unknown>): { dir: string; id: string } {
    const dir = tempDir();
    const runs = expandRuns(applyOverrides(tinyExperiment(over), []));
    initRun(dir, runs[0], 'tiny');
    return { dir, id: runs[0].id };
  }

  it('a diverged run records the step and its last finite losses, and no final loss (not the untrained step-0 value)', async () => {
    const { dir, id } = prepare({ optimizers: [{ name: 'sgd', lr: 1e30, momentum: 0 }], training: { steps: 8, batchSize: 2, logEvery: 2, evalEvery: 4, evalBatches: 1 } });
    const rec = await trainRun(id, { dir });
    const rows = readCurve(runPaths(dir, id).csv);
    expect(rec.status).to.equal('diverged');
    expect(rec.divergedAt).to.equal(rows.at(-1)!.step);
    expect(rec.result!.finalValLoss).to.equal(null);
    expect(rec.result!.finalTrainLoss).to.equal(null);
    const finite = rows.filter((r) => r.step < rec.divergedAt! && (r.train_loss === null || Number.isFinite(r.train_loss)));
    expect(rec.lastFinite).to.deep.equal({ step: finite.at(-1)!.step, trainLoss: finite.filter((r) => r.train_loss !== null).at(-1)?.train_loss ?? null, valLoss: finite.filter((r) => r.val_loss !== null).at(-1)!.val_loss });
    expect(rec.sample).to.equal(undefined);
  });

  it('the record keeps up with checkpoints, says which parameter went to which route, and a finished GPT leaves a text sample', async () => {
    const { dir, id } = prepare({ optimizers: [{ name: 'muon', lr: 0.02 }], training: { steps: 6, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, checkpointEvery: 2, sampleChars: 30 } });
    let seen = -1;
    const stopped = await trainRun(id, { dir, stopAfter: 4, onRow: () => (seen = readRecord(runPaths(dir, id).json).step) });
    expect(seen).to.be.at.least(2); // the JSON followed the checkpoints while training
    expect([stopped.status, stopped.signal, stopped.step, stopped.checkpointStep]).to.deep.equal(['interrupted', 'stopAfter', 4, 4]);
    const rec = await trainRun(id, { dir });
    const route = (p: string) => rec.routing!.find((r) => r.parameter === p)!;
    expect(route('blocks.0.attn.qkv')).to.deep.include({ role: 'matrix', route: 'muon', shape: [16, 48] });
    expect(route('wte')).to.deep.include({ role: 'embedding', route: 'adamw' });
    expect(rec.routing!.length).to.equal(rec.routing!.filter((r) => r.route === 'muon' || r.route === 'adamw').length);
    expect(rec.sample!.text).to.have.length(30);
    expect(rec.sample).to.deep.include({ prompt: '\n', temperature: 0.8, seed: 0 });
    expect(readRecord(runPaths(dir, id).json).sample).to.deep.equal(rec.sample);
  });

  it('data.path trains on a user\'s text file with its own character vocabulary', async () => {
    const corpus = join(tempDir(), 'corpus.txt');
    writeFileSync(corpus, 'abcab cabba\n'.repeat(200));
    const { dir, id } = prepare({ data: { kind: 'text', path: corpus }, training: { steps: 4, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, sampleChars: 20 } });
    const rec = await trainRun(id, { dir });
    expect(rec.status).to.equal('finished');
    expect(rec.config.data).to.deep.equal({ kind: 'text', path: corpus, evalSeed: 1234 });
    // 5 distinct characters: ' ', '\n', a, b, c
    expect(rec.routing!.find((r) => r.parameter === 'wte')!.shape).to.deep.equal([5, 16]);
    expect(rec.sample!.text).to.match(/^[abc \n]{20}$/);
  });

  it('progress bars show no ETA until one is known (never "NFs")', async () => {
    const file = writeExperiment(tempDir(), tinyExperiment({ backend: 'cpu', training: { steps: 20, batchSize: 2, logEvery: 2, evalEvery: 10, evalBatches: 1, sampleChars: 0 } }));
    const stream = new PassThrough();
    let drawn = '';
    stream.on('data', (d) => (drawn += d));
    const out = await runSweep(file, { out: join(tempDir(), 'r'), jobs: 1, tty: true, progressStream: stream, print: false });
    expect(Object.values(out.statuses)).to.deep.equal(['finished']);
    expect(drawn).to.include('sweep').and.include('ETA');
    expect(drawn).to.not.match(/NF|NaN|Infinity/);
  });

  it('optlab list: every optimizer with its options and defaults (the objects validation uses) and a line of doc', () => {
    const list = listOptimizers();
    expect(list.map((o) => o.name)).to.deep.equal(Object.keys(OPTIMIZERS));
    for (const o of list) {
      expect(o.doc, o.name).to.match(/^\S.{10,}/);
      expect(Object.fromEntries(o.options.map((p) => [p.name, p.default])), o.name).to.deep.equal({ ...OPTIMIZERS[o.name].defaults });
    }
    const adamw = list.find((o) => o.name === 'adamw')!;
    expect(adamw.doc).to.equal('AdamW for every parameter it is given. (arXiv 1711.05101)');
    expect(adamw.options.find((p) => p.name === 'weightDecay')).to.deep.equal({ name: 'weightDecay', default: 0.01, doc: 'Decoupled weight decay, multiplied by the learning rate.' });
    expect(adamw.options.find((p) => p.name === 'amsgrad')!.doc).to.equal('Keep the running maximum of v (Reddi et al. 2018).');
    expect(formatListing(list, ['muon'])).to.match(/^muon: .*\n {2}lr = 0\.02 +Learning rate/);
    // Options inherited from another file's interface (NorMuonOptions extends AuxAdamWOptions of adamw.ts) keep their doc.
    for (const name of ['muon', 'normuon', 'auon']) {
      const o = list.find((x) => x.name === name)!;
      expect(o.options.find((p) => p.name === 'adamLr')!.doc, name).to.equal("Learning rate of the auxiliary AdamW (times the schedule's lrScale).");
      expect(o.options.find((p) => p.name === 'adamBeta1')!.doc, name).to.equal('First beta of the auxiliary AdamW.');
    }
    expect(list.find((x) => x.name === 'adamuon')!.options.find((p) => p.name === 'adamEps')!.doc).to.equal('eps of the auxiliary AdamW.');
  });
});

describe('run accounting (optlab run)', function () {
  this.timeout(900_000);
  after(removeTempDirs);

  it('a run killed by a signal is interrupted (with the signal and the step its curve reached), the sweep exits 1, and a rerun needs --resume', async () => {
    const root = tempDir();
    const file = writeExperiment(root, tinyExperiment({ backend: 'cpu', seeds: [0, 1], training: { steps: 40, batchSize: 2, logEvery: 5, evalEvery: 10, evalBatches: 1, checkpointEvery: 10, sampleChars: 0 } }));
    const dir = join(root, 'out');
    const ids = expandRuns(applyOverrides(tinyExperiment({ seeds: [0, 1], training: { steps: 40, batchSize: 2, logEvery: 5, evalEvery: 10, evalBatches: 1, checkpointEvery: 10, sampleChars: 0 } }), [])).map((r) => r.id);
    const env = { ...process.env, PATH: '/usr/bin:/bin' };
    const { done } = optlab(['run', file, '--out', dir, '--jobs', '1', '--live'], env);
    const first = runPaths(dir, ids[0]);
    await waitFor(() => existsSync(first.ckpt) && existsSync(first.csv) && readCurve(first.csv).length >= 3, 'the first checkpoint');
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.include('http-equiv="refresh"'); // --live wrote a self-reloading page early
    process.kill(readRecord(first.json).pid!, 'SIGKILL');
    const r = await done;
    expect(r.code, r.out).to.equal(1);
    const rec = readRecord(first.json);
    const curve = readCurve(first.csv);
    expect([rec.status, rec.signal]).to.deep.equal(['interrupted', 'SIGKILL']);
    expect(rec.step).to.equal(curve.at(-1)!.step);
    expect(rec.step).to.be.above(0);
    expect(rec.checkpointStep).to.be.within(10, rec.step);
    expect(r.out).to.include('backend: cpu (requested)');
    expect(r.out).to.match(new RegExp(`\\[1/2\\] adamw s0  interrupted by SIGKILL at step ${rec.step} \\(resumes from step ${rec.checkpointStep}\\)`));
    expect(r.out).to.match(/sweep: 2 runs in [\d.]+ s: 1 finished, 1 interrupted/);
    expect(r.out).to.include(`continue with: npx optlab run ${file} --resume --out ${dir}`);
    expect(r.out).to.match(/INCOMPLETE: 1 of 2 runs finished or diverged; 1 interrupted/);
    const final = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(final).to.include('<b>Incomplete.</b>').and.not.include('http-equiv="refresh"');

    const before = readFileSync(runPaths(dir, ids[1]).csv, 'utf8');
    const again = await optlab(['run', file, '--out', dir], env).done;
    expect(again.code).to.equal(2);
    expect(again.out.trim()).to.equal(`error: results folder ${dir} already holds 2 of this sweep's runs; add --resume to continue them, --overwrite to start over, or choose another --out`);
    expect(readFileSync(runPaths(dir, ids[1]).csv, 'utf8')).to.equal(before);
    const resumed = await optlab(['run', file, '--out', dir, '--resume'], env).done;
    expect(resumed.code, resumed.out).to.equal(0);
    expect(readRecord(first.json).status).to.equal('finished');
  });

  it('checks that need no training fail once, before any run, in one line: a backend that is not installed, a missing data file', () => {
    const root = tempDir();
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
    const file = writeExperiment(root, tinyExperiment());
    const r1 = cli('run', file, '--out', join(root, 'a'), '--backend', 'webgpu');
    expect(r1.status).to.equal(2);
    expect(r1.stderr.trim().split('\n')).to.have.length(1);
    expect(r1.stderr).to.match(/^error: --backend webgpu: backend 'webgpu' is not available: webgpu packages not installed.*npm i @tensorflow\/tfjs-backend-webgpu@4\.22\.0/);
    expect(existsSync(join(root, 'a'))).to.equal(false);
    const missing = writeExperiment(root, tinyExperiment({ data: { kind: 'text', path: join(root, 'corpus.txt') } }), 'text.yaml');
    const r2 = cli('run', missing, '--out', join(root, 'b'));
    expect([r2.status, r2.stderr.trim()]).to.deep.equal([2, `error: data.path: text corpus ${join(root, 'corpus.txt')}: no such file`]);
    expect(existsSync(join(root, 'b'))).to.equal(false);
  });

  it('a run that gets another backend than the sweep started on fails instead of joining the comparison', () => {
    const dir = tempDir();
    const spec = expandRuns(applyOverrides(tinyExperiment(), []))[0];
    initRun(dir, spec, 'tiny');
    const runner = new URL('../../../experiments/runner/runner.ts', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', runner, dir, spec.id, '--backend', 'cpu', '--expect-backend', 'wasm-native'], { encoding: 'utf8' });
    expect(r.status).to.equal(1);
    const rec = readRecord(runPaths(dir, spec.id).json);
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.equal('backend changed during the sweep: this run got cpu, the sweep started on wasm-native; runs of one comparison must share a backend (--allow-mixed-backends lifts this)');
    expect(existsSync(runPaths(dir, spec.id).csv)).to.equal(false);
  });
});
