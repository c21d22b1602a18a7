/**
 * Fused ops: single native kernels for work that tfjs runs as 5-20 elementwise kernels. GELU and layer
 * norm forward and backward (with their composed fallbacks, which every backend without the native
 * kernels runs), multi-head self-attention (its composed form is models/layers.ts selfAttention's),
 * and the optimizer kernels 'OptlabAdam', 'OptlabAuon' and 'OptlabNewtonSchulz', whose formulas live in their
 * method files (optimizers/adamw.ts, optimizers/auon.ts, optimizers/linalg.ts): here they are only run. The kernels are
 * registered for the wasm backend by kernels/wasm_kernels.ts together with the replaced wasm kernels
 * (docs/backends.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapOf, offsetOf, sizeOf, state, type KernelArgs, type KernelFn } from './addon.js';

/** Constants of one Adam step (optimizers/adamw.ts scaleByAdam): bc1 = 1 - beta1^t, bc2 = 1 - beta2^t. */
export interface AdamConstants {
  beta1: number;
  beta2: number;
  eps: number;
  bc1: number;
  bc2: number;
  epsMode: 'corrected' | 'uncorrected';
}

/**
 * Constants of the OptlabAuon kernel (native/optimizer.c `auon`), derived from AuON's options by
 * optimizers/auon.ts: m' = m + (g - m) omm; u = high ? m' - (m' - g) w : g + (m' - g) w; brake scale
 * gamma, `paper` 1 for paper mode with its shape `factor`.
 */
export interface AuonKernelConstants {
  omm: number;
  w: number;
  high: number;
  gamma: number;
  paper: number;
  factor: number;
}

/** The fused ops while the native kernels are active (`fusedOps()`). */
export interface FusedOps {
  /** New moments and the Adam direction in one pass, bit for bit scaleByAdam's tfjs ops on plain wasm (no amsgrad). */
  adam(g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamConstants): { m: tf.Tensor; v: tf.Tensor; update: tf.Tensor };
  /** AuON's momentum and Nesterov direction (kernel stage 1). */
  auonMomentum(g: tf.Tensor, m: tf.Tensor, k: AuonKernelConstants): { m: tf.Tensor; u: tf.Tensor };
  /** AuON's cosh brake and scaling of a direction u (kernel stage 2). */
  auonBrake(u: tf.Tensor, k: AuonKernelConstants): tf.Tensor;
  /** auonMomentum then auonBrake in one kernel call (stage 3): new momentum and the step direction. */
  auon(g: tf.Tensor, m: tf.Tensor, k: AuonKernelConstants): { m: tf.Tensor; update: tf.Tensor };
  /** GELU, tanh form, one kernel each way (see `gelu`). */
  gelu(x: tf.Tensor): tf.Tensor;
  /** Layer norm over the last axis, one kernel each way (see `layerNorm`). */
  layerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps?: number): tf.Tensor;
  /**
   * Multi-head self-attention, one kernel each way (native/attention.c): qkv [B, T, 3C] (columns
   * q | k | v, heads contiguous inside each) to y [B, T, C] = softmax(Q K^T / sqrt(C / nHead) + mask) V
   * per head, heads merged; `causal` masks key j > query i. Throws on a shape that does not fit.
   */
  attention(qkv: tf.Tensor, nHead: number, causal: boolean): tf.Tensor;
  /**
   * Quintic Newton-Schulz on a matrix [rows, cols] or a stack [k, rows, cols], one kernel call
   * (native/newton_schulz.c): each matrix pre-scaled by its max |entry|, divided by `scale` times its
   * Frobenius norm plus `eps`, then per iteration i X <- a X + (b A + c A^2) X with A = X X^T (X^T X
   * for tall matrices, without transposing); `coefficients` holds (a, b, c) per iteration. A zero
   * matrix gives zeros, a non-finite one NaN. No gradient (an optimizer's update).
   */
  newtonSchulz(x: tf.Tensor, coefficients: readonly (readonly [number, number, number])[], scale: number, eps: number): tf.Tensor;
  /** sqrt of the sum of the squares of every entry of every tensor (float32), one kernel call, in double (native/optimizer.c globalNorm). */
  globalNorm(xs: readonly tf.Tensor[]): tf.Scalar;
}

/** OptlabNewtonSchulz's attributes. */
type NewtonSchulzAttrs = { coefficients: number[]; scale: number; eps: number };

/** OptlabAttention's attributes. */
type AttentionAttrs = { nHead: number; causal: number; scale: number };

/** OptlabAuon's attributes: the constants and the stage, 1 = momentum, 2 = brake, 3 = both. */
type AuonAttrs = AuonKernelConstants & { stage: number };

