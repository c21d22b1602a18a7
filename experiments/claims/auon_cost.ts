/**
 * Claim 2, cost part: AuON's step cost grows linearly in the parameter count, Muon's Newton-Schulz
 * faster. The measurement and its analysis live in bench/cost_scaling.ts (suite 'auon-cost'), the
 * fit of time(N) = a + c N^b in bench/power_law.ts; this file states the claim, fixes the rule and
 * applies it to a results folder.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measurement } from '../../bench/harness.js';
import { analyzeCost, COST_OPTIMIZERS, COST_ROUNDS, COST_SIZES, COST_THREADS, costLoad, costRatioSvg, costSamples, LOAD_MAX, loadProblem, type CostAnalysis } from '../../bench/cost_scaling.js';
import { combine, MissingResults, type Claim, type Evaluation, type Figure, type Verdict } from './claim.js';

/** "Linear": AuON's exponent within this distance of AdamW's (an elementwise, linear-time step on the same machine). */
export const LINEAR_MARGIN = 0.1;
/** The band in which AdamW's exponent must reach for the sizes to show linear costs at all. */
export const LINEAR_BAND: readonly [number, number] = [0.9, 1.1];
/** Fewest timed rounds a verdict is drawn from (bootstrap intervals over fewer rounds are too narrow). */
export const MIN_ROUNDS = 5;
/** Bootstrap draws of the claim's intervals. */
export const RESAMPLES = 2000;
/** Seed of the bootstrap's mt19937 stream (the verdict is reproducible from the CSV). */
export const SEED = 1;
const NUMERIC = new Set(['median_ms', 'min_ms', 'max_ms', 'mean_ms', 'reps', 'ratio_to_adamw', 'value']);

/** Reads the CSV `optlab bench` writes (bench/report.ts formatCsv); throws naming the file on a malformed row. */
export function readBenchCsv(path: string): Measurement[] {
  if (!existsSync(path)) throw new MissingResults(`no ${path}`);
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((line, i) => {
    const cells = line.split(',');
    if (cells.length !== cols.length) throw new Error(`${path}:${i + 2}: ${cells.length} fields, header has ${cols.length}`);
    return Object.fromEntries(cols.map((c, k) => [c, cells[k] === '' ? null : NUMERIC.has(c) ? Number(cells[k]) : cells[k]])) as unknown as Measurement;
  });
}

const within = (x: { lo: number; hi: number }, lo: number, hi: number) => x.lo >= lo && x.hi <= hi;

/**
 * The rule of claim 2's cost part on an analysis (see `rule` below for the text); returns the three
 * parts' verdicts, the combined verdict and the reason.
 */
