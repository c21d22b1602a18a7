/**
 * The files `optlab bench` writes: a CSV with one row per measurement and a markdown page with the
 * targets of issues 7 and 14 marked met or not met, the step-time table and the model throughput.
 */
import { createObjectCsvStringifier } from 'csv-writer';
import type { Measurement } from './harness.js';
import { scalingMarkdown } from './scaling.js';
import { costMarkdown } from './cost_scaling.js';
import { gptTrainFlops, peakGflops } from './recipe.js';
import { BENCH_GPT, BENCH_GPT_BATCH } from './suites.js';

/** Where and how a bench run happened. */
export interface RunInfo {
  date: string;
  commit: string;
  command: string;
  /** `load`/`loadBefore`: 1-minute load average at the end and at the start (other processes share the cores). */
  machine: { cpu: string; nproc: number; memGiB: number; node: string; tfjs: string; load?: number; loadBefore?: number };
  backends: { label: string; ok: boolean; note: string; wallS: number }[];
  wallS: number;
}

/** GPT forward + backward on wasm in docs/backends.md ("Reference figures") (custom-grad 2-D matmul), ms. */
export const PROBE_GPT_WASM_MS = 203;

const COLUMNS: (keyof Measurement)[] = ['kind', 'name', 'optimizer', 'backend', 'shape', 'median_ms', 'min_ms', 'max_ms', 'mean_ms', 'reps', 'ratio_to_adamw', 'value', 'unit'];

/** One CSV row per measurement, columns as the JSON line's keys. */
export function formatCsv(ms: readonly Measurement[]): string {
  const s = createObjectCsvStringifier({ header: COLUMNS.map((c) => ({ id: c, title: c })) });
  return s.getHeaderString() + s.stringifyRecords(ms.map((m) => Object.fromEntries(COLUMNS.map((c) => [c, m[c] ?? '']))));
}

const fmt = (x: number | null | undefined, d = 1): string => (x === null || x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(d));
const spread = (m: Measurement): string => `${fmt(m.min_ms)}–${fmt(m.max_ms)}`;

function find(ms: readonly Measurement[], q: Partial<Measurement>): Measurement | undefined {
  return ms.find((m) => Object.entries(q).every(([k, v]) => m[k as keyof Measurement] === v));
}

/** One target row: what, on which backend, the figure, and whether it is met. */
export interface TargetRow {
  target: string;
  backend: string;
  measured: string;
  status: 'met' | 'not met' | 'report';
}

