/**
 * An error in the user's own script on the wasm backend prints that error (kernels/wasm_handlers.ts):
 * child processes, as a user runs them, with and without optlab loaded.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmHandlerRemoval, isEmscriptenRethrow } from '../../kernels/wasm_handlers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let scripts = 0;

function runScript(body: string, ext = 'ts'): { status: number | null; stderr: string } {
  // Inside the repository, so that the script resolves the packages in node_modules.
  const file = join(ROOT, `.test-script-${process.pid}-${++scripts}.${ext}`);
  writeFileSync(file, body);
  try {
    const r = spawnSync(process.execPath, [...(ext === 'ts' ? ['--import', 'tsx'] : []), file], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OPTLAB_NATIVE: '0' } });
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

const backendModule = pathToFileURL(join(ROOT, 'kernels', 'backend.ts')).href;

describe('wasm backend process handlers', function () {
  this.timeout(60000);

  it('a thrown error prints itself and exits with code 1 after selectBackend("wasm")', () => {
    const r = runScript(`import { selectBackend } from '${backendModule}';\nawait selectBackend('wasm', { quiet: true });\nthrow new Error('user error 4711');\n`);
    expect(r.stderr).to.include('Error: user error 4711');
    expect(r.status).to.equal(1);
    expect(r.stderr.length, r.stderr.slice(0, 400)).to.be.below(2000);
    expect(r.stderr).to.not.include('tfjs-backend-wasm');
  });

  it('an unhandled rejection prints itself and exits with code 1', () => {
    const r = runScript(`import { selectBackend } from '${backendModule}';\nawait selectBackend('wasm', { quiet: true });\nPromise.reject(new Error('rejected 4712'));\n`);
    expect(r.stderr).to.include('rejected 4712');
    expect(r.status).to.equal(1);
    expect(r.stderr.length, r.stderr.slice(0, 400)).to.be.below(2000);
    expect(r.stderr).to.not.include('tfjs-backend-wasm');
  });

  it('without optlab the same script exits with code 7 from the bundle\'s handler (what is fixed)', () => {
    const r = runScript(`import * as tf from '@tensorflow/tfjs-core';\nimport '@tensorflow/tfjs-backend-wasm';\nawait tf.setBackend('wasm');\nthrow new Error('user error 4713');\n`, 'mjs');
    expect(r.status).to.equal(7);
    expect(r.stderr.split('\n')[0], 'the throw site printed first is the wasm bundle').to.include('tfjs-backend-wasm');
  });

  it('in this process no rethrowing listener survives a restart of the wasm backend', async () => {
    installWasmHandlerRemoval();
    await tf.setBackend('wasm');
    tf.engine().reset(); // disposes the backends; the next setBackend starts a new wasm module
    tf.env().set('PROD', true);
    await tf.setBackend('wasm');
    for (const ev of ['uncaughtException', 'unhandledRejection'] as const) expect(process.listeners(ev as 'uncaughtException').filter(isEmscriptenRethrow), ev).to.deep.equal([]);
    await tf.setBackend('cpu');
  });
});
