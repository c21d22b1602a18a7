/**
 * Random draws inside optimizer steps (PSGD-Kron's probes and coins, Dion's initial basis and sketches),
 * addressed by a key that names what is drawn and at which step (`${param}/damping@${t}`), not by a
 * position in one global stream: the same key gives the same numbers in any process, so a run that is
 * saved and resumed draws exactly what an uninterrupted one draws (the step count is in the optimizer
 * state), and parity replay can hand a method the draws its reference made (parity/psgd_kron.ts).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Where a method's random numbers come from. */
export interface RandomSource {
  /** A float32 tensor of standard normal draws with this shape, for this key (same key, same values). Call inside tf.tidy. */
  normal(key: string, shape: number[]): tf.Tensor;
  /** A uniform draw in [0, 1) for this key (same key, same value). */
  uniform(key: string): number;
}

/** 32-bit FNV-1a hash of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32's first output for a 32-bit state, in [0, 1). */
function mulberry32(a: number): number {
  let t = (a + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/**
 * The default source: normals from tfjs's seeded `tf.randomNormal` (the same on every backend), uniforms
 * from mulberry32, both seeded by a hash of `${seed}|${key}`.
 */
export function seededRandom(seed: number): RandomSource {
  return {
    normal: (key, shape) => tf.randomNormal(shape, 0, 1, 'float32', fnv1a(`${seed}|${key}`)),
    uniform: (key) => mulberry32(fnv1a(`${seed}|${key}|u`)),
  };
}
