/**
 * The published package holds what its own commands read at run time: every file a shipped experiment
 * names (`tuned:` settings, `init:` checkpoints are results and not shipped), the experiment file's reference that `run --help` names (docs/config.md), the PyTorch peer script of
 * `optlab bench`, the corpus, the native sources and the set-up scripts. Checked on `npm pack`'s own
 * file list, so a path left out of package.json `files` fails here rather than in a user's project.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function packedFiles(): Set<string> {
  const out = execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return new Set((JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
}

describe('package files', function () {
  this.timeout(60_000);
  let files: Set<string>;
  before(() => {
    files = packedFiles();
  });

  it('ships every experiment file and the settings files they name', () => {
    const dirs = ['experiments/configs', 'experiments/claims/configs'];
    let named = 0;
    for (const d of dirs) {
      for (const f of readdirSync(join(root, d)).filter((n) => n.endsWith('.yaml'))) {
        const rel = `${d}/${f}`;
        expect(files.has(rel), `${rel} is not in the package`).to.equal(true);
        const doc = parse(readFileSync(join(root, rel), 'utf8')) as { tuned?: string };
        if (typeof doc.tuned === 'string') {
          const target = relative(root, normalize(join(root, dirname(rel), doc.tuned)));
          expect(files.has(target), `${rel} names tuned: ${doc.tuned} (${target}), which is not in the package`).to.equal(true);
          named++;
        }
      }
    }
    expect(named).to.be.greaterThan(0);
  });

  it('ships what the commands find beside the code (peer script, corpus, native sources, set-up scripts)', () => {
    for (const f of ['bench/peer_torch.py', 'data/tinyshakespeare.txt', 'native/binding.gyp', 'native/install.mjs', 'native/setup.mjs', 'scripts/setup_tensorflow.mjs', 'experiments/cluster/sweep.sbatch', 'docs/config.md']) {
      expect(files.has(f), `${f} is not in the package`).to.equal(true);
    }
    for (const c of readdirSync(join(root, 'native')).filter((n) => n.endsWith('.c') || n.endsWith('.h'))) {
      expect(files.has(`native/${c}`), `native/${c} is not in the package`).to.equal(true);
    }
  });
});
