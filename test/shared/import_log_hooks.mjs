// Module hooks (node:module register) that append every resolved import URL to $OPTLAB_IMPORT_LOG,
// for tests that check what an entry point loads (test/optimizers/entry.test.ts).
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.OPTLAB_IMPORT_LOG) appendFileSync(process.env.OPTLAB_IMPORT_LOG, `${r.url}\n`);
  return r;
}
