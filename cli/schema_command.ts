/** `optlab schema`: the experiment file's JSON Schema (experiments/runner/config_docs.ts), for editors that complete and check YAML. */
import type { CommandModule } from 'yargs';
import { experimentJsonSchema } from '../experiments/runner/config_docs.js';

/** The `schema` subcommand (registered by cli/cli.ts). */
export const schemaCommand: CommandModule<object, object> = {
  command: 'schema',
  describe: "Print the experiment file's JSON Schema (reference: docs/config.md); e.g. optlab schema > experiment.schema.json, then # yaml-language-server: $schema=./experiment.schema.json in the YAML",
  handler: () => {
    console.log(JSON.stringify(experimentJsonSchema(), null, 1));
  },
};
