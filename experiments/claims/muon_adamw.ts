/** Claim 5: Muon reaches a lower loss than AdamW on the nanoGPT recipe, both tuned; and the steps AdamW needs to reach Muon's final loss. */
import { join } from 'node:path';
import { finalRuns, lrOf, meanCurve, pairedDifference, readRuns, runsEnvironment, stepsToReach, verdictBelow, type Claim, type Evaluation, type Figure, type RunRow } from './claim.js';

/** Smallest difference in validation loss (nats) counted as a win when the paper gives none. */
export const MIN_EFFECT = 0.01;
const CONFIG = 'experiments/claims/configs/muon-vs-adamw.yaml';

/**
 * Steps AdamW's mean validation curve needs to reach Muon's mean final loss (linear interpolation
 * between evaluations), as a figure with a sentence that says what it means: AdamW slower (a step
 * beyond Muon's, or never within the run) or AdamW already lower than Muon (a step before the end).
 */
export function stepsForAdamw(muon: readonly RunRow[], adamw: readonly RunRow[]): { figure: Figure; text: string } | null {
  const m = meanCurve(muon);
  const a = meanCurve(adamw);
  if (!m.length || !a.length) return null;
  const target = m[m.length - 1].valLoss;
  const end = m[m.length - 1].step;
  const steps = stepsToReach(a, target);
  const adamwFinal = a[a.length - 1].valLoss;
  const label = `steps AdamW's mean curve needs to reach Muon's mean final ${target.toFixed(3)} (Muon: ${end} steps)`;
  if (steps === null) return { figure: { label, value: NaN, unit: 'never within the run' }, text: `AdamW's mean curve never reaches Muon's final loss within ${a[a.length - 1].step} steps (AdamW ends at ${adamwFinal.toFixed(3)}): more than ${(a[a.length - 1].step / end).toFixed(2)}x Muon's steps.` };
  if (adamwFinal < target) return { figure: { label, value: steps, unit: 'steps' }, text: `AdamW ends lower than Muon (${adamwFinal.toFixed(3)} vs ${target.toFixed(3)}): it reaches Muon's final loss at step ${Math.round(steps)}, before Muon's ${end}; AdamW needs no extra steps here.` };
  return { figure: { label, value: steps, unit: 'steps' }, text: `AdamW reaches Muon's final loss at step ${Math.round(steps)}, ${(steps / end).toFixed(2)}x Muon's ${end} steps.` };
}

/** Claim 5: Muon against AdamW. */
export const muonAdamwClaim: Claim = {
  name: 'muon-vs-adamw',
  number: 5,
  paper: 'Jordan et al., Muon: an optimizer for hidden layers (blog and modded-nanogpt); Liu et al., Muon is scalable for LLM training (Moonlight)',
  arxiv: '2502.16982',
  statement: 'With tuned learning rates for both, Muon reaches a lower validation loss than AdamW at equal steps (Moonlight: about 2x the compute efficiency), i.e. AdamW needs more steps to reach Muon\'s final loss.',
  setup: `optlab run ${CONFIG}: nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, 2000 steps); AdamW (recipe betas and weight decay) and Muon (Adam 1e-3 on embeddings and vectors) each tuned with the same budget (4 quasi-random learning rates at 250 steps, one tuning seed; ranges of tune-shakespeare-char.yaml), then 5 final seeds.`,
  differences: 'CPU-scale model and 0.5M tokens per run; learning rates tuned on a reduced horizon (250 of 2000 steps).',
  rule: `At each one's selected setting: d = final val loss of Muon - of AdamW, paired by seed, 95% t-interval. Reproduced if d's interval lies below 0; not reproduced if it lies wholly above -${MIN_EFFECT}; else undecided. Also reported: steps AdamW's mean curve needs to reach Muon's mean final loss (interpolated between evaluations).`,
  needsTuning: true,
  commands: (dir) => [['run', CONFIG, '--out', join(dir, 'runs')]],
  evaluate(dir: string): Evaluation {
    const rows = readRuns(join(dir, 'runs'));
    const muon = finalRuns(rows, 'muon');
    const adamw = finalRuns(rows, 'adamw');
    const d = pairedDifference(muon, adamw, (r) => r.finalValLoss, `muon (lr ${lrOf(muon)}) - adamw (lr ${lrOf(adamw)}), final val loss`);
    const reach = stepsForAdamw(muon, adamw);
    const figures: Figure[] = [d, ...(reach ? [reach.figure] : [])];
    return { verdict: verdictBelow(d, 0, -MIN_EFFECT), seeds: d.n ?? 0, figures, headline: 2, reason: `Muon - AdamW ${d.value.toFixed(4)} [${d.lo?.toFixed(4)}, ${d.hi?.toFixed(4)}]. ${reach?.text ?? ''}`.trim(), ...runsEnvironment(rows) };
  },
};
