/**
 * The reference fixture format (test/fixtures/README.md): float32 trajectories of the official PyTorch
 * optimizer code, one JSON file per case, and its loader. Only parity/ knows this format; optimizers/
 * knows no fixtures.
 */
import { readFileSync } from 'node:fs';

/** The parts of a reference fixture a hyperparameter mapping reads (test/fixtures/README.md, "Format"). */
export interface ReferenceCase {
  /** Case name, e.g. 'muon-official-default-tall'. */
  name: string;
  /** optlab registry name of the method the reference implements, e.g. 'mars-m'. */
  optimizer: string;
  /** Which reference implementation or patch ('official', 'fp32', 'classic', ...). */
  variant: string;
  /** Which hyperparameter set ('default', 'wd', ...). */
  config: string;
  /** Keyword arguments exactly as passed to the reference constructor. */
  reference_hyper: Record<string, any>;
  /** `optimizer.param_groups` after construction (defaults filled in); `params` lists parameter names. */
  resolved_param_groups: Record<string, any>[];
  /** Settings the reference class keeps outside its param groups (routing, Shampoo's attributes), if any. */
  resolved_attributes?: Record<string, any>;
  /** Patches, routing and assumptions, as the generator wrote them. */
  notes?: unknown;
  /** 'replay': gradients are given per step; 'least_squares': gradients of 0.5 mean((X W^T - Y)^2). */
  mode: 'replay' | 'least_squares';
  /** Initial parameters by name; shapes in PyTorch layout (a Linear weight is [out, in]). */
  params: Record<string, { shape: number[] }>;
}

/** A reference fixture as stored on disk. */
export interface Fixture extends ReferenceCase {
  /** Largest accepted |optlab - reference| per element; `basis` says how the generator chose it. */
  tolerance: { atol: number; rtol?: number; basis?: string };
  /** Initial values, flat row-major, PyTorch layout. */
  params: Record<string, { shape: number[]; data: number[] }>;
  /** Per step: gradients (replay mode), the reference's parameters after the step, and the loss (least squares). */
  steps: { grads?: Record<string, number[]>; params_after: Record<string, number[]>; loss?: number | null; loss_before?: number | null }[];
  /** The least-squares problem (least_squares mode only), as {shape, data} or nested rows. */
  data?: { X: { shape: number[]; data: number[] } | number[][]; Y: { shape: number[]; data: number[] } | number[][]; loss_definition?: string };
}

/** An error that makes `optlab replay` exit 2: the fixture cannot be read or is not supported. */
export class FixtureError extends Error {}

/**
 * Reads and checks a fixture file. Throws FixtureError naming the path when the file is unreadable, is
 * not JSON, lacks one of `optimizer`, `mode`, `params`, `steps`, `tolerance`, has an unknown mode, or is
 * a least-squares fixture without `data`. A missing `name` becomes the path.
 */
export function loadFixture(path: string): Fixture {
  let fx: Fixture;
  try {
    fx = JSON.parse(readFileSync(path, 'utf8')) as Fixture;
  } catch (e) {
    throw new FixtureError(`cannot read fixture ${path}: ${(e as Error).message}`);
  }
  for (const key of ['optimizer', 'mode', 'params', 'steps', 'tolerance'] as const) {
    if (fx[key] === undefined) throw new FixtureError(`fixture ${path} has no '${key}' field; not a reference fixture`);
  }
  if (fx.mode !== 'replay' && fx.mode !== 'least_squares') throw new FixtureError(`fixture ${path}: unsupported mode '${fx.mode}'`);
  if (fx.mode === 'least_squares' && !fx.data) throw new FixtureError(`fixture ${path}: least_squares fixture without 'data'`);
  fx.name ??= path;
  return fx;
}
