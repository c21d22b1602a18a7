/**
 * Parity replay: runs the optimizer a reference fixture names (format in test/fixtures/README.md) on the
 * fixture's parameters and gradients, or, for least-squares fixtures, on its X/Y problem with gradients
 * computed here, and compares every step with the reference trajectory.
 *
 * PyTorch stores a Linear weight as [out, in]; optlab's matrices are [in, out] (x @ W). Every 2-D
 * fixture parameter is therefore handed to optlab transposed, and transposed back for comparison, so
 * a method's fan_in/fan_out rules are checked against PyTorch's rows/cols rules on every orientation.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself; tfjs-layers' bundle registers all of them on import.
import '@tensorflow/tfjs-layers';
import { buildOptimizer, type OptimizerDef, type Parameter } from '../optimizers/core.js';
import { OPTIMIZERS, optimizerSource } from '../optimizers/index.js';
import { FixtureError, type Fixture } from './fixture.js';
import { REFERENCE_MAPPINGS } from './mapping.js';
import { directMapping, type ReferenceMapping } from './mapping_helpers.js';

/** Result of one replay. */
export interface ReplayResult {
  name: string;
  optimizer: string;
  atol: number;
  /** Largest |ours - reference| over all steps and elements. */
  maxAbsError: number;
  /** Largest error per step. */
  perStep: number[];
  /** Where the largest error occurred. */
  worst: { step: number; param: string; index: number };
  pass: boolean;
  /** What we computed, per step, in the fixture's layout (flat row-major). */
  steps: { params_after: Record<string, number[]>; loss: number | null }[];
}

const f32 = (xs: number[]) => Float32Array.from(xs, Math.fround);

/** [rows, cols] row-major data -> its transpose, row-major. */
function transposeFlat(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}

/** Fixture (PyTorch) layout -> optlab layout. */
function toOptlab(data: ArrayLike<number>, shape: number[]): { data: Float32Array; shape: number[] } {
  if (shape.length === 2) return { data: transposeFlat(data, shape[0], shape[1]), shape: [shape[1], shape[0]] };
  return { data: Float32Array.from(data), shape };
}

/** optlab layout -> fixture (PyTorch) layout. */
function toFixture(data: ArrayLike<number>, fixtureShape: number[]): Float32Array {
  if (fixtureShape.length === 2) return transposeFlat(data, fixtureShape[1], fixtureShape[0]);
  return Float32Array.from(data);
}

function matrixOf(m: { shape: number[]; data: number[] } | number[][]): tf.Tensor2D {
  if (Array.isArray(m)) return tf.tensor2d(m.map((r) => r.map(Math.fround)));
  return tf.tensor2d(f32(m.data), m.shape as [number, number]);
}

/**
 * Replays a fixture through optlab and compares with the reference trajectory. Throws FixtureError when
 * optlab has no such method, no mapping for it, or the mapping rejects the fixture's settings.
 */
