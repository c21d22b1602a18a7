/**
 * `optlab claims`: runs the claims' commands and writes the claims report, results/claims/report.html
 * and results/claims/claims.md (one table row per claim: statement, setup, measured numbers with
 * intervals, verdict, command), from whatever results are present. A claim without results is
 * listed as not run, with the command that produces them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { environment } from '../runner/runner.js';
import { describeValues, loadExperiment } from '../runner/config.js';
import { readExperimentRecord } from '../analysis/report.js';
import { summarize, type Summary } from '../analysis/report.js';
import { edgeText, tuningInfo } from '../analysis/comparison.js';
import { Blocked, MissingResults, type Claim, type Evaluation, type Figure } from './claim.js';
import { estimateText } from './cost.js';

/** `<dir>/run.json`: how the claim's commands ran. */
export interface ClaimRun {
  commands: string[][];
  exitCodes: number[];
  wallS: number;
  /** 1-minute load average before and after (other processes share the cores). */
  loadBefore: number;
  loadAfter: number;
  /** When the commands finished (ISO). */
  date: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
  cpu: string;
  cores: number;
}

/** What the report knows about one claim. */
export interface ClaimEntry {
  claim: Claim;
  dir: string;
  state: 'evaluated' | 'not run' | 'blocked' | 'error';
  evaluation?: Evaluation;
  run?: ClaimRun;
  note?: string;
  /** The tuned selections behind the claim (results folders with a tuning block), each with its edge flag (docs/protocol.md). */
  selections?: TunedSelection[];
}

/** One tuned selection in a claim's results. */
export interface TunedSelection {
  folder: string;
  label: string;
  setting: string;
  /** 'edge: lr at the high end (0.04) of the values tried', or '' when interior on every range. */
  edge: string;
  selectedAt: number;
  steps: number;
  tuningSeeds: number;
}

/** The tuned selections of the results folders under `dir` (it and its subfolders, two levels down). */
export function tunedSelections(dir: string): TunedSelection[] {
  const folders: string[] = [];
  const walk = (d: string, depth: number) => {
    if (!existsSync(d)) return;
    if (existsSync(join(d, 'experiment.json'))) folders.push(d);
    if (depth === 0) return;
    for (const f of readdirSync(d, { withFileTypes: true })) if (f.isDirectory() && f.name !== 'plots' && f.name !== 'logs') walk(join(d, f.name), depth - 1);
  };
  walk(dir, 2);
  const out: TunedSelection[] = [];
  for (const f of folders) {
    let s: Summary;
    try {
      s = summarize(f);
    } catch {
      continue;
    }
    if (!s.exp.experiment.tuning) continue;
    for (const o of s.exp.experiment.optimizers) {
      if (o.settingsFrom !== undefined) continue;
      const t = tuningInfo(s, o.label ?? o.name);
      if (!t?.selected) continue;
      out.push({ folder: relative(dir, f) || '.', label: o.label ?? o.name, setting: describeValues(t.selected), edge: edgeText(t), selectedAt: t.selectedAt, steps: s.exp.experiment.training.steps, tuningSeeds: t.seeds.length });
    }
  }
  return out;
}

/** The tuned selections in one line: 'muon lr=0.04 (edge: ...; chosen at 250 of 2000 steps, 1 tuning seed)'. */
export function selectionsText(sel: readonly TunedSelection[]): string {
  return sel
    .map((x) => {
      const notes = [...(x.edge ? [x.edge] : []), ...(x.selectedAt < x.steps ? [`chosen at ${x.selectedAt} of ${x.steps} steps`] : []), ...(x.tuningSeeds < 2 ? [`${x.tuningSeeds} tuning seed`] : [])];
      return `${x.label} ${x.setting}${notes.length ? ` (${notes.join('; ')})` : ' (interior)'}`;
    })
    .join(', ');
}

/** The shell line of an optlab argument list. */
export function commandLine(args: readonly string[]): string {
  return `npx optlab ${args.map((a) => (/^[\w./,=:-]+$/.test(a) ? a : `'${a}'`)).join(' ')}`;
}

/**
 * Runs a claim's commands as child processes of this CLI (same node, same loader), in order, and
 * writes `<dir>/run.json`. `runArgs` (e.g. --jobs 16 --resume) are appended to its `optlab run`
 * commands. Stops at the first failing command.
 */
