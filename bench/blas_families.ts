/**
 * OpenBLAS's kernel sets on this CPU, side by side in one process: for every set of
 * kernels/blas_family.ts BLAS_FAMILIES this CPU's flags allow, the product check (worst error over
 * the float32 rounding bound) and the single-thread speed on the check's products (the GPT's shapes,
 * BLAS_CHECK_SHAPES), `--reps` timed repetitions (default 50) after one checked run. Prints a Markdown
 * table and the load average. `npx tsx bench/blas_families.ts` (benchmark as a user runs:
 * `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` before it).
 */
import { loadavg } from 'node:os';
import { cpuFlags, loadAddon, state } from '../kernels/addon.js';
import { BLAS_CHECK_SHAPES, BLAS_FAMILIES } from '../kernels/blas_family.js';

const i = process.argv.indexOf('--reps');
const reps = i > 0 ? Number(process.argv[i + 1]) : 50;
const addon = loadAddon();
if (!addon) throw new Error(`native addon not loaded: ${state.loadError}`);
const flags = cpuFlags();
const families = BLAS_FAMILIES.filter((f) => f.flags.every((x) => flags.has(x)));
const flops = BLAS_CHECK_SHAPES.reduce((s, [m, n, k]) => s + 2 * m * n * k, 0) * reps;
const l0 = loadavg()[0];
const rows = addon.blasVerify(BLAS_CHECK_SHAPES.flat(), families.map((f) => f.name), reps);
console.log(`OpenBLAS kernel sets on ${families.length} candidates, ${reps} timed runs of the check's ${BLAS_CHECK_SHAPES.length} products each, one thread; running set: ${state.blas?.family ?? addon.blasCore()}`);
console.log('| asked | ran | width | error / bound | GFLOP/s |');
console.log('|---|---|---|---|---|');
rows.forEach(([ran, err, s], k) => console.log(`| ${families[k].name} | ${ran} | ${families[k].width} | ${err.toFixed(3)} | ${(flops / s / 1e9).toFixed(1)} |`));
console.log(`load average ${l0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`);
