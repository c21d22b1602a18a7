/** Claim 2, cost part: AuON's step grows linearly in the parameter count, Newton-Schulz faster (bench/scaling.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Measurement } from '../../bench/harness.js';
import { scalingFits, SCALING_SIZES } from '../../bench/scaling.js';
import { combine, MissingResults, type Claim, type Evaluation, type Figure, type Verdict } from './claim.js';

/** "Linear": AuON's growth exponent in the parameter count at most this. */
export const LINEAR_MAX = 1.1;
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

/** Claim 2 (cost): AuON step time against matrix size. */
export const auonCostClaim: Claim = {
  name: 'auon-cost',
  number: 2,
  paper: 'AuON: A Survey For Linear-time Orthogonal Optimizer',
  arxiv: '2509.24320',
  statement: "AuON replaces Newton-Schulz orthogonalization by a linear-time normalization: its step cost grows linearly in the number of parameters, where Muon's Newton-Schulz grows faster (cost part of the claim).",
  setup: `optlab bench suite auon-scaling: one optimizer step of AdamW, AuON, Hybrid-AuON and Muon (defaults) on one n x n matrix, n = ${SCALING_SIZES.join(', ')}, timed round-robin per size (median of repetitions after warm-up), wasm backend with the native OpenBLAS kernels (1 thread); the growth exponent b of time ~ (n^2)^b by least squares on log-log with its 95% t-interval over the ${SCALING_SIZES.length} sizes. Also one step on the GPT's full parameter set (suite gpt-steps).`,
  differences: 'The paper measures on GPU; here one CPU thread. Small sizes are dominated by per-op overhead, which lowers every exponent; the local exponent between 1024 and 2048 is reported beside the fit.',
  rule: `Reproduced if AuON's exponent interval lies below ${LINEAR_MAX} and below Muon's interval (upper AuON < lower Muon); not reproduced if AuON's lies wholly above ${LINEAR_MAX} or wholly above Muon's lower bound (AuON grows no slower than Newton-Schulz); else undecided.`,
  estimate: 'about 3 minutes on an idle machine (dominated by Muon and Hybrid-AuON on 2048x2048)',
  needsTuning: false,
  commands: (dir) => [['bench', '--only', 'auon-scaling,gpt-steps,adamw,auon,hybrid-auon,muon', '--backends', 'wasm-native', '--out', dir]],
  evaluate(dir: string): Evaluation {
    const ms = readBenchCsv(join(dir, 'bench-partial.csv'));
    const fits = scalingFits(ms);
    const get = (o: string) => {
      const f = fits.find((x) => x.optimizer === o);
      if (!f) throw new MissingResults(`${dir}: no auon-scaling measurements for ${o}`);
      return f;
    };
    const auon = get('auon').fit;
    const muon = get('muon').fit;
    const fig = (o: string): Figure => {
      const f = get(o).fit;
      return { label: `${o} growth exponent (local 1024→2048: ${f.localExponent.toFixed(2)})`, value: f.exponent, lo: f.lo, hi: f.hi, n: f.points };
    };
    const linear: Verdict = auon.hi <= LINEAR_MAX ? 'reproduced' : auon.lo > LINEAR_MAX ? 'not reproduced at this scale' : 'undecided';
    const slower: Verdict = auon.hi < muon.lo ? 'reproduced' : auon.lo >= muon.hi ? 'not reproduced at this scale' : 'undecided';
    const gpt = ['adamw', 'auon', 'hybrid-auon', 'muon'].flatMap((o): Figure[] => {
      const m = ms.find((x) => x.kind === 'optimizer-step' && x.shape === 'gpt-params' && x.name === o);
      return m && m.median_ms !== null ? [{ label: `${o} step on the GPT's parameters`, value: m.median_ms, lo: m.min_ms ?? undefined, hi: m.max_ms ?? undefined, unit: 'ms (min–max)', n: m.reps }] : [];
    });
    const md = join(dir, 'bench-partial.md');
    const wall = existsSync(md) ? /\(([0-9.]+) s in all\)/.exec(readFileSync(md, 'utf8'))?.[1] : undefined;
    const load = existsSync(md) ? /Load average \(1 min\) ([^.]+\.[0-9]) at the start, ([0-9.]+) at the end/.exec(readFileSync(md, 'utf8')) : null;
    const machine = existsSync(md) ? /Machine: ([^,]+), ([0-9]+) cores/.exec(readFileSync(md, 'utf8')) : null;
    const commit = existsSync(md) ? /at commit ([0-9a-f]+)/.exec(readFileSync(md, 'utf8'))?.[1] : undefined;
    return {
      verdict: combine([linear, slower]),
      seeds: auon.points,
      figures: [fig('auon'), fig('muon'), fig('hybrid-auon'), fig('adamw'), ...gpt],
      headline: 2,
      reason: `AuON exponent ${auon.exponent.toFixed(2)} [${auon.lo.toFixed(2)}, ${auon.hi.toFixed(2)}] vs linear (≤ ${LINEAR_MAX}): ${linear}; vs Muon ${muon.exponent.toFixed(2)} [${muon.lo.toFixed(2)}, ${muon.hi.toFixed(2)}]: ${slower}. Intervals over ${auon.points} sizes (not seeds).`,
      wallS: wall ? Number(wall) : undefined,
      env: { gitCommit: commit ?? null, cpu: machine?.[1], cores: machine ? Number(machine[2]) : undefined, backend: 'wasm-native', load: load ? `${load[1]} at the start, ${load[2]} at the end` : undefined },
    };
  },
};