export function costVerdict(a: CostAnalysis): { verdict: Verdict; linear: Verdict; faster: Verdict; bounded: Verdict; reason: string } {
  const f = (x: { value: number; lo: number; hi: number }) => `${x.value.toFixed(2)} [${x.lo.toFixed(2)}, ${x.hi.toFixed(2)}]`;
  const adamw = a.fits.adamw.b;
  const linearDiff = a.differences['auon-adamw'];
  const nsDiff = a.differences['muon-auon'];
  const reasons: string[] = [];
  let gate = '';
  if (a.rounds < MIN_ROUNDS) gate = `only ${a.rounds} timed round${a.rounds === 1 ? '' : 's'} (the rule needs ${MIN_ROUNDS})`;
  else if (['adamw', 'auon', 'muon'].some((o) => a.fits[o].fit.atBound)) gate = `the fit of ${['adamw', 'auon', 'muon'].filter((o) => a.fits[o].fit.atBound).join(', ')} put b on the search bound`;
  else if (adamw.hi < LINEAR_BAND[0] || adamw.lo > LINEAR_BAND[1]) gate = `AdamW's exponent ${f(adamw)} lies outside [${LINEAR_BAND.join(', ')}]: at these sizes even an elementwise step does not cost linear time here`;
  if (gate) {
    return { verdict: 'undecided', linear: 'undecided', faster: 'undecided', bounded: 'undecided', reason: `Undecided: ${gate}. AuON b ${f(a.fits.auon.b)}, Muon b ${f(a.fits.muon.b)}, AdamW b ${f(adamw)}.` };
  }
  const linear: Verdict = within(linearDiff, -LINEAR_MARGIN, LINEAR_MARGIN) ? 'reproduced' : linearDiff.lo > LINEAR_MARGIN ? 'not reproduced at this scale' : 'undecided';
  const faster: Verdict = nsDiff.lo > 0 ? 'reproduced' : nsDiff.hi < 0 ? 'not reproduced at this scale' : 'undecided';
  const bounded: Verdict = a.ratioSlope.hi <= LINEAR_MARGIN ? 'reproduced' : a.ratioSlope.lo > LINEAR_MARGIN ? 'not reproduced at this scale' : 'undecided';
  reasons.push(`linear: b_AuON − b_AdamW ${f(linearDiff)} vs ±${LINEAR_MARGIN} → ${linear} (AuON b ${f(a.fits.auon.b)}, AdamW b ${f(adamw)})`);
  reasons.push(`Newton-Schulz faster: b_Muon − b_AuON ${f(nsDiff)} vs 0 → ${faster}`);
  const last = a.ratio[a.ratio.length - 1];
  reasons.push(`AuON/AdamW bounded: slope of log ratio on log N ${f(a.ratioSlope)} vs ${LINEAR_MARGIN} → ${bounded} (ratio ${f(a.ratio[0])} at ${a.ratio[0].n}², ${f(last)} at ${last.n}²)`);
  return { verdict: combine([linear, faster, bounded]), linear, faster, bounded, reason: `${reasons.join('; ')}. 95% bootstrap intervals over ${a.rounds} rounds.` };
}

