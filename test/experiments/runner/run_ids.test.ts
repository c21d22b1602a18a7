/**
 * Run ids stay stable when a method gains an option: every run recorded under results/claims, with its
 * options re-resolved against today's defaults (minus the method's `unhashedDefaults` at their default,
 * as experiments/config.ts entryRuns does), hashes to the id it was recorded under. A new option that
 * changed the resolved config of old runs would make `--resume` and `optlab claims` redo finished work.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shortHash } from '../../../experiments/runner/config.js';
import { OPTIMIZERS } from '../../../optimizers/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'results', 'claims');

function recordedRuns(): { file: string; id: string; hash: string; config: any }[] {
  if (!existsSync(ROOT)) return [];
  const out: { file: string; id: string; hash: string; config: any }[] = [];
  for (const claim of readdirSync(ROOT)) {
    const dir = join(ROOT, claim, 'runs');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (r.config?.optimizer && typeof r.hash === 'string') out.push({ file: `${claim}/runs/${f}`, id: r.id, hash: r.hash, config: r.config });
    }
  }
  return out;
}

describe('run ids of recorded results', () => {
  const runs = recordedRuns();
  it('finds recorded runs of adamw and muon', () => {
    const names = new Set(runs.map((r) => r.config.optimizer.name));
    expect(names.has('adamw') && names.has('muon'), [...names].join(', ')).to.equal(true);
  });

  it('adamw and muon runs resolve, with the options added since (cautiousWeightDecay) at their defaults, to the configs their ids hash', () => {
    let checked = 0;
    for (const r of runs) {
      const { name, options } = r.config.optimizer;
      if (name !== 'adamw' && name !== 'muon') continue;
      const f = OPTIMIZERS[name];
      const resolved: Record<string, unknown> = { ...(f.defaults as Record<string, unknown>), ...options };
      for (const k of f.unhashedDefaults) if (resolved[k] === (f.defaults as Record<string, unknown>)[k]) delete resolved[k];
      const { keepCheckpoints: _k, checkpointEvery: _c, sampleChars: _s, ...config } = { ...r.config, optimizer: { name, options: resolved } };
      expect(shortHash(config), `${r.file} (${Object.keys(resolved).join(',')})`).to.equal(r.hash);
      checked++;
    }
    expect(checked).to.be.greaterThan(0);
  });
});