/** The targets of issue 7 evaluated per backend on the measurements of one run. */
export function evaluateTargets(ms: readonly Measurement[]): TargetRow[] {
  const rows: TargetRow[] = [];
  const backends = [...new Set(ms.map((m) => m.backend))];
  for (const b of backends) {
    const step = (o: string) => find(ms, { kind: 'optimizer-step', backend: b, shape: 'gpt-params', name: o });
    const fb = find(ms, { kind: 'gpt-fwd-bwd', backend: b });
    const muon = step('muon');
    const auon = step('auon');
    const hybrid = step('hybrid-auon');
    if (muon && fb) {
      const r = muon.median_ms! / fb.median_ms!;
      rows.push({ target: 'Muon step <= 30% of GPT forward+backward', backend: b, measured: `${fmt(muon.median_ms)} ms / ${fmt(fb.median_ms)} ms = ${(100 * r).toFixed(0)}%`, status: r <= 0.3 ? 'met' : 'not met' });
    }
    if (auon && auon.ratio_to_adamw !== null) {
      rows.push({ target: "AuON step <= 1.2x AdamW's (GPT parameters)", backend: b, measured: `${fmt(auon.median_ms)} ms = ${auon.ratio_to_adamw.toFixed(2)}x AdamW`, status: auon.ratio_to_adamw <= 1.2 ? 'met' : 'not met' });
    }
    if (hybrid && muon) {
      const r = hybrid.median_ms! / muon.median_ms!;
      rows.push({ target: 'Hybrid-AuON step <= Muon step (GPT parameters)', backend: b, measured: `${fmt(hybrid.median_ms)} ms vs ${fmt(muon.median_ms)} ms (${r.toFixed(2)}x)`, status: r <= 1 ? 'met' : 'not met' });
    }
    const muonNs = ms.filter((m) => m.kind === 'muon-ns-batching' && m.backend === b);
    const autoPick = find(ms, { kind: 'muon-ns-batching-auto', backend: b });
    const total = ms.filter((m) => m.kind === 'ns-batching-total' && m.backend === b);
    if (muonNs.length === 2 && autoPick) {
      // Muon's batchNewtonSchulz 'auto' meets the target when the mode it picks has the lower median.
      const fastest = [...muonNs].sort((x, y) => x.median_ms! - y.median_ms!)[0];
      rows.push({
        target: 'Batched Newton-Schulz used where it measures faster',
        backend: b,
        measured: `Muon step on GPT parameters: ${muonNs.map((m) => `${m.name} ${fmt(m.median_ms)} ms`).join(', ')} (${(muonNs.find((m) => m.name.endsWith('always'))!.value!).toFixed(2)}x); 'auto' uses ${autoPick.name.replace('muon-batch-ns-', '')}`,
        status: autoPick.name === fastest.name ? 'met' : 'not met',
      });
    } else if (total.length) {
      const best = [...total].sort((x, y) => x.median_ms! - y.median_ms!)[0];
      const per = total.find((m) => m.name === 'ns-per-matrix')!;
      const others = total.filter((m) => m !== per).map((m) => `${m.name} ${fmt(m.median_ms)} ms (${m.value!.toFixed(2)}x)`).join(', ');
      rows.push({
        target: 'Batched Newton-Schulz used where it measures faster',
        backend: b,
        measured: `all GPT matrices: per-matrix ${fmt(per.median_ms)} ms; ${others}`,
        status: best.name === 'ns-per-matrix' ? 'met' : 'not met',
      });
    }
    rows.push(...shampooTargets(ms, b));
    if (fb && (b === 'wasm' || b === 'wasm-native')) {
      rows.push({ target: `GPT forward+backward against the probe (${PROBE_GPT_WASM_MS} ms on wasm, docs/backends.md)`, backend: b, measured: `${fmt(fb.median_ms)} ms = ${(fb.median_ms! / PROBE_GPT_WASM_MS).toFixed(2)}x the probe`, status: 'report' });
    }
  }
  return rows;
}

