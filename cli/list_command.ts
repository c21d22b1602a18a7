/**
 * `optlab list`: every optimizer of the registry with its options and defaults, one line of doc each.
 *
 * Options and defaults are `OPTIMIZERS[name].defaults`, the object the experiment schema validates
 * against (config.ts), so the list cannot disagree with what a file may set. The doc lines are the
 * JSDoc the optimizer files already carry: the comment above the `defineOptimizer` export, the arXiv
 * ids of the file's header, and the comment above each option in the method file's interfaces (read
 * from the .ts sources, or from the .js and .d.ts files tsc emits into dist/): the method's options
 * interface (`muon-moonlight` -> `MuonMoonlightOptions`) and those it extends, then the method file.
 * An option typed as a union of string literals lists its values when its doc line does not. An
 * option documented only by its `@default` shows no doc line.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { OPTIMIZERS, optimizerSource } from '../optimizers/index.js';
import { loadPlugins, type PluginSummary } from '../experiments/runner/plugins.js';
import { ConfigError } from '../experiments/runner/config.js';
import { DATA_KINDS, METRIC_KINDS, MODEL_KINDS } from '../experiments/runner/tasks.js';

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
  // Option docs from the method's options interface ('muon-moonlight' -> MuonMoonlightOptions) and the
  // interfaces it extends, in any optimizer file; else the first doc of that option in the method's own
  // file (another file's option of the same name may mean something else).
  const interfaces = new Map<string, { fields: Map<string, { doc: string; type: string }>; extends: string[] }>();
  const aliases = new Map<string, string>();
  const optionDocs = new Map<string, Map<string, string>>();
  for (const [file, text] of decls) {
    for (const m of text.matchAll(/export (?:declare )?interface (\w+)(?:\s+extends\s+([\w\s,<>]+?))?\s*\{([^]*?)\n\}/g)) {
      const fields = new Map<string, { doc: string; type: string }>();
      for (const f of m[3].matchAll(/\/\*\*((?:(?!\*\/)[^])*)\*\/\s*(?:readonly\s+)?(\w+)\??\s*:\s*([^;\n]+)/g)) fields.set(f[2], { doc: docLine(f[1]), type: f[3].trim() });
      interfaces.set(m[1], { fields, extends: (m[2] ?? '').split(',').map((x) => x.trim()).filter(Boolean) });
    }
    for (const m of text.matchAll(/export (?:declare )?type (\w+)\s*=\s*([^;]+);/g)) aliases.set(m[1], m[2].trim());
    const docs = new Map<string, string>();
    for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[^])*)\*\/\s*(?:readonly\s+)?(\w+)\??\s*:/g)) {
      const line = docLine(m[1]);
      if (line && !docs.has(m[2])) docs.set(m[2], line);
    }
    optionDocs.set(file.replace(/\.d\.ts$|\.ts$/, ''), docs);
  }
  const field = (iface: string | undefined, key: string, depth = 0): { doc: string; type: string } | undefined => {
    const i = iface === undefined || depth > 5 ? undefined : interfaces.get(iface);
    if (!i) return undefined;
    return i.fields.get(key) ?? i.extends.map((e) => field(e, key, depth + 1)).find((x) => x !== undefined);
  };
  // The allowed values of an option typed as a union of string literals (directly or through a type alias).
  const choices = (type: string): string[] => {
    const t = aliases.get(type) ?? type;
    const parts = t.split('|').map((x) => x.trim());
    return parts.length > 1 && parts.every((x) => /^'[^']*'$/.test(x)) ? parts : [];
  };
  const optionDoc = (method: string, file: string | undefined, key: string): string => {
    const iface = [...interfaces.keys()].find((n) => n.toLowerCase() === `${method.replace(/-/g, '')}options`);
    const f = field(iface, key);
    const doc = f?.doc || (file ? (optionDocs.get(file)?.get(key) ?? '') : '');
    const values = f ? choices(f.type) : [];
    const missing = values.filter((v) => !doc.includes(v));
    return missing.length ? `${doc}${doc ? ' ' : ''}One of ${values.join(', ')}.` : doc;
  };
  return Object.entries(OPTIMIZERS).map(([name, factory]) => {
    const md = methodDoc.get(name);
    const header = md ? (code.get(`${md.file}.ts`) ?? code.get(`${md.file}.js`) ?? '') : '';
    const arxiv = [...new Set([...(/^\/\*\*((?:(?!\*\/)[^])*)\*\//.exec(header)?.[1] ?? '').matchAll(/arXiv (\d{4}\.\d{4,5})/g)].map((m) => m[1]))];
    const source = optimizerSource(name);
    const doc = source ? `${factory.doc ?? ''} (from ${source})`.trim() : `${md?.doc ?? ''}${arxiv.length ? ` (arXiv ${arxiv.join(', ')})` : ''}`.trim();
    const options = Object.entries(factory.defaults as Record<string, unknown>).map(([k, v]) => ({ name: k, default: v, doc: optionDoc(name, md?.file, k) }));
    return { name, doc, options };
  });
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

/** The models, data and metrics plugins registered, one line each with their option defaults. */
export function formatPluginKinds(plugins: readonly PluginSummary[]): string {
  const lines: string[] = [];
  for (const p of plugins) {
    lines.push(`plugin ${p.file}:`);
    for (const m of p.models) lines.push(`  model ${m}: ${MODEL_KINDS[m].doc ?? ''} takes ${MODEL_KINDS[m].data} data; options ${JSON.stringify(MODEL_KINDS[m].defaults)}`);
    for (const d of p.data) lines.push(`  data ${d}: ${DATA_KINDS[d].doc ?? ''} provides ${DATA_KINDS[d].input}; options ${JSON.stringify(DATA_KINDS[d].defaults)}`);
    for (const k of p.metrics) lines.push(`  metric ${k}: ${METRIC_KINDS[k].doc ?? ''} (curve column metric/${k})`);
    if (p.optimizers.length) lines.push(`  optimizers: ${p.optimizers.join(', ')} (listed above)`);
  }
  return lines.join('\n');
}

/** `optlab list [names..] [--json] [--plugin FILE ...]` */
export const listCommand: CommandModule<object, { names?: string[]; json?: boolean; plugin?: string[] }> = {
  command: 'list [names..]',
  describe: 'List the optimizers with their options, defaults and a line of doc each',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, describe: 'only these optimizers' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
      .option('plugin', { type: 'string', array: true, describe: "load a plugin module first (an experiment file's plugins entry), so its methods, models, data and metrics are listed" }) as never,
  handler: async (args) => {
    let plugins: PluginSummary[] = [];
    try {
      plugins = await loadPlugins(args.plugin ?? []);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`error: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    const list = listOptimizers();
    const unknown = (args.names ?? []).filter((n) => !OPTIMIZERS[n]);
    if (unknown.length) {
      console.error(`error: unknown optimizer ${unknown.map((n) => `'${n}'`).join(', ')}; known: ${Object.keys(OPTIMIZERS).join(', ')}`);
      process.exitCode = 2;
      return;
    }
    console.log(args.json ? JSON.stringify(list.filter((o) => !args.names?.length || args.names.includes(o.name)), null, 1) : formatListing(list, args.names));
    if (!args.json && plugins.length && !args.names?.length) console.log(`\n${formatPluginKinds(plugins)}`);
  },
};
