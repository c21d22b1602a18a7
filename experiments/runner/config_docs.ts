/**
 * The experiment file's reference, generated from the schema the loader validates with
 * (`ExperimentSchema` in experiments/runner/config.ts, whose keys carry `.describe()` lines): the JSON
 * Schema `optlab schema` prints (editors complete and check YAML with it: a `# yaml-language-server:
 * $schema=...` line, or the YAML extension's `yaml.schemas` setting), and docs/config.md, one table
 * row per key with its type, default, allowed values and meaning, plus the built-in model and data
 * kinds with their options. test/experiments/runner/config_docs.test.ts fails when docs/config.md is
 * stale or a key has no description. Run `npm run generate` (or this file) to rewrite it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ExperimentSchema } from './config.js';
import { BUILTIN_DATA, BUILTIN_MODELS } from './tasks.js';

/** Where the generated reference lives. */
export const CONFIG_DOC_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'config.md');

/** A JSON Schema node, as zod writes them. */
type Node = Record<string, unknown> & { properties?: Record<string, Node>; required?: string[]; items?: Node; anyOf?: Node[]; oneOf?: Node[] };

/** zod's bound for integers; dropped from the output, it says nothing a reader needs. */
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function strip(n: unknown): unknown {
  if (Array.isArray(n)) return n.map(strip);
  if (!n || typeof n !== 'object') return n;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n)) if (!(k === 'maximum' && v === MAX_SAFE)) out[k] = strip(v);
  return out;
}

/**
 * The JSON Schema (draft 2020-12) of an experiment file as written (defaults are optional keys), with
 * the built-in model and data kinds as examples of `kind` (a plugin's kinds are valid too).
 */
export function experimentJsonSchema(): Node {
  const schema = strip(z.toJSONSchema(ExperimentSchema, { io: 'input', unrepresentable: 'any' })) as Node;
  const props = schema.properties!;
  props.model.properties!.kind.examples = Object.keys(BUILTIN_MODELS);
  props.data.properties!.kind.examples = Object.keys(BUILTIN_DATA);
  return { ...schema, title: 'optlab experiment file', description: 'An optlab experiment (optlab run <file>); reference: docs/config.md' };
}

/** One table row. */
interface Row {
  key: string;
  type: string;
  default: string;
  allowed: string;
  meaning: string;
}

const code = (v: unknown) => `\`${typeof v === 'string' && v !== '' ? v : JSON.stringify(v)}\``;

/** A node's type in words: 'integer', 'list of integer', 'integer or list of integer', 'mapping'. */
function typeOf(n: Node): string {
  if (n.anyOf) return [...new Set(n.anyOf.map(typeOf))].join(' or ');
  if (n.oneOf) return 'mapping';
  if (n.const !== undefined) return typeof n.const === 'string' ? 'string' : String(n.type ?? typeof n.const);
  if (n.type === 'array') return `list of ${n.items ? typeOf(n.items) : 'any'}`;
  if (n.type === 'object') return 'mapping';
  return String(n.type ?? 'any');
}

/** A node's constraints in words: enum values, bounds, pattern, lengths. */
function allowedOf(n: Node): string {
  const parts: string[] = [];
  if (n.anyOf) return n.anyOf.map(allowedOf).filter(Boolean).join('; ');
  if (Array.isArray(n.enum)) parts.push(n.enum.map(code).join(', '));
  if (n.const !== undefined) parts.push(code(n.const));
  if (n.exclusiveMinimum !== undefined) parts.push(`> ${n.exclusiveMinimum}`);
  if (n.minimum !== undefined) parts.push(`>= ${n.minimum}`);
  if (n.maximum !== undefined) parts.push(`<= ${n.maximum}`);
  if (typeof n.pattern === 'string') parts.push(`matches ${code(n.pattern)}`);
  if (n.minLength !== undefined) parts.push(`non-empty`);
  if (n.minItems !== undefined) parts.push(`at least ${n.minItems} item${n.minItems === 1 ? '' : 's'}`);
  if (n.type === 'array' && n.items) {
    const inner = allowedOf(n.items);
    if (inner) parts.push(`items ${inner}`);
  }
  if (Array.isArray(n.examples)) parts.push(`built in: ${n.examples.map(code).join(', ')}`);
  return parts.join(', ');
}