/** Issue 14's Shampoo cost targets on one backend (suite 'shampoo-cost', bench/shampoo_cost.ts). */
function shampooTargets(ms: readonly Measurement[], b: string): TargetRow[] {
  const rows: TargetRow[] = [];
  const step = (name: string) => find(ms, { kind: 'shampoo-gpt-step', backend: b, name });
  const def = step('shampoo-default');
  const f10 = step('shampoo-f10-per-step');
  const share = find(ms, { kind: 'shampoo-root-share', backend: b });
  const strict = b === 'wasm-native';
  if (def?.ratio_to_adamw != null) {
    rows.push({ target: "Shampoo step, defaults, <= 60x AdamW's (GPT parameters; stated for wasm-native)", backend: b, measured: `${fmt(def.median_ms)} ms = ${def.ratio_to_adamw.toFixed(1)}x AdamW${share ? `; roots ${(100 * share.value!).toFixed(0)}% of the step` : ''}`, status: strict ? (def.ratio_to_adamw <= 60 ? 'met' : 'not met') : 'report' });
  }
  if (f10?.ratio_to_adamw != null) {
    rows.push({ target: "Shampoo step, preconditionFrequency 10, mean of 10 steps, <= 8x AdamW's (stated for wasm-native)", backend: b, measured: `${fmt(f10.median_ms)} ms = ${f10.ratio_to_adamw.toFixed(1)}x AdamW`, status: strict ? (f10.ratio_to_adamw <= 8 ? 'met' : 'not met') : 'report' });
  }
  const fit = find(ms, { kind: 'mlp-fit', backend: b });
  if (fit) {
    rows.push({ target: 'model.fit 16-32-4 MLP, batch 32, 160 steps, shampoo() defaults, < 30 s (stated for cpu)', backend: b, measured: `${fmt(fit.median_ms! / 1000)} s`, status: b === 'cpu' ? (fit.median_ms! < 30000 ? 'met' : 'not met') : 'report' });
  }
  const eigh = ms.filter((m) => m.kind === 'eigh' && m.backend === b);
  if (eigh.length) rows.push({ target: 'eigh of a 1024x1024 PSD matrix (host)', backend: b, measured: eigh.map((m) => `${m.name} ${fmt(m.median_ms)} ms`).join(', '), status: 'report' });
  return rows;
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** The step-time table of one backend: optimizers by shape, "median ms (ratio to AdamW)". */
export function stepTable(ms: readonly Measurement[], backend: string): string {
  const steps = ms.filter((m) => m.kind === 'optimizer-step' && m.backend === backend);
  const shapes = [...new Set(steps.map((m) => m.shape))];
  const names = [...new Set(steps.map((m) => m.name))];
  const bytes = ms.filter((m) => m.kind === 'state-bytes' && m.backend === backend);
  const rows = names.map((n) => [
    n,
    ...shapes.map((s) => {
      const m = find(steps, { name: n, shape: s });
      return m ? `${fmt(m.median_ms, 2)} (${m.ratio_to_adamw?.toFixed(2) ?? '—'}x)` : '—';
    }),
    ...(bytes.length ? [fmt(find(bytes, { name: n })?.value, 1)] : []),
  ]);
  return table(['optimizer', ...shapes.map((s) => `${s} ms`), ...(bytes.length ? ['state bytes/param (GPT)'] : [])], rows);
}

/** Peak float32 GFLOP/s the GFLOP/s columns are compared with (bench/recipe.ts peakGflops). */
const peak = (): number => peakGflops();

/**
 * Targets of issue 19, from one run: the nanoGPT recipe and the GPT train step (AdamW) on wasm-native
 * at most 1.0x the fastest PyTorch set-up's ms per iteration; each optlab row against that set-up.
 */
export function peerTargets(ms: readonly Measurement[]): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const kind of ['nanogpt-recipe', 'gpt-train-step'] as const) {
    const all = ms.filter((m) => m.kind === kind && m.optimizer === 'adamw' && m.median_ms !== null);
    const peers = all.filter((m) => m.backend.startsWith('pytorch'));
    if (peers.length === 0) continue;
    const fastest = [...peers].sort((a, b) => a.median_ms! - b.median_ms!)[0];
    for (const m of all.filter((x) => x.backend.startsWith('wasm-native'))) {
      const r = m.median_ms! / fastest.median_ms!;
      rows.push({
        target: `${kind} <= 1.0x the fastest PyTorch set-up (issue 19)`,
        backend: m.backend,
        measured: `${fmt(m.median_ms)} ms vs ${fmt(fastest.median_ms)} ms (${fastest.backend}) = ${r.toFixed(2)}x`,
        status: r <= 1 ? 'met' : 'not met',
      });
    }
  }
  return rows;
}

