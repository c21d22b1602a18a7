/**
 * The build a run ran on, and the refusal to compare final runs of different builds
 * (docs/protocol.md, "One build per comparison"): the same configuration and seed rerun on another
 * commit, backend or BLAS kernel family drifts from step ~160 on the nanoGPT recipe and ends
 * 0.018-0.025 apart in validation loss, more than the effects a verdict tests.
 *
 * A build is the tuple (commit, clean tree, backend, BLAS library, BLAS kernel family, BLAS threads).
 * The BLAS library and family come from the kernel-set record of kernels/ (`blasKernels()`, the set
 * that actually runs after optlab's check and any switch, docs/backends.md); `parseBlasConfig` reads
 * the addon's `blasConfig()` string when that record is absent (an addon without the check).
 */
import { blasKernels, state } from '../../kernels/addon.js';
import { ConfigError } from './config.js';

/** The BLAS library and kernel family of a `blasConfig()` string. */
export interface BlasInfo {
  /** The config string as the library reports it. */
  config: string;
  /** Name and version, e.g. 'OpenBLAS 0.3.21'. */
  library: string;
  /** Kernel family (OpenBLAS core: 'SkylakeX', 'Haswell', ...), null when the string names none. */
  family: string | null;
  /** Threads the native kernels run with. */
  threads: number;
}

/**
 * Library and kernel family from OpenBLAS's config string: the first two words are name and
 * version; the family is the first later word that is not a build flag (NO_*, USE_*, DYNAMIC_*,
 * SMP*, MAX_*, KEY=VALUE). Returns family null when there is none (a non-DYNAMIC_ARCH build names
 * its target instead, which is then the family).
 */
export function parseBlasConfig(config: string, threads = 0): BlasInfo {
  const words = config.trim().split(/\s+/).filter(Boolean);
  const family = words.slice(2).find((w) => !/^(NO_|USE_|DYNAMIC_|SMP|MAX_)/.test(w) && !w.includes('=')) ?? null;
  return { config: config.trim(), library: words.slice(0, 2).join(' ') || 'unknown', family, threads };
}

/** The BLAS of this process: the native addon's, when its kernels are active; null on plain cpu/wasm. */
export function currentBlas(): BlasInfo | null {
  if (!state.addon || state.originals.size === 0) return null;
  try {
    const k = blasKernels();
    // The config string names the set OpenBLAS detected at load; the record names the one that runs.
    if (k) return { config: k.config, library: `${k.library} ${k.version}`.trim(), family: k.family || null, threads: state.threads };
    return parseBlasConfig(state.addon.blasConfig(), state.threads);
  } catch {
    return null;
  }
}

/** The parts of a run record's environment a build is read from (older records lack blas). */
export interface BuildSource {
  gitCommit: string | null;
  gitDirty: boolean | null;
  backend?: string;
  blas?: BlasInfo | null;
}

/** A run's build: the tuple compared across the final runs of one comparison. */
export interface BuildIdentity {
  commit: string | null;
  dirty: boolean | null;
  backend: string | null;
  blas: string | null;
  family: string | null;
  threads: number | null;
}

/** The build of an environment record. */
export function buildOf(env: BuildSource): BuildIdentity {
  return { commit: env.gitCommit, dirty: env.gitDirty, backend: env.backend ?? null, blas: env.blas?.library ?? null, family: env.blas?.family ?? null, threads: env.blas ? env.blas.threads : null };
}

/** A one-line key of a build: 'abc123def456+dirty wasm-native OpenBLAS 0.3.21 SkylakeX 1 thread'. */
export function buildKey(b: BuildIdentity): string {
  return [
    `${b.commit ? b.commit.slice(0, 12) : 'no-commit'}${b.dirty ? '+dirty' : ''}`,
    b.backend ?? 'backend?',
    ...(b.blas ? [b.blas, b.family ?? 'family?', `${b.threads} thread${b.threads === 1 ? '' : 's'}`] : []),
  ].join(' ');
}

/** The builds of a run: its start's, and those of any process that continued it (resumedOn). */
export function runBuildKeys(rec: { env?: BuildSource; resumedOn?: BuildSource[] }): string[] {
  const keys = [rec.env, ...(rec.resumedOn ?? [])].filter((e): e is BuildSource => e !== undefined).map((e) => buildKey(buildOf(e)));
  return [...new Set(keys)];
}

/**
 * The builds of the final runs of a comparison, by key, with the runs on each. One build: null.
 * Several: a message naming them; throws ConfigError unless `allow` (--allow-mixed-builds), which
 * returns the message for the report. A run continued on another build counts on each of its builds.
 */
export function checkSameBuild(runs: readonly { id: string; rec: { env?: BuildSource; resumedOn?: BuildSource[] } }[], allow: boolean, where: string): string | null {
  const by = new Map<string, string[]>();
  for (const r of runs) for (const k of runBuildKeys(r.rec)) by.set(k, [...(by.get(k) ?? []), r.id]);
  if (by.size <= 1) return null;
  const list = [...by].map(([k, ids]) => `${k}: ${ids.length} run${ids.length > 1 ? 's' : ''} (${ids.slice(0, 2).join(', ')}${ids.length > 2 ? ', ...' : ''})`).join('; ');
  const msg = `${where}: builds differ (${list}); the same config and seed on another build can end 0.02 apart in validation loss (docs/protocol.md)`;
  if (!allow) throw new ConfigError(`${msg}. Rerun the odd ones on one build, or pass --allow-mixed-builds to compare them anyway (the report then names the builds)`, 'build');
  return msg;
}
