/**
 * What a claim costs before it runs: the runs and steps of its `optlab run` commands, counted from
 * their experiment files as the tuning machinery plans them (trials x tuning seeds at the tuning
 * horizon for every entry that searches, final seeds at the full horizon for every entry), and an
 * estimate of its wall time on the project's 2-core machine.
 */
import { entryRuns, expandRuns, loadExperiment, seedList } from '../runner/config.js';
import { tuningCost } from '../sweep/tuning.js';
import type { Claim } from './claim.js';

/**
 * Milliseconds per training step on one idle core (wasm with the native kernels), by model kind:
 * the char GPT of the claims at 60-75 ms (experiments/configs/tune-shakespeare-char.yaml's header);
 * the MNIST ViT at about 0.42 of the GPT's step (tuning trials of experiments/tuned/mnist-vit.json and
 * experiments/tuned/shakespeare-char.json on the same shared machine: 92 and 144 ms vs 203 and 358 ms
 * per step for AdamW and Muon). Methods differ (Muon about 1.7x AdamW, MARS-M exact about 2x); this
 * is their rough middle, for planning, not a measurement of any one claim.
 */
export const MS_PER_STEP: Record<string, number> = { gpt: 70, vit: 30 };

/** Runs, steps and estimated time of a claim's training runs. */
export interface ClaimCost {
  runs: number;
  /** Tuning runs among them. */
  tuningRuns: number;
  steps: number;
  /** Training steps x MS_PER_STEP, in seconds of one core. */
  coreSeconds: number;
  /** coreSeconds / 2: two runs at a time on two idle cores, ignoring the wait between tuning and final runs. */
  wallSeconds2Cores: number;
  /** Bracketing may add up to this many tuning runs (and steps) when selections sit at an edge; not in the figures above. */
  extensionRuns: number;
  extensionSteps: number;
}

/** The experiment files and overrides of a claim's `optlab run` commands. */
export function runCommands(claim: Claim, dir: string): { file: string; sets: string[] }[] {
  return claim.commands(dir).filter((a) => a[0] === 'run').map((a) => ({ file: a[1], sets: a.flatMap((x, i) => (a[i - 1] === '--set' ? [x] : [])) }));
}

/** The cost of a claim's `optlab run` commands (null when it has none: bench or kronecker claims state theirs in `estimate`). */
export function claimCost(claim: Claim, dir: string): ClaimCost | null {
  const cmds = runCommands(claim, dir);
  if (!cmds.length) return null;
  let runs = 0;
  let tuningRuns = 0;
  let coreMs = 0;
  let steps = 0;
  let extensionRuns = 0;
  let extensionSteps = 0;
  for (const { file, sets } of cmds) {
    const exp = loadExperiment(file, sets);
    const ms = MS_PER_STEP[exp.model.kind] ?? MS_PER_STEP.gpt;
    const add = (n: number, s: number) => {
      runs += n;
      steps += n * s;
      coreMs += n * s * ms;
    };
    if (exp.tuning) {
      // Trials, full-horizon reruns and (an upper bound) bracketing extensions: experiments/sweep/tuning.ts.
      const tc = tuningCost(exp);
      tuningRuns += tc.runs;
      runs += tc.runs;
      steps += tc.steps;
      coreMs += tc.steps * ms;
      extensionRuns += tc.extensionRuns;
      extensionSteps += tc.extensionSteps;
      // Final runs: every entry (those with settingsFrom too) with the experiment's seeds; entryRuns checks the options.
      exp.optimizers.forEach((_, i) => add(entryRuns(exp, i, {}, seedList(exp)).length, exp.training.steps));
    } else {
      add(expandRuns(exp).length, exp.training.steps);
    }
  }
  return { runs, tuningRuns, steps, coreSeconds: coreMs / 1000, wallSeconds2Cores: coreMs / 2000, extensionRuns, extensionSteps };
}

/** One line: '19 runs (4 tuning), 31,000 steps: about 18 min on 2 idle cores'. */
export function costText(c: ClaimCost): string {
  const min = c.wallSeconds2Cores / 60;
  return `${c.runs} runs (${c.tuningRuns} tuning), ${c.steps.toLocaleString('en-US')} steps: about ${min < 10 ? min.toFixed(1) : Math.round(min)} min on 2 idle cores${c.extensionRuns ? `, plus up to ${c.extensionRuns} bracketing runs (${c.extensionSteps.toLocaleString('en-US')} steps) when a selection sits at an edge` : ''}`;
}

/** A claim's estimate: computed for `optlab run` claims, the claim's own text otherwise. */
export function estimateText(claim: Claim, dir: string): string {
  const c = claimCost(claim, dir);
  return c ? costText(c) : (claim.estimate ?? 'not estimated');
}