/** Kernels of the fused ops; plain wasm has none of them. */
export const FUSED_KERNELS: Readonly<Record<string, KernelFn>> = {
  OptlabAdam: ({ inputs, backend, attrs }: KernelArgs) => {
    const { g, m, v } = inputs as { g: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
    const a = attrs as unknown as AdamConstants;
    const outs = [m, v, g].map((t) => backend.makeOutput(t.shape, 'float32'));
    const [mo, vo, u] = outs.map((t) => offsetOf(backend, t));
    const corrected = a.epsMode === 'corrected';
    const scale = corrected ? a.bc1 : Math.sqrt(a.bc2) / a.bc1;
    state.addon!.adam(heapOf(backend), offsetOf(backend, g), offsetOf(backend, m), offsetOf(backend, v), mo, vo, u, sizeOf(g.shape), a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.eps, Math.sqrt(a.bc2), scale, corrected ? 1 : 0);
    return outs;
  },
  OptlabAuon: ({ inputs, backend, attrs }: KernelArgs) => {
    const { g, m } = inputs as { g: tf.TensorInfo; m?: tf.TensorInfo };
    const a = attrs as unknown as AuonAttrs;
    const n = sizeOf(g.shape);
    if (g.dtype !== 'float32' || (m && m.dtype !== 'float32')) throw new Error(`OptlabAuon: float32 tensors only, got ${g.dtype}${m ? ` and ${m.dtype}` : ''}`);
    if ((a.stage & 1) !== 0 && (!m || sizeOf(m.shape) !== n)) throw new Error(`OptlabAuon: momentum of shape [${m?.shape ?? ''}] for a gradient of shape [${g.shape}]`);
    const mo = (a.stage & 1) !== 0 ? backend.makeOutput(m!.shape, 'float32') : null;
    const out = backend.makeOutput(g.shape, 'float32');
    // The heap after every allocation (makeOutput may grow it and replace the buffer).
    state.addon!.auon(heapOf(backend), offsetOf(backend, g), m && mo ? offsetOf(backend, m) : 0, mo ? offsetOf(backend, mo) : 0, offsetOf(backend, out), n, a.stage, a.omm, a.w, a.high, a.gamma, a.paper, a.factor);
    return mo ? [mo, out] : out;
  },
  OptlabGelu: ({ inputs, backend }: KernelArgs) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const y = backend.makeOutput(x.shape, 'float32');
    state.addon!.gelu(heapOf(backend), offsetOf(backend, x), offsetOf(backend, y), sizeOf(x.shape));
    return y;
  },
  OptlabGeluGrad: ({ inputs, backend }: KernelArgs) => {
    const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const dx = backend.makeOutput(x.shape, 'float32');
    state.addon!.geluGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, x), offsetOf(backend, dx), sizeOf(x.shape));
    return dx;
  },
  OptlabLayerNorm: ({ inputs, backend, attrs }: KernelArgs) => {
    const { x, gain, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
    const cols = x!.shape[x!.shape.length - 1];
    const lead = x!.shape.slice(0, -1);
    const y = backend.makeOutput(x!.shape, 'float32');
    const mean = backend.makeOutput(lead, 'float32');
    const rstd = backend.makeOutput(lead, 'float32');
    const off = (t?: tf.TensorInfo) => (t ? offsetOf(backend, t) : -1);
    state.addon!.layerNorm(heapOf(backend), off(x), off(gain), off(bias), off(y), off(mean), off(rstd), sizeOf(lead), cols, attrs.eps as number);
    return [y, mean, rstd];
  },
  OptlabAttention: ({ inputs, backend, attrs }: KernelArgs) => {
    const { qkv } = inputs as { qkv: tf.TensorInfo };
    const a = attrs as unknown as AttentionAttrs;
    const [b, t, c3] = qkv.shape;
    const c = c3 / 3;
    const y = backend.makeOutput([b, t, c], 'float32');
    const p = backend.makeOutput([b, a.nHead, t, t], 'float32');
    state.addon!.attention(heapOf(backend), offsetOf(backend, qkv), offsetOf(backend, y), offsetOf(backend, p), b, t, c, a.nHead, a.causal, a.scale);
    return [y, p];
  },
  OptlabAttentionGrad: ({ inputs, backend, attrs }: KernelArgs) => {
    const { dy, qkv, p } = inputs as { dy: tf.TensorInfo; qkv: tf.TensorInfo; p: tf.TensorInfo };
    const a = attrs as unknown as AttentionAttrs;
    const [b, t, c3] = qkv.shape;
    const dqkv = backend.makeOutput(qkv.shape, 'float32');
    state.addon!.attentionGrad(heapOf(backend), offsetOf(backend, dy), offsetOf(backend, qkv), offsetOf(backend, p), offsetOf(backend, dqkv), b, t, c3 / 3, a.nHead, a.causal, a.scale);
    return dqkv;
  },
  OptlabNewtonSchulz: ({ inputs, backend, attrs }: KernelArgs) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const a = attrs as unknown as NewtonSchulzAttrs;
    if (x.dtype !== 'float32' || (x.shape.length !== 2 && x.shape.length !== 3)) throw new Error(`OptlabNewtonSchulz: a float32 matrix or stack of matrices, got ${x.dtype} [${x.shape}]`);
    const [rows, cols] = x.shape.slice(-2);
    const out = backend.makeOutput(x.shape, 'float32');
    state.addon!.newtonSchulz(heapOf(backend), offsetOf(backend, x), offsetOf(backend, out), x.shape.length === 3 ? x.shape[0] : 1, rows, cols, a.coefficients, a.scale, a.eps);
    return out;
  },
  OptlabGlobalNorm: ({ inputs, backend }: KernelArgs) => {
    const xs = Object.values(inputs) as tf.TensorInfo[];
    for (const x of xs) if (x.dtype !== 'float32') throw new Error(`OptlabGlobalNorm: float32 tensors only, got ${x.dtype}`);
    const out = backend.makeOutput([], 'float32');
    state.addon!.globalNorm(heapOf(backend), xs.map((x) => offsetOf(backend, x)), xs.map((x) => sizeOf(x.shape)), offsetOf(backend, out));
    return out;
  },
  OptlabLayerNormGrad: ({ inputs, backend }: KernelArgs) => {
    const { dy, x, gain, mean, rstd } = inputs as Record<string, tf.TensorInfo | undefined>;
    const cols = x!.shape[x!.shape.length - 1];
    const dx = backend.makeOutput(x!.shape, 'float32');
    const dg = backend.makeOutput([cols], 'float32');
    const db = backend.makeOutput([cols], 'float32');
    const off = (t?: tf.TensorInfo) => (t ? offsetOf(backend, t) : -1);
    state.addon!.layerNormGrad(heapOf(backend), off(dy), off(x), off(gain), off(mean), off(rstd), off(dx), off(dg), off(db), sizeOf(x!.shape) / cols, cols);
    return [dx, dg, db];
  },
};

