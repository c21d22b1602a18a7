/**
 * Which OpenBLAS kernel set ("core type": SkylakeX, Haswell, ...) the native kernels run, checked and
 * recorded. OpenBLAS picks its set by CPU model when it loads; a release that does not know a CPU may
 * pick a narrower set than the CPU allows (0.3.21 gives AMD Zen 4 and 5 its AVX2 Haswell kernels in
 * some set-ups), or a set that computes wrongly. So, once per process, right after the addon loads:
 *
 * 1. The set to run. An explicit setting is honoured: $OPTLAB_BLAS_CORE (optlab's process alone; it
 *    overrides OPENBLAS_CORETYPE), else $OPENBLAS_CORETYPE (the user's or the machine's, read by
 *    OpenBLAS itself). With nothing set, optlab runs the widest kernel set this CPU supports that
 *    passes the check below (OpenBLAS's own pick when it is as wide).
 * 2. The check (`BLAS_CHECK_SHAPES`): every candidate set computes the products optlab's models
 *    use (plain and transposed operands, edge sizes) and is compared with a double-precision
 *    reference against the worst-case float32 rounding bound of any summation order (native/blas_family.c).
 *    A set that fails is never run; when the set that was asked for fails, the native kernels stay
 *    off and say why (kernels/wasm_kernels.ts).
 * 3. The record: `blasKernels()` (for run records and the backend line) says which set runs, why,
 *    whether it passed, and whether a wider set passes here too.
 *
 * Sets of different widths sum in different orders, so results differ in the last bits between them
 * (the check bounds the difference; runs compared bit for bit need the same set: the record says which).
 * Switching sets inside the process uses OpenBLAS's own DYNAMIC_ARCH start-up (native/blas_family.c);
 * with a single-target OpenBLAS the set is the one it was built for.
 */
import type { Addon } from './addon.js';

/** An OpenBLAS x86-64 kernel set optlab may choose, with the SIMD width of its sgemm kernel and the CPU flags it needs. */
export interface BlasFamily {
  /** OpenBLAS's name (as OPENBLAS_CORETYPE takes it). */
  name: string;
  /** Vector width of its float32 kernels in bits. */
  width: number;
  /** /proc/cpuinfo flags it executes. */
  flags: readonly string[];
}

const AVX512 = ['avx512f', 'avx512dq', 'avx512cd', 'avx512bw', 'avx512vl'];

/**
 * The x86-64 kernel sets of OpenBLAS 0.3.21 (driver/others/dynamic.c) optlab considers, widest
 * first, preferred first within a width: Cooperlake is SkylakeX's float32 kernels plus bfloat16 ones,
 * Zen runs Haswell's sgemm, Sandybridge has AVX without FMA.
 */
export const BLAS_FAMILIES: readonly BlasFamily[] = [
  { name: 'SkylakeX', width: 512, flags: AVX512 },
  { name: 'Cooperlake', width: 512, flags: [...AVX512, 'avx512_bf16'] },
  { name: 'Haswell', width: 256, flags: ['avx2', 'fma'] },
  { name: 'Zen', width: 256, flags: ['avx2', 'fma'] },
  { name: 'Sandybridge', width: 256, flags: ['avx'] },
  { name: 'Nehalem', width: 128, flags: ['sse4_2'] },
  { name: 'Prescott', width: 128, flags: ['sse3'] },
];

/** A kernel set's entry in `BLAS_FAMILIES` by name (case-insensitive), or undefined. */
export function blasFamily(name: string): BlasFamily | undefined {
  return BLAS_FAMILIES.find((f) => f.name.toLowerCase() === name.trim().toLowerCase());
}

/**
 * The products every candidate kernel set must compute within the float32 rounding bound: (m, n, k,
 * transposeA, transposeB). They follow the GPT's products (models/gpt.ts; width 128, 4 heads, context
 * 64) with odd row counts so that the edge kernels run too: the qkv projection, attention scores
 * q·kᵀ and values, the MLP's input gradient dY·Wᵀ, a weight gradient Xᵀ·dY summed over 768 rows,
 * and Newton-Schulz's Gram product X·Xᵀ of a 128×512 weight.
 */
export const BLAS_CHECK_SHAPES: readonly (readonly [number, number, number, 0 | 1, 0 | 1])[] = [
  [197, 131, 128, 0, 0],
  [64, 64, 32, 0, 1],
  [64, 32, 64, 0, 0],
  [197, 128, 512, 0, 1],
  [128, 131, 768, 1, 0],
  [128, 128, 512, 0, 1],
];