export function replayFixture(fx: Fixture): ReplayResult {
  const factory = OPTIMIZERS[fx.optimizer];
  if (!factory) throw new FixtureError(`fixture ${fx.name}: optlab has no optimizer named '${fx.optimizer}' (known: ${Object.keys(OPTIMIZERS).join(', ')})`);
  // A method registered from outside (a plugin's) maps its fixture's keywords directly onto its options.
  const mapper = REFERENCE_MAPPINGS[fx.optimizer] ?? (optimizerSource(fx.optimizer) ? (f: Fixture) => directMapping(f, factory.defaults as Record<string, unknown>) : undefined);
  if (!mapper) throw new FixtureError(`fixture ${fx.name}: optimizer '${fx.optimizer}' has no mapping from reference hyperparameters`);
  let mapped: ReferenceMapping<any>;
  let def: OptimizerDef;
  try {
    mapped = mapper(fx);
    def = mapped.build ? mapped.build(mapped.options) : factory(mapped.options);
  } catch (e) {
    throw new FixtureError(`fixture ${fx.name}: ${(e as Error).message}`);
  }
  const names = Object.keys(fx.params);
  for (const n of names) if (!mapped.roles[n]) throw new FixtureError(`fixture ${fx.name}: the '${fx.optimizer}' mapping gives no role for parameter '${n}'`);

  const params: Parameter[] = names.map((n) => {
    const { data, shape } = toOptlab(f32(fx.params[n].data), fx.params[n].shape);
    return { name: n, role: mapped.roles[n], variable: tf.variable(tf.tensor(data, shape), true, `replay/${fx.name}/${n}/${Math.random().toString(36).slice(2)}`) };
  });
  const opt = buildOptimizer(params, def);
  let X: tf.Tensor2D | undefined;
  let Y: tf.Tensor2D | undefined;
  if (fx.mode === 'least_squares') {
    X = matrixOf(fx.data!.X);
    Y = matrixOf(fx.data!.Y);
  }
  // loss = 0.5 * mean((X @ W - Y)^2) with W in the fixture's layout, i.e. the transpose of optlab's.
  const lsqLoss = (): tf.Scalar =>
    tf.tidy(() => {
      const p = params.find((q) => q.name === 'W');
      if (!p) throw new FixtureError(`fixture ${fx.name}: least_squares needs a parameter 'W'`);
      const r = tf.sub(tf.matMul(X!, tf.transpose(p.variable)), Y!);
      return tf.mul(0.5, tf.mean(tf.square(r))) as tf.Scalar;
    });

  const result: ReplayResult = { name: fx.name, optimizer: fx.optimizer, atol: fx.tolerance.atol, maxAbsError: 0, perStep: [], worst: { step: 0, param: '', index: 0 }, pass: true, steps: [] };
  try {
    fx.steps.forEach((step, si) => {
      const grads = new Map<string, tf.Tensor>();
      if (fx.mode === 'replay') {
        for (const p of params) {
          const g = step.grads?.[p.name];
          if (!g) continue;
          const { data, shape } = toOptlab(f32(g), fx.params[p.name].shape);
          grads.set(p.name, tf.tensor(data, shape));
        }
      } else {
        const { grads: gs, value } = tf.variableGrads(lsqLoss, params.map((p) => p.variable));
        value.dispose();
        for (const p of params) grads.set(p.name, gs[p.variable.name]);
      }
      opt.step(grads);
      for (const g of grads.values()) g.dispose();
      let stepMax = 0;
      const after: Record<string, number[]> = {};
      for (const p of params) {
        const ours = toFixture(p.variable.dataSync(), fx.params[p.name].shape);
        after[p.name] = Array.from(ours);
        const ref = step.params_after[p.name];
        if (!ref) continue;
        if (ref.length !== ours.length) throw new FixtureError(`fixture ${fx.name}: step ${si} '${p.name}' has ${ref.length} values, parameter has ${ours.length}`);
        for (let i = 0; i < ours.length; i++) {
          const err = Math.abs(ours[i] - Math.fround(ref[i]));
          if (!(err <= stepMax)) {
            stepMax = Number.isNaN(err) ? Infinity : err;
            if (stepMax > result.maxAbsError) {
              result.maxAbsError = stepMax;
              result.worst = { step: si, param: p.name, index: i };
            }
          }
        }
      }
      let loss: number | null = null;
      if (fx.mode === 'least_squares') {
        const l = lsqLoss();
        loss = l.dataSync()[0];
        l.dispose();
      }
      result.perStep.push(stepMax);
      result.steps.push({ params_after: after, loss });
    });
  } finally {
    opt.dispose();
    for (const p of params) p.variable.dispose();
    X?.dispose();
    Y?.dispose();
  }
  result.pass = result.maxAbsError <= fx.tolerance.atol;
  return result;
}

/** One line for a person: fixture, largest error, tolerance, verdict. */
export function formatReplay(r: ReplayResult): string {
  const ratio = r.atol > 0 ? r.maxAbsError / r.atol : Infinity;
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.name}  max|err| ${r.maxAbsError.toExponential(2)}  atol ${r.atol.toExponential(2)}  (${ratio.toFixed(3)} x atol; worst at step ${r.worst.step + 1}, ${r.worst.param}[${r.worst.index}])`;
}