export function runClaim(claim: Claim, dir: string, log: (line: string) => void = console.error, runArgs: readonly string[] = []): ClaimRun {
  mkdirSync(dir, { recursive: true });
  const commands = claim.commands(dir).map((a) => (a[0] === 'run' ? [...a, ...runArgs] : a));
  const env = environment();
  const loadBefore = loadavg()[0];
  const t0 = performance.now();
  const exitCodes: number[] = [];
  for (const args of commands) {
    log(`[claims] ${claim.name}: ${commandLine(args)}`);
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], ...args], { stdio: 'inherit' });
    exitCodes.push(r.status ?? 1);
    if (r.status !== 0) {
      log(`[claims] ${claim.name}: command exited with ${r.status ?? r.signal}`);
      break;
    }
  }
  const run: ClaimRun = { commands, exitCodes, wallS: (performance.now() - t0) / 1000, loadBefore, loadAfter: loadavg()[0], date: new Date().toISOString(), gitCommit: env.gitCommit, gitDirty: env.gitDirty, cpu: env.cpu, cores: env.cores };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run, null, 1) + '\n');
  return run;
}

/** The parts of an experiment that define a claim's design: what runs, how it is tuned, on which seeds. */
const DESIGN_KEYS = ['optimizers', 'tuning', 'seeds', 'training', 'schedule', 'model', 'data', 'metric', 'baseline'] as const;

/**
 * Why the results of a claim's `optlab run` commands no longer answer its current design, or null:
 * a results folder whose experiment.json differs from what the claim's experiment file (with the
 * command's --set overrides) gives today in a design key (the arms, the tuning protocol and its
 * defaults, the seeds, training, schedule, model, data, metric). Such results came from an earlier
 * design (issue 24: redesigned claims are rerun from step 0, never mixed with earlier runs), so the
 * claim reads "not run yet" with this note instead of a verdict under a design it did not run.
 */
export function staleDesign(claim: Claim, dir: string): string | null {
  for (const args of claim.commands(dir)) {
    if (args[0] !== 'run') continue;
    const file = args[1];
    const out = args[args.indexOf('--out') + 1];
    if (!out || !existsSync(join(out, 'experiment.json'))) continue;
    const sets = args.flatMap((a, i) => (a === '--set' ? [args[i + 1]] : [])).filter((x) => !x.startsWith('init.from='));
    const now = loadExperiment(file, sets) as unknown as Record<string, unknown>;
    const then = readExperimentRecord(out).experiment as unknown as Record<string, unknown>;
    const differ = DESIGN_KEYS.filter((k) => JSON.stringify(now[k] ?? null) !== JSON.stringify(then[k] ?? null));
    if (differ.length) return `the results in ${relative(process.cwd(), out) || out} come from an earlier design of this claim (${file} now differs in ${differ.join(', ')}); rerun from step 0 with the command below`;
  }
  return null;
}

/** Applies each claim's rule to the results under `root` (results/claims). */
export function evaluateClaims(claims: readonly Claim[], root: string): ClaimEntry[] {
  return claims.map((claim) => {
    const dir = join(root, claim.name);
    const runPath = join(dir, 'run.json');
    const run = existsSync(runPath) ? (JSON.parse(readFileSync(runPath, 'utf8')) as ClaimRun) : undefined;
    const selections = claim.needsTuning ? tunedSelections(dir) : [];
    try {
      const stale = staleDesign(claim, dir);
      if (stale) return { claim, dir, state: 'not run', note: stale, run, ...(selections.length ? { selections } : {}) };
      return { claim, dir, state: 'evaluated', evaluation: claim.evaluate(dir), run, ...(selections.length ? { selections } : {}) };
    } catch (e) {
      if (e instanceof MissingResults) return { claim, dir, state: 'not run', note: e.message, run };
      if (e instanceof Blocked) return { claim, dir, state: 'blocked', note: e.message, run };
      return { claim, dir, state: 'error', note: (e as Error).message, run };
    }
  });
}

/** 'reproduced', 'not reproduced at this scale', or 'undecided with n seeds'. */
export function verdictText(e: ClaimEntry): string {
  if (e.state === 'not run') return 'not run yet';
  if (e.state === 'blocked') return 'blocked';
  if (e.state === 'error') return 'error';
  const ev = e.evaluation!;
  return ev.verdict === 'undecided' ? `undecided with ${ev.seeds} ${e.claim.name === 'auon-cost' ? 'timed rounds' : 'seeds'}` : ev.verdict;
}