/** One candidate kernel set as checked. */
export interface BlasCandidate {
  /** Kernel set name as OpenBLAS reports it. */
  family: string;
  /** SIMD width of its float32 kernels in bits (0: not one of `BLAS_FAMILIES`). */
  width: number;
  /** Within the rounding bound on every product of `BLAS_CHECK_SHAPES`. */
  verified: boolean;
  /** Largest error over the bound (at most 1 passes; Infinity for NaN or a wrong product). */
  maxError: number;
  /** Its speed on the check's products, GFLOP/s on one thread (indicative: measured once, at start-up). */
  gflops: number;
}

/** What `blasKernels()` records: the BLAS, the kernel set running and why, and how it was checked. */
export interface BlasKernels {
  /** 'OpenBLAS'. */
  library: string;
  /** e.g. '0.3.21'. */
  version: string;
  /** OpenBLAS's build string, e.g. 'OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64' (the set is the running one). */
  config: string;
  /** The kernel set running, e.g. 'SkylakeX'. */
  family: string;
  /** Its SIMD width in bits (0 when unknown). */
  width: number;
  /** Why this set: 'OPTLAB_BLAS_CORE', 'OPENBLAS_CORETYPE' (explicit settings), 'widest verified' (optlab's choice) or 'OpenBLAS' (a single-target build, or a CPU optlab has no table for). */
  source: 'OPTLAB_BLAS_CORE' | 'OPENBLAS_CORETYPE' | 'widest verified' | 'OpenBLAS';
  /** The explicit setting honoured, e.g. 'OPENBLAS_CORETYPE=Haswell'; null when nothing was set. */
  explicitSetting: string | null;
  /** The set OpenBLAS picked when it loaded (its own detection when nothing was set). */
  openblasPick: string;
  /** The running set passed the check. */
  verified: boolean;
  /** Its largest error over the rounding bound. */
  maxError: number;
  /** The widest set wider than the running one that passed the check here, or null. */
  widerAvailable: string | null;
  /** OpenBLAS can switch sets in the process (a DYNAMIC_ARCH build). */
  switchable: boolean;
  /** Every set checked, running one included. */
  candidates: BlasCandidate[];
  /** One clause for the backend line, e.g. 'SkylakeX kernels, verified'. */
  summary: string;
  /** '' or a sentence: a wider verified set exists, or why the set runs. */
  note: string;
}

/** The part of the addon this file calls. */
type FamilyAddon = Pick<Addon, 'blasConfig' | 'blasCore' | 'blasSetCore' | 'blasVerify'>;

const width = (name: string): number => blasFamily(name)?.width ?? 0;
const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
/** Timed repetitions of the check's products per candidate (for `gflops`). */
const TIMED_REPS = 2;
const CHECK_FLOPS = BLAS_CHECK_SHAPES.reduce((s, [m, n, k]) => s + 2 * m * n * k, 0);

/** Thrown for a setting optlab cannot honour (unknown kernel set, one the CPU cannot run). */
export class BlasSettingError extends Error {}

/**
 * Chooses, checks and switches to OpenBLAS's kernel set as this file's header says, and returns the
 * record. `flags` are the CPU's (/proc/cpuinfo; empty where unknown, and then nothing is switched
 * unless asked for). Throws `BlasSettingError` when OPTLAB_BLAS_CORE names a set OpenBLAS does not
 * have, or one this CPU lacks the instructions for.
 */
