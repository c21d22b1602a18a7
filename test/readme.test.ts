/** The README's LayersModel example must run as written, against the built package ('optlab' resolves to dist/). */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('README', () => {
  it('the LayersModel example runs as written and lowers the loss', function () {
    this.timeout(120000);
    expect(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is missing: npm install (or npm run build) builds it').to.equal(true);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const m = /<!-- readme-example[^>]*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
    expect(m, 'README has no readme-example block').to.not.equal(null);
    const file = join(ROOT, `.readme-example-${process.pid}.ts`);
    writeFileSync(file, m![1]);
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, OPTLAB_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
      const lm = /loss ([\d.]+) -> ([\d.]+)/.exec(out);
      expect(lm, `unexpected output: ${out}`).to.not.equal(null);
      expect(Number(lm![2])).to.be.lessThan(Number(lm![1]));
    } finally {
      rmSync(file, { force: true });
    }
  });
});
