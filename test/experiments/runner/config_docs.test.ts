/**
 * docs/config.md and `optlab schema` come from the schema the loader validates with: the committed
 * reference equals what experiments/runner/config_docs.ts renders now (a key added, removed or changed
 * in config.ts without `npm run generate` fails here), every key has a line of meaning, the JSON Schema
 * accepts the shipped experiment files' keys and refuses an unknown one as the loader does, and
 * `run --help` points at both.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { CONFIG_DOC_PATH, configRows, experimentJsonSchema, renderConfigDoc } from '../../../experiments/runner/config_docs.js';
import { ExperimentSchema } from '../../../experiments/runner/config.js';
import { ROOT } from './plugin_files.js';

const CLI = join(ROOT, 'cli', 'cli.ts');

/** Top-level and nested keys of a JSON Schema object node, as dot paths (list items as `key[]`). */
function schemaKeys(n: Record<string, any>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, p] of Object.entries<Record<string, any>>(n.properties ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    out.push(key);
    if (p.properties) out.push(...schemaKeys(p, key));
    if (p.items?.properties) out.push(...schemaKeys(p.items, `${key}[]`));
  }
  return out;
}

describe('experiment file reference (docs/config.md, optlab schema)', function () {
  this.timeout(120_000);

  it('docs/config.md is what the schema renders now (npm run generate rewrites it)', () => {
    expect(readFileSync(CONFIG_DOC_PATH, 'utf8') === renderConfigDoc(), 'docs/config.md is stale: run npm run generate').to.equal(true);
  });

  it('every key of the schema has a description, and every top-level key of the zod schema a row', () => {
    const { rows, missing } = configRows();
    expect(missing, 'keys without .describe() in experiments/runner/config.ts').to.deep.equal([]);
    const keys = new Set(rows.map((r) => r.key));
    for (const k of Object.keys(ExperimentSchema.shape)) expect(keys.has(k), k).to.equal(true);
    for (const k of schemaKeys(experimentJsonSchema())) expect(keys.has(k), k).to.equal(true);
  });

  it("the JSON Schema knows every key the shipped experiment files use, and forbids others as the loader does", () => {
    const schema = experimentJsonSchema() as Record<string, any>;
    expect(schema.additionalProperties).to.equal(false);
    expect(schema.properties.training.additionalProperties).to.equal(false);
    const dirs = ['experiments/configs', 'experiments/claims/configs'];
    let seen = 0;
    for (const d of dirs) {
      for (const f of readdirSync(join(ROOT, d)).filter((n) => n.endsWith('.yaml'))) {
        const doc = YAML.parse(readFileSync(join(ROOT, d, f), 'utf8')) as Record<string, any>;
        for (const k of Object.keys(doc)) expect(schema.properties, `${d}/${f}: ${k}`).to.have.property(k);
        for (const k of Object.keys(doc.training ?? {})) expect(schema.properties.training.properties, `${d}/${f}: training.${k}`).to.have.property(k);
        for (const r of schema.required) expect(doc, `${d}/${f} lacks ${r}`).to.have.property(r);
        seen++;
      }
    }
    expect(seen).to.be.greaterThan(3);
  });

  it('optlab schema prints the JSON Schema; run --help names docs/config.md and optlab schema', () => {
    const printed = execFileSync(process.execPath, ['--import', 'tsx', CLI, 'schema'], { cwd: ROOT, encoding: 'utf8' });
    expect(JSON.parse(printed)).to.deep.equal(experimentJsonSchema());
    expect(JSON.parse(printed).$schema).to.match(/json-schema\.org\/draft\/2020-12/);
    const help = execFileSync(process.execPath, ['--import', 'tsx', CLI, 'run', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help).to.include('docs/config.md').and.include('optlab schema');
  });
});
