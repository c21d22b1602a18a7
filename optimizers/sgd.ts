/**
 * SGD with (heavy-ball or Nesterov) momentum, PyTorch `torch.optim.SGD` semantics.
 *
 *   g <- g + wd W                      (weightDecayMode 'l2', the PyTorch default)
 *   buf <- g on the first step, then buf <- mu buf + (1 - dampening) g
 *   d = g + mu buf (nesterov) or buf;  W <- W - lr d
 *
 * Differs from reference: none. `weightDecayMode: 'decoupled'` instead multiplies W by (1 - lr wd).
 * tfjs's momentum optimizer is the same for dampening 0 but has no weight decay.
 * Use on roles: all.
 */
import * as tf from '@tensorflow/tfjs-core';
import { accumulateMomentum, nesterovDirection } from './momentum.js';
import { addL2, chain, decoupledWeightDecay, defineOptimizer, scaleByLr, type State, type Transform } from './core.js';

/** Options of SGD with momentum. */
export interface SGDOptions {
  /** Learning rate (times the schedule's lrScale). @default 0.01 */
  lr?: number;
  /** Momentum coefficient: buf <- momentum buf + (1 - dampening) g (PyTorch; 0: plain SGD). @default 0.9 */
  momentum?: number;
  /** Step along g + momentum buf instead of buf (PyTorch's Nesterov form). @default false */
  nesterov?: boolean;
  /** Dampening of the gradient added to the momentum buffer. @default 0 */
  dampening?: number;
  /** Weight decay coefficient, applied as weightDecayMode says. @default 0 */
  weightDecay?: number;
  /** L2 adds wd*W to the gradient (PyTorch); decoupled shrinks W by (1 - lr*wd). @default 'l2' */
  weightDecayMode?: 'l2' | 'decoupled';
}

export const SGD_DEFAULTS: Required<SGDOptions> = { lr: 0.01, momentum: 0.9, nesterov: false, dampening: 0, weightDecay: 0, weightDecayMode: 'l2' };

/** Momentum buffer (slot `momentum_buffer`) with PyTorch's first-step rule buf = g. */
export function traceMomentum(momentum: number, opts: { nesterov?: boolean; dampening?: number } = {}): Transform {
  const nesterov = opts.nesterov ?? false;
  const dampening = opts.dampening ?? 0;
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new Error('sgd: nesterov needs momentum > 0 and dampening 0 (as in PyTorch)');
  return {
    name: 'momentum',
    init: (_p, slot): State => (momentum === 0 ? {} : { momentum_buffer: slot('momentum_buffer', 'zeros') }),
    update(g, s, _p, ctx) {
      if (momentum === 0) return g;
      // PyTorch starts the buffer at g itself (no dampening on the first step).
      const buf = ctx.t === 1 ? g : accumulateMomentum(s.momentum_buffer, dampening === 0 ? g : tf.mul(g, 1 - dampening), momentum, 'sum');
      s.momentum_buffer.assign(buf);
      return nesterov ? nesterovDirection(g, buf, momentum, 'sum') : buf;
    },
    describe: () => `momentum(${momentum}${nesterov ? ',nesterov' : ''}${dampening ? `,dampening=${dampening}` : ''})`,
  };
}

/** SGD with momentum for every parameter it is given. */
export const sgd = defineOptimizer('sgd', SGD_DEFAULTS, (o) => {
  if (o.weightDecayMode !== 'l2' && o.weightDecayMode !== 'decoupled') throw new Error(`sgd: weightDecayMode must be 'l2' or 'decoupled', got '${o.weightDecayMode}'`);
  const parts: Transform[] = [];
  if (o.weightDecayMode === 'l2' && o.weightDecay !== 0) parts.push(addL2(o.weightDecay));
  parts.push(traceMomentum(o.momentum, o));
  if (o.weightDecayMode === 'decoupled' && o.weightDecay !== 0) parts.push(decoupledWeightDecay(o.weightDecay, o.lr));
  parts.push(scaleByLr(o.lr));
  return chain(...parts);
}, { className: 'SGDOptimizer' });
