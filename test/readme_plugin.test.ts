/**
 * The README's "Your own method, model and metric" section runs as written, against the built package
 * ('optlab' resolves to dist/): its plugin module, experiment file and fit script are written into a
 * folder inside the repository; `optlab run` sweeps the plugin's method against adamw on the plugin's
 * LayersModel with the plugin's metric as a curve column; `optlab list --plugin` lists the method; the
 * fit script trains a LayersModel with the method, saves it with its state, and a second process
 * reloads it from disk and continues the step count.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The section's code blocks by the file name their marker gives. */
function pluginBlocks(readme: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- readme-example-plugin: (\S+)[^>]*-->\s*```\w+\n([\s\S]*?)```/g)) out.set(m[1], m[2]);
  return out;
}

describe('README', () => {
  it('the plugin example: a sweep of its own method, model and metric, and the method saved and reloaded from disk', function () {
    this.timeout(600_000);
    expect(existsSync(join(ROOT, 'dist', 'cli', 'cli.js')), 'dist/ is missing: npm install (or npm run build) builds it').to.equal(true);
    const blocks = pluginBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect([...blocks.keys()]).to.deep.equal(['my_lab/methods.ts', 'my_lab/compare.yaml', 'my_lab/fit.ts']);
    mkdirSync(join(ROOT, '.cache'), { recursive: true });
    // Inside the repository, so that the plugin's `import ... from 'optlab/...'` resolves to this package.
    const lab = mkdtempSync(join(ROOT, '.cache', 'readme-plugin-'));
    const work = mkdtempSync(join(tmpdir(), 'optlab-readme-plugin-'));
    const env = { ...process.env, OPTLAB_BACKEND: 'wasm' };
    try {
      for (const [f, text] of blocks) {
        mkdirSync(dirname(join(lab, f)), { recursive: true });
        writeFileSync(join(lab, f), text);
      }
      const cli = join(ROOT, 'dist', 'cli', 'cli.js');
      const out = join(work, 'results');
      // Plain node, as a user's `npx optlab run` starts it: the TypeScript plugin loads through tsx's loader.
      execFileSync(process.execPath, [cli, 'run', 'my_lab/compare.yaml', '--out', out, '--jobs', '2'], { cwd: lab, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
      const records = readdirSync(out).filter((f) => /^(adamw|signum)-.*\.json$/.test(f));
      expect(records).to.have.length(6);
      for (const f of records) {
        const rec = JSON.parse(readFileSync(join(out, f), 'utf8'));
        expect(rec.status, f).to.equal('finished');
        expect(rec.routing.map((r: { role: string }) => r.role)).to.deep.equal(['matrix', 'vector', 'head', 'vector']);
        const csv = readFileSync(join(out, f.replace(/\.json$/, '.csv')), 'utf8').split('\n');
        expect(csv[0].split(',')).to.include('metric/error');
      }
      expect(records.filter((f) => f.startsWith('signum-'))).to.have.length(4);
      expect(existsSync(join(out, 'report.html'))).to.equal(true);
      const listed = execFileSync(process.execPath, [cli, 'list', 'signum', '--plugin', 'my_lab/methods.ts'], { cwd: lab, encoding: 'utf8', env });
      expect(listed).to.match(/^signum: .*from /).and.include('beta = 0.9');
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const fit = () => {
        const o = execFileSync(process.execPath, ['--import', tsx, join(lab, 'my_lab', 'fit.ts')], { cwd: work, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
        const r = /(\w+) step (\d+): loss ([\d.]+) -> ([\d.]+)/.exec(o);
        expect(r, `unexpected output: ${o}`).to.not.equal(null);
        return { cls: r![1], step: Number(r![2]), first: Number(r![3]), last: Number(r![4]) };
      };
      const a = fit();
      expect(a).to.include({ cls: 'SignumOptimizer', step: 16 });
      expect(a.last).to.be.below(a.first);
      const b = fit();
      expect(b, 'the second process reloads the model and the method state and continues').to.include({ cls: 'SignumOptimizer', step: 32 });
    } finally {
      rmSync(lab, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  });
});