/** Claim 2 (cost): AuON step time against parameter count, against AdamW's and Muon's. */
export const auonCostClaim: Claim = {
  name: 'auon-cost',
  number: 2,
  paper: 'AuON: A Survey For Linear-time Orthogonal Optimizer',
  arxiv: '2509.24320',
  statement: "AuON replaces Newton-Schulz orthogonalization by a linear-time normalization: its step cost grows linearly in the number of parameters, where Muon's Newton-Schulz grows faster (cost part of the claim).",
  setup: `optlab bench suite auon-cost (bench/cost_scaling.ts), wasm backend with the native OpenBLAS kernels at ${COST_THREADS} thread, on an idle machine: one optimizer step of ${COST_OPTIMIZERS.join(', ')} (registry defaults) on one n x n matrix, n = ${COST_SIZES.join(', ')} (N = n² parameters). One untimed warm-up round, then ${COST_ROUNDS} timed rounds; each round times every size and optimizer once, in a fresh random order, and a sample averages enough consecutive steps to last about 20 ms. Every sample is kept, with the 1-min load average before, after each round and at the end. Per optimizer, time(N) = a + c·N^b by weighted nonlinear least squares (relative errors; bench/power_law.ts); 95% intervals of b, of differences of b, and of AuON's time over AdamW's at each size by a percentile bootstrap over whole rounds (${RESAMPLES} draws, the same draw for all optimizers). The ratio is plotted against N (cost-ratio.svg).`,
  differences: `The paper measures on GPU; here one CPU thread, where memory bandwidth rather than flops sets an elementwise step's cost, so the machine's own growth of a linear-time step is measured beside AuON's (AdamW) and AuON is judged against it. Sizes stop at 2584 (a Newton-Schulz step costs about 3.7 s there on one core); below 256 per-op overhead dominates cheap steps, and the constant a of the fit absorbs what remains.`,
  rule: `Decided before measuring. Preconditions: at least ${MIN_ROUNDS} timed rounds; the 1-min load average at most ${LOAD_MAX} before the run and at most ${LOAD_MAX} + ${COST_THREADS} (the benchmark's own thread) after every round, otherwise the claim is 'not measured: machine loaded' (unless forced with --force-load; the reason then states the load); no fit of AdamW, AuON or Muon with b on its search bound [0.3, 2.5]; AdamW's b interval reaching into [${LINEAR_BAND.join(', ')}] (else the sizes do not show linear costs at all). A failed precondition other than the load makes the verdict undecided. Then three parts, each from a 95% interval: (1) linear: b_AuON − b_AdamW within ±${LINEAR_MARGIN} reproduced, its lower bound above +${LINEAR_MARGIN} not reproduced; (2) Newton-Schulz grows faster: b_Muon − b_AuON with lower bound above 0 reproduced, upper bound below 0 not reproduced; (3) AuON's time stays a bounded multiple of AdamW's: the slope of log(AuON/AdamW) against log N with upper bound at most ${LINEAR_MARGIN} reproduced, lower bound above ${LINEAR_MARGIN} not reproduced; anything else undecided. The claim is reproduced when all three parts are, not reproduced when any part is, undecided otherwise.`,
  estimate: 'about 4 minutes on an idle 2-core machine (a warm-up and 12 rounds of about 15 s: Muon and Hybrid-AuON steps dominate, 1.8 s of CPU time each at 2048 on one thread)',
  needsTuning: false,
  commands: (dir) => [['bench', '--only', `auon-cost,${COST_OPTIMIZERS.join(',')}`, '--backends', 'wasm-native', '--out', dir]],
  evaluate(dir: string): Evaluation {
    const ms = readBenchCsv(join(dir, 'bench-partial.csv'));
    const samples = costSamples(ms);
    if (samples.length === 0) throw new MissingResults(`${dir}: no auon-cost samples in bench-partial.csv`);
    for (const o of COST_OPTIMIZERS) if (!samples.some((s) => s.optimizer === o)) throw new MissingResults(`${dir}: no auon-cost samples of ${o}`);
    const load = costLoad(ms);
    if (!load) throw new MissingResults(`${dir}: no load record in bench-partial.csv (a run older than the load guard)`);
    const problem = loadProblem(load);
    if (problem && !load.forced) throw new MissingResults(`not measured: machine loaded (${problem}); rerun on an idle machine`);
    const a = analyzeCost(samples, { resamples: RESAMPLES, seed: SEED });
    writeFileSync(join(dir, 'cost-ratio.svg'), costRatioSvg(a));
    const v = costVerdict(a);
    const fig = (label: string, x: { value: number; lo: number; hi: number }, unit?: string): Figure => ({ label, value: x.value, lo: x.lo, hi: x.hi, n: a.rounds, unit });
    const md = join(dir, 'bench-partial.md');
    const text = existsSync(md) ? readFileSync(md, 'utf8') : '';
    const wall = /\(([0-9.]+) s in all\)/.exec(text)?.[1];
    const machine = /Machine: ([^,]+), ([0-9]+) cores/.exec(text);
    const commit = /at commit ([0-9a-f]+)/.exec(text)?.[1];
    const loadText = `${load.before?.toFixed(2) ?? '?'} before, up to ${Math.max(...load.rounds, 0).toFixed(2)} after a round, ${load.after?.toFixed(2) ?? '?'} at the end${load.forced ? ' (forced past the guard)' : ''}`;
    return {
      verdict: v.verdict,
      seeds: a.rounds,
      figures: [
        fig('AuON exponent b − AdamW exponent b', a.differences['auon-adamw']),
        fig('Muon exponent b − AuON exponent b', a.differences['muon-auon']),
        fig('slope of log(AuON time / AdamW time) on log N', a.ratioSlope),
        ...COST_OPTIMIZERS.map((o) => fig(`${o} exponent b of a + c·N^b (a = ${a.fits[o].fit.a.toFixed(3)} ms)`, a.fits[o].b)),
        ...a.ratio.map((r) => fig(`AuON / AdamW step time at ${r.n}x${r.n}`, r, 'ratio')),
      ],
      headline: 3,
      reason: `${problem ? `Measured under load, forced: ${problem}. ` : ''}${v.reason}`,
      wallS: wall ? Number(wall) : undefined,
      env: { gitCommit: commit ?? null, cpu: machine?.[1], cores: machine ? Number(machine[2]) : undefined, backend: `wasm-native, ${COST_THREADS} BLAS thread`, load: loadText },
    };
  },
};
