/** Small test problems over named Parameters of every role and orientation. */
import * as tf from '@tensorflow/tfjs-core';
import type { Parameter, Role } from '../../optimizers/core.js';

let counter = 0;

/** Deterministic pseudo-random values in [-1, 1) (an LCG, so tests do not depend on tfjs's RNG). */
export function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  role: Role;
}

/** One parameter of each role, with tall, wide and square matrices and a conv kernel. */
export const MIXED_SPECS: ParamSpec[] = [
  { name: 'blocks.0.w', shape: [6, 4], role: 'matrix' },
  { name: 'blocks.0.u', shape: [3, 5], role: 'matrix' },
  { name: 'blocks.0.s', shape: [4, 4], role: 'matrix' },
  { name: 'head', shape: [4, 3], role: 'head' },
  { name: 'embed', shape: [5, 3], role: 'embedding' },
  { name: 'blocks.0.b', shape: [4], role: 'vector' },
  { name: 'conv.k', shape: [2, 2, 3, 4], role: 'conv' },
];

/** Makes fresh variables for the specs (unique engine names, stable parameter names). */
export function makeParams(specs: ParamSpec[], seed = 1, scale = 0.5): Parameter[] {
  counter++;
  return specs.map((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = tf.variable(tf.tensor(seeded(n, seed * 1000 + i).map((x) => x * scale), s.shape), true, `test${counter}/${s.name}`);
    return { name: s.name, variable: v, role: s.role };
  });
}

/** Copies parameters into fresh variables with the same names and roles. */
export function cloneParams(params: Parameter[]): Parameter[] {
  counter++;
  return params.map((p) => ({ name: p.name, role: p.role, variable: tf.variable(p.variable.clone(), true, `test${counter}/${p.name}`) }));
}

export function disposeParams(params: Parameter[]): void {
  for (const p of params) p.variable.dispose();
}

/** A loss over parameters, as a function returning a scalar tensor. */
export type Loss = (params: Parameter[]) => tf.Scalar;

/** 0.5 * sum ||p - target||^2 with per-parameter targets drawn from a fixed seed. */
export function quadratic(specs: ParamSpec[]): Loss {
  const targets = specs.map((s, i) => seeded(s.shape.reduce((a, b) => a * b, 1), 77 + i));
  return (params) =>
    tf.tidy(() => tf.addN(params.map((p, i) => tf.mul(0.5, tf.sum(tf.square(tf.sub(p.variable, tf.tensor(targets[i], p.variable.shape)))))))) as tf.Scalar;
}

/** Rosenbrock on a 2 x k matrix: rows are x and y, f = sum (1 - x)^2 + 100 (y - x^2)^2. */
export function rosenbrock(): Loss {
  return (params) =>
    tf.tidy(() => {
      const w = params[0].variable;
      const [x, y] = tf.split(w, 2, 0);
      return tf.sum(tf.add(tf.square(tf.sub(1, x)), tf.mul(100, tf.square(tf.sub(y, tf.square(x)))))) as tf.Scalar;
    });
}

/** Gradients of `loss` with respect to every parameter, keyed by parameter name, plus the loss value. */
export function gradsOf(loss: Loss, params: Parameter[]): { value: number; grads: Map<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(() => loss(params), params.map((p) => p.variable));
  const out = new Map<string, tf.Tensor>();
  for (const p of params) out.set(p.name, grads[p.variable.name]);
  const v = value.dataSync()[0];
  value.dispose();
  return { value: v, grads: out };
}

export function disposeGrads(grads: Map<string, tf.Tensor>): void {
  for (const g of grads.values()) g.dispose();
}

/** Current value of a loss, disposed. */
export function lossValue(loss: Loss, params: Parameter[]): number {
  const l = loss(params);
  const v = l.dataSync()[0];
  l.dispose();
  return v;
}
