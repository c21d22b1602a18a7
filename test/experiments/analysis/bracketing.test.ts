/**
 * A verdict from a tuning whose selected setting sits at the edge of what its trials tried is not a
 * verdict about the method's optimum: `unbracketed` names such values, the verdict table marks the
 * verdicts involving them and the notes under it say which and why.
 */
import { expect } from 'chai';
import { unbracketed, verdictNotes, verdictTable, type Comparison, type OptimizerComparison, type TuningInfo } from '../../../experiments/analysis/comparison.js';
import type { Experiment } from '../../../experiments/runner/config.js';

type Trial = TuningInfo['trials'][number];

function tuning(trials: [number, number | null, string][], selectedLr: number, extra: Partial<TuningInfo> = {}): TuningInfo {
  const ts: Trial[] = trials.map(([lr, score, status], k) => ({ trial: k, values: { lr }, score, status, seeds: 1, wallMs: 1 }));
  return { method: 'quasi-random', budget: ts.length, used: ts.length, steps: 10, seeds: [1000], selected: { lr: selectedLr }, selectedScore: 1, runs: ts.length, wallMs: ts.length, trials: ts, ...extra };
}

describe('tuning bracket check', () => {
  it('names a selected value with no trial on one side; a trial on each side (a diverged one counts) brackets it', () => {
    // auon-loss-gpt's recorded AuON tuning: loss falls all the way to the largest rate tried.
    const edge = tuning([[0.0707107, 2.511, 'finished'], [0.1, 2.508, 'finished'], [0.2, 2.498, 'finished'], [0.4, 2.481, 'finished']], 0.4);
    expect(unbracketed(edge)).to.deep.equal(['lr=0.4 is the largest of 4 trials (0.0707107 to 0.4)']);
    const low = tuning([[0.01, 2.1, 'finished'], [0.02, 2.2, 'finished']], 0.01);
    expect(unbracketed(low)).to.deep.equal(['lr=0.01 is the smallest of 2 trials (0.01 to 0.02)']);
    expect(unbracketed(tuning([[0.01, 2.3, 'finished'], [0.02, 2.1, 'finished'], [0.04, 2.2, 'finished']], 0.02))).to.deep.equal([]);
    // The rate above the selection diverged: the stable edge is bracketed.
    expect(unbracketed(tuning([[0.01, 2.3, 'finished'], [0.02, 2.1, 'finished'], [0.04, null, 'diverged']], 0.02))).to.deep.equal([]);
    // An unfinished trial brackets nothing.
    expect(unbracketed(tuning([[0.01, 2.3, 'finished'], [0.02, 2.1, 'finished'], [0.04, null, 'unfinished']], 0.02))).to.have.length(1);
    // Nothing to judge: no tuning, one trial, settings taken from another entry, a non-numeric value.
    expect(unbracketed(undefined)).to.deep.equal([]);
    expect(unbracketed(tuning([[0.01, 2.3, 'finished']], 0.01))).to.deep.equal([]);
    expect(unbracketed(tuning([], 0.01, { settingsFrom: 'muon' }))).to.deep.equal([]);
    const listed: TuningInfo = { ...tuning([[0.01, 2, 'finished'], [0.02, 2, 'finished']], 0.02), selected: { nesterov: true } };
    expect(unbracketed(listed)).to.deep.equal([]);
  });

  it('the verdict table marks verdicts whose optimizer or baseline is unbracketed, and the notes say which value and what to do', () => {
    const row = (label: string, t: TuningInfo, verdict?: 'better' | 'worse' | 'undecided'): OptimizerComparison =>
      ({ label, config: { label, runs: [] }, seeds: [0, 1], diverged: 0, final: { estimate: 2, lo: 1.9, hi: 2.1 }, best: { estimate: 2 }, tuning: t, ...(verdict ? { verdict, diff: { estimate: -0.1, lo: -0.2, hi: -0.05, method: 'paired-t' } } : {}) }) as unknown as OptimizerComparison;
    const bracketed = tuning([[1e-3, 2.3, 'finished'], [2e-3, 2.1, 'finished'], [4e-3, 2.2, 'finished']], 2e-3);
    const edge = tuning([[1e-4, 2.3, 'finished'], [3e-4, 2.1, 'finished']], 3e-4);
    const exp = { name: 'x', model: { kind: 'gpt' }, data: { kind: 'shakespeare' }, training: { steps: 10, batchSize: 2 }, tuning: { method: 'quasi-random', trials: 3, steps: 10, seeds: 1 }, optimizers: [] } as unknown as Experiment;
    const c = { baseline: 'adamw', rows: [row('adamw', bracketed), row('lion', edge, 'worse'), row('muon', bracketed, 'better')], finalRanking: [], flips: [], steps: 10 } as unknown as Comparison;
    const t = verdictTable(c, exp);
    const verdictOf = (label: string) => t.rows.find((r) => r[0] === label)![t.header.indexOf('verdict')];
    expect(verdictOf('lion')).to.equal('worse (unbracketed)');
    expect(verdictOf('muon')).to.equal('better');
    const notes = verdictNotes(c, exp).filter((l) => l.startsWith('not bracketed'));
    expect(notes).to.have.length(1);
    expect(notes[0]).to.match(/^not bracketed: lion's lr=3e-4 is the largest of 2 trials \(1e-4 to 3e-4\); .*widen its search range or add trials$/);
    // An unbracketed baseline taints every verdict against it.
    const c2 = { ...c, rows: [row('adamw', edge), row('muon', bracketed, 'better')] } as Comparison;
    expect(verdictTable(c2, exp).rows.find((r) => r[0] === 'muon')![t.header.indexOf('verdict')]).to.equal('better (unbracketed)');
  });
});
