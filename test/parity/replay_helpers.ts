/** itReplaysFixtures: replays every fixture in test/fixtures/ whose `optimizer` matches, on every test backend. */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFixture, type Fixture } from '../../parity/fixture.js';
import { formatReplay, replayFixture } from '../../parity/replay.js';
import { describeBackends } from '../shared/backends.js';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** Fixture file names whose `optimizer` field equals `optimizer` (read from the file, not guessed from the name). */
export function fixturesOf(optimizer: string): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .filter((f) => {
      const head = readFileSync(join(FIXTURE_DIR, f), 'utf8').slice(0, 400);
      const m = /"optimizer"\s*:\s*"([^"]+)"/.exec(head);
      return m?.[1] === optimizer;
    })
    .sort();
}

/** One `it` per fixture: the replay must stay within the fixture's atol at every step. */
export function itReplaysFixtures(optimizer: string, opts: { transform?: (fx: Fixture) => Fixture } = {}): void {
  const files = fixturesOf(optimizer);
  describeBackends(`${optimizer} reference replay`, () => {
    it(`has fixtures for '${optimizer}'`, () => expect(files.length).to.be.greaterThan(0));
    for (const f of files) {
      it(f.replace(/\.json$/, ''), () => {
        let fx = loadFixture(join(FIXTURE_DIR, f));
        if (opts.transform) fx = opts.transform(fx);
        const r = replayFixture(fx);
        expect(r.maxAbsError, formatReplay(r)).to.be.at.most(fx.tolerance.atol);
      });
    }
  });
}

/**
 * The replay-mode fixtures of one optimizer with every 2-D parameter transposed (tall becomes wide,
 * PyTorch-side), for methods whose update does not depend on orientation (elementwise rules,
 * whole-tensor norms, Newton-Schulz, RACS). Least-squares fixtures are skipped: X @ W fixes W's shape.
 */
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

/** Transposes every 2-D parameter of a replay fixture (params, grads, params_after): tall becomes wide. */
export function transposedFixture(fx: Fixture): Fixture {
  if (fx.mode !== 'replay') throw new Error(`transposedFixture: ${fx.name} is a ${fx.mode} fixture; its X @ W fixes W's orientation`);
  const out: Fixture = JSON.parse(JSON.stringify(fx));
  for (const [name, p] of Object.entries(out.params)) {
    if (p.shape.length !== 2) continue;
    const [r, c] = p.shape;
    const t = (xs: number[]) => {
      const o = new Array<number>(xs.length);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = xs[i * c + j];
      return o;
    };
    p.data = t(p.data);
    p.shape = [c, r];
    for (const s of out.steps) {
      if (s.grads?.[name]) s.grads[name] = t(s.grads[name]);
      s.params_after[name] = t(s.params_after[name]);
    }
  }
  out.name = `${fx.name} (transposed)`;
  return out;
}
