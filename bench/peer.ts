/**
 * The PyTorch peers of the GPT benchmarks: which Pythons with torch are installed, and one run of
 * bench/peer_torch.py in a child process. optlab does not need torch; without it the peer rows say
 * "not installed". The fastest set-ups measured on the project's machines are the torch 2.x CPU wheel
 * at 2 threads and Debian's python3-torch 1.13 (OpenBLAS) at 1 thread (docs/backends.md), so every
 * torch found is run at 1 and at 2 threads and the fastest of them is the reference.
 */
import { spawnSync } from 'node:child_process';
import { findUp } from '../kernels/addon.js';

/** A Python interpreter with torch. */
export interface Peer {
  /** The interpreter as given (a command or a path). */
  python: string;
  /** sys.executable, resolved. */
  executable: string;
  /** torch.__version__. */
  torch: string;
  /** e.g. 'torch 2.13.0+cpu'. */
  label: string;
}

/** What bench/peer_torch.py prints: median ms per phase over iterations [from, iters). */
export interface PeerResult {
  case: 'tiny' | 'recipe';
  torch: string;
  threads: number;
  attention: string;
  params: number;
  batch: number;
  context: number;
  layers: number;
  iters: number;
  from: number;
  samples: number;
  loss: number;
  median_ms: { data: number; forward: number; backward: number; optimizer: number; readback: number; total: number };
  mean_ms: number;
  min_ms: number;
  max_ms: number;
}

/** Interpreters tried: $OPTLAB_PEER_PYTHON (comma-separated), else python3 on the PATH and Debian's /usr/bin/python3. */
export function peerCandidates(): string[] {
  const env = process.env.OPTLAB_PEER_PYTHON;
  if (env !== undefined && env.trim() !== '') return env.split(',').map((s) => s.trim()).filter(Boolean);
  return ['python3', '/usr/bin/python3'];
}

/** The interpreters among `peerCandidates()` that import torch, one per executable. */
export function findPeers(candidates: readonly string[] = peerCandidates()): Peer[] {
  const out: Peer[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import sys, torch; print(sys.executable); print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 || r.error) continue;
    const [executable, torch] = r.stdout.trim().split('\n');
    if (!torch || out.some((p) => p.executable === executable)) continue;
    out.push({ python, executable, torch, label: `torch ${torch}` });
  }
  return out;
}

/** Label of a peer set-up in benchmark rows, e.g. 'pytorch 2.13.0+cpu, 2 threads'. */
export const peerLabel = (torch: string, threads: number): string => `pytorch ${torch}, ${threads} thread${threads === 1 ? '' : 's'}`;

/**
 * Runs bench/peer_torch.py for one case and thread count: `iters` iterations, medians from `from` on.
 * Returns its figures, or a one-line reason when it failed. OMP/MKL/OpenBLAS thread variables are set
 * to `threads` as well (Debian's torch multiplies OpenBLAS threads otherwise).
 */
export function runPeer(peer: Peer, which: 'tiny' | 'recipe', threads: number, opts: { iters?: number; from?: number; timeoutMs?: number } = {}): PeerResult | string {
  const script = findUp('bench/peer_torch.py');
  const data = findUp('data/tinyshakespeare.txt');
  if (!script || !data) return 'bench/peer_torch.py or data/tinyshakespeare.txt not found';
  const t = String(threads);
  const args = [script, '--case', which, '--threads', t, '--iters', String(opts.iters ?? 300), '--from', String(opts.from ?? 100), '--data', data];
  const env = { ...process.env, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t };
  const r = spawnSync(peer.python, args, { encoding: 'utf8', env, timeout: opts.timeoutMs ?? 600_000 });
  if (r.error) return `peer failed (${String(r.error.message).slice(0, 160)})`;
  if (r.status !== 0) return `peer exited with ${r.status} (${(r.stderr || '').trim().split('\n').pop()?.slice(0, 160) ?? ''})`;
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as PeerResult;
  } catch {
    return `peer printed no result (${r.stdout.slice(0, 160)})`;
  }
}