/** The GPT rows with their PyTorch peers: ms, phases, GFLOP/s against the peak, ratio to the fastest peer. */
export function peerTable(ms: readonly Measurement[], kind: 'nanogpt-recipe' | 'gpt-train-step'): string | null {
  const rows = ms.filter((m) => m.kind === kind && m.optimizer === 'adamw' && m.median_ms !== null);
  const peers = rows.filter((m) => m.backend.startsWith('pytorch'));
  if (rows.length === 0) return null;
  const fastest = peers.length ? [...peers].sort((a, b) => a.median_ms! - b.median_ms!)[0] : null;
  const phase = (m: Measurement, ph: string) => find(ms, { kind: `${kind}-phase`, backend: m.backend, name: ph })?.median_ms;
  // optlab's gpt-train-step rows carry tokens/s: their GFLOP/s comes from the step's matmul count.
  const tinyFlops = gptTrainFlops({ vocabSize: BENCH_GPT.vocabSize!, contextLength: BENCH_GPT.contextLength!, width: BENCH_GPT.width!, nLayer: BENCH_GPT.nLayer! }, BENCH_GPT_BATCH);
  const gflops = (m: Measurement) => (m.unit === 'GFLOP/s' ? m.value : m.shape === `b${BENCH_GPT_BATCH}xT${BENCH_GPT.contextLength}` ? tinyFlops / 1e6 / m.median_ms! : null);
  return table(
    ['set-up', 'median ms', 'min–max ms', 'samples', 'forward', 'backward', 'optimizer', 'GFLOP/s', '% of peak', 'x fastest PyTorch'],
    rows.map((m) => {
      const gf = gflops(m);
      return [
        m.backend,
        fmt(m.median_ms),
        spread(m),
        String(m.reps),
        fmt(phase(m, 'forward')),
        fmt(phase(m, 'backward')),
        fmt(phase(m, 'optimizer')),
        fmt(gf),
        gf === null ? '—' : `${((100 * gf) / peak()).toFixed(1)}%`,
        fastest ? `${(m.median_ms! / fastest.median_ms!).toFixed(2)}x` : '—',
      ];
    }),
  );
}

