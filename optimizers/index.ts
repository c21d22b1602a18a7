/** Registry: method name -> factory. The runner, the CLI and replay find methods by name only. */
import type { OptimizerFactory } from './core.js';
import { adamw } from './adamw.js';
import { sgd } from './sgd.js';

export const OPTIMIZERS: Record<string, OptimizerFactory<any>> = {
  adamw,
  sgd,
};

/** Looks a method up by registry name, with a message listing the known ones. */
export function getOptimizerFactory(name: string): OptimizerFactory<any> {
  const f = OPTIMIZERS[name];
  if (!f) throw new Error(`unknown optimizer '${name}'; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
  return f;
}

export * from './core.js';
export { adamw, scaleByAdam, adamwTransform, ADAMW_DEFAULTS, type AdamWOptions, type AdamOptions } from './adamw.js';
export { sgd, traceMomentum, SGD_DEFAULTS, type SGDOptions } from './sgd.js';
