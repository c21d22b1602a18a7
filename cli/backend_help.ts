/**
 * The `--backend` help of every command, in one place (kernels/backend.ts's BACKENDS, written out so
 * that `--help` does not load tfjs; test/cli/help.test.ts checks the two agree).
 */

/** The backend names `--backend` takes, in BACKENDS order. */
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'webgpu', 'wasm', 'wasm-native', 'wasm-plain', 'cpu'] as const;

/** `--backend`'s description; `dflt` says where the default comes from. */
export function backendHelp(dflt: string): string {
  return `${BACKEND_CHOICES.join('|')}: wasm uses the native OpenBLAS kernels when built, wasm-native requires them, wasm-plain never uses them (default: ${dflt})`;
}
