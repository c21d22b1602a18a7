/**
 * What a tfjs-layers user on Node needs from optlab besides the optimizers, installed once: the
 * chained Tensor methods tfjs-core's Node build lacks (kernels/chained_ops.ts), the kernels
 * tfjs-backend-wasm lacks (kernels/wasm_missing.ts), removal of the wasm backend's rethrowing
 * process handlers (kernels/wasm_handlers.ts) and a `file://` IO handler (kernels/io_node_fs.ts).
 * Each part leaves alone what tfjs or another package already provides.
 */
import { registerChainedOps } from './chained_ops.js';
import { registerNodeFileSystem } from './io_node_fs.js';
import { installWasmHandlerRemoval } from './wasm_handlers.js';
import { registerMissingWasmKernels } from './wasm_missing.js';

/** Installs the four parts; idempotent. Needs '@tensorflow/tfjs-backend-wasm' imported first. */
export function installLayersSupport(): void {
  registerChainedOps();
  registerMissingWasmKernels();
  installWasmHandlerRemoval();
  registerNodeFileSystem();
}