const run = (name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: Record<string, number> = {}) => {
  const defined = Object.fromEntries(Object.entries(inputs).filter(([, t]) => t !== undefined)) as tf.NamedTensorMap;
  return tf.engine().runKernel(name, defined, attrs);
};

/** The body of a custom-gradient op: inputs then the save function, value and gradient out. */
type CustomBody = (...args: never[]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] };

/** tf.customGrad with the body typed by its real arity (tfjs types the body as variadic). */
function customOp<F>(body: CustomBody): F {
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as F;
}

const fusedGelu = customOp<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return { value: run('OptlabGelu', { x }) as tf.Tensor, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run('OptlabGeluGrad', { dy, x: saved[0] }) as tf.Tensor };
});

function fusedLayerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps = 1e-5): tf.Tensor {
  const f = customOp<(...xs: tf.Tensor[]) => tf.Tensor>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [y, mean, rstd] = run('OptlabLayerNorm', { x, gain, bias }, { eps }) as tf.Tensor[];
    save(gain ? [x, mean, rstd, gain] : [x, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dg, db] = run('OptlabLayerNormGrad', { dy, x: saved[0], mean: saved[1], rstd: saved[2], gain: saved[3] }) as tf.Tensor[];
        return [dx, ...(gain ? [dg] : []), ...(bias ? [db] : [])];
      },
    };
  });
  return f(...[x, gain, bias].filter((t): t is tf.Tensor => t !== undefined));
}

/** Checks the shapes `FusedOps.attention` takes (before any kernel runs: a throwing gradient leaks its tape, docs/backends.md). */
function checkAttention(qkv: tf.Tensor, nHead: number): void {
  const width = qkv.shape[2] ?? 0;
  if (qkv.dtype !== 'float32' || qkv.rank !== 3 || width % 3 !== 0 || width === 0) throw new Error(`attention: qkv must be float32 [B, T, 3C], got ${qkv.dtype} [${qkv.shape}]`);
  const c = width / 3;
  if (!Number.isInteger(nHead) || nHead < 1 || c % nHead !== 0) throw new Error(`attention: nHead ${nHead} does not divide the width ${c}`);
}

