/** `optlab claims [name..] [--report-only] [--list] [--jobs N] [--resume] [--force-load] [--out results/claims]`: run the seed papers' claims and write their report (experiments/claims/). */
import type { CommandModule } from 'yargs';
import { CLAIMS, getClaim } from '../experiments/claims/index.js';
import { commandLine, evaluateClaims, runClaim, verdictText, writeClaimsReport } from '../experiments/claims/report.js';
import { estimateText } from '../experiments/claims/cost.js';
import { join } from 'node:path';

interface ClaimsArgs {
  names: string[];
  'report-only': boolean;
  out: string;
  list: boolean;
  jobs?: number;
  resume: boolean;
  'force-load': boolean;
}

/** The `optlab claims` subcommand. */
export const claimsCommand: CommandModule<object, ClaimsArgs> = {
  command: 'claims [names..]',
  describe: "Run the seed papers' claims (all, or those named) and write results/claims/report.html and claims.md with their verdicts",
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, default: [], describe: `claims to run: ${CLAIMS.map((c) => c.name).join(', ')} (default: all)` })
      .option('report-only', { type: 'boolean', default: false, describe: 'run nothing; recompute the verdicts and the report from the results present' })
      .option('list', { type: 'boolean', default: false, describe: 'list the claims with their commands, run counts and estimated wall time on 2 cores' })
      .option('jobs', { type: 'number', describe: 'runs at a time, passed to every optlab run of the claims (default: one per core)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue the claims\' experiments where their results folders stopped (passed to optlab run)' })
      .option('force-load', { type: 'boolean', default: false, describe: 'auon-cost: measure even on a loaded machine (load average above 0.5); the verdict then states the load' })
      .option('out', { type: 'string', default: join('results', 'claims'), describe: 'results root (one folder per claim)' }) as never,
  handler: async (args) => {
    let chosen;
    try {
      chosen = args.names.length ? args.names.flatMap((n) => n.split(',')).filter(Boolean).map(getClaim) : [...CLAIMS];
      if (args.jobs !== undefined && !(Number.isInteger(args.jobs) && args.jobs >= 1)) throw new Error(`--jobs ${args.jobs}: expected a positive integer`);
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    const runArgs = [...(args.jobs !== undefined ? ['--jobs', String(args.jobs)] : []), ...(args.resume ? ['--resume'] : [])];
    if (args.list) {
      for (const c of chosen) {
        const dir = join(args.out, c.name);
        console.log(`${c.number}. ${c.name} (arXiv ${c.arxiv})${c.needsTuning ? ' [tuned training runs]' : ''}: ${estimateText(c, dir)}\n   ${c.commands(dir).map((a) => commandLine(a[0] === 'run' ? [...a, ...runArgs] : a)).join('\n   ')}`);
      }
      return;
    }
    // Inherited by the optlab bench child the auon-cost claim runs (bench/cost_scaling.ts reads it).
    if (args['force-load']) process.env.OPTLAB_FORCE_LOAD = '1';
    let failed = 0;
    if (!args['report-only']) {
      for (const c of chosen) {
        console.error(`[claims] ${c.name}: estimated ${estimateText(c, join(args.out, c.name))}`);
        const run = runClaim(c, join(args.out, c.name), console.error, runArgs);
        if (run.exitCodes.some((x) => x !== 0)) failed += 1;
      }
    }
    // The report always covers every claim, so running one claim does not drop the others' rows.
    const entries = evaluateClaims(CLAIMS, args.out);
    writeClaimsReport(entries, args.out);
    for (const e of entries) console.log(`${e.claim.number}. ${e.claim.name}: ${verdictText(e)}${e.state === 'evaluated' ? ` (${e.evaluation!.reason})` : e.note ? ` (${e.note})` : ''}`);
    console.log(`\nreport: ${join(args.out, 'report.html')}, ${join(args.out, 'claims.md')}`);
    if (failed) {
      console.error(`[claims] ${failed} claim(s) had a failing command; rerun with --resume to continue`);
      process.exitCode = 1;
    }
  },
};
