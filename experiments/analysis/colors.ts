/**
 * The report's series colours and the colour difference they were chosen by.
 *
 * vega's 'tableau10' puts its red and pink 18 CIEDE2000 units apart (category10: red and brown, 16),
 * hard to tell apart as thin lines. SERIES_COLORS were picked by a greedy max-min search over sRGB
 * (lightness 30-72, at least 30 units from the white background), starting from category10's blue
 * and orange, then the magenta toned down by hand: every pair is at least 26.9 units apart
 * (closest: magenta and purple).
 *
 * CIEDE2000 follows Sharma, Wu and Dalal, "The CIEDE2000 color-difference formula: implementation
 * notes" (Color Res. Appl. 30, 2005), with kL = kC = kH = 1 and the D65 white point.
 */

/**
 * Twelve line colours, in the order series take them: the ten above, then two more by the same
 * greedy max-min search over a 17-step sRGB grid (the yellow '#ccaa00' and the lavender '#aa99ff'):
 * every pair of the twelve is at least 24.7 units apart (closest: magenta and lavender). Plots with
 * more series than this fall back to vega's 'category20'.
 */
export const SERIES_COLORS: readonly string[] = ['#1f77b4', '#ff7f0e', '#55aa00', '#ee22cc', '#005544', '#990000', '#662299', '#00bbbb', '#776600', '#997777', '#ccaa00', '#aa99ff'];

/** CIELAB (D65) of an sRGB colour '#rrggbb'. */
export function hexToLab(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) throw new Error(`expected a colour '#rrggbb', got '${hex}'`);
  const lin = [0, 2, 4].map((i) => parseInt(m[1].slice(i, i + 2), 16) / 255).map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const [r, g, b] = lin;
  const x = (r * 0.4124 + g * 0.3576 + b * 0.1805) / 0.95047;
  const y = r * 0.2126 + g * 0.7152 + b * 0.0722;
  const z = (r * 0.0193 + g * 0.1192 + b * 0.9505) / 1.08883;
  const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

/** CIEDE2000 colour difference of two CIELAB colours (about 1: just noticeable side by side). */
export function deltaE2000(lab1: readonly number[], lab2: readonly number[]): number {
  const [L1, a1, b1] = lab1;
  const [L2, a2, b2] = lab2;
  const rad = Math.PI / 180;
  const cBar = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2;
  const g = 0.5 * (1 - Math.sqrt(cBar ** 7 / (cBar ** 7 + 25 ** 7)));
  const a1p = a1 * (1 + g);
  const a2p = a2 * (1 + g);
  const c1 = Math.hypot(a1p, b1);
  const c2 = Math.hypot(a2p, b2);
  const hue = (b: number, a: number) => (b === 0 && a === 0 ? 0 : (Math.atan2(b, a) / rad + 360) % 360);
  const h1 = hue(b1, a1p);
  const h2 = hue(b2, a2p);
  let dh = 0;
  if (c1 * c2 !== 0) {
    dh = h2 - h1;
    if (dh > 180) dh -= 360;
    else if (dh < -180) dh += 360;
  }
  const dL = L2 - L1;
  const dC = c2 - c1;
  const dH = 2 * Math.sqrt(c1 * c2) * Math.sin((dh / 2) * rad);
  const lBar = (L1 + L2) / 2;
  const cBarP = (c1 + c2) / 2;
  let hBar = h1 + h2;
  if (c1 * c2 !== 0) hBar = Math.abs(h1 - h2) > 180 ? (h1 + h2 + (h1 + h2 < 360 ? 360 : -360)) / 2 : (h1 + h2) / 2;
  const t = 1 - 0.17 * Math.cos((hBar - 30) * rad) + 0.24 * Math.cos(2 * hBar * rad) + 0.32 * Math.cos((3 * hBar + 6) * rad) - 0.2 * Math.cos((4 * hBar - 63) * rad);
  const dTheta = 30 * Math.exp(-(((hBar - 275) / 25) ** 2));
  const rc = 2 * Math.sqrt(cBarP ** 7 / (cBarP ** 7 + 25 ** 7));
  const sl = 1 + (0.015 * (lBar - 50) ** 2) / Math.sqrt(20 + (lBar - 50) ** 2);
  const sc = 1 + 0.045 * cBarP;
  const sh = 1 + 0.015 * cBarP * t;
  const rt = -Math.sin(2 * dTheta * rad) * rc;
  return Math.sqrt((dL / sl) ** 2 + (dC / sc) ** 2 + (dH / sh) ** 2 + rt * (dC / sc) * (dH / sh));
}

/** The smallest CIEDE2000 difference between two colours of a palette, and which pair. */
export function closestPair(colors: readonly string[]): { deltaE: number; pair: [string, string] } {
  let best = { deltaE: Infinity, pair: ['', ''] as [string, string] };
  for (let i = 0; i < colors.length; i++) {
    for (let j = i + 1; j < colors.length; j++) {
      const d = deltaE2000(hexToLab(colors[i]), hexToLab(colors[j]));
      if (d < best.deltaE) best = { deltaE: d, pair: [colors[i], colors[j]] };
    }
  }
  return best;
}
