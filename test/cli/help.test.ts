/**
 * Help text, `optlab list` and the docs checked against each other (issue 28): every `--help` reads
 * without contradictions and lists the backends kernels/backend.ts accepts, the top-level help has
 * examples of commands that exist, every `optlab <command> --flag` written in README.md and docs/ is a
 * flag of that command, every option of `optlab list` has a doc line (with its allowed values when it
 * takes one of several strings) and a row in its method's page whose default agrees with the code.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_CHOICES } from '../../cli/backend_help.js';
import { listOptimizers } from '../../cli/list_command.js';
import { applyOverrides } from '../../experiments/runner/config.js';
import { BACKENDS } from '../../kernels/backend.js';
import { tinyExperiment } from '../experiments/helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const COMMANDS = ['replay', 'bench', 'run', 'report', 'merge', 'kronecker', 'claims', 'list'];
/** The page of docs/optimizers/ that documents each method. */
const PAGES: Record<string, string> = { adamw: 'adamw', sgd: 'sgd', muon: 'muon', 'muon-moonlight': 'muon', 'mars-m': 'mars_m', mars: 'mars', auon: 'auon', 'hybrid-auon': 'auon', reg: 'reg', shampoo: 'shampoo',
  lion: 'lion', normuon: 'normuon', adamuon: 'adamuon', scion: 'scion', soap: 'soap', 'psgd-kron': 'psgd_kron', dion: 'dion' };

function help(...args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/cli.ts'), ...args, '--help'], { encoding: 'utf8', cwd: ROOT, timeout: 120_000, env: { ...process.env, COLUMNS: '120' } });
  expect(r.status, r.stderr).to.equal(0);
  return r.stdout;
}

/** `optlab <command> ... --flag` mentions in README.md and docs/*.md: inline code spans and lines of code blocks. */
function documentedFlags(): { command: string; flag: string; where: string }[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: { command: string; flag: string; where: string }[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const spans = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
    const lines = text.split('\n').map((l) => l.trim());
    for (const s of [...spans, ...lines]) {
      const m = /^(?:npx )?optlab ([a-z]+)\b(.*)$/.exec(s);
      if (!m || !COMMANDS.includes(m[1])) continue;
      const cmd = m[2].split('#')[0];
      for (const f of cmd.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)) out.push({ command: m[1], flag: f[1], where: `${file}: ${s.slice(0, 80)}` });
    }
  }
  return out;
}

describe('help, optlab list and the docs agree', function () {
  this.timeout(300_000);
  const pages = new Map<string, string>();
  before(() => {
    for (const c of COMMANDS) pages.set(c, help(c));
    pages.set('', help());
  });

  it("--backend lists every backend kernels/backend.ts accepts, in every command's help, and the experiment schema takes each", () => {
    expect([...BACKEND_CHOICES]).to.deep.equal([...BACKENDS]);
    for (const c of ['run', 'replay', 'kronecker']) {
      const text = pages.get(c)!.replace(/\s+/g, ' ');
      expect(text, c).to.include(BACKEND_CHOICES.join('|'));
    }
    for (const b of BACKENDS) expect(applyOverrides(tinyExperiment({ backend: b }), []).backend).to.equal(b);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).to.include(`--backend ${BACKENDS.join('|')}`);
  });

  it('no help says [required] and [default: ...] of one argument; list-valued flags say [array]', () => {
    for (const [c, text] of pages) for (const line of text.split('\n')) expect(line, `optlab ${c} --help`).to.not.match(/\[required\].*\[default:/);
    expect(pages.get('kronecker')).to.match(/--seeds\s+a list of seeds[^\n]*\[array\]/);
    expect(pages.get('merge')).to.include('optlab merge <dir> [more..]');
  });

  it('the top-level help has examples, each of a command that exists', () => {
    const top = pages.get('')!;
    const examples = top.slice(top.indexOf('Examples:'));
    expect(top).to.include('Examples:');
    const used = [...examples.matchAll(/^\s+optlab ([a-z]+)/gm)].map((m) => m[1]);
    expect(used.length).to.be.at.least(5);
    for (const u of used) expect(COMMANDS, u).to.include(u);
    expect(examples).to.include('optlab run experiments/configs/quick.yaml');
  });

  it('every `optlab <command> --flag` in README.md and docs/ is a flag of that command', () => {
    const mentions = documentedFlags();
    expect(mentions.length).to.be.at.least(10);
    const unknown = mentions.filter((m) => !new RegExp(`(^|\\s)${m.flag}(\\s|,|$)`, 'm').test(pages.get(m.command)!));
    expect(unknown.map((m) => `${m.flag} (${m.where})`)).to.deep.equal([]);
  });

  it('optlab list: every option has a doc line, one-of-several-strings options list their values, each method page has a row per option with the same default', () => {
    const parse = (v: string): unknown => {
      const t = v.trim().replace(/^`|`$/g, '');
      if (/^'[^']*'$/.test(t)) return t.slice(1, -1);
      if (t === 'true' || t === 'false') return t === 'true';
      if (t === '{}') return {};
      return t !== '' && Number.isFinite(Number(t)) ? Number(t) : undefined;
    };
    const list = listOptimizers();
    const problems: string[] = [];
    for (const o of list) {
      if (!PAGES[o.name]) {
        problems.push(`${o.name}: no docs/optimizers page named in this test's PAGES`);
        continue;
      }
      const page = readFileSync(join(ROOT, 'docs/optimizers', `${PAGES[o.name]}.md`), 'utf8');
      for (const p of o.options) {
        if (!p.doc) problems.push(`${o.name}.${p.name}: no doc line`);
        if (typeof p.default === 'string' && !p.doc.includes(`'${p.default}'`)) problems.push(`${o.name}.${p.name}: doc does not list its values ('${p.default}' missing)`);
        if (!page.includes(`\`${p.name}\``)) problems.push(`${o.name}.${p.name}: not in docs/optimizers/${PAGES[o.name]}.md`);
      }
    }
    for (const page of new Set(Object.values(PAGES))) {
      const methods = list.filter((o) => PAGES[o.name] === page);
      const text = readFileSync(join(ROOT, 'docs/optimizers', `${page}.md`), 'utf8');
      for (const m of text.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)) {
        const v = parse(m[2]);
        const defs = methods.map((o) => o.options.find((p) => p.name === m[1])).filter((d) => d !== undefined);
        if (v === undefined || defs.length === 0) continue;
        if (!defs.some((d) => JSON.stringify(d.default) === JSON.stringify(v))) problems.push(`docs/optimizers/${page}.md: ${m[1]} = ${m[2].trim()}, the code's default is ${defs.map((d) => JSON.stringify(d.default)).join(' / ')}`);
      }
    }
    expect(problems).to.deep.equal([]);
    const moon = list.find((o) => o.name === 'muon-moonlight')!;
    expect(moon.options.find((p) => p.name === 'lr')!.doc).to.not.include('Keller');
    expect(list.find((o) => o.name === 'shampoo')!.options.find((p) => p.name === 'grafting')!.doc).to.include("'adam'");
  });
});
