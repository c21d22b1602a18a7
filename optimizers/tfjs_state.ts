/**
 * Matching saved optimizer state to the variables of a model, for the tf.Optimizer adapter
 * (optimizers/tfjs.ts). State keys are `${variable name}/${slot}`. tfjs-layers makes variable names
 * unique per process by appending `_N` (`dense_Dense1/kernel` becomes `dense_Dense1/kernel_1` when the
 * model is built again in the same process), so a checkpoint saved in one process names its
 * variables differently from the model that loads it in another.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Removes the `_N` suffix tfjs appends to make a variable name unique. */
export function canonicalName(name: string): string {
  return name.replace(/_\d+$/, '');
}

/** Splits a state key `${param}/${slot}` at its last '/'. */
export function splitKey(key: string): { param: string; slot: string } {
  const i = key.lastIndexOf('/');
  if (i <= 0) throw new Error(`optimizer state key '${key}' is not '<variable>/<slot>'`);
  return { param: key.slice(0, i), slot: key.slice(i + 1) };
}

/** Groups state entries by parameter: param -> slot -> tensor, in the order given. */
export function groupByParam(entries: Iterable<[string, tf.Tensor]>): Map<string, Map<string, tf.Tensor>> {
  const out = new Map<string, Map<string, tf.Tensor>>();
  for (const [key, t] of entries) {
    const { param, slot } = splitKey(key);
    if (!out.has(param)) out.set(param, new Map());
    out.get(param)!.set(slot, t);
  }
  return out;
}

/**
 * The saved parameter whose state belongs to the live variable `name`: the same name, else a name
 * that differs by one uniqueness suffix on either side, else one equal once both suffixes are gone.
 * Returns undefined when none matches; throws when two match equally well.
 */
export function matchSaved(name: string, saved: Iterable<string>): string | undefined {
  const bare = canonicalName(name);
  let best: string[] = [];
  let bestScore = Infinity;
  for (const s of saved) {
    const score = s === name ? 0 : s === bare || canonicalName(s) === name ? 1 : canonicalName(s) === bare ? 2 : Infinity;
    if (score < bestScore) [best, bestScore] = [[s], score];
    else if (score === bestScore && score < Infinity) best.push(s);
  }
  if (best.length > 1) throw new Error(`optimizer state: variable '${name}' matches the saved state of ${best.map((b) => `'${b}'`).join(' and ')} equally well; rename the layers so their variable names differ by more than a '_N' suffix`);
  return best[0];
}
