/**
 * Heavy-ball momentum and its Nesterov look-ahead, in the two forms optlab's methods use (written once
 * for SGD, Muon, REG and Shampoo).
 *
 *   'sum' (PyTorch SGD, Moonlight):  M <- b M + G;          Nesterov U = G + b M
 *   'ema' (KellerJordan/Muon, AuON): M <- lerp(M, G, 1-b);  Nesterov U = lerp(G, M, b)
 * Without Nesterov U = M. The 'ema' buffer is (1 - b) times the 'sum' one for the same gradients.
 */
import * as tf from '@tensorflow/tfjs-core';

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

/** One momentum step: the new buffer and the direction (the Nesterov look-ahead or the buffer). Pure; call inside tf.tidy. */
export function momentumStep(buf: tf.Tensor, g: tf.Tensor, beta: number, form: MomentumForm, nesterov: boolean): { buffer: tf.Tensor; direction: tf.Tensor } {
  const m = accumulateMomentum(buf, g, beta, form);
  return { buffer: m, direction: nesterov ? nesterovDirection(g, m, beta, form) : m };
}
