/** `--backend wasm-native` and `--backend wasm-plain` (issue 28): wasm with the native kernels required, or never. Each in a fresh process. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { loadAddon } from '../../kernels/addon.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** selectBackend(name) in a child process: its choice as JSON, or the error's message. */
function choose(name: string, env: Record<string, string> = {}): { label?: string; message?: string; error?: string } {
  const script = `const { selectBackend } = await import('./kernels/backend.ts');
    try { const c = await selectBackend(${JSON.stringify(name)}, { quiet: true }); console.log(JSON.stringify({ label: c.label, message: c.message })); }
    catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT, timeout: 120_000, env: { ...process.env, ...env } });
  expect(r.status, r.stderr).to.equal(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('selectBackend: wasm with or without the native kernels', function () {
  this.timeout(120_000);

  it("'wasm-plain' runs plain wasm (label 'wasm') even where the kernels are built", () => {
    const c = choose('wasm-plain');
    expect(c.label).to.equal('wasm');
    expect(c.message).to.include('OPTLAB_NATIVE=0');
  });

  it("'wasm-native' uses the kernels, and fails saying how to build them when they are off", function () {
    const off = choose('wasm-native', { OPTLAB_NATIVE: '0' });
    expect(off.error).to.match(/backend 'wasm-native' is not available: .*node native\/install\.mjs/);
    if (!loadAddon()) this.skip(); // the addon is not built here: npm run setup
    expect(choose('wasm-native').label).to.equal('wasm-native');
  });
});
