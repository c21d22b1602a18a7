/**
 * Plain-text tables and paragraphs for the terminal, fitted to a width (default 120 columns): a
 * header longer than its column wraps first, then the cells of the columns marked wrappable wrap at
 * spaces and after hyphens (a word longer than its column is cut). Columns that must not wrap (numbers) keep their
 * width; a table that still does not fit is printed as it is.
 */

/** The width terminal output is fitted to, in characters. */
export const TERMINAL_WIDTH = 120;

/** Splits `text` into lines of at most `width` characters at spaces (continuation lines start with `indent`); a longer word is cut. */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    const lines: string[] = [];
    let cur = '';
    const cap = () => Math.max(1, width - (lines.length ? indent.length : 0));
    const flush = () => {
      lines.push((lines.length ? indent : '') + cur);
      cur = '';
    };
    for (let word of para.split(' ').filter((x) => x !== '')) {
      if (cur && cur.length + 1 + word.length > cap()) flush();
      while (word.length > cap()) {
        if (cur) flush();
        // Break after a hyphen when one is in reach ('muon-keller-' / 'scaled'), else cut.
        const dash = word.lastIndexOf('-', cap() - 1);
        cur = word.slice(0, dash > 0 ? dash + 1 : cap());
        word = word.slice(cur.length);
        flush();
      }
      if (word) cur = cur ? `${cur} ${word}` : word;
    }
    if (cur || lines.length === 0) flush();
    out.push(...lines);
  }
  return out.map((l) => l.trimEnd());
}

/** A paragraph wrapped to `width`, continuation lines indented by two spaces. */
export function wrapParagraph(text: string, width = TERMINAL_WIDTH): string {
  return wrapText(text, width, '  ').join('\n');
}

/** Options of `textTable`. */
export interface TextTableOptions {
  /** @default TERMINAL_WIDTH */
  width?: number;
  /** Columns whose cells may wrap at spaces (labels, settings); by default those not right-aligned. */
  wrap?: boolean[];
}

const longestWord = (s: string) => Math.max(0, ...s.split(' ').map((w) => w.length));
/** The longest piece of a cell that cannot break: words, and labels broken after their hyphens. */
const longestPiece = (s: string) => Math.max(0, ...s.split(/ |(?<=-)/).map((w) => w.length));

/**
 * A table with a header, a dashed rule and one block of lines per row, columns two spaces apart,
 * fitted to `opts.width` as described at the top of this file.
 */
export function textTable(header: string[], rows: string[][], right: boolean[], opts: TextTableOptions = {}): string {
  const width = opts.width ?? TERMINAL_WIDTH;
  const wrap = opts.wrap ?? right.map((r) => !r);
  const n = header.length;
  const cellMax = header.map((_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
  const w = header.map((h, i) => Math.max(cellMax[i], h.length));
  const minW = header.map((h, i) => Math.max(1, wrap[i] ? Math.max(0, ...rows.map((r) => longestPiece(r[i] ?? ''))) : cellMax[i], longestWord(h)));
  const total = () => w.reduce((a, b) => a + b, 0) + 2 * (n - 1);
  // First the headers wider than their cells, then the wrappable cells: always the widest that can give.
  for (const pass of [0, 1]) {
    while (total() > width) {
      let k = -1;
      for (let i = 0; i < n; i++) {
        const floor = pass === 0 ? Math.max(minW[i], cellMax[i]) : minW[i];
        if (w[i] > floor && (k < 0 || w[i] > w[k])) k = i;
      }
      if (k < 0) break;
      w[k]--;
    }
  }
  const block = (cells: string[]) => {
    const lines = cells.map((c, i) => wrapText(c ?? '', w[i]));
    const h = Math.max(1, ...lines.map((l) => l.length));
    return Array.from({ length: h }, (_, j) =>
      lines
        .map((l, i) => {
          const c = l[j] ?? '';
          return right[i] ? c.padStart(w[i]) : c.padEnd(w[i]);
        })
        .join('  ')
        .trimEnd(),
    );
  };
  return [...block(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.flatMap(block)].join('\n');
}

/** Numbers in a label rounded to 3 significant digits for the terminal ('lr=1.77828e-3' -> 'lr=1.78e-3'). */
export function shortNumbers(label: string): string {
  return label.replace(/(=)(-?\d+(?:\.\d+)?(?:e-?\d+)?)(?=$|[\s,\]])/g, (_m, eq: string, v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x === 0) return eq + v;
    const r = Number(x.toPrecision(3));
    const s = Math.abs(r) < 1e-2 || Math.abs(r) >= 1e4 ? r.toExponential().replace(/\.?0+e/, 'e').replace('e+', 'e') : String(r);
    return eq + (s.length < v.length ? s : v);
  });
}
