/**
 * Writes optimizers/tfjs_classes.ts, the named exports of every registry method as a tf.Optimizer
 * (`MuonOptimizer`, `muon`), from the registry (optimizers/index.ts). ES modules need export names
 * written out; this keeps the registry the one place a method is added. Run by `npm run build` and
 * `npm run generate`; test/optimizers/tfjs.test.ts fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REGISTRY } from './index.js';

/** Where the generated module lives. */
export const TFJS_CLASSES_PATH = join(dirname(fileURLToPath(import.meta.url)), 'tfjs_classes.ts');

/** 'mars-m' -> 'marsM': the lowerCamel name of a registry key. */
export function lowerCamel(method: string): string {
  return method.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The text of optimizers/tfjs_classes.ts for a registry (by default the current one). */
export function renderTfClasses(registry: Readonly<Record<string, { className: string }>> = REGISTRY): string {
  const lines = [
    '// Generated from the registry (optimizers/index.ts) by optimizers/generate_exports.ts: `npm run generate`. Do not edit.',
    '/** Every registry method as a tf.Optimizer class and a lowerCamel factory (optimizers/tfjs.ts makes and registers them). */',
    "import { TF_OPTIMIZER_CLASSES, tfOptimizerFactory } from './tfjs.js';",
  ];
  for (const [method, factory] of Object.entries(registry)) {
    const cls = factory.className;
    const key = /^[a-z][a-z0-9]*$/.test(method) ? `.${method}` : `['${method}']`;
    lines.push(
      '',
      `/** The '${method}' method as a tf.Optimizer class, registered with tf.serialization as '${cls}'. */`,
      `export const ${cls} = TF_OPTIMIZER_CLASSES${key};`,
      `/** An instance of ${cls}. */`,
      `export type ${cls} = InstanceType<typeof ${cls}>;`,
      `/** The '${method}' method as a tf.Optimizer: \`${lowerCamel(method)}(config)\` is \`new ${cls}(config)\`. */`,
      `export const ${lowerCamel(method)} = tfOptimizerFactory('${method}');`,
    );
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderTfClasses();
  let old = '';
  try {
    old = readFileSync(TFJS_CLASSES_PATH, 'utf8');
  } catch {
    // first run: no file yet
  }
  if (old !== text) writeFileSync(TFJS_CLASSES_PATH, text);
  console.log(`${old === text ? 'unchanged' : 'wrote'} ${TFJS_CLASSES_PATH} (${Object.keys(REGISTRY).length} methods)`);
}
