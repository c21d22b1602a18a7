/**
 * Plugins: a user's own optimizers, models, data and metrics, from their own folder, without forking
 * optlab. An experiment file's `plugins: [./my_methods.ts, ...]` names modules (.ts, .mts, .mjs or .js;
 * paths relative to the experiment file) that export any of
 *
 *   optimizers   name -> a factory made with `defineOptimizer` (optimizers/core.ts) and the transforms
 *   models       name -> a ModelDefinition (models/model.ts; a tfjs LayersModel through `fromLayersModel`)
 *   data         name -> a DataDefinition (models/model.ts)
 *   metrics      name -> a MetricDefinition (models/model.ts)
 *
 * Each entry goes into the one registry its built-ins are in (`registerOptimizer`, `registerModel`,
 * `registerData`, `registerMetric`), so it works wherever a built-in does. The sweep loads the plugins
 * before it checks the file, and every run's process loads them again (its record lists them) before
 * it builds the run, as pytest loads plugins by module path. A module that does not load, an export
 * of the wrong shape, or a name that collides with a built-in or another plugin's is a ConfigError on
 * key `plugins` naming the file and the export, before any run starts.
 *
 * Warnings:
 * - A TypeScript plugin needs a TypeScript loader: under tsx (the tests, `npx tsx`) it imports as is;
 *   under plain node, optlab registers tsx's loader when the package `tsx` is installed, and
 *   otherwise says to install it or to compile the plugin to .mjs.
 * - A plugin module is evaluated once per process; the definitions it exports must not depend on
 *   being the same JavaScript objects as optlab's own (a plugin importing `optlab` may get another
 *   copy of it): only their shape is read.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { OPTIMIZERS, optimizerSource, registerOptimizer, type OptimizerFactory } from '../../optimizers/index.js';
import type { DataDefinition, MetricDefinition, ModelDefinition } from '../../models/model.js';
import { ConfigError, LOADED_PLUGINS, loadExperiment, type Experiment } from './config.js';
import { BUILTIN_DATA, BUILTIN_MODELS, DATA_KINDS, METRIC_KINDS, MODEL_KINDS, registerData, registerMetric, registerModel } from './tasks.js';

/** The exports a plugin may have, in the order they are registered. */
export const PLUGIN_EXPORTS = ['optimizers', 'models', 'data', 'metrics'] as const;
/** One of PLUGIN_EXPORTS. */
export type PluginExport = (typeof PLUGIN_EXPORTS)[number];

/** File name endings a plugin may have. */
export const PLUGIN_EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'] as const;

/** What one plugin file registered, by export (names in the order the file lists them). */
export interface PluginSummary {
  /** Absolute path of the module. */
  file: string;
  optimizers: string[];
  models: string[];
  data: string[];
  metrics: string[];
}

/** Plugins loaded in this process, by absolute path. */
const LOADED = new Map<string, PluginSummary>();

/** Registers one entry of an export into its registry (each register function checks the shape). */
const REGISTER: Record<PluginExport, (name: string, def: unknown, source: string) => void> = {
  optimizers: (n, d, source) => void registerOptimizer(n, d as OptimizerFactory<any>, { source }),
  models: (n, d, source) => void registerModel(n, d as ModelDefinition, { source }),
  data: (n, d, source) => void registerData(n, d as DataDefinition, { source }),
  metrics: (n, d, source) => void registerMetric(n, d as MetricDefinition, { source }),
};

/** Whether `name` is already registered in the registry of `what` (for a collision checked before anything registers). */
const TAKEN: Record<PluginExport, (name: string) => unknown> = {
  optimizers: (n) => Object.hasOwn(OPTIMIZERS, n) && OPTIMIZERS[n],
  models: (n) => Object.hasOwn(MODEL_KINDS, n) && MODEL_KINDS[n],
  data: (n) => Object.hasOwn(DATA_KINDS, n) && DATA_KINDS[n],
  metrics: (n) => Object.hasOwn(METRIC_KINDS, n) && METRIC_KINDS[n],
};

let tsxRegistered = false;

/** Imports a module by path; a .ts file under plain node gets tsx's loader registered first. */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || tsxRegistered || !/\.[mc]?ts$/.test(file)) throw e;
  }
  let api: { register(): unknown };
  try {
    api = (await import('tsx/esm/api')) as { register(): unknown };
  } catch {
    throw new Error(`a TypeScript plugin needs the package 'tsx' to load under node (npm install --save-dev tsx), or compile it to .mjs`);
  }
  api.register();
  tsxRegistered = true;
  // The failed attempt stays cached under the plain URL; a query makes a fresh module job.
  return (await import(`${url}?tsx`)) as Record<string, unknown>;
}

/** The exports of a module that are plugin exports; a CommonJS module's come through `default`. */
function pluginExports(mod: Record<string, unknown>): Record<string, unknown> {
  const named = PLUGIN_EXPORTS.some((k) => k in mod);
  const def = mod.default;
  if (!named && def && typeof def === 'object' && PLUGIN_EXPORTS.some((k) => k in (def as object))) return def as Record<string, unknown>;
  return mod;
}

/**
 * Loads one plugin file (an absolute path, or relative to `base`) and registers what it exports.
 * Loading a file a second time returns what the first load registered. Throws ConfigError on key
 * `plugins` naming the file (and the export) when the file is missing, has another extension, does
 * not load, exports none of PLUGIN_EXPORTS, exports something other than a record of definitions,
 * or names something already registered (a built-in or another plugin's).
 */
