/** `optlab replay <fixture.json> [--out trajectory.json]`: exit 0 within tolerance, 1 outside, 2 unreadable/unsupported. */
import { writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { selectBackend } from '../kernels/backend.js';
import { FixtureError, loadFixture } from '../parity/fixture.js';
import { formatReplay, replayFixture } from '../parity/replay.js';
import { ConfigError } from '../experiments/runner/config.js';
import { loadPlugins } from '../experiments/runner/plugins.js';
import { backendHelp } from './backend_help.js';

interface ReplayArgs {
  fixture: string;
  more?: string[];
  out?: string;
  backend?: string;
  plugin?: string[];
}

/** The `replay` subcommand (registered by cli/cli.ts). */
export const replayCommand: CommandModule<object, ReplayArgs> = {
  command: 'replay <fixture> [more..]',
  describe: 'Replay reference fixtures (official PyTorch trajectories) through optlab and compare step by step',
  builder: (y) =>
    y
      .positional('fixture', { type: 'string', describe: 'a fixture JSON file' })
      .positional('more', { type: 'string', array: true, describe: 'more fixtures', defaultDescription: 'none' })
      .option('out', { type: 'string', describe: 'write the trajectory optlab computed (one fixture only)' })
      .option('backend', { type: 'string', describe: backendHelp('$OPTLAB_BACKEND, then auto') })
      .option('plugin', { type: 'string', array: true, describe: "load a plugin module first, so a fixture may name its method (an experiment file's plugins entry)" }) as never,
  handler: async (args) => {
    const fixtures = [args.fixture, ...(args.more ?? [])];
    if (args.out && fixtures.length > 1) {
      console.error('--out takes a single fixture');
      process.exit(2);
    }
    try {
      await loadPlugins(args.plugin ?? []);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`error: ${e.message}`);
      process.exit(2);
    }
    await selectBackend(args.backend);
    let code = 0;
    for (const path of fixtures) {
      try {
        const r = replayFixture(loadFixture(path));
        console.log(formatReplay(r));
        if (args.out) writeFileSync(args.out, JSON.stringify({ steps: r.steps }) + '\n');
        if (!r.pass) code = Math.max(code, 1);
      } catch (e) {
        if (!(e instanceof FixtureError)) throw e;
        console.error(`error: ${e.message}`);
        code = 2;
      }
    }
    process.exitCode = code;
  },
};
