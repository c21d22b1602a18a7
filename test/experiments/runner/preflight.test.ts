import { expect } from 'chai';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyOverrides, ConfigError, expandRuns, type Experiment } from '../../../experiments/runner/config.js';
import { checkData, checkOutputFolder, checkSameBackend, commandName } from '../../../experiments/runner/preflight.js';
import { selectOptimizers, statusCounts, sweepExitCode } from '../../../experiments/sweep/sweep.js';
import { removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

/** The ConfigError a function throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const load = (over: Record<string, unknown>, sets: string[] = []): Experiment => applyOverrides(tinyExperiment(over), sets);

describe('checks before any run', () => {
  after(removeTempDirs);

  it('a warmup not shorter than the run fails when the file loads, naming schedule.warmup (quick.yaml with --set training.steps=30)', () => {
    const doc = { schedule: { kind: 'cosine', warmup: 30, floor: 0.1 }, training: { steps: 300, batchSize: 2 } };
    expect(load(doc).schedule).to.deep.include({ warmup: 30 });
    const e = configError(() => load(doc, ['training.steps=30']));
    expect(e.path).to.equal('schedule.warmup');
    expect(e.message).to.include('schedule.warmup (30) must be less than training.steps (30)');
    expect(configError(() => load({ schedule: { kind: 'linear', warmup: 10, total: 10 } })).message).to.include('must be less than schedule.total (10)');
    expect(configError(() => load({ schedule: { kind: 'constant', warmup: 13 } })).path).to.equal('schedule.warmup');
    expect(configError(() => load({ schedule: { kind: 'wsd', warmup: 2, decay: 11 } })).message).to.match(/schedule.decay \(11\) must be in \(0, total - warmup\] = \(0, 10\]/);
  });

  it('data: a missing, empty or binary text file, and data.path on a kind that reads its own files, fail naming the key and file', () => {
    const dir = tempDir();
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    const binary = join(dir, 'blob.bin');
    writeFileSync(binary, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x01, 0x02]));
    const latin1 = join(dir, 'latin1.txt');
    writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'To be, or not to be.\n');
    const cases: [string, RegExp][] = [
      [join(dir, 'nope.txt'), /nope\.txt: no such file/],
      [empty, /empty\.txt: the file is empty/],
      [binary, /blob\.bin: binary file \(a NUL byte at offset 4\)/],
      [latin1, /latin1\.txt: binary file \(not valid UTF-8\)/],
      [short, /short\.txt: 21 characters give a validation split \(last 10%\) of 3, fewer than the 18/],
    ];
    for (const [path, re] of cases) {
      const e = configError(() => checkData(load({ data: { kind: 'text', path } })));
      expect(e.path, path).to.equal('data.path');
      expect(e.message).to.match(re);
    }
    expect(configError(() => load({ data: { kind: 'shakespeare', path: 'mine.txt' } })).message).to.include('for a text file of your own write data: { kind: text, path: <file> }');
    expect(configError(() => load({ data: { kind: 'text' } })).path).to.equal('data.path');
  });

  it('a missing Fashion-MNIST folder fails once, naming it', () => {
    const before = process.env.OPTLAB_FASHION_MNIST_DIR;
    process.env.OPTLAB_FASHION_MNIST_DIR = join(tempDir(), 'absent');
    try {
      const e = configError(() => checkData(load({ model: { kind: 'vit' }, data: { kind: 'fashion-mnist' } })));
      expect(e.message).to.match(/^data\.kind: Fashion-MNIST not found in .*absent/);
    } finally {
      if (before === undefined) delete process.env.OPTLAB_FASHION_MNIST_DIR;
      else process.env.OPTLAB_FASHION_MNIST_DIR = before;
    }
  });

  it('a results folder that holds results is refused without --resume or --overwrite; a shard of the same grid may join it', () => {
    const exp = load({});
    const grid = expandRuns(exp).map((r) => r.id);
    const dir = tempDir();
    const check = (o: { resume?: boolean; overwrite?: boolean; shard?: boolean; mine?: string[] }, theirs: string[] = grid) => () =>
      checkOutputFolder(dir, { grid, mine: grid, ...o }, () => theirs);
    check({})(); // empty: fine
    writeFileSync(join(dir, `${grid[0]}.json`), '{}');
    writeFileSync(join(dir, 'experiment.json'), '{}');
    const e = configError(check({}));
    expect(e.message).to.include(`results folder ${dir} already holds 1 of this sweep's runs; add --resume to continue them, --overwrite to start over, or choose another --out`);
    check({ resume: true })();
    check({ overwrite: true })();
    check({ shard: true, mine: [] })(); // another shard of the same grid
    expect(configError(check({ shard: true, mine: [] }, ['other'])).message).to.include('results of another experiment grid');
    const file = join(dir, 'file');
    writeFileSync(file, '');
    expect(configError(() => checkOutputFolder(file, { grid, mine: grid }, () => null)).message).to.include('exists and is not a folder');
  });

  it('--only keeps the named entries (labels or names) and lists the known ones for a typo', () => {
    const exp = load({ optimizers: [{ name: 'adamw' }, { name: 'sgd' }, { name: 'muon', label: 'muon-fast' }] });
    expect(selectOptimizers(exp, ['adamw,muon-fast']).optimizers.map((o) => o.name)).to.deep.equal(['adamw', 'muon']);
    expect(selectOptimizers(exp, ['sgd', 'muon']).optimizers.map((o) => o.name)).to.deep.equal(['sgd', 'muon']);
    expect(configError(() => selectOptimizers(exp, ['adamw,mun'])).message).to.equal('--only mun: no such optimizer entry in tiny; entries: adamw, sgd, muon-fast');
  });

  it('--only: a bad option of a kept entry is named by its index in the file, not among the kept entries', () => {
    // quick-field.yaml --only lion --set optimizers.lion.beta1=1.5 said 'optimizers[0] (lion)' for the file's optimizers[2].
    // The file is checked as a whole when it loads (every entry's options against the method's domains), so the
    // index is the file's before --only selects anything.
    const e = configError(() => load({ optimizers: [{ name: 'adamw' }, { name: 'sgd' }, { name: 'lion', beta1: 1.5 }] }));
    expect(e.message).to.include("optimizers[2].beta1: lion: option 'beta1' must be in [0, 1), got 1.5");
    expect(e.path).to.equal('optimizers[2].beta1');
    const exp = load({ optimizers: [{ name: 'adamw' }, { name: 'sgd' }, { name: 'lion', beta1: 0.9 }, { name: 'muon', lr: [0.01, 0.02] }] });
    expect(selectOptimizers(exp, ['muon']).optimizers.map((o) => o.name)).to.deep.equal(['muon']);
    // Entries left out are not checked again.
    expect(selectOptimizers(exp, ['adamw', 'sgd']).optimizers).to.have.length(2);
  });

  it('exit code: 1 when a run failed or was interrupted by a signal, 130 when the user stopped the sweep', () => {
    expect(sweepExitCode({ statuses: { a: 'finished', b: 'diverged' }, interrupted: false })).to.equal(0);
    expect(sweepExitCode({ statuses: { a: 'finished', b: 'interrupted' }, interrupted: false })).to.equal(1);
    expect(sweepExitCode({ statuses: { a: 'failed' }, interrupted: false })).to.equal(1);
    expect(sweepExitCode({ statuses: { a: 'finished' }, interrupted: true })).to.equal(130);
    expect(statusCounts(['finished', 'failed', 'finished', 'pending', 'interrupted'])).to.equal('2 finished, 1 failed, 1 interrupted, 1 not started');
  });

  it('resume hints name `npx optlab` unless optlab is on PATH outside node_modules/.bin', () => {
    const dir = tempDir();
    const bin = join(dir, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'optlab'), '#!/bin/sh\n');
    chmodSync(join(bin, 'optlab'), 0o755);
    expect(commandName({ PATH: `${bin}:/usr/bin` })).to.equal('npx optlab');
    const global = join(dir, 'global');
    mkdirSync(global);
    writeFileSync(join(global, 'optlab'), '#!/bin/sh\n');
    chmodSync(join(global, 'optlab'), 0o755);
    expect(commandName({ PATH: `${bin}:${global}` })).to.equal('optlab');
  });

  it('runs of different backends are refused in one comparison unless allowed, saying how far they were seen to differ', () => {
    const runs = [{ id: 'a', backend: 'wasm' }, { id: 'b', backend: 'wasm-native' }, { id: 'c', backend: 'wasm' }];
    expect(checkSameBackend(runs.filter((r) => r.backend === 'wasm'), false, 'x')).to.equal(null);
    const e = configError(() => checkSameBackend(runs, false, 'the comparison in r'));
    expect(e.message).to.include('the comparison in r mixes backends (wasm: 2 runs (a, c); wasm-native: 1 run (b))');
    expect(e.message).to.match(/sgd differed by up to [\d.e-]+ and of hybrid-auon by up to [\d.e-]+/).and.include('--allow-mixed-backends');
    expect(checkSameBackend(runs, true, 'r')).to.match(/^warning: r mixes backends/);
  });
});