/** The markdown page of one bench run. */
export function formatMarkdown(ms: readonly Measurement[], info: RunInfo): string {
  const out: string[] = [];
  const m = info.machine;
  out.push('# optlab benchmarks', '');
  out.push(`Measured ${info.date.slice(0, 16).replace('T', ' ')} UTC at commit ${info.commit} with \`${info.command}\` (${info.wallS.toFixed(0)} s in all).`);
  const load = m.load === undefined ? '' : ` Load average (1 min) ${m.loadBefore?.toFixed(1) ?? '?'} at the start, ${m.load.toFixed(1)} at the end (other processes may share the cores).`;
  out.push(`Machine: ${m.cpu}, ${m.nproc} cores (\`nproc\`), ${m.memGiB} GiB; Node ${m.node}, tfjs ${m.tfjs}.${load}`);
  out.push('Figures are medians of timed repetitions after warm-up; methods compared with each other were timed round-robin in one process, so ratios come from the same run. Times from another run or machine are not comparable, ratios roughly are.', '');
  out.push('Backends:', '');
  for (const b of info.backends) out.push(`- \`${b.label}\`: ${b.ok ? `${b.note} (${b.wallS.toFixed(0)} s)` : `not measured: ${b.note}`}`);
  if (!info.backends.some((b) => b.label === 'webgpu')) out.push('- `webgpu`: not measured (no GPU on this machine; `bash bench/gpu_probe.sh` probes a lent GPU machine).');
  if (!info.backends.some((b) => b.label === 'tensorflow' && b.ok)) out.push('- `tensorflow` (tfjs-node 4.22.0, libtensorflow from the tensorflow-cpu wheel): set up offline by `npm run setup:tensorflow`; not measured in this run.');
  out.push('');
  const targets = [...evaluateTargets(ms), ...peerTargets(ms)];
  if (targets.length) {
    out.push('## Targets (issues 7, 14 and 19)', '');
    out.push(table(['target', 'backend', 'measured', 'status'], targets.map((t) => [t.target, t.backend, t.measured, t.status === 'met' ? '**met**' : t.status === 'not met' ? '**not met**' : 'reported'])), '');
  }
  const backends = [...new Set(ms.map((x) => x.backend))];
  for (const b of backends) {
    if (!ms.some((x) => x.kind === 'optimizer-step' && x.backend === b)) continue;
    out.push(`## Optimizer step on \`${b}\`: median ms (ratio to AdamW)`, '');
    out.push(stepTable(ms, b), '');
  }
  const model = ms.filter((x) => x.kind === 'gpt-fwd-bwd' || x.kind === 'gpt-train-step' || x.kind === 'vit-train-step');
  if (model.length) {
    out.push('## Models', '');
    out.push('GPT of issue 5: vocab 65, context 64, width 128, 4 heads, 2 layers, batch 16. `gpt-train-step` = forward + backward + one step of the optimizer named.', '');
    out.push(table(['measure', 'optimizer', 'backend', 'shape', 'median ms', 'min–max ms', 'reps', 'throughput', 'ratio to AdamW'], model.map((x) => [x.name, x.optimizer ?? '—', x.backend, x.shape, fmt(x.median_ms), spread(x), String(x.reps), `${fmt(x.value, 0)} ${x.unit ?? ''}`, x.ratio_to_adamw?.toFixed(2) ?? '—'])), '');
  }
  const recipe = peerTable(ms, 'nanogpt-recipe');
  const tiny = ms.some((x) => x.kind === 'gpt-train-step' && x.backend.startsWith('pytorch')) ? peerTable(ms, 'gpt-train-step') : null;
  if (recipe || tiny) {
    out.push('## Against PyTorch on the same CPU (issue 19)', '');
    out.push(`\`nanogpt-recipe\`: nanoGPT's CPU recipe (4 layers, width 128, batch 12, context 64, AdamW with clipping; bench/recipe.ts and bench/peer_torch.py), median ms per iteration over iterations 101-300 (plain wasm: 101-130), evaluation excluded, from a fresh model. \`gpt-train-step\`: the GPT above, forward + backward + AdamW. PyTorch rows come from bench/peer_torch.py in the same run (its own model code, the same shapes). Phases are medians of their own. GFLOP/s counts the matmuls of a training step (bench/recipe.ts gptTrainFlops) against the ${peak()} GFLOP/s float32 peak of the 2-core machine (OPTLAB_PEAK_GFLOPS overrides).`, '');
    if (recipe) out.push('### nanogpt-recipe', '', recipe, '');
    if (tiny) out.push('### gpt-train-step (AdamW)', '', tiny, '');
  }
  const linalg = ms.filter((x) => x.kind === 'newton-schulz' || x.kind === 'inverse-root');
  if (linalg.length) {
    out.push('## Matrix functions alone', '');
    out.push('`newton-schulz`: 5 classic quintic iterations (linalg.newtonSchulz). `inverse-root-newton`: A^(-1/4) by the coupled Newton iteration (linalg.inverseRootNewton, default iterations), Shampoo\'s preconditioner root.', '');
    out.push(table(['computation', 'backend', 'shape', 'median ms', 'min–max ms', 'reps'], linalg.map((x) => [x.name, x.backend, x.shape, fmt(x.median_ms, 2), spread(x), String(x.reps)])), '');
  }
  const nsb = ms.filter((x) => x.kind === 'ns-batching' || x.kind === 'ns-batching-total' || x.kind === 'muon-ns-batching');
  if (nsb.length) {
    out.push('## Batching Newton-Schulz over same-shape matrices (GPT shapes)', '');
    out.push("`ns-per-matrix`: one linalg.newtonSchulz per matrix (Muon's batchNewtonSchulz 'never'). `ns-batched-rank3`: stacked [n, r, c], rank-3 matmuls (linalg.newtonSchulzBatched is this form). `ns-block-diagonal`: stacked by rows, Gram masked to its diagonal blocks, 2-D matmuls. Stacking is included. `muon-batch-ns-never` / `-always`: a whole Muon step on the GPT's parameters with batchNewtonSchulz 'never' / 'always' (ratio: x never).", '');
    out.push(table(['variant', 'backend', 'matrices', 'median ms', 'min–max ms', 'x per-matrix'], nsb.map((x) => [x.name, x.backend, x.shape, fmt(x.median_ms, 2), x.kind === 'ns-batching-total' ? '—' : spread(x), x.value?.toFixed(2) ?? '—'])), '');
  }
  const scaling = scalingMarkdown(ms);
  if (scaling) out.push(scaling);
  const cost = costMarkdown(ms);
  if (cost) out.push(cost);
  out.push('All measurements, with min, max and mean, are in the CSV beside this file.', '');
  return out.join('\n');
}
