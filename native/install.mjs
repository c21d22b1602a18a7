/**
 * `npm install` hook: builds optlab's native kernels (native/*.c, linked against OpenBLAS)
 * with node-gyp. It never fails the install: when something is missing it prints one line saying what,
 * and optlab runs on plain wasm (kernels/addon.ts finds no addon). That line is also kept in
 * native/build-status.log; `node native/install.mjs --status` prints it again (npm install's last
 * script, prepare, ends with it), or says the build has not run.
 *
 * Environment:
 *   OPTLAB_NATIVE_BUILD=0   skip the build
 *   OPTLAB_BLAS_LIB=name    link -l<name> instead of -lopenblas (a name that does not exist simulates
 *                           a machine without OpenBLAS)
 *   CC                      the C compiler (default cc)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const LOG = join(HERE, 'build.log');
const STATUS = join(HERE, 'build-status.log');
const ADDON = join(HERE, 'build', 'Release', 'optlab_native.node');
const PLAIN = 'optlab runs on plain wasm';

function say(line) {
  console.log(`optlab: ${line}`);
  writeFileSync(STATUS, `optlab: ${line}\n`);
}

function skip(reason) {
  // No stale addon from an earlier build: after install it exists exactly when this build succeeded.
  rmSync(join(HERE, 'build'), { recursive: true, force: true });
  say(`native kernels not built: ${reason}; ${PLAIN} (npm run setup installs what they need where it can).`);
  process.exit(0);
}

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), a local one, or the one next to npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(resolve(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  candidates.push(resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c)) ?? null;
}

function main() {
  if (process.env.OPTLAB_NATIVE_BUILD === '0') skip('OPTLAB_NATIVE_BUILD=0');
  if (process.platform === 'win32') skip('the build is set up for Linux and macOS only');
  const blas = process.env.OPTLAB_BLAS_LIB || 'openblas';
  if (!/^[A-Za-z0-9_.+-]+$/.test(blas)) skip(`OPTLAB_BLAS_LIB='${blas}' is not a library name`);
  const cc = process.env.CC || 'cc';
  if (!runs(cc, ['--version'])) skip(`no C compiler ('${cc}'; on Debian: apt-get install build-essential)`);
  if (!runs('make', ['--version'])) skip('no make (on Debian: apt-get install build-essential)');
  const python = process.env.PYTHON || 'python3';
  if (!runs(python, ['--version'])) skip(`no Python 3 for node-gyp ('${python}')`);

  // Link a one-line program against the BLAS first: a missing library then gets its own message
  // instead of a linker error inside node-gyp's output.
  const dir = mkdtempSync(join(tmpdir(), 'optlab-blas-'));
  const src = join(dir, 'probe.c');
  writeFileSync(src, 'void openblas_set_num_threads(int);\nint main(void) { openblas_set_num_threads(1); return 0; }\n');
  const linked = runs(cc, [src, '-o', join(dir, 'probe'), `-l${blas}`]);
  // native/lapack.c calls LAPACK's ssyevd_/dsyevd_, which Debian's OpenBLAS exports with its BLAS.
  const lapackSrc = join(dir, 'lapack.c');
  writeFileSync(lapackSrc, 'void ssyevd_(void);\nvoid dsyevd_(void);\nint main(int c, char **v) { (void)v; if (c > 99) { ssyevd_(); dsyevd_(); } return 0; }\n');
  const lapack = linked && runs(cc, [lapackSrc, '-o', join(dir, 'lapack'), `-l${blas}`]);
  rmSync(dir, { recursive: true, force: true });
  if (!linked) skip(`OpenBLAS not found (-l${blas}; on Debian: apt-get install libopenblas-dev)`);
  if (!lapack) skip(`-l${blas} has no LAPACK (ssyevd_, dsyevd_; Debian's libopenblas-dev exports them)`);

  const nodeGyp = findNodeGyp();
  if (!nodeGyp) skip('node-gyp not found (it ships with npm)');
  const args = [nodeGyp, 'rebuild'];
  // Local headers (Debian's nodejs, nvm, official tarballs) avoid a download from nodejs.org.
  const prefix = resolve(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  args.push('--', `-Dblas_lib=${blas}`);
  const build = spawnSync(process.execPath, args, { cwd: HERE, encoding: 'utf8', timeout: 300_000 });
  writeFileSync(LOG, `${build.stdout ?? ''}\n${build.stderr ?? ''}\n${build.error ? String(build.error) : ''}\n`);
  if (build.error || build.status !== 0) skip('node-gyp failed, see native/build.log');

  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(ADDON)}).blasConfig())`], { encoding: 'utf8' });
  if (probe.status !== 0) skip(`the addon was built but does not load (${(probe.stderr || '').split('\n').find((l) => l.includes('Error')) ?? 'unknown error'})`);
  say(`native kernels built (${probe.stdout.trim()}); the wasm backend uses them unless OPTLAB_NATIVE=0.`);
}

if (process.argv.includes('--status')) {
  console.log(existsSync(STATUS) ? readFileSync(STATUS, 'utf8').trim() : 'optlab: native kernels: the build has not run (node native/install.mjs builds them)');
  process.exit(0);
}

try {
  main();
} catch (e) {
  skip(`unexpected error in native/install.mjs (${e instanceof Error ? e.message : String(e)})`);
}
