import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FixtureError, loadFixture } from '../../parity/fixture.js';
import { replayFixture } from '../../parity/replay.js';
import { FIXTURE_DIR, itReplaysFixtures, transposedFixture } from './replay_helpers.js';
import { describeBackends } from '../shared/backends.js';

itReplaysFixtures('adamw');
itReplaysFixtures('sgd');

describeBackends('replay', () => {
  it('is orientation-correct: a tall fixture transposed to wide still matches for elementwise methods', () => {
    for (const name of ['adamw-official-default-tall', 'sgd-official-plain_wd-tall']) {
      const wide = transposedFixture(loadFixture(join(FIXTURE_DIR, `${name}.json`)));
      expect(wide.params.W.shape).to.deep.equal([16, 64]);
      const r = replayFixture(wide);
      expect(r.maxAbsError).to.be.at.most(wide.tolerance.atol);
    }
  });

  it('detects a wrong trajectory (a perturbed reference fails)', () => {
    const fx = loadFixture(join(FIXTURE_DIR, 'adamw-official-default-tall.json'));
    fx.steps[5].params_after.W[3] += 1e-4;
    const r = replayFixture(fx);
    expect(r.pass).to.equal(false);
    expect(r.worst).to.deep.equal({ step: 5, param: 'W', index: 3 });
  });

  it('names the problem for unreadable and unsupported fixtures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'optlab-replay-'));
    writeFileSync(join(dir, 'bad.json'), '{not json');
    expect(() => loadFixture(join(dir, 'bad.json'))).to.throw(FixtureError, /cannot read fixture .*bad\.json/);
    writeFileSync(join(dir, 'nofield.json'), '{"optimizer": "adamw"}');
    expect(() => loadFixture(join(dir, 'nofield.json'))).to.throw(FixtureError, /no 'mode' field/);
    const fx = loadFixture(join(FIXTURE_DIR, 'adamw-official-lsq.json'));
    fx.optimizer = 'no-such-method';
    expect(() => replayFixture(fx)).to.throw(FixtureError, /no optimizer named 'no-such-method'/);
  });
});
