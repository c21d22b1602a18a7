/** Claim 5: Muon reaches a lower loss than AdamW on the nanoGPT recipe, both tuned; and the steps AdamW needs to reach Muon's final loss. */
import { join } from 'node:path';
import { bestLr, meanCurve, pairedDifference, readRuns, runsEnvironment, stepsToReach, verdictBelow, type Claim, type Evaluation, type Figure } from './claim.js';

/** Smallest difference in validation loss (nats) counted as a win when the paper gives none. */
export const MIN_EFFECT = 0.01;
const CONFIG = 'experiments/claims/configs/muon-vs-adamw.yaml';

/** Claim 5: Muon against AdamW. */
export const muonAdamwClaim: Claim = {
  name: 'muon-vs-adamw',
  number: 5,
  paper: 'Jordan et al., Muon: an optimizer for hidden layers (blog and modded-nanogpt); Liu et al., Muon is scalable for LLM training (Moonlight)',
  arxiv: '2502.16982',
  statement: 'With tuned learning rates for both, Muon reaches a lower validation loss than AdamW at equal steps (Moonlight: about 2x the compute efficiency), i.e. AdamW needs more steps to reach Muon\'s final loss.',
  setup: `optlab run ${CONFIG}: nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, 2000 steps); AdamW (recipe betas and weight decay) at lr 5e-4, 1e-3, 2e-3; Muon at 0.01, 0.02, 0.04 (Adam 1e-3 on embeddings and vectors); 3 seeds each.`,
  differences: 'CPU-scale model and 0.5M tokens per run; the learning rate of each is the best of a 3-point grid, selected on the same seeds that are compared.',
  rule: `Each at its best lr: d = final val loss of Muon - of AdamW, paired by seed, 95% t-interval. Reproduced if d's interval lies below 0; not reproduced if it lies wholly above -${MIN_EFFECT}; else undecided. Also reported: steps AdamW's mean curve needs to reach Muon's mean final loss.`,
  estimate: '18 runs x about 2-3 min: about 30 minutes with 2 jobs on 2 idle cores',
  needsTuning: true,
  commands: (dir) => [['run', CONFIG, '--out', join(dir, 'runs')]],
  evaluate(dir: string): Evaluation {
    const rows = readRuns(join(dir, 'runs'));
    const muon = bestLr(rows, 'muon');
    const adamw = bestLr(rows, 'adamw');
    const d = pairedDifference(muon.runs, adamw.runs, (r) => r.finalValLoss, `muon (lr ${muon.lr}) - adamw (lr ${adamw.lr}), final val loss`);
    const muonCurve = meanCurve(muon.runs);
    const target = muonCurve[muonCurve.length - 1]?.valLoss;
    const steps = target === undefined ? null : stepsToReach(meanCurve(adamw.runs), target);
    const figures: Figure[] = [d];
    if (target !== undefined) figures.push({ label: `steps AdamW's mean curve needs to reach Muon's final ${target.toFixed(3)} (Muon: ${muonCurve[muonCurve.length - 1].step})`, value: steps ?? NaN, unit: steps === null ? 'never within the run' : 'steps' });
    return { verdict: verdictBelow(d, 0, -MIN_EFFECT), seeds: d.n ?? 0, figures, headline: 2, reason: `Muon - AdamW ${d.value.toFixed(4)} [${d.lo?.toFixed(4)}, ${d.hi?.toFixed(4)}]`, ...runsEnvironment(rows) };
  },
};
