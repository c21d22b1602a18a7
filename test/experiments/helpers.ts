/** Tiny experiment files and result-folder readers shared by the runner, sweep and report tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

const made: string[] = [];

/** A temporary folder for one test (removed by `removeTempDirs`). */
export function tempDir(prefix = 'optlab-exp-'): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes the folders `tempDir` made. */
export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A character GPT small enough for a step in a few milliseconds. */
export const TINY_MODEL = { kind: 'gpt', contextLength: 16, width: 16, nHead: 2, nLayer: 1 };

/** An experiment document with a tiny GPT; `over` replaces top-level keys. */
export function tinyExperiment(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'tiny',
    model: TINY_MODEL,
    data: { kind: 'shakespeare' },
    training: { steps: 12, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2, checkpointEvery: 4, sampleChars: 24 },
    schedule: { kind: 'cosine', warmup: 2 },
    seeds: [0],
    optimizers: [{ name: 'adamw', lr: 0.01 }],
    ...over,
  };
}

/** Writes an experiment document as YAML into `dir` and returns its path. */
export function writeExperiment(dir: string, doc: Record<string, unknown>, file = 'exp.yaml'): string {
  const path = join(dir, file);
  writeFileSync(path, YAML.stringify(doc));
  return path;
}

/** summary.csv without the wall-clock columns (the only ones that differ between identical sweeps). */
export function summaryWithoutWall(dir: string): string[][] {
  const lines = readFileSync(join(dir, 'summary.csv'), 'utf8').trim().split('\n');
  const header = lines[0].split(',');
  const drop = new Set(['wall_ms', 'wall_ms_to_target'].map((c) => header.indexOf(c)));
  // The options column is quoted JSON with commas; it sits last, so split only the fields before it.
  return lines.map((l) => {
    const cut = l.indexOf(',"{');
    const head = (cut >= 0 ? l.slice(0, cut) : l).split(',');
    return [...head.filter((_, i) => !drop.has(i)), cut >= 0 ? l.slice(cut + 1) : ''];
  });
}

/** A curve CSV without its wall_ms column. */
export function curveWithoutWall(path: string): string[] {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const w = lines[0].split(',').indexOf('wall_ms');
  return lines.map((l) => l.split(',').filter((_, i) => i !== w).join(','));
}

const CLI = new URL('../../cli/cli.ts', import.meta.url).pathname;

/** Runs `optlab` from source to completion (extra environment in `env`); its exit code and output. */
export function optlabSync(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
