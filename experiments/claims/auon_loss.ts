/** Claim 2, loss part: AuON trains about as well as Muon and AdamW, Hybrid-AuON at least as well as Muon (GPT recipe and MNIST ViT, one claim each). */
import { join } from 'node:path';
import { combine, finalRuns, lrOf, pairedDifference, readRuns, runsEnvironment, verdictBelow, type Claim, type Evaluation, type Figure, type Verdict } from './claim.js';

/** "About as well": at most this much higher final validation loss (nats). */
export const ABOUT_AS_WELL = 0.02;
/** "At least as well": at most this much higher. */
export const AT_LEAST_AS_WELL = 0.005;

const STATEMENT = 'AuON trains about as well as Muon and AdamW, and Hybrid-AuON at least as well as Muon (loss part of the claim).';
const RULE = `Each optimizer at its selected setting, paired by seed, 95% t-intervals of final val loss differences. AuON - Muon and AuON - AdamW: reproduced if below +${ABOUT_AS_WELL}, not reproduced if wholly above it. Hybrid-AuON - Muon: reproduced if below +${AT_LEAST_AS_WELL}, not reproduced if wholly above it. All parts reproduced: reproduced; any not: not reproduced; else undecided.`;

/** The loss claim on one task (its experiment file, results in <dir>/runs). */
function auonLoss(task: 'gpt' | 'vit', config: string, setup: string): Claim {
  return {
    name: `auon-loss-${task}`,
    number: 2,
    paper: 'AuON: A Survey For Linear-time Orthogonal Optimizer',
    arxiv: '2509.24320',
    statement: STATEMENT,
    setup: `optlab run ${config}: ${setup}; AdamW, Muon, AuON and Hybrid-AuON each tuned with the same budget (4 quasi-random learning rates at 250 steps, one tuning seed), then 3 final seeds.`,
    differences: 'CPU-scale models; learning rates tuned on a reduced horizon; AuON and Hybrid-AuON keep their default AdamW settings for non-matrix parameters.',
    rule: RULE,
    needsTuning: true,
    commands: (dir) => [['run', config, '--out', join(dir, 'runs')]],
    evaluate(dir: string): Evaluation {
      const rows = readRuns(join(dir, 'runs'));
      const best = Object.fromEntries(['adamw', 'muon', 'auon', 'hybrid-auon'].map((l) => [l, finalRuns(rows, l)]));
      const figures: Figure[] = [];
      const verdicts: Verdict[] = [];
      const diff = (a: string, b: string, margin: number) => {
        const d = pairedDifference(best[a], best[b], (r) => r.finalValLoss, `${task}: ${a} (lr ${lrOf(best[a])}) - ${b} (lr ${lrOf(best[b])}), final val loss`);
        figures.push(d);
        verdicts.push(verdictBelow(d, margin, margin));
      };
      diff('auon', 'muon', ABOUT_AS_WELL);
      diff('auon', 'adamw', ABOUT_AS_WELL);
      diff('hybrid-auon', 'muon', AT_LEAST_AS_WELL);
      return { verdict: combine(verdicts), seeds: Math.min(...figures.map((f) => f.n ?? 0)), figures, reason: figures.map((f, i) => `${f.label.split(',')[0]}: ${verdicts[i]}`).join('; '), ...runsEnvironment(rows) };
    },
  };
}

/** Claim 2 (loss) on nanoGPT's CPU recipe. */
export const auonLossGptClaim = auonLoss('gpt', 'experiments/claims/configs/auon-loss-gpt.yaml', "nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, 2000 steps)");
/** Claim 2 (loss) on the MNIST ViT. */
export const auonLossVitClaim = auonLoss('vit', 'experiments/claims/configs/auon-loss-vit.yaml', 'the MNIST ViT (patch 7, width 64, 2 blocks; 1000 steps of 64 images)');
