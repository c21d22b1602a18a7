/** Claim 2, loss part: AuON trains about as well as Muon and AdamW, Hybrid-AuON at least as well as Muon (GPT recipe and MNIST ViT). */
import { join } from 'node:path';
import { bestLr, combine, pairedDifference, readRuns, runsEnvironment, verdictBelow, type Claim, type Evaluation, type Figure, type RunRow, type Verdict } from './claim.js';

/** "About as well": at most this much higher final validation loss (nats). */
export const ABOUT_AS_WELL = 0.02;
/** "At least as well": at most this much higher. */
export const AT_LEAST_AS_WELL = 0.005;
const TASKS = [
  { key: 'gpt', config: 'experiments/claims/configs/auon-loss-gpt.yaml' },
  { key: 'vit', config: 'experiments/claims/configs/auon-loss-vit.yaml' },
];

/** Claim 2 (loss): AuON and Hybrid-AuON against Muon and AdamW. */
export const auonLossClaim: Claim = {
  name: 'auon-loss',
  number: 2,
  paper: 'AuON: A Survey For Linear-time Orthogonal Optimizer',
  arxiv: '2509.24320',
  statement: 'AuON trains about as well as Muon and AdamW, and Hybrid-AuON at least as well as Muon (loss part of the claim).',
  setup: `optlab run ${TASKS.map((t) => t.config).join(' and ')}: nanoGPT's CPU recipe (2000 steps) and the MNIST ViT (1000 steps of 64); AdamW, Muon, AuON and Hybrid-AuON each at the best lr of a 3-point grid; 3 seeds.`,
  differences: 'CPU-scale models; learning rates selected on the same seeds that are compared; AuON and Hybrid-AuON keep their default Adam settings for non-matrix parameters.',
  rule: `Per task, each optimizer at its best lr, paired by seed, 95% t-intervals of final val loss differences. AuON - Muon and AuON - AdamW: reproduced if below +${ABOUT_AS_WELL}, not reproduced if wholly above it. Hybrid-AuON - Muon: reproduced if below +${AT_LEAST_AS_WELL}, not reproduced if wholly above it. All parts reproduced: reproduced; any not: not reproduced; else undecided.`,
  estimate: '72 runs: about 2 hours (GPT) + 20 minutes (ViT) with 2 jobs on 2 idle cores',
  needsTuning: true,
  commands: (dir) => TASKS.map((t) => ['run', t.config, '--out', join(dir, t.key)]),
  evaluate(dir: string): Evaluation {
    const figures: Figure[] = [];
    const verdicts: Verdict[] = [];
    const all: RunRow[] = [];
    for (const t of TASKS) {
      const rows = readRuns(join(dir, t.key));
      all.push(...rows);
      const best = Object.fromEntries(['adamw', 'muon', 'auon', 'hybrid-auon'].map((l) => [l, bestLr(rows, l)]));
      const diff = (a: string, b: string, margin: number) => {
        const d = pairedDifference(best[a].runs, best[b].runs, (r) => r.finalValLoss, `${t.key}: ${a} (lr ${best[a].lr}) - ${b} (lr ${best[b].lr}), final val loss`);
        figures.push(d);
        verdicts.push(verdictBelow(d, margin, margin));
      };
      diff('auon', 'muon', ABOUT_AS_WELL);
      diff('auon', 'adamw', ABOUT_AS_WELL);
      diff('hybrid-auon', 'muon', AT_LEAST_AS_WELL);
    }
    return { verdict: combine(verdicts), seeds: Math.min(...figures.map((f) => f.n ?? 0)), figures, reason: figures.map((f, i) => `${f.label.split(',')[0]}: ${verdicts[i]}`).join('; '), ...runsEnvironment(all) };
  },
};