const num = (x: number) => (!Number.isFinite(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));

/** "value [lo, hi] unit (n)". */
export function figureText(f: Figure): string {
  const ci = f.lo !== undefined && f.hi !== undefined && !Number.isNaN(f.lo) ? ` [${num(f.lo)}, ${num(f.hi)}]` : '';
  return `${num(f.value)}${ci}${f.unit ? ` ${f.unit}` : ''}${f.n !== undefined ? ` (n=${f.n})` : ''}`;
}

/** Where and when a claim's results came from. */
function provenance(e: ClaimEntry): string {
  const parts: string[] = [];
  const env = e.evaluation?.env;
  const commit = e.run?.gitCommit ?? env?.gitCommit;
  if (env?.commits) parts.push(`runs by the commit they started at: ${env.commits}`);
  else if (commit) parts.push(`commit ${commit.slice(0, 10)}${e.run?.gitDirty || env?.gitDirty ? ' (dirty)' : ''}`);
  const cpu = e.run?.cpu ?? env?.cpu;
  if (env?.machines) parts.push(`runs by the machine they started on: ${env.machines}${env.resumed ? ` (${env.resumed})` : ''}${e.run ? `; last command on ${e.run.cpu} x${e.run.cores}` : ''}`);
  else if (cpu) parts.push(`${cpu}${e.run?.cores ? ` x${e.run.cores}` : env?.cores ? ` x${env.cores}` : ''}`);
  if (env?.backend) parts.push(`backend ${env.backend}`);
  const wall = e.run?.wallS ?? e.evaluation?.wallS;
  if (wall !== undefined) parts.push(`${e.run ? 'wall time' : 'summed run time'} ${wall.toFixed(0)} s`);
  if (e.run) parts.push(`load average ${e.run.loadBefore.toFixed(1)} before, ${e.run.loadAfter.toFixed(1)} after`);
  else if (env?.load) parts.push(`load average ${env.load}`);
  if (e.run?.date) parts.push(`finished ${e.run.date.slice(0, 16).replace('T', ' ')} UTC`);
  // A claim folder's NOTE.md says, in words, what the files cannot (how runs were split, what was lost).
  const note = join(e.dir, 'NOTE.md');
  const text = existsSync(note) ? readFileSync(note, 'utf8').trim().replace(/\s+/g, ' ') : '';
  return parts.join(', ') + (text ? `. ${text}` : '');
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown table (README and results/claims/claims.md). */
export function claimsMarkdown(entries: readonly ClaimEntry[]): string {
  const rows = entries.map((e) => {
    const ev = e.evaluation;
    const figs = ev ? ev.figures.slice(0, ev.headline ?? ev.figures.length).map((f) => `${f.label}: ${figureText(f)}`).join('; ') : e.note ?? '';
    return `| ${e.claim.number} | ${cell(`${e.claim.name} (arXiv ${e.claim.arxiv})`)} | ${cell(e.claim.statement)} | ${cell(e.claim.setup)} | ${cell(figs)} | **${verdictText(e)}** | ${cell(e.claim.commands(e.dir).map((c) => `\`${commandLine(c)}\``).join('<br>'))} |`;
  });
  const prov = entries.filter((e) => e.state === 'evaluated').map((e) => `- ${e.claim.name}: ${provenance(e)}. ${e.evaluation!.reason}${e.selections?.length ? `${/[.)]$/.test(e.evaluation!.reason) ? '' : '.'} Tuned selections: ${selectionsText(e.selections)}.` : ''}`);
  // Results kept from an earlier design give no verdict, but their tuned selections are still listed with their edge flags.
  const kept = entries.filter((e) => e.state !== 'evaluated' && e.selections?.length).map((e) => `- ${e.claim.name}: ${selectionsText(e.selections!)}.`);
  return [
    '| # | claim | statement (our words) | setup | measured (95% interval) | verdict | command |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(prov.length ? ['Where the numbers come from:', '', ...prov, ''] : []),
    ...(kept.length ? ["Tuned selections of results kept from an earlier design (no verdict; 'edge': the optimum was not bracketed):", '', ...kept, ''] : []),
  ].join('\n');
}

const esc = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** SVG plots in a claim's results folder (one level deep), file -> text. */
function plotsOf(dir: string): [string, string][] {
  if (!existsSync(dir)) return [];
  const out: [string, string][] = [];
  for (const sub of ['', ...readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)]) {
    const d = join(dir, sub);
    for (const f of readdirSync(d)) if (f.endsWith('.svg')) out.push([join(sub, f), readFileSync(join(d, f), 'utf8')]);
  }
  return out;
}

/** The self-contained HTML report. */
export function claimsHtml(entries: readonly ClaimEntry[], root: string): string {
  const summary = entries.map((e) => `<tr><td>${e.claim.number}</td><td><a href="#${esc(e.claim.name)}">${esc(e.claim.name)}</a></td><td>${esc(e.claim.statement)}</td><td class="v ${esc(e.state === 'evaluated' ? e.evaluation!.verdict.split(' ')[0] : e.state.replace(' ', '-'))}">${esc(verdictText(e))}</td></tr>`).join('\n');
  const sections = entries.map((e) => {
    const ev = e.evaluation;
    const figs = ev ? `<table><thead><tr><th>figure</th><th class="r">value [95% interval]</th></tr></thead><tbody>${ev.figures.map((f) => `<tr><td>${esc(f.label)}</td><td class="r">${esc(figureText(f))}</td></tr>`).join('')}</tbody></table>` : '';
    const plots = plotsOf(e.dir).map(([f, svg]) => `<figure>${svg}<figcaption>${esc(join(relative(root, e.dir), f))}</figcaption></figure>`).join('\n');
    return `<section id="${esc(e.claim.name)}"><h2>${e.claim.number}. ${esc(e.claim.name)}: ${esc(verdictText(e))}</h2>
<p><b>Paper:</b> ${esc(e.claim.paper)}, arXiv ${esc(e.claim.arxiv)}.</p>
<p><b>Statement (our words):</b> ${esc(e.claim.statement)}</p>
<p><b>Setup:</b> ${esc(e.claim.setup)}</p>
<p><b>Differences from the paper:</b> ${esc(e.claim.differences)}</p>
<p><b>Rule:</b> ${esc(e.claim.rule)}</p>
${ev ? `<p><b>Verdict:</b> ${esc(verdictText(e))}. ${esc(ev.reason)}</p>${figs}${e.selections?.length ? `<p><b>Tuned selections:</b> ${esc(selectionsText(e.selections))}.</p>` : ''}<p class="p">${esc(provenance(e))}</p>` : `<p><b>Not evaluated:</b> ${esc(e.note ?? '')}</p>${e.selections?.length ? `<p><b>Tuned selections of the results kept (no verdict):</b> ${esc(selectionsText(e.selections))}.</p>` : ''}<p>Estimated cost: ${esc(estimateText(e.claim, e.dir))}.</p>`}
<p><b>Command${e.claim.commands(e.dir).length > 1 ? 's' : ''}:</b></p><pre>${esc(e.claim.commands(e.dir).map(commandLine).join('\n'))}</pre>
${plots}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>optlab: the seed papers' claims at CPU scale</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f4f4}.r{text-align:right;font-variant-numeric:tabular-nums}.v{font-weight:bold}.reproduced{color:#080}.not{color:#a00}.undecided{color:#a60}
pre{background:#f4f4f4;padding:6px;white-space:pre-wrap}.p{font-size:12px;color:#666}figure{display:inline-block;margin:0.5em}figcaption{font-size:12px;color:#666}
</style></head><body>
<h1>The seed papers' claims at CPU scale</h1>
<p>Each claim: the paper's statement in our words, what runs here, a decision rule fixed before measuring, and the verdict it gives on the committed results ("reproduced", "not reproduced at this scale", or "undecided with n seeds"). Rerun a claim with <code>npx optlab claims &lt;name&gt;</code>; <code>--report-only</code> recomputes this page from the results.</p>
<table><thead><tr><th>#</th><th>claim</th><th>statement</th><th>verdict</th></tr></thead><tbody>
${summary}
</tbody></table>
${sections.join('\n')}
</body></html>
`;
}

/** Writes report.html and claims.md into `root`; returns the markdown. */
export function writeClaimsReport(entries: readonly ClaimEntry[], root: string): string {
  mkdirSync(root, { recursive: true });
  const md = claimsMarkdown(entries);
  writeFileSync(join(root, 'claims.md'), `# The seed papers' claims at CPU scale\n\nWritten by \`npx optlab claims\` (experiments/claims/); details, rules and plots in report.html.\n\n${md}`);
  writeFileSync(join(root, 'report.html'), claimsHtml(entries, root));
  return md;
}