export function setUpBlasKernels(addon: FamilyAddon, flags: ReadonlySet<string>, env: NodeJS.ProcessEnv = process.env): BlasKernels {
  const loaded = addon.blasCore();
  const own = env.OPTLAB_BLAS_CORE?.trim() || '';
  const given = env.OPENBLAS_CORETYPE?.trim() || '';
  const supported = BLAS_FAMILIES.filter((f) => f.flags.every((x) => flags.has(x)));
  // Switching is possible when blasSetCore returns a name; probe with the set already running (a no-op).
  const switchable = loaded !== '' && addon.blasSetCore(loaded) !== null;
  let source: BlasKernels['source'] = 'OpenBLAS';
  let explicitSetting: string | null = null;
  if (own) {
    const fam = blasFamily(own);
    if (!switchable && !same(own, loaded)) throw new BlasSettingError(`OPTLAB_BLAS_CORE=${own}: this OpenBLAS runs only its ${loaded || 'built-in'} kernels (not a DYNAMIC_ARCH build)`);
    if (fam && flags.size > 0 && !supported.includes(fam)) throw new BlasSettingError(`OPTLAB_BLAS_CORE=${own}: this CPU lacks ${fam.flags.filter((x) => !flags.has(x)).join(', ')} for OpenBLAS's ${fam.name} kernels`);
    if (!same(own, loaded)) {
      const got = addon.blasSetCore(own) ?? loaded;
      if (!same(got, own)) {
        addon.blasSetCore(loaded);
        throw new BlasSettingError(`OPTLAB_BLAS_CORE=${own}: OpenBLAS has no kernel set of that name (${BLAS_FAMILIES.map((f) => f.name).join(', ')}, ... are)`);
      }
    }
    source = 'OPTLAB_BLAS_CORE';
    explicitSetting = `OPTLAB_BLAS_CORE=${own}`;
  } else if (given) {
    source = 'OPENBLAS_CORETYPE';
    explicitSetting = `OPENBLAS_CORETYPE=${given}`;
  }
  const running = addon.blasCore();
  // Candidates: the running set and, where OpenBLAS can switch, every supported set wider than it.
  const names = [running, ...(switchable ? supported.filter((f) => f.width > width(running)).map((f) => f.name) : [])];
  const checked = check(addon, names);
  const cur = checked[0];
  let chosen = cur;
  if (source === 'OpenBLAS' && switchable && supported.length > 0) {
    source = 'widest verified';
    const best = checked.filter((c) => c.verified).sort((a, b) => b.width - a.width)[0]; // stable: preference order within a width
    if (best && !(cur.verified && cur.width >= best.width)) chosen = best;
    if (!best) {
      // Nothing wider passed and the running set failed: the other sets, widest first.
      const narrower = check(addon, supported.filter((f) => f.width <= width(running) && !same(f.name, running)).map((f) => f.name));
      checked.push(...narrower);
      chosen = narrower.find((c) => c.verified) ?? cur;
    }
    if (chosen !== cur) addon.blasSetCore(chosen.family);
  }
  const wider = checked.filter((c) => c.verified && c.width > chosen.width).sort((a, b) => b.width - a.width)[0];
  const config = addon.blasConfig().trim();
  const words = config.split(/\s+/);
  const rec: Omit<BlasKernels, 'summary' | 'note'> = {
    library: words[0] ?? 'OpenBLAS',
    version: words[1] ?? '',
    config,
    family: chosen.family,
    width: chosen.width,
    source,
    explicitSetting,
    openblasPick: loaded,
    verified: chosen.verified,
    maxError: chosen.maxError,
    widerAvailable: wider?.family ?? null,
    switchable,
    candidates: checked,
  };
  return { ...rec, ...describe(rec) };
}

function check(addon: FamilyAddon, names: string[]): BlasCandidate[] {
  if (names.length === 0) return [];
  const rows = addon.blasVerify(BLAS_CHECK_SHAPES.flat(), names, TIMED_REPS);
  return rows.map(([family, maxError, seconds]) => ({
    family,
    width: width(family),
    verified: maxError <= 1,
    maxError,
    gflops: seconds > 0 ? (TIMED_REPS * CHECK_FLOPS) / seconds / 1e9 : 0,
  }));
}

/** The backend line's clause and note for a record. */
function describe(r: Omit<BlasKernels, 'summary' | 'note'>): { summary: string; note: string } {
  const rounding = 'kernel sets round differently, so results change in the last bits';
  const asked = r.source === 'OPENBLAS_CORETYPE' ? r.explicitSetting!.slice('OPENBLAS_CORETYPE='.length) : '';
  const from = r.explicitSetting && !(asked && !same(asked, r.family)) ? `, from ${r.explicitSetting}` : '';
  const summary = `${r.family || 'its'} kernels, ${r.verified ? 'verified' : `FAILED the product check (error ${r.maxError.toExponential(1)} of the bound)`}${from}`;
  let note = '';
  if (asked && !same(asked, r.family)) {
    note = `OpenBLAS has no kernel set named '${asked}' and runs its own pick, ${r.family}`;
  } else if (r.widerAvailable) {
    note = `wider ${r.widerAvailable} kernels pass the check here: OPTLAB_BLAS_CORE=${r.widerAvailable} selects them for optlab (${rounding})`;
  } else if (r.source === 'widest verified' && !same(r.family, r.openblasPick)) {
    note = `OpenBLAS picked ${r.openblasPick} kernels itself; optlab runs the widest that pass its check (${rounding}; OPTLAB_BLAS_CORE=${r.openblasPick} keeps OpenBLAS's)`;
  }
  return { summary, note };
}
