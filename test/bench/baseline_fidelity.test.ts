/**
 * Baseline fidelity (issue 24, bench/results/baseline_fidelity.md): the unpaired equivalence test of
 * bench/baseline_fidelity.ts, and, where a Python with torch is installed, one evaluation in both
 * tools: the same weights give the same whole-validation loss in optlab (models/data.ts
 * wholeTextBatches + evaluate) and in PyTorch (bench/peer_torch.py whole_split_loss).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { welchTost } from '../../bench/baseline_fidelity.js';
import { findPeers } from '../../bench/peer.js';

describe('baseline fidelity (bench/baseline_fidelity.ts)', () => {
  it("welchTost: Welch's interval and the TOST decision (scipy: se 0.0081650, df 4, 90% half-width 0.0174065, 95% 0.0226696)", () => {
    const r = welchTost([1.91, 1.92, 1.9], [1.9, 1.91, 1.89], 0.01);
    expect(r.d).to.be.closeTo(0.01, 1e-12);
    expect(r.se).to.be.closeTo(0.008164965809277261, 1e-12);
    expect(r.df).to.be.closeTo(4, 1e-9);
    expect(r.ci90[1] - r.d).to.be.closeTo(0.0174064561209747, 1e-9);
    expect(r.ci95[1] - r.d).to.be.closeTo(0.022669579355275193, 1e-9);
    expect(r.equivalent).to.equal(false); // 90% [-0.0074, 0.0274] is not inside +-0.01
    expect(r.different).to.equal(false);
    expect(welchTost([1.91, 1.92, 1.9], [1.9, 1.91, 1.89], 0.03).equivalent).to.equal(true);
    expect(welchTost([2.0, 2.01, 2.0], [1.9, 1.91, 1.9], 0.01).different).to.equal(true);
    expect(() => welchTost([1], [1, 2], 0.01)).to.throw(/at least two values/);
  });

  it('optlab and PyTorch evaluate the same weights on the whole validation split to the same loss (when torch is installed)', function () {
    const peers = findPeers();
    if (peers.length === 0) {
      console.log('      (skipped: no Python with torch; the peer is optional)');
      this.skip();
    }
    this.timeout(300_000);
    const dir = mkdtempSync(join(tmpdir(), 'optlab-fidelity-'));
    try {
      const file = join(dir, 'init.json');
      const ours = spawnSync('npx', ['tsx', 'bench/baseline_fidelity.ts', '--export-weights', file, '--seed', '3'], { encoding: 'utf8', timeout: 240_000 });
      expect(ours.status, ours.stderr).to.equal(0);
      const a = JSON.parse(ours.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as { whole_val_loss: number };
      const theirs = spawnSync(peers[0].python, ['bench/peer_torch.py', '--case', 'recipe', '--weights', file, '--eval-only', '--eval-whole', '--gelu', 'tanh', '--threads', '1'], { encoding: 'utf8', timeout: 240_000 });
      expect(theirs.status, theirs.stderr).to.equal(0);
      const b = JSON.parse(theirs.stdout) as { whole_val_loss: number; whole_val_windows: number; samples: number };
      expect(b.samples).to.equal(0); // --eval-only: no step taken
      expect(b.whole_val_windows).to.equal(1742);
      expect(a.whole_val_loss).to.be.within(3.5, 5); // an untrained model: about ln 65 = 4.17
      expect(Math.abs(a.whole_val_loss - b.whole_val_loss)).to.be.below(1e-5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
