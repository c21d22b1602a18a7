/** Claim 5: Muon (Moonlight's form, and Keller's) reaches a lower loss than AdamW on the nanoGPT recipe, all tuned; and the steps AdamW needs to reach Muon's final loss. */
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

/** Claim 5: Muon-Moonlight (the cited method, the verdict) and Keller's Muon (a secondary verdict), each against AdamW. */
export const muonAdamwClaim: Claim = {
  name: 'muon-vs-adamw',
  number: 5,
  paper: 'Liu et al., Muon is scalable for LLM training (Moonlight); Jordan et al., Muon: an optimizer for hidden layers (blog and modded-nanogpt)',
  arxiv: '2502.16982',
  statement: 'With tuned learning rates for both, Muon with Moonlight\'s update scale and weight decay reaches a lower validation loss than AdamW at equal steps (Moonlight: about 2x the compute efficiency), i.e. AdamW needs more steps to reach Muon\'s final loss. Keller\'s Muon, the form the Moonlight paper starts from, is compared the same way.',
  setup: `optlab run ${CONFIG}: nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, 2000 steps); AdamW (recipe betas and weight decay), Muon-Moonlight (its AdamW part shares the searched lr) and Keller's Muon (its auxiliary AdamW lr searched as a second axis), every auxiliary AdamW with the recipe's betas; each tuned with the same budget (8 quasi-random trials at the full horizon, 2 tuning seeds), then 28 final seeds (docs/claims.md, claim 5).`,
  differences: 'CPU-scale model and 1.5M tokens per run instead of Moonlight\'s billions; a fixed 2000-step horizon instead of compute-optimal scaling-law fits.',
  rule: `At each one's selected setting: d = final val loss of Muon-Moonlight - of AdamW, paired by seed, 95% t-interval. Reproduced if d's interval lies below 0; not reproduced if it lies wholly above -${MIN_EFFECT}; else undecided. Keller's Muon - AdamW is judged by the same rule as a second verdict, in the reason. Also reported: steps AdamW's mean curve needs to reach each Muon's mean final loss (interpolated between evaluations).`,
  needsTuning: true,
  commands: (dir) => [['run', CONFIG, '--out', join(dir, 'runs')]],
  evaluate(dir: string): Evaluation {
    const rows = readRuns(join(dir, 'runs'));
    const adamw = finalRuns(rows, 'adamw');
    const moonlight = finalRuns(rows, 'muon-moonlight');
    const keller = finalRuns(rows, 'muon');
    const dM = pairedDifference(moonlight, adamw, (r) => r.finalValLoss, `muon-moonlight (lr ${lrOf(moonlight)}) - adamw (lr ${lrOf(adamw)}), final val loss`);
    const dK = pairedDifference(keller, adamw, (r) => r.finalValLoss, `muon (Keller; lr ${lrOf(keller)}) - adamw (lr ${lrOf(adamw)}), final val loss`);
    const reachM = stepsForAdamw(moonlight, adamw);
    const reachK = stepsForAdamw(keller, adamw);
    const figures: Figure[] = [dM, dK, ...(reachM ? [reachM.figure] : []), ...(reachK ? [reachK.figure] : [])];
    const vK = verdictBelow(dK, 0, -MIN_EFFECT);
    const reason = `Muon-Moonlight - AdamW ${dM.value.toFixed(4)} [${dM.lo?.toFixed(4)}, ${dM.hi?.toFixed(4)}]. ${reachM?.text ?? ''} Keller's Muon - AdamW ${dK.value.toFixed(4)} [${dK.lo?.toFixed(4)}, ${dK.hi?.toFixed(4)}]: ${vK}.`;
    return { verdict: verdictBelow(dM, 0, -MIN_EFFECT), seeds: Math.min(dM.n ?? 0, dK.n ?? 0), figures, headline: 2, reason: reason.replace(/ +/g, ' ').trim(), ...runsEnvironment(rows) };
  },
};