export async function loadPlugin(file: string, base = process.cwd()): Promise<PluginSummary> {
  const abs = resolve(base, file);
  const seen = LOADED.get(abs);
  if (seen) return seen;
  const fail = (msg: string) => new ConfigError(`plugins: ${abs}: ${msg}`, 'plugins');
  if (!PLUGIN_EXTENSIONS.includes(extname(abs) as (typeof PLUGIN_EXTENSIONS)[number])) throw fail(`a plugin is a module ending in ${PLUGIN_EXTENSIONS.join(', ')}`);
  if (!existsSync(abs) || !statSync(abs).isFile()) throw fail('no such file');
  let mod: Record<string, unknown>;
  try {
    mod = pluginExports(await importModule(abs));
  } catch (e) {
    throw fail(`does not load: ${((e as Error).message ?? String(e)).split('\n')[0]}`);
  }
  const present = PLUGIN_EXPORTS.filter((k) => mod[k] !== undefined);
  if (present.length === 0) throw fail(`exports none of ${PLUGIN_EXPORTS.join(', ')} (each a record from name to definition)`);
  const summary: PluginSummary = { file: abs, optimizers: [], models: [], data: [], metrics: [] };
  // Every export is checked before any entry registers, so a bad file leaves the registries as they were.
  for (const k of present) {
    const rec = mod[k];
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) throw fail(`export '${k}' must be a record from name to definition, e.g. export const ${k} = { name: definition }; got ${Array.isArray(rec) ? 'a list' : rec === null ? 'null' : typeof rec}`);
    for (const [name, def] of Object.entries(rec)) {
      const other = TAKEN[k](name);
      if (other && other !== def) throw fail(`export '${k}': '${name}' is already registered (${describeOwner(k, name)}); give it another name`);
    }
  }
  for (const k of present) {
    for (const [name, def] of Object.entries(mod[k] as Record<string, unknown>)) {
      try {
        REGISTER[k](name, def, `plugin ${abs}, export '${k}'`);
      } catch (e) {
        throw new ConfigError(`plugins: ${(e as Error).message}`, 'plugins');
      }
      summary[k].push(name);
    }
  }
  LOADED.set(abs, summary);
  LOADED_PLUGINS.add(abs);
  return summary;
}

/** Who holds a registered name, for collision messages. */
function describeOwner(k: PluginExport, name: string): string {
  for (const s of LOADED.values()) if (s[k].includes(name)) return `by plugin ${s.file}`;
  return k === 'metrics' ? 'by registerMetric' : `a built-in ${k === 'optimizers' ? 'method' : k === 'models' ? 'model' : 'data kind'} or one registered from a script`;
}

/** Loads plugin files in order (see `loadPlugin`); returns what each registered. */
export async function loadPlugins(files: readonly string[], base = process.cwd()): Promise<PluginSummary[]> {
  const out: PluginSummary[] = [];
  for (const f of files) out.push(await loadPlugin(f, base));
  return out;
}

/** What a plugin loaded in this process registered; undefined when it was not loaded. */
export function loadedPlugin(file: string): PluginSummary | undefined {
  return LOADED.get(resolve(file));
}

/**
 * Reads an experiment file as `loadExperiment` (experiments/runner/config.ts) does, after loading the
 * plugins it lists (relative to the file), so their names are known when the file is checked.
 * Throws ConfigError naming the file and the key.
 */
export async function loadExperimentFile(file: string, sets: readonly string[] = []): Promise<Experiment> {
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'));
  } catch {
    // loadExperiment reports an unreadable file or bad YAML with its own message.
    return loadExperiment(file, sets);
  }
  const listed = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).plugins : undefined;
  if (listed !== undefined) {
    if (!Array.isArray(listed) || listed.some((p) => typeof p !== 'string' || !p)) throw new ConfigError(`${file}: plugins: expected a list of module paths (relative to the experiment file), e.g. plugins: [./my_methods.ts]`, 'plugins');
    try {
      await loadPlugins(listed as string[], dirname(resolve(file)));
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message}`, e.path);
      throw e;
    }
  }
  return loadExperiment(file, sets);
}

/**
 * Every method, model and data kind an experiment names that is not built in must come from one of
 * its own plugins: one registered in this process by a script (`registerOptimizer`, `registerModel`,
 * ...) or by another file is unknown to the runs' child processes. Throws ConfigError naming the key
 * and saying to list the module in `plugins`; call it before any run starts.
 */
export function checkPluginNames(exp: Experiment): void {
  const mine = (exp.plugins ?? []).map((p) => loadedPlugin(p)).filter((s): s is PluginSummary => s !== undefined);
  const fromPlugins = (k: PluginExport, name: string) => mine.some((s) => s[k].includes(name));
  const fail = (key: string, what: string, name: string) =>
    new ConfigError(`${key}: ${what} '${name}' is registered in this process only (${optimizerSource(name) ?? 'registerModel/registerData'}), and each run is a child process that does not see it; put it in a plugin module and list it in plugins: [./my_module.ts]`, key);
  if (!Object.hasOwn(BUILTIN_MODELS, exp.model.kind) && !fromPlugins('models', exp.model.kind)) throw fail('model.kind', 'model', exp.model.kind);
  if (!Object.hasOwn(BUILTIN_DATA, exp.data.kind) && !fromPlugins('data', exp.data.kind)) throw fail('data.kind', 'data kind', exp.data.kind);
  exp.optimizers.forEach((o, i) => {
    if (optimizerSource(o.name) !== undefined && !fromPlugins('optimizers', o.name)) throw fail(`optimizers[${i}].name`, 'optimizer', o.name);
  });
}
