/** Claim 1: MARS-M lowers validation loss relative to Muon (Moonlight scaling) at Muon's tuned settings. */
import { join } from 'node:path';
import { bestLr, combine, pairedDifference, readRuns, runsEnvironment, verdictBelow, type Claim, type Evaluation, type Figure } from './claim.js';

/** The smallest gap the paper reports (GPT-2 small to large, about 50B tokens): 0.005. */
export const PAPER_MIN_GAP = 0.005;
const CONFIG = 'experiments/claims/configs/mars-m-vs-muon.yaml';

/** Claim 1: MARS-M against muon-moonlight. */
export const marsMClaim: Claim = {
  name: 'mars-m-vs-muon',
  number: 1,
  paper: 'Liu et al., MARS-M: MARS variance reduction applied to Muon (Moonlight scaling)',
  arxiv: '2510.21800',
  statement: 'Adding MARS variance reduction to Muon (Moonlight scaling) lowers validation loss at equal steps, with Muon\'s tuned settings reused and gamma 0.025; the paper reports gaps of about 0.005-0.014 on GPT-2 small to large, mostly during the learning-rate decay.',
  setup: `optlab run ${CONFIG}: nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, batch 12, 2000 steps, warmup 100 + cosine to 0.1, clipping 1.0); muon-moonlight at lr 5e-4, 1e-3, 2e-3; MARS-M approximate and exact (gamma 0.025) at the same rates; 3 seeds each.`,
  differences: 'About 0.5M tokens per run instead of 50B; a 0.8M-parameter char model instead of GPT-2; learning rate tuned on a 3-point grid and selected on the same seeds that are compared (optimistic for Muon, as the paper\'s reuse of Muon\'s settings is).',
  rule: `At muon-moonlight's best lr (lowest mean final validation loss): d = final val loss of MARS-M - of Muon, paired by seed, 95% t-interval, per mode. Reproduced if d's interval lies below 0; not reproduced if it lies wholly above -${PAPER_MIN_GAP} (a gap as large as the paper's smallest is ruled out); else undecided. Both modes reproduced: reproduced; either not: not reproduced.`,
  estimate: '27 runs x about 2-4 min: about 1 hour with 2 jobs on 2 idle cores',
  needsTuning: true,
  commands: (dir) => [['run', CONFIG, '--out', join(dir, 'runs')]],
  evaluate(dir: string): Evaluation {
    const rows = readRuns(join(dir, 'runs'));
    const muon = bestLr(rows, 'muon-moonlight');
    const figures: Figure[] = [];
    const verdicts = ['mars-m-approx', 'mars-m-exact'].map((label) => {
      const at = rows.filter((r) => r.label === label && r.lr === muon.lr);
      const d = pairedDifference(at, muon.runs, (r) => r.finalValLoss, `${label} - muon-moonlight, final val loss at lr ${muon.lr}`);
      figures.push(d);
      return verdictBelow(d, 0, -PAPER_MIN_GAP);
    });
    const muonFinal = muon.runs.map((r) => r.finalValLoss ?? NaN);
    figures.push({ label: `muon-moonlight final val loss at its best lr ${muon.lr}`, value: muonFinal.reduce((a, b) => a + b, 0) / muonFinal.length, n: muonFinal.length });
    return { verdict: combine(verdicts), seeds: Math.min(...figures.slice(0, 2).map((f) => f.n ?? 0)), figures, headline: 2, reason: `approx: ${verdicts[0]}, exact: ${verdicts[1]}`, ...runsEnvironment(rows) };
  },
};
