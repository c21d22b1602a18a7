/** Claim 1: MARS-M lowers validation loss relative to Muon (Moonlight scaling) at Muon's tuned settings. */
import { join } from 'node:path';
import { finalRuns, lrOf, pairedDifference, readRuns, runsEnvironment, tInterval, verdictBelow, type Claim, type Evaluation, type Figure } from './claim.js';

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
  setup: `optlab run ${CONFIG}: nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, batch 12, 2000 steps, warmup 100 + cosine to 0.1, clipping 1.0); muon-moonlight's lr tuned (8 quasi-random trials at the full horizon, 2 tuning seeds); MARS-M approximate and exact (gamma 0.025) run muon-moonlight's selected setting without tuning of their own (settingsFrom), as the paper does; the final seeds of the experiment file, from a power analysis (docs/claims.md, claim 1).`,
  differences: 'About 1.5M tokens per run instead of 50B; a 0.8M-parameter char model instead of GPT-2; the learning rate is tuned only for Muon, as the paper reuses Muon\'s settings.',
  rule: `At muon-moonlight's selected setting: d = final val loss of MARS-M - of Muon, paired by seed, 95% t-interval. Reproduced if d's interval lies below 0; not reproduced if it lies wholly above -${PAPER_MIN_GAP} (a gap as large as the paper's smallest is ruled out); else undecided. The verdict is the approximate mode's (the reference's default, is_approx=True); the exact mode is judged by the same rule as a second verdict, in the reason.`,
  needsTuning: true,
  commands: (dir) => [['run', CONFIG, '--out', join(dir, 'runs')]],
  evaluate(dir: string): Evaluation {
    const rows = readRuns(join(dir, 'runs'));
    const muon = finalRuns(rows, 'muon-moonlight');
    const figures: Figure[] = [];
    const verdicts = ['mars-m-approx', 'mars-m-exact'].map((label) => {
      const d = pairedDifference(finalRuns(rows, label), muon, (r) => r.finalValLoss, `${label} - muon-moonlight, final val loss at muon-moonlight's tuned lr ${lrOf(muon)}`);
      figures.push(d);
      return verdictBelow(d, 0, -PAPER_MIN_GAP);
    });
    const muonFinal = tInterval(muon.map((r) => (r.status === 'finished' ? (r.finalValLoss ?? NaN) : NaN)));
    figures.push({ ...muonFinal, label: `muon-moonlight final val loss at its tuned lr ${lrOf(muon)}` });
    return { verdict: verdicts[0], seeds: Math.min(...figures.slice(0, 2).map((f) => f.n ?? 0)), figures, headline: 2, reason: `approx (the verdict): ${verdicts[0]}; exact (second verdict): ${verdicts[1]} (MARS-M runs muon-moonlight's selected setting: settingsFrom)`, ...runsEnvironment(rows) };
  },
};
