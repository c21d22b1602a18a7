/** Claim 2, loss part: AuON trains about as well as Muon and AdamW, Hybrid-AuON about as well as Muon, in the paper's form and in the code's (GPT recipe and MNIST ViT, one claim each). */
import { join } from 'node:path';
import { combine, finalRuns, lrOf, pairedDifference, readRuns, runsEnvironment, verdictBelow, type Claim, type Evaluation, type Figure, type Verdict } from './claim.js';

/** "About as well": at most this much higher final validation loss (nats). */
export const ABOUT_AS_WELL = 0.02;
/** The forms of AuON and Hybrid-AuON a claim run compares: the paper's (the verdict) and the official code's (a second verdict). */
export const AUON_MODES = ['paper', 'code'] as const;

const STATEMENT = 'AuON trains about as well as Muon and AdamW, and Hybrid-AuON about as well as Muon ("comparable to strong baselines such as AdamW and Muon"; loss part of the claim).';
const RULE = `Each optimizer at its selected setting, paired by seed, 95% t-intervals of final val loss differences, in each form (paper, code): AuON - Muon, AuON - AdamW and Hybrid-AuON - Muon, each reproduced if its interval lies below +${ABOUT_AS_WELL}, not reproduced if wholly above it. All three reproduced: reproduced; any not: not reproduced; else undecided. The verdict is the paper form's (mode paper, Hybrid with one Newton-Schulz iteration); the code form's (mode code, Hybrid with five) is a second verdict, in the reason.`;

/** The loss claim on one task (its experiment file, results in <dir>/runs). */
function auonLoss(task: 'gpt' | 'vit', config: string, setup: string): Claim {
  return {
    name: `auon-loss-${task}`,
    number: 2,
    paper: 'AuON: A Survey For Linear-time Orthogonal Optimizer',
    arxiv: '2509.24320',
    statement: STATEMENT,
    setup: `optlab run ${config}: ${setup}; AdamW, Keller's Muon, and AuON and Hybrid-AuON in the paper's and the code's form, each tuned with the same budget (8 quasi-random trials at the full horizon, 2 tuning seeds; the auxiliary AdamW lr searched as a second axis where a method has one), then the final seeds of the experiment file (docs/claims.md, claim 2).`,
    differences: 'CPU-scale models; every auxiliary AdamW takes the betas (0.9, 0.99) of the AdamW arm instead of its method\'s defaults (AuON: (0.8, 0.95), lr 0.008), so that non-matrix parameters are treated alike.',
    rule: RULE,
    needsTuning: true,
    commands: (dir) => [['run', config, '--out', join(dir, 'runs')]],
    evaluate(dir: string): Evaluation {
      const rows = readRuns(join(dir, 'runs'));
      const best = (l: string) => finalRuns(rows, l);
      const figures: Figure[] = [];
      const byMode = AUON_MODES.map((mode) => {
        const verdicts: Verdict[] = [];
        const diff = (a: string, b: string) => {
          const ra = best(a);
          const rb = best(b);
          const d = pairedDifference(ra, rb, (r) => r.finalValLoss, `${task}: ${a} (lr ${lrOf(ra)}) - ${b} (lr ${lrOf(rb)}), final val loss`);
          figures.push(d);
          verdicts.push(verdictBelow(d, ABOUT_AS_WELL, ABOUT_AS_WELL));
        };
        diff(`auon-${mode}`, 'muon');
        diff(`auon-${mode}`, 'adamw');
        diff(`hybrid-auon-${mode}`, 'muon');
        return { mode, verdict: combine(verdicts), parts: verdicts };
      });
      const reason = byMode.map((m) => `${m.mode} form: ${m.verdict} (${m.parts.join(', ')})`).join('; ');
      return { verdict: byMode[0].verdict, seeds: Math.min(...figures.map((f) => f.n ?? 0)), figures, headline: 3, reason, ...runsEnvironment(rows) };
    },
  };
}

/** Claim 2 (loss) on nanoGPT's CPU recipe. */
export const auonLossGptClaim = auonLoss('gpt', 'experiments/claims/configs/auon-loss-gpt.yaml', "nanoGPT's CPU recipe (char GPT 4x128, Tiny Shakespeare, 2000 steps)");
/** Claim 2 (loss) on the MNIST ViT. */
export const auonLossVitClaim = auonLoss('vit', 'experiments/claims/configs/auon-loss-vit.yaml', 'the MNIST ViT (patch 7, width 64, 2 blocks; 1000 steps of 64 images)');
