/**
 * Mocha root hook (`mocha --require test/shared/native_hooks.ts`): runs the whole suite with optlab's
 * native kernels inside the wasm backend, as `selectBackend` gives users. A no-op when
 * OPTLAB_NATIVE=0 or the addon is not built; the line it prints says which.
 */
import { enableNativeKernels } from '../../kernels/wasm_kernels.js';

export const mochaHooks = {
  async beforeAll(): Promise<void> {
    const st = await enableNativeKernels();
    console.log(`  wasm backend: ${st.message}`);
  },
};
