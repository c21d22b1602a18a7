/**
 * File-system faults of a sweep (no space, no permission, a folder removed while runs train): how
 * they are recognized and said in one line, and the seam tests inject them through.
 *
 * Injection: `OPTLAB_FS_FAULT=<CODE>:<bytes>` (e.g. `ENOSPC:20000`, `EACCES:0`) makes every write of
 * at least `bytes` bytes that goes through `writeAtomic` or a run's curve writer (runner.ts) fail with
 * that error code, as a nearly full disk fails the large writes (checkpoints) while small ones
 * (records) still fit. Unset in normal use; read on every write, so a test can start a sweep with it
 * and resume without it.
 */

/** Error codes that mean the results folder cannot take a write: the sweep stops rather than start more runs. */
export const FS_FAULT_CODES = ['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOENT', 'EIO'] as const;

const WORDS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder (was the results folder removed?)',
  EIO: 'input/output error',
};

/** A file-system error with its code and the path it concerns. */
export class FsFault extends Error {
  constructor(readonly code: string, readonly path: string, readonly op: string) {
    super(`${code}: ${WORDS[code] ?? 'file-system error'}, ${op} ${path}`);
    this.name = 'FsFault';
  }
}

/** Whether `e` is a file-system error of FS_FAULT_CODES (an FsFault or a Node ErrnoException). */
export function isFsFault(e: unknown): e is NodeJS.ErrnoException | FsFault {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && (FS_FAULT_CODES as readonly string[]).includes(code);
}

/** `e` as an FsFault naming `path` and `op` ('write', 'rename') when Node's error lacks them; other errors unchanged. */
export function asFsFault(e: unknown, path: string, op: string): unknown {
  if (e instanceof FsFault || !isFsFault(e)) return e;
  return new FsFault(e.code!, (e as NodeJS.ErrnoException).path ?? path, op);
}

/** The one line a fault is reported by: 'ENOSPC: no space left on device, write /r/x.ckpt'. */
export function describeFsFault(e: NodeJS.ErrnoException | FsFault): string {
  if (e instanceof FsFault) return e.message;
  return new FsFault(e.code!, e.path ?? '(unknown path)', e.syscall ?? 'access').message;
}

/** Throws the injected fault (OPTLAB_FS_FAULT) when a write of `bytes` bytes to `path` should fail. */
export function injectedFault(path: string, bytes: number, env: NodeJS.ProcessEnv = process.env): void {
  const spec = env.OPTLAB_FS_FAULT;
  if (!spec) return;
  const [code, min] = spec.split(':');
  if (bytes >= Number(min ?? 0)) throw new FsFault(code, path, 'write');
}
