/**
 * `npm run setup`: the set-up command of a fresh clone. Installs what the native kernels need (a C
 * compiler, make, Python 3 for node-gyp, OpenBLAS) where it can, then runs `npm install`, which builds
 * them (native/install.mjs) and the TypeScript, and ends with one line saying whether the native kernels
 * were built.
 *
 * What it runs, and when:
 * - Everything present: nothing but `npm install`.
 * - Missing pieces on Debian/Ubuntu as root: `apt-get update` and `apt-get install -y
 *   --no-install-recommends <packages>` (build-essential, python3, libopenblas-dev as needed), each
 *   printed before it runs.
 * - Missing pieces without root, or without apt-get: nothing is installed; it prints the command to
 *   run (sudo apt-get ..., or brew install openblas on macOS), and `npm install` still gives a working
 *   optlab on plain wasm (about 6x slower for training).
 *
 * Environment: OPTLAB_SETUP_DRY_RUN=1 prints what it would run and runs nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DRY = process.env.OPTLAB_SETUP_DRY_RUN === '1';

const say = (line) => console.log(`optlab setup: ${line}`);
const quiet = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
};

/** Links a one-line program against OpenBLAS, as native/install.mjs does before building. */
function hasOpenblas(cc) {
  const dir = mkdtempSync(join(tmpdir(), 'optlab-setup-'));
  const src = join(dir, 'probe.c');
  writeFileSync(src, 'void openblas_set_num_threads(int);\nint main(void) { openblas_set_num_threads(1); return 0; }\n');
  const ok = quiet(cc, [src, '-o', join(dir, 'probe'), '-lopenblas']);
  rmSync(dir, { recursive: true, force: true });
  return ok;
}

/** Runs a command in the foreground, printed first; exits on failure unless `optional`. */
function run(cmd, args, optional = false) {
  say(`running: ${[cmd, ...args].join(' ')}`);
  if (DRY) return true;
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT });
  if (r.error || r.status !== 0) {
    if (optional) return false;
    say(`'${[cmd, ...args].join(' ')}' failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
  return true;
}

function main() {
  const cc = process.env.CC || 'cc';
  const missing = [];
  if (!quiet(cc, ['--version']) || !quiet('make', ['--version'])) missing.push('build-essential');
  if (!quiet(process.env.PYTHON || 'python3', ['--version'])) missing.push('python3');
  if (!missing.includes('build-essential') && !hasOpenblas(cc)) missing.push('libopenblas-dev');
  if (missing.includes('build-essential')) missing.push('libopenblas-dev');

  if (missing.length === 0) say('a C compiler, make, Python 3 and OpenBLAS are present');
  else if (process.platform === 'darwin') {
    say(`missing for the native kernels: ${missing.join(', ')}. On macOS: xcode-select --install; brew install openblas (then OPTLAB_BLAS_LIB=openblas with brew's lib folder on LIBRARY_PATH). Continuing on plain wasm.`);
  } else if (!quiet('apt-get', ['--version'])) {
    say(`missing for the native kernels: ${missing.join(', ')} (Debian package names); no apt-get here: install a C compiler, make, Python 3 and OpenBLAS with this system's package manager, then run npm install again. Continuing on plain wasm.`);
  } else if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    say(`missing for the native kernels: ${missing.join(', ')}. Not root, so nothing is installed; run: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}, then npm install again. Continuing on plain wasm.`);
  } else {
    say(`installing what the native kernels need: ${missing.join(', ')}`);
    // A fresh container has no package lists; an update failure (offline mirror) is reported by the install after it.
    run('apt-get', ['update'], true);
    if (!run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], true)) say('apt-get install failed; continuing on plain wasm (see its output above)');
  }
  // Builds the native kernels when it can and the TypeScript; its last line says which backend optlab gets.
  run('npm', ['install']);
}

main();
