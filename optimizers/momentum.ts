/**
 * Heavy-ball momentum and its Nesterov look-ahead, in the two forms optlab's methods use (written once
 * for SGD, Muon, REG and Shampoo).
 *
 *   'sum' (PyTorch SGD, Moonlight):  M <- b M + G;          Nesterov U = G + b M
 *   'ema' (KellerJordan/Muon, AuON): M <- lerp(M, G, 1-b);  Nesterov U = lerp(G, M, b)
 * Without Nesterov U = M. The 'ema' buffer is (1 - b) times the 'sum' one for the same gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedOps } from '../kernels/fused.js';
import { addSelfTestCase, selfTestValues } from '../kernels/self_test.js';

/** EMA momentum (Keller: M <- lerp(M, G, 1-b)) or sum momentum (Moonlight, PyTorch SGD: M <- b M + G). */
export type MomentumForm = 'ema' | 'sum';

/** torch.lerp's formula (a + w (b - a) for w < 0.5, else b - (b - a)(1 - w)), so float32 rounding follows the reference. */
export function lerp(a: tf.Tensor, b: tf.Tensor, w: number): tf.Tensor {
  return w < 0.5 ? tf.add(a, tf.mul(tf.sub(b, a), w)) : tf.sub(b, tf.mul(tf.sub(b, a), 1 - w));
}

/** The new momentum buffer from the old one `buf` and the incoming `g`. Pure; call inside tf.tidy. */
export function accumulateMomentum(buf: tf.Tensor, g: tf.Tensor, beta: number, form: MomentumForm): tf.Tensor {
  return form === 'ema' ? lerp(buf, g, 1 - beta) : tf.add(tf.mul(buf, beta), g);
}

/** Nesterov's look-ahead direction from the incoming `g` and the new buffer `m`. Pure; call inside tf.tidy. */
export function nesterovDirection(g: tf.Tensor, m: tf.Tensor, beta: number, form: MomentumForm): tf.Tensor {
  return form === 'ema' ? lerp(g, m, beta) : tf.add(g, tf.mul(m, beta));
}

/**
 * One momentum step: the new buffer and the direction (the Nesterov look-ahead or the buffer). Pure; call inside tf.tidy.
 * With the native kernels, the 'ema' Nesterov step for b > 0.5 (Keller's Muon, b = 0.95) is one kernel
 * (OptlabAuon's momentum stage, native/optimizer.c): m' = m + (g - m)(1 - b), u = m' - (m' - g)(1 - b),
 * the float32 operations of `lerp` in its order, so the result is the tfjs ops' bit for bit.
 */
export function momentumStep(buf: tf.Tensor, g: tf.Tensor, beta: number, form: MomentumForm, nesterov: boolean): { buffer: tf.Tensor; direction: tf.Tensor } {
  const f = fusedOps();
  if (f && form === 'ema' && nesterov && beta > 0.5 && g.dtype === 'float32' && buf.dtype === 'float32' && tf.util.arraysEqual(g.shape, buf.shape) && !tf.engine().state.gradientDepth) {
    const { m, u } = f.auonMomentum(g, buf, { omm: 1 - beta, w: 1 - beta, high: 1, gamma: 1, paper: 0, factor: 1 });
    return { buffer: m, direction: u };
  }
  const m = accumulateMomentum(buf, g, beta, form);
  return { buffer: m, direction: nesterov ? nesterovDirection(g, m, beta, form) : m };
}

// The one-kernel 'ema' Nesterov step against the tfjs ops above (kernels/self_test.ts).
addSelfTestCase('fused ema Nesterov momentum', () => {
  const r = momentumStep(selfTestValues([4, 9], 1), selfTestValues([4, 9], 2), 0.95, 'ema', true);
  return tf.concat([r.buffer, r.direction]);
});
