/**
 * Makes bench/gpu-probe-pack/: the self-contained JavaScript half of the GPU probe, for a machine
 * without this checkout's node_modules (a lent GPU machine gets the working tree and up to 64 MiB of
 * carried paths): bench/gpu_probe.ts bundled with tfjs and optlab by esbuild into probe.mjs, optlab's
 * CLI (experiments/cli.ts, for `replay` of the parity fixtures) into cli.mjs, and the
 * `webgpu` package (Dawn's prebuilt dawn.node for linux-x64, about 21 MB) beside it. Needs the npm
 * packages `webgpu@0.6.2` and `@tensorflow/tfjs-backend-webgpu@4.22.0`: found in node_modules, else in
 * --deps <dir> (a folder with a node_modules/ holding them: `npm install --prefix <dir> webgpu@0.6.2
 * @tensorflow/tfjs-backend-webgpu@4.22.0`, which works offline from npm's cache once fetched).
 * Then, on the GPU machine, in one call: `bash bench/gpu_probe.sh` with bench/gpu-probe-pack carried.
 */
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUTDIR = join(ROOT, 'bench', 'gpu-probe-pack');
const i = process.argv.indexOf('--deps');
const extra = i > 0 ? resolve(process.argv[i + 1], 'node_modules') : null;
const find = (pkg) => [join(ROOT, 'node_modules', pkg), ...(extra ? [join(extra, pkg)] : [])].find((p) => existsSync(join(p, 'package.json')));

const webgpu = find('webgpu');
const tfWebgpu = find('@tensorflow/tfjs-backend-webgpu');
if (!webgpu || !tfWebgpu) {
  console.error(`gpu_probe_pack: needs the npm packages webgpu@0.6.2 and @tensorflow/tfjs-backend-webgpu@4.22.0 (missing: ${[!webgpu && 'webgpu', !tfWebgpu && '@tensorflow/tfjs-backend-webgpu'].filter(Boolean).join(', ')}); install them into a folder and pass --deps <folder>`);
  process.exit(2);
}
rmSync(OUTDIR, { recursive: true, force: true });
mkdirSync(join(OUTDIR, 'node_modules'), { recursive: true });
await build({
  entryPoints: { probe: join(ROOT, 'bench', 'gpu_probe.ts'), cli: join(ROOT, 'experiments', 'cli.ts') },
  outdir: OUTDIR,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  nodePaths: extra ? [extra] : [],
  // One tfjs-core for every package (tfjs-backend-webgpu from --deps would bring its own copy, and two
  // copies have two backend registries), and the backends' registering imports kept: their
  // package.json "sideEffects" lists do not name the paths esbuild resolves.
  alias: { '@tensorflow/tfjs-core': find('@tensorflow/tfjs-core') },
  ignoreAnnotations: true,
  // Bundled CommonJS modules call require(); give the ES module bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
// The webgpu package with only this platform's binary.
const dst = join(OUTDIR, 'node_modules', 'webgpu');
cpSync(webgpu, dst, { recursive: true, filter: (src) => !src.includes(`${join('webgpu', 'dist')}/`) || src.includes(`dist/${process.platform}-${process.arch}`) });
// experiments/runner.ts starts a run when process.argv[1] is its own file, which in the bundle is
// cli.mjs: the CLI is started through this wrapper, so that argv[1] is not the bundle.
writeFileSync(join(OUTDIR, 'optlab.mjs'), "await import('./cli.mjs');\n");
writeFileSync(join(OUTDIR, 'README.txt'), 'Made by node bench/gpu_probe_pack.mjs; run by bash bench/gpu_probe.sh. Not committed (see .gitignore).\n');
console.log(`gpu_probe_pack: wrote ${OUTDIR} (probe.mjs, cli.mjs and node_modules/webgpu); carry bench/gpu-probe-pack to the GPU machine`);
