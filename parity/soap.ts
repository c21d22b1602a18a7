/**
 * Maps the `soap-official-*` fixtures (nikhilvyas/SOAP `soap.py` @ a1e5535; test/fixtures/README.md) onto
 * `soap()` options: every key of the recorded param group is read, and an unknown one is refused.
 */
import type { ReferenceCase } from './fixture.js';
import { rolesByRank, singleReferenceGroup, type ReferenceMapping } from './mapping_helpers.js';
import type { SoapOptions } from '../optimizers/soap.js';

const KNOWN = ['params', 'lr', 'betas', 'shampoo_beta', 'eps', 'weight_decay', 'precondition_frequency', 'max_precond_dim', 'merge_dims', 'precondition_1d', 'normalize_grads', 'correct_bias'];

/** SOAP(lr, betas, shampoo_beta, eps, weight_decay, precondition_frequency, max_precond_dim, merge_dims, precondition_1d, normalize_grads, data_format, correct_bias). */
export function soapFromReference(fx: ReferenceCase): ReferenceMapping<SoapOptions> {
  const g = singleReferenceGroup(fx);
  for (const k of Object.keys(g)) if (!KNOWN.includes(k)) throw new Error(`SOAP param group key '${k}' is not mapped`);
  const format = fx.resolved_attributes?.data_format ?? 'channels_first';
  const has4d = Object.values(fx.params).some((p) => p.shape.length === 4);
  if (has4d && format !== 'channels_first') throw new Error(`SOAP data_format '${format}' on a 4-D parameter is not mapped`);
  return {
    options: {
      lr: g.lr,
      beta1: g.betas[0],
      beta2: g.betas[1],
      shampooBeta: g.shampoo_beta,
      eps: g.eps,
      weightDecay: g.weight_decay,
      preconditionFrequency: g.precondition_frequency,
      maxPrecondDim: g.max_precond_dim,
      mergeDims: g.merge_dims,
      precondition1d: g.precondition_1d,
      normalizeGrads: g.normalize_grads,
      correctBias: g.correct_bias,
    },
    roles: rolesByRank(fx),
  };
}