/** Rows of an object node's properties under `prefix`, nested mappings first-level expanded after their own row. */
function rows(n: Node, prefix: string, out: Row[], missing: string[]): Row[] {
  const required = new Set(n.required ?? []);
  for (const [k, p] of Object.entries(n.properties ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    const meaning = typeof p.description === 'string' ? p.description : '';
    if (!meaning) missing.push(key);
    const def = p.default !== undefined ? code(p.default) : required.has(k) ? '(required)' : '(optional)';
    out.push({ key, type: typeOf(p), default: def, allowed: allowedOf(p), meaning });
    if (p.type === 'object' && p.properties) rows(p, key, out, missing);
    if (p.type === 'array' && p.items?.type === 'object') rows(p.items, `${key}[]`, out, missing);
    if (p.oneOf) for (const v of p.oneOf) variantRows(v, key, out, missing);
    if (p.anyOf) for (const v of p.anyOf) if (v.type === 'object') variantRows(v, key, out, missing);
  }
  return out;
}

/** Rows of one variant of a union (a schedule kind, an init form), keyed by its discriminating key. */
function variantRows(v: Node, key: string, out: Row[], missing: string[]): void {
  const kind = v.properties?.kind?.const;
  rows(v, kind !== undefined ? `${key} (kind ${kind})` : `${key} (${Object.keys(v.properties ?? {})[0]} form)`, out, missing);
}

/** Every key of the schema as table rows, and the keys without a description. */
export function configRows(): { rows: Row[]; missing: string[] } {
  const missing: string[] = [];
  return { rows: rows(experimentJsonSchema(), '', [], missing), missing };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(r: readonly Row[]): string {
  return ['| key | type | default | allowed | meaning |', '|---|---|---|---|---|', ...r.map((x) => `| \`${x.key}\` | ${cell(x.type)} | ${cell(x.default)} | ${cell(x.allowed)} | ${cell(x.meaning)} |`)].join('\n');
}

/** Option tables of the built-in model or data kinds: option, default. */
function kindTable(kinds: Readonly<Record<string, { defaults: object; doc?: string }>>, extra: (name: string) => string): string {
  const out: string[] = [];
  for (const [name, def] of Object.entries(kinds)) {
    const opts = Object.entries(def.defaults as Record<string, unknown>);
    out.push(`### \`${name}\`\n\n${def.doc ? `${def.doc}.` : ''}${extra(name)}\n`);
    out.push(opts.length ? ['| option | default |', '|---|---|', ...opts.map(([k, v]) => `| \`${k}\` | ${code(v)} |`)].join('\n') : 'No options.');
    out.push('');
  }
  return out.join('\n');
}

/** The text of docs/config.md. */
export function renderConfigDoc(): string {
  const { rows: all } = configRows();
  return `<!-- Generated from ExperimentSchema (experiments/runner/config.ts) by experiments/runner/config_docs.ts: npm run generate. Do not edit; test/experiments/runner/config_docs.test.ts fails when it is stale. -->
# The experiment file

An experiment is a YAML file that \`optlab run <file>\` runs: optimizers x hyperparameters x seeds on one
model and data set. It is checked against one schema before any run starts; a mistake fails with the key
path (\`training.stpes: unknown key (did you mean 'steps'?)\`). \`--set key=value\` overrides a key with the
same checks (\`--set training.steps=100\`, \`--set optimizers.adamw.lr=[1e-3,3e-3]\`).

For completion and checking in an editor, write the JSON Schema once and point the YAML language
server at it:

\`\`\`sh
npx optlab schema > experiment.schema.json
\`\`\`

and put \`# yaml-language-server: $schema=./experiment.schema.json\` at the top of the experiment file.
Examples: \`experiments/configs/\`.

## Keys

${table(all)}

Besides the keys above:

- \`model\` and \`data\` take the options of their kind (below, or a plugin's \`defaults\`); values must have
  the default's type.
- An optimizer entry takes the options of its method as further keys (\`optlab list\` prints every method's
  options with defaults and a line of doc; \`optlab list --plugin ./my_methods.ts\` a plugin's too). A list
  of values makes a grid (each value a run), unless the option's default is itself a list.
- \`optimizers[].search\` (with a \`tuning\` block): a mapping from option to a list of values or a range
  \`{ low, high, scale?: log | linear, integer? }\` (log scale by default for keys ending in \`lr\` or \`Lr\`).

## Plugins

\`plugins: [./my_methods.ts, ...]\` names modules (paths relative to the experiment file; .ts, .mts, .mjs
or .js) exporting any of \`optimizers\`, \`models\`, \`data\` and \`metrics\`: records from name to a
definition, made with optlab's own API (\`defineOptimizer\` and the transforms; the \`ModelDefinition\`,
\`DataDefinition\` and \`MetricDefinition\` interfaces of models/model.ts, which the built-in GPT, ViT and
data sets implement; \`fromLayersModel\` for a tfjs LayersModel). They load in every process of the sweep;
a name that collides with a built-in or another plugin's, a module that does not load, or an export of the
wrong shape fails before any run starts, naming the file and the export. A metric is evaluated with
\`val_loss\` on the evaluation batches and written as the curve column \`metric/<name>\`.

## Model kinds

${kindTable(BUILTIN_MODELS, (n) => ` Takes \`${BUILTIN_MODELS[n].data}\` data; \`vocabSize\` and \`numClasses\` come from the data.`)}
## Data kinds

${kindTable(BUILTIN_DATA, (n) => ` Provides \`${BUILTIN_DATA[n].input}\` data.`)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderConfigDoc();
  let old = '';
  try {
    old = readFileSync(CONFIG_DOC_PATH, 'utf8');
  } catch {
    // first run: no file yet
  }
  if (old !== text) writeFileSync(CONFIG_DOC_PATH, text);
  console.log(`${old === text ? 'unchanged' : 'wrote'} ${CONFIG_DOC_PATH}`);
}
