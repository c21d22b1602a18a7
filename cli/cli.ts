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
