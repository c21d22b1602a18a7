/**
 * Baseline fidelity (bench/results/baseline_fidelity.md): optlab's nanoGPT recipe against nanoGPT's in
 * PyTorch, both evaluated on the whole validation split, compared by an equivalence test.
 *
 *   npx tsx bench/baseline_fidelity.ts --margin 0.01 --a optlab s0.json s1.json ... --b pytorch t0.json t1.json ...
 *   npx tsx bench/baseline_fidelity.ts --export-weights FILE [--seed 0]
 *
 * Each file is the JSON one run printed: bench/nanogpt_recipe.ts --json (`wholeValLoss`),
 * bench/peer_torch.py --eval-whole or bench/eval_nanogpt_checkpoint.py (`whole_val_loss`; the last
 * line of the file that holds JSON is read). The runs of the two groups are independent (different
 * random generators), so the comparison is unpaired: d = mean(a) - mean(b), Welch's standard error
 * and degrees of freedom, and the two one-sided tests (TOST) at level 0.05 against +-margin, which
 * decide "equivalent" exactly when the 90% interval of d lies inside (-margin, +margin). Also printed:
 * the 95% interval, and "different" when the 95% interval excludes 0.
 *
 * `--export-weights FILE` writes the recipe GPT's initial weights for `--seed` (JSON {name: {shape,
 * data}}, optlab's names and layout) and prints optlab's whole-validation loss of them; `python3
 * bench/peer_torch.py --case recipe --weights FILE --eval-only --eval-whole --gelu tanh` evaluates the
 * same weights in PyTorch: the two evaluations (and forward passes) agree when the figures do.
 */
import quantile from '@stdlib/stats-base-dists-t-quantile';
import { readFileSync, writeFileSync } from 'node:fs';
import { selectBackend } from '../kernels/backend.js';
import { disposeBatches, evaluate, loadShakespeare, wholeTextBatches } from '../models/data.js';
import { createGPT } from '../models/gpt.js';
import { RECIPE_GPT } from './recipe.js';

/** The whole-validation loss a run's JSON file reports. */
export function wholeValLoss(path: string): number {
  const lines = readFileSync(path, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  if (!lines.length) throw new Error(`${path}: no JSON line`);
  const j = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  const v = j.wholeValLoss ?? j.whole_val_loss;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${path}: no finite wholeValLoss / whole_val_loss`);
  return v;
}

/** Welch's comparison of two independent samples with the TOST decision against +-margin. */
export function welchTost(a: readonly number[], b: readonly number[], margin: number): { d: number; se: number; df: number; ci90: [number, number]; ci95: [number, number]; equivalent: boolean; different: boolean } {
  if (a.length < 2 || b.length < 2) throw new Error('welchTost: at least two values per group');
  const mean = (x: readonly number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const vari = (x: readonly number[]) => x.reduce((s, v) => s + (v - mean(x)) ** 2, 0) / (x.length - 1);
  const va = vari(a) / a.length;
  const vb = vari(b) / b.length;
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const d = mean(a) - mean(b);
  const h90 = quantile(0.95, df) * se;
  const h95 = quantile(0.975, df) * se;
  const ci90: [number, number] = [d - h90, d + h90];
  const ci95: [number, number] = [d - h95, d + h95];
  return { d, se, df, ci90, ci95, equivalent: ci90[0] > -margin && ci90[1] < margin, different: ci95[0] > 0 || ci95[1] < 0 };
}

function groups(argv: string[]): { margin: number; named: { name: string; files: string[] }[] } {
  let margin = 0.01;
  const named: { name: string; files: string[] }[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--margin') margin = Number(argv[++i]);
    else if (argv[i] === '--a' || argv[i] === '--b') named.push({ name: argv[++i], files: [] });
    else if (named.length) named[named.length - 1].files.push(argv[i]);
    else throw new Error(`unexpected argument '${argv[i]}' (usage: --margin M --a NAME files... --b NAME files...)`);
  }
  if (named.length !== 2) throw new Error('expected two groups: --a NAME files... --b NAME files...');
  if (!(margin > 0)) throw new Error(`--margin must be positive, got ${margin}`);
  return { margin, named };
}

/** Writes the recipe GPT's initial weights for `seed` and returns optlab's whole-validation loss of them. */
async function exportWeights(path: string, seed: number): Promise<number> {
  await selectBackend('auto');
  const corpus = loadShakespeare();
  const model = createGPT({ ...RECIPE_GPT, vocabSize: corpus.tokenizer.vocabSize }, seed);
  const out: Record<string, { shape: number[]; data: number[] }> = {};
  for (const p of model.params) out[p.name] = { shape: p.variable.shape, data: Array.from(p.variable.dataSync()) };
  writeFileSync(path, JSON.stringify(out));
  const whole = wholeTextBatches(corpus.val, { batchSize: 64, contextLength: RECIPE_GPT.contextLength });
  const loss = evaluate(model, whole).loss;
  disposeBatches(whole);
  model.dispose();
  return loss;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const ex = argv.indexOf('--export-weights');
  if (ex >= 0) {
    const path = argv[ex + 1];
    if (!path) throw new Error('--export-weights needs a file');
    const si = argv.indexOf('--seed');
    const seed = si >= 0 ? Number(argv[si + 1]) : 0;
    const loss = await exportWeights(path, seed);
    console.log(JSON.stringify({ tool: 'optlab', weights: path, seed, whole_val_loss: loss }));
    return;
  }
  const { margin, named } = groups(argv);
  const vals = named.map((g) => g.files.map(wholeValLoss));
  named.forEach((g, i) => {
    const v = vals[i];
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1));
    console.log(`${g.name}: n ${v.length}, whole-validation loss ${v.map((x) => x.toFixed(4)).join(', ')}; mean ${m.toFixed(4)}, sd ${sd.toFixed(4)}`);
  });
  const r = welchTost(vals[0], vals[1], margin);
  console.log(`${named[0].name} - ${named[1].name}: ${r.d.toFixed(4)} (se ${r.se.toFixed(4)}, Welch df ${r.df.toFixed(1)}); 90% [${r.ci90.map((x) => x.toFixed(4)).join(', ')}], 95% [${r.ci95.map((x) => x.toFixed(4)).join(', ')}]`);
  console.log(`TOST at 0.05 against +-${margin}: ${r.equivalent ? 'equivalent' : 'not shown equivalent'}; ${r.different ? 'different at 0.05 (95% interval excludes 0)' : 'no difference shown at 0.05'}`);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
