#!/usr/bin/env node
/** The `optlab` command. Each subcommand lives in its own module; this file only registers them. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { replayCommand } from './replay_command.js';
import { benchCommand } from './bench_command.js';
import { runCommand } from './run_command.js';
import { mergeCommand, reportCommand } from './report_command.js';
import { kroneckerCommand } from './kronecker_command.js';
import { claimsCommand } from './claims_command.js';
import { listCommand } from './list_command.js';
import { schemaCommand } from './schema_command.js';

await yargs(hideBin(process.argv))
  .scriptName('optlab')
  .usage('$0 <command> [options]')
  .command(replayCommand)
  .command(benchCommand)
  .command(runCommand)
  .command(reportCommand)
  .command(mergeCommand)
  .command(kroneckerCommand)
  .command(claimsCommand)
  .command(listCommand)
  .command(schemaCommand)
  .example([
    ['$0 run experiments/configs/quick.yaml', 'every optimizer on a tiny GPT, one seed (npm start)'],
    ['$0 run experiments/configs/quick.yaml --set seeds=3', 'three seeds: verdicts with intervals'],
    ['$0 run experiments/configs/tune-quick.yaml', 'equal-budget tuning, then the final seeds'],
    ['$0 run my.yaml --only adamw,muon', 'some optimizers of a file (keep the baseline)'],
    ['$0 report results/quick --watch', 'keep report.html current while a sweep runs'],
    ['$0 merge results/a results/b --out results/ab', 'combine the shards of one sweep'],
    ['$0 list shampoo', "an optimizer's options, defaults and docs"],
    ['$0 bench --quick', 'step cost and throughput, ratios measured in one run'],
  ])
  .epilogue('Docs: README.md, docs/ (one page per optimizer, backends, parity, layout). Every command: optlab <command> --help.')
  .wrap(Math.min(120, process.stdout.columns || 120))
  .demandCommand(1, 'name a command; see --help')
  .strict()
  .help()
  .alias('h', 'help')
  .version()
  .fail((msg, err, y) => {
    if (err) throw err;
    console.error(`${msg}\n`);
    y.showHelp();
    process.exit(2);
  })
  .parseAsync();
