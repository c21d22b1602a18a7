/**
 * The layering of the source tree (docs/README.md "Layout" and the house style's "Layout"): imports
 * point down only, kernels <- optimizers <- models <- bench <- experiments <- cli; parity sits beside
 * models and may import optimizers and kernels; only cli/ imports parity; bench/ imports no experiments/.
 * Inside experiments/ the concerns are floors too: runner <- analysis <- sweep <- claims (runner/ runs
 * one training and owns the experiment file; analysis/ reads results; sweep/ schedules many runs and
 * tunes; claims/ are experiments built on all three). Reads the import statements of every .ts file
 * under those folders, type-only and dynamic imports included.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LAYERS = ['kernels', 'optimizers', 'models', 'parity', 'bench', 'experiments', 'cli'] as const;
type Layer = (typeof LAYERS)[number];

/** Which layers each layer may import (besides itself); the parity and cycle rules are checked apart. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  kernels: [],
  optimizers: ['kernels'],
  models: ['kernels', 'optimizers'],
  parity: ['kernels', 'optimizers'],
  bench: ['kernels', 'optimizers', 'models'],
  experiments: ['kernels', 'optimizers', 'models', 'bench'],
  cli: ['kernels', 'optimizers', 'models', 'parity', 'bench', 'experiments'],
};

/** The floors inside experiments/, lowest first: a file may import its own floor and those below it. */
const EXPERIMENT_FLOORS = ['runner', 'analysis', 'sweep', 'claims'] as const;

/** Packages kernels/ may load: tfjs, node builtins, and the webgpu backend's Dawn bindings (loaded on request). */
const KERNEL_PACKAGES = [/^@tensorflow\//, /^node:/, /^webgpu$/];

/** Module specifiers of a TypeScript source: static, type-only, side-effect, re-export and dynamic imports. */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  return found;
}

/** Every .ts file under a folder, repository-relative with '/' separators. */
function tsFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'));
}

interface Edge {
  from: string;
  to: string;
}

/** Relative imports resolved to repository files ('x.js' -> 'x.ts'), and bare package specifiers. */
function importsOf(file: string): { local: string[]; packages: string[] } {
  const local: string[] = [];
  const packages: string[] = [];
  for (const spec of importSpecifiers(readFileSync(join(ROOT, file), 'utf8'))) {
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const abs = resolve(ROOT, dirname(file), spec).replace(/\.js$/, '.ts');
    local.push(relative(ROOT, abs).split(sep).join('/'));
  }
  return { local, packages };
}

const layerOf = (file: string): Layer | null => (LAYERS as readonly string[]).includes(file.split('/')[0]) ? (file.split('/')[0] as Layer) : null;

