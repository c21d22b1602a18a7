/**
 * `optlab list`: every optimizer of the registry with its options and defaults, one line of doc each.
 *
 * Options and defaults are `OPTIMIZERS[name].defaults`, the object the experiment schema validates
 * against (config.ts), so the list cannot disagree with what a file may set. The doc lines are the
 * JSDoc the optimizer files already carry: the comment above the `defineOptimizer` export, the arXiv
 * ids of the file's header, and the comment above each option in the method file's interfaces or in
 * the interfaces they extend, wherever declared (read from the .ts sources, or from the .js and .d.ts
 * files tsc emits into dist/). An option documented only by its `@default` shows no doc line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { OPTIMIZERS } from '../optimizers/index.js';

/** One optimizer as `optlab list` shows it. */
export interface OptimizerListing {
  name: string;
  /** One line: what the method is, with its arXiv ids. */
  doc: string;
  options: { name: string; default: unknown; doc: string }[];
}

/** First sentence of a JSDoc body, without tags and line breaks. */
function docLine(body: string): string {
  const text = body
    .split('\n')
    .map((l) => l.replace(/^\s*\*\s?/, '').trim())
    .join(' ')
    .replace(/@default\s+\S+.*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  // The first full stop that ends a sentence (not 'et al.', 'e.g.', 'i.e.', 'cf.').
  const end = [...text.matchAll(/\.(\s|$)/g)].find((m) => !/(\bal|\be\.g|\bi\.e|\bcf)$/.test(text.slice(0, m.index)));
  return end ? text.slice(0, end.index + 1) : text;
}

/** The optimizer sources next to this module: .ts when running from source, .js + .d.ts from dist/. */
function optimizerSources(): { code: Map<string, string>; decls: Map<string, string> } {
  const here = fileURLToPath(import.meta.url);
  const dir = join(dirname(here), '..', 'optimizers');
  const code = new Map<string, string>();
  const decls = new Map<string, string>();
  if (!existsSync(dir)) return { code, decls };
  const fromSource = here.endsWith('.ts');
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    if (fromSource ? f.endsWith('.ts') && !f.endsWith('.d.ts') : f.endsWith('.js')) code.set(f, readFileSync(path, 'utf8'));
    if (fromSource ? f.endsWith('.ts') && !f.endsWith('.d.ts') : f.endsWith('.d.ts')) decls.set(f, readFileSync(path, 'utf8'));
  }
  return { code, decls };
}

