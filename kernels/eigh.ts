/**
 * LAPACK's symmetric eigensolvers (`ssyevd`, `dsyevd`) through optlab's native addon
 * (native/lapack.c), on host arrays: callable from every tfjs backend, since the caller reads the
 * matrix back (`dataSync`) and uploads the result. Shampoo does that once per factor every
 * `preconditionFrequency` steps (optimizers/eigh.ts picks this or the JavaScript solver).
 *
 * The addon is the one `npm install` builds (native/build/Release/optlab_native.node); it is loaded
 * here on first use, independently of the wasm kernels: `OPTLAB_NATIVE=0` (plain wasm) leaves LAPACK on,
 * so the cpu and plain-wasm backends use it too. `OPTLAB_LAPACK=0` turns it off, leaving the JavaScript
 * eigensolver (optimizers/eigh.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The LAPACK functions of native/lapack.c. */
interface LapackAddon {
  eigh(a: Float32Array | Float64Array, n: number, w: Float32Array | Float64Array): number;
  inverseRoot(a: Float32Array | Float64Array, n: number, exponent: number, eps: number, x: Float32Array, values: Float64Array): number;
  /** Absent from addons built before native/lapack.c had `qr`. */
  qr?(a: Float64Array, m: number, n: number, r: Float64Array): number;
}

const state = { tried: false, addon: null as LapackAddon | null, why: '' };

function findUp(rel: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const p = join(dir, rel);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return null;
}

function load(): LapackAddon | null {
  if (state.tried) return state.addon;
  state.tried = true;
  if (process.env.OPTLAB_LAPACK === '0') {
    state.why = 'LAPACK off (OPTLAB_LAPACK=0)';
    return null;
  }
  const path = findUp(join('native', 'build', 'Release', 'optlab_native.node'));
  if (!path) {
    state.why = 'LAPACK unavailable: the native addon is not built (npm install builds it with a C compiler and libopenblas-dev)';
    return null;
  }
  // As kernels/addon.ts: OpenBLAS starts its threads when it loads; one unless told otherwise.
  process.env.OPENBLAS_NUM_THREADS ??= '1';
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<LapackAddon>;
    if (typeof addon.eigh !== 'function' || typeof addon.inverseRoot !== 'function') {
      state.why = 'LAPACK unavailable: the native addon was built from sources without native/lapack.c (rebuild: node native/install.mjs)';
      return null;
    }
    state.addon = addon as LapackAddon;
  } catch (e) {
    state.why = `LAPACK unavailable: the native addon failed to load (${String((e as Error).message ?? e).split('\n')[0].slice(0, 160)})`;
  }
  return state.addon;
}

/** Whether LAPACK's eigensolvers can be called (the addon is built and loads, and OPTLAB_LAPACK is not 0). */
export function lapackAvailable(): boolean {
  return load() !== null;
}

/** One line: 'LAPACK ssyevd/dsyevd (native addon)' or why it is unavailable. */
export function lapackStatus(): string {
  return load() ? 'LAPACK ssyevd/dsyevd (native addon)' : state.why;
}

/** What a negative result code of native/lapack.c means; LAPACK's own info > 0 is a convergence failure. */
export function lapackCodeMessage(code: number): string {
  if (code === -1001) return 'out of memory for the LAPACK workspace';
  if (code === -1002) return 'the matrix has non-finite entries';
  if (code === -1003) return 'the inverse root has non-finite entries';
  if (code > 0) return `syevd did not converge (info ${code})`;
  return `LAPACK error ${code}`;
}

/**
 * Eigendecomposition of a symmetric n x n matrix (row-major; only its lower triangle is read, as
 * torch.linalg.eigh's default UPLO='L') by `ssyevd` (Float32Array) or `dsyevd` (Float64Array). Returns the
 * eigenvalues in ascending order and the eigenvectors as rows (row k of `vectors` belongs to
 * `values[k]`), in the input's precision, or `{code}` when LAPACK failed (see `lapackCodeMessage`).
 * Throws when LAPACK is unavailable (check `lapackAvailable()` first). The input is not modified.
 */
export function lapackEigh<T extends Float32Array | Float64Array>(a: T, n: number): { values: T; vectors: T } | { code: number } {
  const addon = load();
  if (!addon) throw new Error(`lapackEigh: ${state.why}`);
  if (a.length !== n * n) throw new Error(`lapackEigh: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  const vectors = a.slice() as T;
  const values = (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
  const code = addon.eigh(vectors, n, values);
  return code === 0 ? { values, vectors } : { code };
}

/**
 * (A + eps I)^(-exponent) as Meta's eigh route computes it (native/lapack.c `inverseRoot`): eigh of
 * A + eps I, eigenvalues shifted by -min and then +eps when min < eps, X = Q diag(L^-exponent) Q^T.
 * `precision` 'float32' runs `ssyevd` and float32 arithmetic (Meta's default factor dtype), 'float64'
 * `dsyevd`. Returns the root (float32, row-major) and the eigenvalues of A + eps I before the shift,
 * ascending, or `{code, values?}` on failure. Throws when LAPACK is unavailable. `a` is not modified.
 */
export function lapackInverseRoot(a: ArrayLike<number>, n: number, exponent: number, eps: number, precision: 'float32' | 'float64'): { root: Float32Array; values: Float64Array } | { code: number } {
  const addon = load();
  if (!addon) throw new Error(`lapackInverseRoot: ${state.why}`);
  if (a.length !== n * n) throw new Error(`lapackInverseRoot: expected ${n}x${n} = ${n * n} values, got ${a.length}`);
  const work = precision === 'float64' ? Float64Array.from(a) : Float32Array.from(a);
  const root = new Float32Array(n * n);
  const values = new Float64Array(n);
  const code = addon.inverseRoot(work, n, exponent, eps, root, values);
  return code === 0 ? { root, values } : { code };
}

/** Whether the addon has LAPACK's Householder QR (`dgeqrf` + `dorgqr`; addons built before it lack it: rebuild with node native/install.mjs). */
export function lapackQRAvailable(): boolean {
  return typeof load()?.qr === 'function';
}

/**
 * Reduced QR of an m x n matrix (row-major, m >= n) by LAPACK `dgeqrf` + `dorgqr` in float64: Q (m x n,
 * row-major) and R (n x n, row-major, upper), with LAPACK's signs (diag(R) may be negative), or `{code}`
 * when LAPACK failed. Throws when the addon has no `qr` (check `lapackQRAvailable()` first). `a` is not
 * modified.
 */
export function lapackQR(a: ArrayLike<number>, m: number, n: number): { q: Float64Array; r: Float64Array } | { code: number } {
  const addon = load();
  if (!addon?.qr) throw new Error(`lapackQR: ${addon ? 'the native addon was built without qr (rebuild: node native/install.mjs)' : state.why}`);
  if (a.length !== m * n) throw new Error(`lapackQR: expected ${m}x${n} = ${m * n} values, got ${a.length}`);
  const q = Float64Array.from(a);
  const r = new Float64Array(n * n);
  const code = addon.qr(q, m, n, r);
  return code === 0 ? { q, r } : { code };
}
