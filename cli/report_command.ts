/** `optlab report` and `optlab merge`: rewrite or combine results folders (experiments/analysis/report.ts). */
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { ConfigError } from '../experiments/runner/config.js';
import { mergeResults, watchReport, writeReport } from '../experiments/analysis/report.js';

/** Runs a report/merge action; a ConfigError (a wrong folder, mixed experiments) prints one line and exits 2. */
async function oneLineErrors(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`error: ${e.message}`);
    process.exitCode = 2;
  }
}

/** `optlab report <dir> [--watch [--every S]] [--allow-mixed-backends]` */
export const reportCommand: CommandModule<object, { dir: string; watch?: boolean; every?: number; allowMixedBackends?: boolean }> = {
  command: 'report <dir>',
  describe: 'Rewrite summary.csv, plots and report.html of a results folder and print the ranking',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', demandOption: true, describe: 'results folder (holds experiment.json)' })
      .option('watch', { type: 'boolean', default: false, describe: 'keep report.html current while a sweep writes into the folder (the page reloads itself)' })
      .option('every', { type: 'number', default: 10, describe: 'seconds between rewrites with --watch' })
      .option('allow-mixed-backends', { type: 'boolean', default: false, describe: 'compare runs that used different backends' }) as never,
  handler: (args) =>
    oneLineErrors(async () => {
      if (args.watch) await watchReport(args.dir, { every: args.every, allowMixedBackends: args.allowMixedBackends });
      const { ranking } = await writeReport(args.dir, { allowMixedBackends: args.allowMixedBackends });
      console.log(`${ranking}\n\nreport: ${join(args.dir, 'report.html')}`);
    }),
};

/** `optlab merge <dir> [more..] --out DIR [--allow-mixed-backends]` */
export const mergeCommand: CommandModule<object, { dir: string; more?: string[]; out: string; allowMixedBackends?: boolean }> = {
  command: 'merge <dir> [more..]',
  describe: 'Merge result folders of one experiment (e.g. --shard outputs) and write the combined report',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', describe: 'a results folder' })
      .positional('more', { type: 'string', array: true, describe: 'more results folders of the same experiment', defaultDescription: 'none' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder for the merged results' })
      .option('allow-mixed-backends', { type: 'boolean', default: false, describe: 'merge runs that used different backends' }) as never,
  handler: (args) =>
    oneLineErrors(async () => {
      const { ranking } = await mergeResults([args.dir, ...(args.more ?? [])], args.out, { allowMixedBackends: args.allowMixedBackends, warn: (w) => console.error(w) });
      console.log(`${ranking}\n\nreport: ${join(args.out, 'report.html')}`);
    }),
};
