/**
 * Run locks: a run in progress is held by `<id>.lock` in its results folder, a JSON
 * {host, pid, token, since, heartbeat} written by the sweep process that trains it and refreshed
 * while it trains. Another process (a second `optlab run --resume`, another shard on a shared
 * filesystem) skips a run whose lock is live and takes over one whose lock is stale: on the same
 * host when its pid is dead, on another host when its heartbeat is older than `staleAfterMs`
 * (default 120 s, `OPTLAB_LOCK_STALE_S`). Creation is exclusive (O_EXCL) and a takeover renames the
 * stale file away first, so of two processes racing for one run exactly one gets it.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/** The content of a lock file. */
export interface RunLockInfo {
  host: string;
  pid: number;
  /** Identifies one holder (a pid can be reused). */
  token: string;
  /** When the lock was taken, ms since the epoch. */
  since: number;
  /** Last refresh, ms since the epoch. */
  heartbeat: number;
}

/** A held lock: refresh it while training, release it when the run has ended. */
export interface RunLock {
  readonly path: string;
  readonly info: RunLockInfo;
  /** Rewrites the heartbeat; false when the lock is no longer this holder's (taken over as stale). */
  refresh(): boolean;
  /** Removes the lock file when it is still this holder's. */
  release(): void;
}

/** The lock file of run `id` in `dir`. */
export function lockPath(dir: string, id: string): string {
  return join(dir, `${id}.lock`);
}

/** How long a lock of another host lives without a heartbeat (ms): OPTLAB_LOCK_STALE_S, default 120 s. */
export function staleAfterMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.OPTLAB_LOCK_STALE_S);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 120_000;
}

/** Reads a lock file; null when it is absent or unreadable (a half-written lock counts as absent after a takeover check). */
export function readLock(path: string): RunLockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as RunLockInfo;
    return typeof v.pid === 'number' && typeof v.host === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Whether process `pid` exists on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why a lock no longer protects its run ('pid 123 is not running', 'no heartbeat for 300 s'), or null while it is live. */
export function staleReason(info: RunLockInfo, now = Date.now(), staleMs = staleAfterMs()): string | null {
  if (info.host === os.hostname()) return alive(info.pid) ? null : `pid ${info.pid} is not running`;
  const age = now - info.heartbeat;
  return age > staleMs ? `no heartbeat from ${info.host} for ${Math.round(age / 1000)} s` : null;
}

/** One line on who holds a live lock: 'pid 123 on host h (heartbeat 4 s ago)'. */
export function describeHolder(info: RunLockInfo, now = Date.now()): string {
  return `pid ${info.pid} on ${info.host} (heartbeat ${Math.max(0, Math.round((now - info.heartbeat) / 1000))} s ago)`;
}

function writeNew(path: string, info: RunLockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock of run `id` in `dir`: the lock when it was free or stale (`tookOver` then says
 * whose it was and why it was stale), else the live holder. Throws only for file-system errors.
 */
export function acquireRunLock(dir: string, id: string, opts: { staleMs?: number } = {}): { lock: RunLock; tookOver?: string } | { heldBy: RunLockInfo } {
  const path = lockPath(dir, id);
  const now = Date.now();
  const info: RunLockInfo = { host: os.hostname(), pid: process.pid, token: randomUUID(), since: now, heartbeat: now };
  let tookOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (writeNew(path, info)) return { lock: heldLock(path, info), ...(tookOver ? { tookOver } : {}) };
    const theirs = readLock(path);
    // Unreadable: a lock being written this instant, or garbage; the second look decides.
    if (theirs === null && attempt === 0) continue;
    const why = theirs === null ? 'unreadable lock file' : staleReason(theirs, Date.now(), opts.staleMs ?? staleAfterMs());
    if (why === null) return { heldBy: theirs! };
    // Only one process can rename the stale file away; the loser finds the winner's fresh lock.
    const aside = `${path}.stale-${info.token}`;
    try {
      renameSync(path, aside);
      rmSync(aside, { force: true });
      tookOver = `${theirs ? describeHolder(theirs) : 'a lock'}: ${why}`;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const theirs = readLock(path);
  if (theirs) return { heldBy: theirs };
  throw new Error(`${path}: could not take the run lock (it changed hands three times)`);
}

function heldLock(path: string, info: RunLockInfo): RunLock {
  const mine = () => readLock(path)?.token === info.token;
  return {
    path,
    info,
    refresh() {
      if (!mine()) return false;
      info.heartbeat = Date.now();
      const tmp = `${path}.tmp-${process.pid}`;
      try {
        const fd = openSync(tmp, 'w');
        try {
          writeSync(fd, JSON.stringify(info) + '\n');
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, path);
      } catch {
        // A full disk or a removed folder: the heartbeat is late, the run goes on (its own writes report the fault).
        rmSync(tmp, { force: true });
      }
      return true;
    },
    release() {
      if (mine()) rmSync(path, { force: true });
    },
  };
}
