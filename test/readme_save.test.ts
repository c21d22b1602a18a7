/**
 * The README's second example (train a CNN, save it to disk, continue in a new process) runs as
 * written, twice, in fresh processes against the built package ('optlab' resolves to dist/); the
 * second run continues exactly: its checkpoint equals that of one uninterrupted run of 10 epochs.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('README', () => {
  it('the save/load example runs as written in two processes and continues exactly where it stopped', function () {
    this.timeout(300000);
    expect(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing: npm install (or npm run build) builds it').to.equal(true);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const m = /<!-- readme-example-save[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
    expect(m, 'README has no readme-example-save block').to.not.equal(null);
    const code = m![1];
    expect(code).to.include('epochs: 5');
    // The script lives in the repository (so 'optlab' resolves to it); each run's cwd is its own folder.
    const script = join(ROOT, `.readme-example-${process.pid}-save.ts`);
    const whole = join(ROOT, `.readme-example-${process.pid}-save-whole.ts`);
    writeFileSync(script, code);
    writeFileSync(whole, code.replace('epochs: 5', 'epochs: 10'));
    const hops = mkdtempSync(join(tmpdir(), 'optlab-readme-'));
    const once = mkdtempSync(join(tmpdir(), 'optlab-readme-'));
    const run = (file: string, cwd: string) => {
      // tsx by its resolved URL: `--import tsx` would be looked up from the run's folder.
      const out = execFileSync(process.execPath, ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, file], { cwd, encoding: 'utf8', env: { ...process.env, OPTLAB_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = /step (\d+): loss ([\d.]+) -> ([\d.]+)/.exec(out);
      expect(r, `unexpected output: ${out}`).to.not.equal(null);
      return { step: Number(r![1]), first: Number(r![2]), last: Number(r![3]) };
    };
    try {
      const a = run(script, hops);
      expect(a.step).to.equal(20);
      expect(a.last).to.be.below(a.first);
      const b = run(script, hops);
      expect(b.step, 'the second process continues the step count').to.equal(40);
      const c = run(whole, once);
      expect(c.step).to.equal(40);
      expect(b.last).to.equal(c.last);
      const bytes = (dir: string) => readFileSync(join(dir, 'cnn', 'weights.bin'));
      expect(bytes(hops).equals(bytes(once)), 'weights and optimizer state equal the uninterrupted run').to.equal(true);
    } finally {
      for (const f of [script, whole]) rmSync(f, { force: true });
      for (const d of [hops, once]) rmSync(d, { recursive: true, force: true });
    }
  });
});
