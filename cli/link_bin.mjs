// Run by `npm install` (prepare): links node_modules/.bin/optlab to the built CLI, so that `npx optlab`
// in a fresh clone runs this checkout's CLI instead of looking the name up in the registry.
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli', 'cli.js');
if (!existsSync(cli)) {
  console.error(`optlab: ${cli} is missing; run npm run build`);
  process.exit(1);
}
chmodSync(cli, 0o755);
const binDir = join(root, 'node_modules', '.bin');
mkdirSync(binDir, { recursive: true });
const link = join(binDir, 'optlab');
rmSync(link, { force: true });
symlinkSync(relative(binDir, cli), link);
