/** `optlab claims [name..] [--report-only] [--out results/claims]`: run the seed papers' claims and write their report (experiments/claims/). */
import type { CommandModule } from 'yargs';
import { CLAIMS, getClaim } from './claims/index.js';
import { evaluateClaims, runClaim, verdictText, writeClaimsReport } from './claims/report.js';
import { join } from 'node:path';

interface ClaimsArgs {
  names: string[];
  'report-only': boolean;
  out: string;
  list: boolean;
}

/** The `optlab claims` subcommand. */
export const claimsCommand: CommandModule<object, ClaimsArgs> = {
  command: 'claims [names..]',
  describe: "Run the seed papers' claims (all, or those named) and write results/claims/report.html and claims.md with their verdicts",
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, default: [], describe: `claims to run: ${CLAIMS.map((c) => c.name).join(', ')} (default: all)` })
      .option('report-only', { type: 'boolean', default: false, describe: 'run nothing; recompute the verdicts and the report from the results present' })
      .option('list', { type: 'boolean', default: false, describe: 'list the claims with their commands and estimated cost' })
      .option('out', { type: 'string', default: join('results', 'claims'), describe: 'results root (one folder per claim)' }) as never,
  handler: async (args) => {
    let chosen;
    try {
      chosen = args.names.length ? args.names.flatMap((n) => n.split(',')).filter(Boolean).map(getClaim) : [...CLAIMS];
    } catch (e) {
      console.error(`error: ${(e as Error).message}`);
      process.exit(2);
    }
    if (args.list) {
      for (const c of chosen) console.log(`${c.number}. ${c.name} (arXiv ${c.arxiv})${c.needsTuning ? ' [tuned training runs]' : ''}: ${c.estimate}\n   ${c.commands(join(args.out, c.name)).map((a) => `npx optlab ${a.join(' ')}`).join('\n   ')}`);
      return;
    }
    if (!args['report-only']) {
      for (const c of chosen) {
        console.error(`[claims] ${c.name}: estimated ${c.estimate}`);
        runClaim(c, join(args.out, c.name));
      }
    }
    // The report always covers every claim, so running one claim does not drop the others' rows.
    const entries = evaluateClaims(CLAIMS, args.out);
    writeClaimsReport(entries, args.out);
    for (const e of entries) console.log(`${e.claim.number}. ${e.claim.name}: ${verdictText(e)}${e.state === 'evaluated' ? ` (${e.evaluation!.reason})` : e.note ? ` (${e.note})` : ''}`);
    console.log(`\nreport: ${join(args.out, 'report.html')}, ${join(args.out, 'claims.md')}`);
  },
};
