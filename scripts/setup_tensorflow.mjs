#!/usr/bin/env node
/**
 * `npm run setup:tensorflow`: makes tfjs's `tensorflow` backend (@tensorflow/tfjs-node 4.22.0) work on a
 * machine that cannot reach the host tfjs-node's own install script downloads libtensorflow from.
 *
 * What it runs, in order (each step is skipped when its result is already there, so it is idempotent):
 *   1. python3 -m pip download --no-deps --only-binary=:all: tensorflow-cpu==2.21.0 into the cache
 *      folder (.cache/tensorflow, ignored by git); pip's configured index must hold that wheel
 *   2. npm install --no-save --ignore-scripts --save-optional @tensorflow/tfjs-node@4.22.0
 *      (--no-save keeps package.json and package-lock.json untouched; tfjs-node is an optional peer of
 *      optlab, so a plain `npm i @tensorflow/tfjs-node` inside this repository installs nothing).
 *      npm removes packages it does not know of when it installs one, so tfjs-node and tfjs-node-gpu
 *      set up this way exclude each other: the last one set up stays.
 *   3. from the wheel, only libtensorflow_cc.so.2, libtensorflow_framework.so.2 and the C API headers,
 *      laid out as the package's deps/lib and deps/include, with libtensorflow.so pointing at the cc
 *      library (and the name libtensorflow.so.2.9.1, which the package's install script looks for)
 *   4. the package's N-API binding built from its sources (node-pre-gyp --build-from-source, with
 *      npm_config_nodedir pointing at this Node's headers so nothing is downloaded)
 *   5. a check in a fresh process: the backend loads and reports its libtensorflow version.
 *
 * `npm ci` and `npm install` without arguments remove tfjs-node again (it is not in the lockfile); run
 * this script after them. Options: --cache DIR, --tf-version X.Y.Z (default 2.21.0), --force (redo
 * every step). Exit code 1 with one line naming what is missing (pip, the wheel, a compiler, Node's
 * headers) when a step cannot run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TFJS_VERSION = '4.22.0';
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const FORCE = args.includes('--force');
// --gpu: the same recipe for @tensorflow/tfjs-node-gpu with the CUDA build of libtensorflow from the
// `tensorflow` wheel (which needs CUDA and cuDNN libraries of the versions that TensorFlow release was
// built against on the machine). Untested here: these machines have no GPU and pip's index holds only
// tensorflow-cpu.
const GPU = args.includes('--gpu');
const NPM_PKG = GPU ? 'tfjs-node-gpu' : 'tfjs-node';
const WHEEL_PKG = GPU ? 'tensorflow' : 'tensorflow-cpu';
const WHEEL_PREFIX = `${WHEEL_PKG.replace('-', '_')}-`;
const TF_VERSION = opt('--tf-version', '2.21.0');
const CACHE = resolve(ROOT, opt('--cache', join('.cache', 'tensorflow')));
const PKG = join(ROOT, 'node_modules', '@tensorflow', NPM_PKG);
const DEPS = join(PKG, 'deps');
const STAMP = join(DEPS, '.optlab-setup.json');
const t0 = Date.now();

function say(msg) {
  console.log(`setup:tensorflow: ${msg}`);
}

function fail(msg) {
  console.error(`setup:tensorflow: error: ${msg}`);
  process.exit(1);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: opts.quiet ? 'pipe' : 'inherit', encoding: 'utf8', ...opts });
  if (r.error) return { ok: false, out: String(r.error.message) };
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: r.stdout ?? '' };
}

function which(cmd) {
  return run('sh', ['-c', `command -v ${cmd}`], { quiet: true }).ok;
}

// -- prerequisites, all checked before anything changes --------------------------------------------
const python = ['python3', 'python'].find((p) => run(p, ['-m', 'pip', '--version'], { quiet: true }).ok);
if (!python) fail('no pip: `python3 -m pip --version` failed (on Debian: apt-get install python3-pip)');
const cxx = [process.env.CXX, 'c++', 'g++', 'clang++'].filter(Boolean).find(which);
if (!cxx) fail('no C++ compiler (c++, g++ or clang++) to build the tfjs-node binding (on Debian: apt-get install g++ make)');
if (!which('make')) fail('no make (on Debian: apt-get install make)');
const nodeDir = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')].filter(Boolean).find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
if (!nodeDir) fail(`no Node.js headers next to ${process.execPath} (include/node/node_api.h); set npm_config_nodedir to a folder that has them`);
if (process.platform !== 'linux' || process.arch !== 'x64') fail(`this recipe covers linux-x64 only (found ${process.platform}-${process.arch})`);

// -- 1. the wheel -------------------------------------------------------------------------------------
mkdirSync(CACHE, { recursive: true });
const wheelName = () => readdirSync(CACHE).find((f) => f.startsWith(`${WHEEL_PREFIX}${TF_VERSION}-`) && f.endsWith('.whl'));
if (!wheelName() || FORCE) {
  say(`downloading the ${WHEEL_PKG}==${TF_VERSION} wheel with pip into ${CACHE}`);
  const r = run(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', `${WHEEL_PKG}==${TF_VERSION}`, '-d', CACHE], { quiet: true });
  if (!r.ok || !wheelName()) fail(`pip found no ${WHEEL_PKG}==${TF_VERSION} wheel on its configured index:\n${r.out.trim().split('\n').slice(-3).join('\n')}`);
}
const wheel = join(CACHE, wheelName());

// -- 2. the package ---------------------------------------------------------------------------------
function installedVersion() {
  try {
    return JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}
if (installedVersion() !== TFJS_VERSION || FORCE) {
  say(`installing @tensorflow/${NPM_PKG}@${TFJS_VERSION} (no scripts, not saved)`);
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const r = run(npm[0], [...npm[1], 'install', '--no-save', '--ignore-scripts', '--save-optional', '--no-audit', '--no-fund', `@tensorflow/${NPM_PKG}@${TFJS_VERSION}`], { cwd: ROOT });
  if (!r.ok || installedVersion() !== TFJS_VERSION) fail(`npm could not install @tensorflow/${NPM_PKG}@${TFJS_VERSION}`);
} else say(`@tensorflow/${NPM_PKG}@${TFJS_VERSION} present`);

// -- 3. libraries and headers -----------------------------------------------------------------------
const stamp = existsSync(STAMP) ? JSON.parse(readFileSync(STAMP, 'utf8')) : {};
const LIB = join(DEPS, 'lib');
if (stamp.wheel !== wheelName() || !existsSync(join(LIB, 'libtensorflow_cc.so.2')) || FORCE) {
  say(`extracting libtensorflow ${TF_VERSION} and its C headers from ${wheelName()}`);
  rmSync(DEPS, { recursive: true, force: true });
  mkdirSync(LIB, { recursive: true });
  // Python's zipfile: pip is there already, unzip may not be.
  const extract = `
import sys, zipfile, os, shutil
whl, deps = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
heads = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/ctstring',
         'tensorflow/include/tsl/platform/', 'tensorflow/include/xla/tsl/c/')
n = 0
with zipfile.ZipFile(whl) as z:
    for m in z.namelist():
        if m.endswith('/'): continue
        if m in libs: dst = os.path.join(deps, 'lib', os.path.basename(m))
        elif m.startswith(heads): dst = os.path.join(deps, 'include', m[len('tensorflow/include/'):])
        else: continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(m) as src, open(dst, 'wb') as out: shutil.copyfileobj(src, out, 1 << 20)
        n += 1
print(n)
`;
  const r = run(python, ['-c', extract, wheel, DEPS], { quiet: true });
  if (!r.ok || !existsSync(join(LIB, 'libtensorflow_cc.so.2')) || !existsSync(join(DEPS, 'include', 'tensorflow', 'c', 'c_api.h'))) {
    fail(`could not extract libtensorflow from ${wheel}:\n${r.out.trim().split('\n').slice(-3).join('\n')}`);
  }
  for (const [link, target] of [
    ['libtensorflow.so', 'libtensorflow_cc.so.2'],
    ['libtensorflow.so.2', 'libtensorflow_cc.so.2'],
    ['libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2'],
    ['libtensorflow_framework.so', 'libtensorflow_framework.so.2'],
  ]) symlinkSync(target, join(LIB, link));
  writeFileSync(STAMP, JSON.stringify({ wheel: wheelName(), tfVersion: TF_VERSION }, null, 2));
} else say(`libtensorflow ${TF_VERSION} already extracted`);

// -- 4. the binding ---------------------------------------------------------------------------------
// node-pre-gyp builds for the highest N-API version the package lists (8) that this Node supports.
const bindingPath = () => {
  const lib = join(PKG, 'lib');
  const dir = existsSync(lib) ? readdirSync(lib).filter((d) => /^napi-v\d+$/.test(d) && existsSync(join(lib, d, 'tfjs_binding.node'))) : [];
  return dir.length ? join(lib, dir.sort().pop(), 'tfjs_binding.node') : null;
};
const built = bindingPath();
const stale = !built || statSync(built).mtimeMs < statSync(STAMP).mtimeMs;
if (stale || FORCE) {
  say(`building the tfjs-node N-API binding from source (about a minute), headers from ${nodeDir}`);
  const preGyp = join(ROOT, 'node_modules', '@mapbox', 'node-pre-gyp', 'bin', 'node-pre-gyp');
  if (!existsSync(preGyp)) fail(`${preGyp} is missing (it comes with @tensorflow/tfjs-node); rerun with --force`);
  const r = run(process.execPath, [preGyp, 'install', '--build-from-source'], { cwd: PKG, quiet: true, env: { ...process.env, npm_config_nodedir: nodeDir, CXX: cxx } });
  if (!r.ok || !bindingPath()) {
    const log = join(CACHE, 'binding-build.log');
    writeFileSync(log, r.out);
    fail(`building the binding failed; the compiler's output is in ${log}`);
  }
} else say('tfjs-node binding already built');

// -- 5. check ---------------------------------------------------------------------------------------
const check = run(process.execPath, ['-e', `const tf = require('@tensorflow/${NPM_PKG}'); console.log(tf.getBackend() + ' ' + tf.backend().binding.TF_Version)`], {
  cwd: ROOT,
  quiet: true,
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
});
const line = check.stdout.trim().split('\n').pop() ?? '';
if (!check.ok || !line.startsWith('tensorflow ')) fail(`the tensorflow backend does not load:\n${check.out.trim().split('\n').slice(-5).join('\n')}`);
say(`ready: backend tensorflow, libtensorflow ${line.split(' ')[1]} (${((Date.now() - t0) / 1000).toFixed(0)} s). \`npm ci\` or \`npm install\` removes it; run this again after them.`);
