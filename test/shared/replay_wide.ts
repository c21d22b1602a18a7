/**
 * itReplaysWideFixtures: the replay-mode fixtures of one optimizer with every 2-D parameter transposed
 * (tall becomes wide, PyTorch-side), for methods whose update does not depend on orientation
 * (elementwise rules, whole-tensor norms, Newton-Schulz, RACS). Least-squares fixtures are skipped:
 * their X @ W fixes W's orientation.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { formatReplay, loadFixture, replayFixture } from '../../experiments/replay.js';
import { describeBackends } from './backends.js';
import { FIXTURE_DIR, fixturesOf, transposedFixture } from './replay.js';

/** One `it` per replay-mode fixture of `optimizer`, transposed; must stay within the fixture's atol. */
export function itReplaysWideFixtures(optimizer: string): void {
  const files = fixturesOf(optimizer).filter((f) => loadFixture(join(FIXTURE_DIR, f)).mode === 'replay');
  describeBackends(`${optimizer} reference replay, transposed`, () => {
    it(`has replay fixtures for '${optimizer}'`, () => expect(files.length).to.be.greaterThan(0));
    for (const f of files) {
      it(`${f.replace(/\.json$/, '')} (transposed)`, () => {
        const fx = transposedFixture(loadFixture(join(FIXTURE_DIR, f)));
        const r = replayFixture(fx);
        expect(r.maxAbsError, formatReplay(r)).to.be.at.most(fx.tolerance.atol);
      });
    }
  });
}
