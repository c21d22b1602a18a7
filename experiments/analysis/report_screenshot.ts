#!/usr/bin/env node
/**
 * Checks a report.html in a real browser (headless Chromium) and takes a screenshot of it:
 *
 *   npm run report:screenshot -- results/quick [--out report.png] [--width 1400] [--height 2600]
 *
 * The layout check loads a copy of the page with a small script that measures the settings block
 * (the labels model, data, training, ... and their values): every label must start at the same x,
 * every value must sit on its label's line and to its right; and every plot: at least 600 px wide,
 * inside the window, its legend inside the plot and uncut, no colliding tick labels. It prints the
 * measurements and exits 1 on a problem (a label drifting right, a value under another label, a
 * thumbnail plot, a cut legend), 2 when no Chromium is found (apt-get install chromium, or set
 * $CHROMIUM to its path).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The Chromium executable: $CHROMIUM, else the first of chromium, chromium-browser, google-chrome on PATH; null when none. */
export function findChromium(): string | null {
  const names = [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'].filter((x): x is string => !!x);
  for (const n of names) {
    const r = spawnSync(n, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0) return n;
  }
  return null;
}

/** One label/value pair of the settings block, as the browser laid it out (CSS pixels). */
export interface SettingBox {
  label: string;
  labelLeft: number;
  labelRight: number;
  labelTop: number;
  valueLeft: number;
  valueTop: number;
}

/** What the layout check found. */
export interface LayoutCheck {
  boxes: SettingBox[];
  /** Empty when the block is laid out as label | value rows. */
  problems: string[];
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--disable-dev-shm-usage', '--no-first-run', '--mute-audio'];

// Measures label/value pairs of the settings block: <table class="settings"> rows, or the <dl> of earlier reports.
const MEASURE = `<script>
(() => {
  const pairs = [];
  for (const tr of document.querySelectorAll('table.settings tr')) pairs.push([tr.querySelector('th'), tr.querySelector('td')]);
  if (pairs.length === 0) for (const dt of document.querySelectorAll('dl > dt')) pairs.push([dt, dt.nextElementSibling]);
  const boxes = pairs.filter(([l, v]) => l && v).map(([l, v]) => {
    const a = l.getBoundingClientRect(), b = v.getBoundingClientRect();
    const r = (x) => Math.round(x * 10) / 10;
    return { label: l.textContent.trim(), labelLeft: r(a.left), labelRight: r(a.right), labelTop: r(a.top), valueLeft: r(b.left), valueTop: r(b.top) };
  });
  const out = document.createElement('pre');
  out.id = 'optlab-layout';
  out.textContent = JSON.stringify(boxes);
  document.body.appendChild(out);
})();
</script>`;

/** Judges the measured boxes: labels in one column, each value on its label's line, right of it. */
export function judgeLayout(boxes: SettingBox[]): string[] {
  const problems: string[] = [];
  if (boxes.length === 0) return ['no settings block found'];
  const left = boxes[0].labelLeft;
  for (const b of boxes) {
    if (Math.abs(b.labelLeft - left) > 2) problems.push(`label '${b.label}' starts at x=${b.labelLeft}, the first at x=${left}`);
    if (Math.abs(b.valueTop - b.labelTop) > 4) problems.push(`value of '${b.label}' is at y=${b.valueTop}, its label at y=${b.labelTop}`);
    if (b.valueLeft < b.labelRight - 1) problems.push(`value of '${b.label}' starts at x=${b.valueLeft}, left of its label's end x=${b.labelRight}`);
  }
  for (let i = 1; i < boxes.length; i++) if (boxes[i].labelTop <= boxes[i - 1].labelTop) problems.push(`label '${boxes[i].label}' is not below '${boxes[i - 1].label}'`);
  return problems;
}

/** Loads `html` in headless Chromium and measures its settings block. */
export function browserLayout(html: string, chromium: string, width = 1280): LayoutCheck {
  const tmp = mkdtempSync(join(os.tmpdir(), 'optlab-layout-'));
  try {
    const page = join(tmp, 'report.html');
    const text = readFileSync(html, 'utf8');
    writeFileSync(page, text.includes('</body>') ? text.replace('</body>', `${MEASURE}</body>`) : text + MEASURE);
    const r = spawnSync(chromium, [...FLAGS, `--user-data-dir=${join(tmp, 'profile')}`, `--window-size=${width},2000`, '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(page).href], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 2 ** 20 });
    const m = /<pre id="optlab-layout">([^<]*)<\/pre>/.exec(r.stdout ?? '');
    if (!m) throw new Error(`chromium gave no layout (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    const boxes = JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')) as SettingBox[];
    return { boxes, problems: judgeLayout(boxes) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One plot of a report as the browser laid it out (CSS pixels). */
export interface PlotBox {
  /** The figure's caption (the SVG's file name). */
  file: string;
  left: number;
  right: number;
  width: number;
  height: number;
  /** Right edge of the rightmost legend, or null without a legend. */
  legendRight: number | null;
  /** Legend labels vega cut with an ellipsis. */
  truncated: string[];
  /** Pairs of tick labels of one axis whose boxes overlap, as 'a/b'. */
  overlaps: string[];
}

// Measures every <figure> of the page: the SVG's box, its legends' right edge, cut legend labels, colliding tick labels.
const PLOT_MEASURE = `<script>
(() => {
  const r = (x) => Math.round(x * 10) / 10;
  const plots = [...document.querySelectorAll('figure')].map((f) => {
    const svg = f.querySelector('svg');
    if (!svg) return null;
    const b = svg.getBoundingClientRect();
    const legends = [...svg.querySelectorAll('g.role-legend')].map((g) => g.getBoundingClientRect().right);
    const truncated = [...svg.querySelectorAll('g.role-legend-label text')].map((t) => t.textContent).filter((t) => t.endsWith('\u2026'));
    const overlaps = [];
    for (const axis of svg.querySelectorAll('g.role-axis-label')) {
      const boxes = [...axis.querySelectorAll('text')].filter((t) => t.getAttribute('opacity') !== '0' && t.textContent).map((t) => [t.textContent, t.getBoundingClientRect()]);
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const [p, a] = boxes[i], [q, c] = boxes[j];
        if (a.left < c.right - 0.5 && c.left < a.right - 0.5 && a.top < c.bottom - 0.5 && c.top < a.bottom - 0.5) overlaps.push(p + '/' + q);
      }
    }
    const cap = f.querySelector('figcaption');
    return { file: cap ? cap.textContent.trim() : '', left: r(b.left), right: r(b.right), width: r(b.width), height: r(b.height), legendRight: legends.length ? r(Math.max(...legends)) : null, truncated, overlaps };
  }).filter(Boolean);
  const out = document.createElement('pre');
  out.id = 'optlab-plots';
  out.textContent = JSON.stringify({ viewport: window.innerWidth, plots });
  document.body.appendChild(out);
})();
</script>`;

/**
 * Judges the measured plots: each at least `minWidth` pixels wide (the diagnostics, whose file names
 * start with 'diag-', too), inside the window, its legend inside its SVG, no legend label cut, no two
 * tick labels of an axis overlapping.
 */
export function judgePlots(plots: PlotBox[], viewport: number, minWidth = 600): string[] {
  const problems: string[] = [];
  if (plots.length === 0) return ['no plots found'];
  for (const p of plots) {
    if (p.width < minWidth) problems.push(`${p.file}: ${p.width} px wide, under ${minWidth}`);
    if (p.right > viewport + 1) problems.push(`${p.file}: ends at x=${p.right}, past the window (${viewport})`);
    if (p.legendRight !== null && p.legendRight > p.right + 1) problems.push(`${p.file}: legend ends at x=${p.legendRight}, past the plot's edge ${p.right}`);
    if (p.truncated.length) problems.push(`${p.file}: legend labels cut: ${p.truncated.join(', ')}`);
    if (p.overlaps.length) problems.push(`${p.file}: tick labels overlap: ${p.overlaps.slice(0, 4).join(', ')}`);
  }
  return problems;
}

/** Loads `html` in headless Chromium at `width` and measures its plots (see `judgePlots`). */
export function browserPlots(html: string, chromium: string, width = 1400, minWidth = 600): { viewport: number; plots: PlotBox[]; problems: string[] } {
  const tmp = mkdtempSync(join(os.tmpdir(), 'optlab-plots-'));
  try {
    const page = join(tmp, 'report.html');
    const text = readFileSync(html, 'utf8');
    writeFileSync(page, text.includes('</body>') ? text.replace('</body>', `${PLOT_MEASURE}</body>`) : text + PLOT_MEASURE);
    const r = spawnSync(chromium, [...FLAGS, `--user-data-dir=${join(tmp, 'profile')}`, `--window-size=${width},2000`, '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(page).href], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 2 ** 20 });
    const m = /<pre id="optlab-plots">([^<]*)<\/pre>/.exec(r.stdout ?? '');
    if (!m) throw new Error(`chromium gave no plot layout (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    const got = JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')) as { viewport: number; plots: PlotBox[] };
    return { ...got, problems: judgePlots(got.plots, got.viewport, minWidth) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes a PNG of `html` as headless Chromium renders it. */
export function screenshot(html: string, png: string, chromium: string, size: { width?: number; height?: number } = {}): void {
  const tmp = mkdtempSync(join(os.tmpdir(), 'optlab-shot-'));
  try {
    const r = spawnSync(chromium, [...FLAGS, `--user-data-dir=${join(tmp, 'profile')}`, `--window-size=${size.width ?? 1280},${size.height ?? 2600}`, `--screenshot=${resolve(png)}`, pathToFileURL(resolve(html)).href], { encoding: 'utf8', timeout: 120_000 });
    if (!existsSync(png) || statSync(png).size === 0) throw new Error(`chromium wrote no screenshot (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const opt = (flag: string) => (argv.indexOf(flag) >= 0 ? argv[argv.indexOf(flag) + 1] : undefined);
  const target = argv.find((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--')));
  if (!target) {
    console.error('usage: npm run report:screenshot -- <results folder or report.html> [--out report.png] [--width 1400] [--height 2600]');
    return 2;
  }
  const html = target.endsWith('.html') ? target : join(target, 'report.html');
  if (!existsSync(html)) {
    console.error(`error: ${html} not found (optlab report <folder> writes it)`);
    return 2;
  }
  const chromium = findChromium();
  if (!chromium) {
    console.error('error: no Chromium found; apt-get install chromium (Debian) or set $CHROMIUM to a Chrome/Chromium executable');
    return 2;
  }
  const width = Number(opt('--width') ?? 1400);
  const layout = browserLayout(html, chromium, width);
  for (const b of layout.boxes) console.log(`${b.label.padEnd(12)} label x=${b.labelLeft} y=${b.labelTop}  value x=${b.valueLeft} y=${b.valueTop}`);
  const png = opt('--out') ?? join(dirname(html), 'report.png');
  screenshot(html, png, chromium, { width, height: Number(opt('--height') ?? 2600) });
  console.log(`screenshot: ${png}`);
  const plots = browserPlots(html, chromium, width);
  for (const p of plots.plots) console.log(`${p.file.padEnd(34)} ${p.width} x ${p.height} px at x=${p.left}${p.legendRight !== null ? `, legend to x=${p.legendRight}` : ''}`);
  const problems = [...layout.problems, ...plots.problems];
  if (problems.length) {
    console.error(`layout: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    return 1;
  }
  console.log(`layout: settings block aligned (${layout.boxes.length} rows); ${plots.plots.length} plots at least 600 px wide, legends whole, tick labels apart`);
  return 0;
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && (resolve(process.argv[1]) === self || resolve(process.argv[1]) === self.replace(/\.ts$/, '.js'))) {
  process.exitCode = await main(process.argv.slice(2));
}