const FILES = LAYERS.flatMap((l) => tsFiles(l));
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]));
const EDGES: Edge[] = [...GRAPH].flatMap(([from, { local }]) => local.map((to) => ({ from, to })));
const show = (edges: Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`);

/** Files reachable from `start` through relative imports (start included). */
function closure(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const local = GRAPH.get(f)?.local ?? (existsSync(join(ROOT, f)) ? importsOf(f).local : []);
    stack.push(...local);
  }
  return seen;
}

describe('source layout: imports point down', () => {
  it('reads every kind of import statement', () => {
    const src = [
      "import * as tf from '@tensorflow/tfjs-core';",
      "import type { Parameter } from '../optimizers/core.js';",
      'import {\n  a,\n  b,\n} from "./multi.js";',
      "import './side_effect.js';",
      "export { x } from './reexport.js';",
      "export * as y from './star.js';",
      "const m = await import('../kernels/backend.js');",
      "/* import { no } from './in_comment.js'; */",
      "// import { no } from './line_comment.js';",
      "export function f() { return 'from'; }",
    ].join('\n');
    expect(importSpecifiers(src).sort()).to.deep.equal(['../kernels/backend.js', '../optimizers/core.js', './multi.js', './reexport.js', './side_effect.js', './star.js', '@tensorflow/tfjs-core'].sort());
    // And on the tree: the edges these rules rely on are seen.
    expect(GRAPH.get('optimizers/adamw.ts')?.local).to.include('optimizers/core.ts');
    expect(FILES).to.include('kernels/backend.ts');
  });

  it('every import between layers points down (kernels <- optimizers <- models <- bench <- experiments <- cli; parity beside models)', () => {
    const up = EDGES.filter(({ from, to }) => {
      const a = layerOf(from);
      const b = layerOf(to);
      if (a === null) return false;
      if (b === null) return to === 'index.ts'; // the package root re-exports every layer
      return a !== b && !MAY_IMPORT[a].includes(b);
    });
    expect(show(up)).to.deep.equal([]);
  });

  it('kernels/ loads tfjs and node builtins only', () => {
    const bad = FILES.filter((f) => layerOf(f) === 'kernels').flatMap((f) => GRAPH.get(f)!.packages.filter((p) => !KERNEL_PACKAGES.some((re) => re.test(p))).map((p) => `${f} -> ${p}`));
    expect(bad).to.deep.equal([]);
  });

  it('only cli/ imports parity/', () => {
    const bad = EDGES.filter(({ from, to }) => layerOf(to) === 'parity' && layerOf(from) !== 'parity' && layerOf(from) !== 'cli');
    expect(show(bad)).to.deep.equal([]);
  });

  it('bench/ reaches no experiments/ or cli/ file, directly or through another file (no cycle with experiments/)', () => {
    const bad = FILES.filter((f) => layerOf(f) === 'bench').filter((f) => [...closure(f)].some((g) => layerOf(g) === 'experiments' || layerOf(g) === 'cli'));
    expect(bad).to.deep.equal([]);
  });

  it('experiments/ is grouped by concern: every source file sits in runner/, analysis/, sweep/ or claims/ (index.ts re-exports)', () => {
    const loose = FILES.filter((f) => layerOf(f) === 'experiments' && f !== 'experiments/index.ts' && !(EXPERIMENT_FLOORS as readonly string[]).includes(f.split('/')[1]));
    expect(loose).to.deep.equal([]);
  });

  it('inside experiments/ imports point down: runner <- analysis <- sweep <- claims', () => {
    const floor = (f: string) => (EXPERIMENT_FLOORS as readonly string[]).indexOf(f.split('/')[1]);
    const up = EDGES.filter(({ from, to }) => layerOf(from) === 'experiments' && layerOf(to) === 'experiments' && from !== 'experiments/index.ts' && floor(to) > floor(from));
    expect(show(up)).to.deep.equal([]);
  });

  it('the command line is the top floor: only cli/ files and the package root import cli/', () => {
    const bad = EDGES.filter(({ from, to }) => layerOf(to) === 'cli' && layerOf(from) !== 'cli');
    expect(show(bad)).to.deep.equal([]);
  });

  it('the run path reads as named steps: no function in experiments/runner/ or experiments/sweep/ is longer than 80 lines', () => {
    const MAX = 80;
    const long: string[] = [];
    for (const f of FILES.filter((g) => /^experiments\/(runner|sweep)\//.test(g))) {
      const lines = readFileSync(join(ROOT, f), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const m = /^(?:export )?(?:async )?function (\w+)/.exec(line);
        if (!m) return;
        let depth = 0;
        let opened = false;
        for (let j = i; j < lines.length; j++) {
          depth += (lines[j].match(/{/g) ?? []).length - (lines[j].match(/}/g) ?? []).length;
          opened ||= lines[j].includes('{');
          if (opened && depth <= 0) {
            if (j - i + 1 > MAX) long.push(`${f} ${m[1]}: ${j - i + 1} lines`);
            return;
          }
        }
      });
    }
    expect(long).to.deep.equal([]);
  });
});