/** The registry with options, defaults and doc lines. */
export function listOptimizers(): OptimizerListing[] {
  const { code, decls } = optimizerSources();
  const methodDoc = new Map<string, { doc: string; file: string }>();
  for (const [file, text] of code) {
    for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[^])*)\*\/\s*export const \w+ = defineOptimizer(?:<[^(]*>)?\(\s*'([^']+)'/g)) {
      methodDoc.set(m[2], { doc: docLine(m[1]), file: file.replace(/\.(ts|js)$/, '') });
    }
  }
  // Option docs from the method's own file only: another file's option of the same name may mean something else.
  const optionDocs = new Map<string, Map<string, string>>();
  for (const [file, text] of decls) {
    const docs = new Map<string, string>();
    for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[^])*)\*\/\s*(?:readonly\s+)?(\w+)\??\s*:/g)) {
      const line = docLine(m[1]);
      if (line && !docs.has(m[2])) docs.set(m[2], line);
    }
    optionDocs.set(file.replace(/\.d\.ts$|\.ts$/, ''), docs);
  }
  const inherited = inheritedOptionDocs(decls);
  return Object.entries(OPTIMIZERS).map(([name, factory]) => {
    const md = methodDoc.get(name);
    const header = md ? (code.get(`${md.file}.ts`) ?? code.get(`${md.file}.js`) ?? '') : '';
    const arxiv = [...new Set([...(/^\/\*\*((?:(?!\*\/)[^])*)\*\//.exec(header)?.[1] ?? '').matchAll(/arXiv (\d{4}\.\d{4,5})/g)].map((m) => m[1]))];
    const doc = `${md?.doc ?? ''}${arxiv.length ? ` (arXiv ${arxiv.join(', ')})` : ''}`.trim();
    const own = md ? optionDocs.get(md.file) : undefined;
    const fromParents = md ? inherited.get(md.file) : undefined;
    const options = Object.entries(factory.defaults as Record<string, unknown>).map(([k, v]) => ({ name: k, default: v, doc: own?.get(k) ?? fromParents?.get(k) ?? '' }));
    return { name, doc, options };
  });
}

/**
 * Per method file, the option docs of the interfaces its own interfaces extend, wherever those are
 * declared (NorMuonOptions extends AuxAdamWOptions of adamw.ts: adamLr, adamBeta1, ...), followed
 * transitively. Only inherited members count, so a same-named option of an unrelated interface is never
 * borrowed.
 */
function inheritedOptionDocs(decls: ReadonlyMap<string, string>): Map<string, Map<string, string>> {
  const interfaces = new Map<string, { parents: string[]; docs: Map<string, string> }>();
  const ownInterfaces = new Map<string, string[]>();
  for (const [file, text] of decls) {
    const names: string[] = [];
    for (const m of text.matchAll(/interface (\w+)(?:<[^>{]*>)?(?:\s+extends\s+([^{]+?))?\s*\{/g)) {
      // The body: up to the brace that closes this one.
      let depth = 1;
      let k = m.index + m[0].length;
      for (; k < text.length && depth > 0; k++) depth += text[k] === '{' ? 1 : text[k] === '}' ? -1 : 0;
      const body = text.slice(m.index + m[0].length, k - 1);
      const docs = new Map<string, string>();
      for (const d of body.matchAll(/\/\*\*((?:(?!\*\/)[^])*)\*\/\s*(?:readonly\s+)?(\w+)\??\s*:/g)) {
        const line = docLine(d[1]);
        if (line && !docs.has(d[2])) docs.set(d[2], line);
      }
      const parents = (m[2] ?? '').split(',').map((x) => x.replace(/<.*$/, '').trim()).filter((x) => /^\w+$/.test(x));
      interfaces.set(m[1], { parents, docs });
      names.push(m[1]);
    }
    ownInterfaces.set(file.replace(/\.d\.ts$|\.ts$/, ''), names);
  }
  const out = new Map<string, Map<string, string>>();
  for (const [file, names] of ownInterfaces) {
    const docs = new Map<string, string>();
    const seen = new Set<string>(names);
    const queue = names.flatMap((n) => interfaces.get(n)?.parents ?? []);
    while (queue.length) {
      const n = queue.shift()!;
      if (seen.has(n)) continue;
      seen.add(n);
      const i = interfaces.get(n);
      if (!i) continue;
      for (const [k, v] of i.docs) if (!docs.has(k)) docs.set(k, v);
      queue.push(...i.parents);
    }
    out.set(file, docs);
  }
  return out;
}

/** The listing as text: a header line per optimizer, then `  option = default  doc` lines. */
export function formatListing(list: readonly OptimizerListing[], only?: readonly string[]): string {
  const shown = only?.length ? list.filter((o) => only.includes(o.name)) : list;
  return shown
    .map((o) => {
      const width = Math.max(...o.options.map((p) => `${p.name} = ${JSON.stringify(p.default)}`.length));
      const lines = o.options.map((p) => `  ${`${p.name} = ${JSON.stringify(p.default)}`.padEnd(width)}  ${p.doc}`.trimEnd());
      return [`${o.name}: ${o.doc}`, ...lines].join('\n');
    })
    .join('\n\n');
}

/** `optlab list [names..] [--json]` */
export const listCommand: CommandModule<object, { names?: string[]; json?: boolean }> = {
  command: 'list [names..]',
  describe: 'List the optimizers with their options, defaults and a line of doc each',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, describe: 'only these optimizers' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as never,
  handler: (args) => {
    const list = listOptimizers();
    const unknown = (args.names ?? []).filter((n) => !OPTIMIZERS[n]);
    if (unknown.length) {
      console.error(`error: unknown optimizer ${unknown.map((n) => `'${n}'`).join(', ')}; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
      process.exitCode = 2;
      return;
    }
    console.log(args.json ? JSON.stringify(list.filter((o) => !args.names?.length || args.names.includes(o.name)), null, 1) : formatListing(list, args.names));
  },
};