function fusedAttention(qkv: tf.Tensor, nHead: number, causal: boolean): tf.Tensor {
  checkAttention(qkv, nHead);
  const attrs: AttentionAttrs = { nHead, causal: causal ? 1 : 0, scale: 1 / Math.sqrt(qkv.shape[2]! / 3 / nHead) };
  const f = customOp<(z: tf.Tensor) => tf.Tensor>((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, p] = run('OptlabAttention', { qkv: z }, attrs) as tf.Tensor[];
    save([z, p]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run('OptlabAttentionGrad', { dy, qkv: saved[0], p: saved[1] }, attrs) as tf.Tensor };
  });
  return f(qkv);
}

const runAuon = (inputs: tf.NamedTensorMap, attrs: AuonAttrs) => tf.engine().runKernel('OptlabAuon', inputs, attrs as unknown as tf.NamedAttrMap);

const FUSED: FusedOps = {
  adam(g, m, v, c) {
    const [mNew, vNew, update] = tf.engine().runKernel('OptlabAdam', { g, m, v }, c as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { m: mNew, v: vNew, update };
  },
  auonMomentum(g, m, k) {
    const [mNew, u] = runAuon({ g, m }, { ...k, stage: 1 }) as tf.Tensor[];
    return { m: mNew, u };
  },
  auonBrake: (u, k) => runAuon({ g: u }, { ...k, stage: 2 }) as tf.Tensor,
  auon(g, m, k) {
    const [mNew, update] = runAuon({ g, m }, { ...k, stage: 3 }) as tf.Tensor[];
    return { m: mNew, update };
  },
  gelu: fusedGelu,
  layerNorm: fusedLayerNorm,
  attention: fusedAttention,
  globalNorm(xs) {
    const inputs = Object.fromEntries(xs.map((x, i) => [`x${i}`, x])) as tf.NamedTensorMap;
    return tf.engine().runKernel('OptlabGlobalNorm', inputs, {}) as tf.Scalar;
  },
  newtonSchulz(x, coefficients, scale, eps) {
    const attrs: NewtonSchulzAttrs = { coefficients: coefficients.flat(), scale, eps };
    return tf.engine().runKernel('OptlabNewtonSchulz', { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  },
};

/**
 * The fused ops while the native kernels are active and wasm is the current backend, else null (the
 * caller then composes the op from tfjs ops, as on every other backend).
 */
export function fusedOps(): FusedOps | null {
  return state.originals.size > 0 && tf.getBackend() === 'wasm' ? FUSED : null;
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GELU, tanh form (GPT-2), from tfjs ops: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), with
 * the closed-form derivative 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t =
 * tanh(u): about half the elementwise kernels of differentiating op by op.
 */
export const composedGelu = customOp<(x: tf.Tensor) => tf.Tensor>((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const t = tf.tanh(tf.mul(tf.mul(x, tf.add(tf.mul(tf.square(x), GELU_A), 1)), GELU_C));
  save([x, t]);
  return {
    value: tf.mul(tf.mul(x, 0.5), tf.add(t, 1)),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, st] = saved;
      const du = tf.mul(tf.add(tf.mul(tf.square(sx), 3 * GELU_A), 1), 0.5 * GELU_C);
      const d = tf.add(tf.mul(tf.add(st, 1), 0.5), tf.mul(tf.mul(sx, tf.sub(1, tf.square(st))), du));
      return tf.mul(dy, d);
    },
  };
});

/** Layer norm over the last axis from tfjs ops: (x - mean) / sqrt(var + eps) * gain + bias, biased variance (torch.nn.LayerNorm). */
export function composedLayerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps = 1e-5): tf.Tensor {
  const axis = x.rank - 1;
  const centered = tf.sub(x, tf.mean(x, axis, true));
  const variance = tf.mean(tf.square(centered), axis, true);
  let y = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  if (gain) y = tf.mul(y, gain);
  if (bias) y = tf.add(y, bias);
  return y;
}

/** GELU, tanh form (GPT-2), any shape: one native kernel each way on wasm with native kernels, else `composedGelu`. */
export const gelu = (x: tf.Tensor): tf.Tensor => fusedOps()?.gelu(x) ?? composedGelu(x);

/**
 * Layer norm over the last axis (eps 1e-5 as torch.nn.LayerNorm), optional gain and bias of shape
 * [lastDim]: one native kernel each way on wasm with native kernels, else `composedLayerNorm`.
 */
export function layerNorm(x: tf.Tensor, gain?: tf.Tensor, bias?: tf.Tensor, eps = 1e-5): tf.Tensor {
  const fused = fusedOps();
  return fused ? fused.layerNorm(x, gain, bias, eps) : composedLayerNorm(x, gain, bias, eps);
}
