/**
 * `optlab run --tensorboard`: the events files tfjs-node writes hold the curve CSV's scalars
 * (experiments/runner/tensorboard.ts), and without tfjs-node the sweep stops before any run with what to install.
 *
 * Events files are read here without TensorFlow: TFRecord framing (uint64 length, masked CRC-32C of
 * the length, data, masked CRC-32C of the data: tensorflow/core/lib/io/record_writer.cc) around
 * `Event` protos (tensorflow/core/util/event.proto: wall_time = 1, step = 2, file_version = 3,
 * summary = 5; summary.proto: Summary.value = 1, Value.tag = 1, Value.simple_value = 2).
 */
import { expect } from 'chai';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyOverrides, ConfigError, expandRuns } from '../../../experiments/runner/config.js';
import { probeBackend } from '../../../experiments/runner/preflight.js';
import { initRun, readCurve, runPaths, trainRun } from '../../../experiments/runner/runner.js';
import { runSweep } from '../../../experiments/sweep/sweep.js';
import { rowScalars } from '../../../experiments/runner/tensorboard.js';
import { loadTfjsNode } from '../../../kernels/backend.js';
import { describeBackends } from '../../shared/backends.js';
import { removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

const HOOK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'tfjs_node_hook.cjs');

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function maskedCrc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  c = (c ^ 0xffffffff) >>> 0;
  // tensorflow/core/lib/hash/crc32c.h Mask: rotate right by 15 bits and add a constant.
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** The fields of a protobuf message: field number -> values (varints as numbers, 64-bit as doubles, 32-bit as floats, bytes). */
function protoFields(b: Uint8Array): Map<number, (number | Uint8Array)[]> {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Map<number, (number | Uint8Array)[]>();
  let i = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const x = b[i++];
      v += (x & 0x7f) * mul;
      mul *= 128;
      if (x < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    let value: number | Uint8Array;
    switch (key % 8) {
      case 0:
        value = varint();
        break;
      case 1:
        value = view.getFloat64(i, true);
        i += 8;
        break;
      case 2: {
        const n = varint();
        value = b.subarray(i, i + n);
        i += n;
        break;
      }
      case 5:
        value = view.getFloat32(i, true);
        i += 4;
        break;
      default:
        throw new Error(`wire type ${key % 8} at byte ${i}`);
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

interface Event {
  step: number;
  fileVersion?: string;
  /** tag -> simple_value */
  values: Map<string, number>;
}

/** Reads an events file, checking both CRCs of every record. */
function readEvents(path: string): Event[] {
  const buf = new Uint8Array(readFileSync(path));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const events: Event[] = [];
  let i = 0;
  while (i < buf.length) {
    const len = Number(view.getBigUint64(i, true));
    expect(view.getUint32(i + 8, true), `length CRC of record ${events.length}`).to.equal(maskedCrc32c(buf.subarray(i, i + 8)));
    const data = buf.subarray(i + 12, i + 12 + len);
    expect(view.getUint32(i + 12 + len, true), `data CRC of record ${events.length}`).to.equal(maskedCrc32c(data));
    i += 16 + len;
    const f = protoFields(data);
    const ev: Event = { step: (f.get(2)?.[0] as number | undefined) ?? 0, values: new Map() };
    if (f.has(3)) ev.fileVersion = new TextDecoder().decode(f.get(3)![0] as Uint8Array);
    for (const s of (f.get(5) ?? []) as Uint8Array[]) {
      for (const v of (protoFields(s).get(1) ?? []) as Uint8Array[]) {
        const vf = protoFields(v);
        ev.values.set(new TextDecoder().decode(vf.get(1)![0] as Uint8Array), vf.get(2)![0] as number);
      }
    }
    events.push(ev);
  }
  expect(i, 'the last record ends at the end of the file').to.equal(buf.length);
  return events;
}

/** The events files of a run's folder. */
function eventFiles(logdir: string): string[] {
  return existsSync(logdir) ? readdirSync(logdir).filter((f) => f.startsWith('events.out.tfevents.')).map((f) => join(logdir, f)) : [];
}

function prepare(over: Record<string, unknown> = {}, dir = tempDir()): { dir: string; id: string } {
  const runs = expandRuns(applyOverrides(tinyExperiment(over), []));
  initRun(dir, runs[0], 'tiny');
  return { dir, id: runs[0].id };
}

const TWO_STEPS = { training: { steps: 2, batchSize: 2, logEvery: 1, evalEvery: 2, evalBatches: 1 }, schedule: { kind: 'cosine', warmup: 1 } };

/** Every scalar of the curve CSV is in the events, at its step, as a float32; nothing else is. */
function expectEventsEqualCurve(dir: string, id: string, logdir: string): void {
  const files = eventFiles(logdir);
  expect(files).to.have.length(1);
  const events = readEvents(files[0]);
  expect(events[0].fileVersion).to.equal('brain.Event:2');
  const written = events.slice(1).flatMap((e) => [...e.values].map(([tag, v]) => `${e.step} ${tag} ${v}`));
  const rows = readCurve(runPaths(dir, id).csv);
  expect(rows.map((r) => r.step)).to.deep.equal([0, 1, 2]);
  const expected = rows.flatMap((r) => rowScalars(r).map(([tag, v]) => `${r.step} ${tag} ${Math.fround(v)}`));
  expect(written).to.deep.equal(expected);
  const tags = new Set(events.flatMap((e) => [...e.values.keys()]));
  for (const t of ['train_loss', 'val_loss', 'lr_scale', 'grad_norm', 'update_rms', 'wall_ms', 'all/update_rms', 'model/attn_logit_max']) expect(tags.has(t), t).to.equal(true);
}

describeBackends(
  'TensorBoard scalars',
  () => {
    after(removeTempDirs);

    it('a 2-step run writes one events file holding every CSV scalar at its step', async () => {
      const { dir, id } = prepare(TWO_STEPS);
      const tb = join(dir, 'tensorboard');
      const rec = await trainRun(id, { dir, tensorboard: tb });
      expect(rec.status).to.equal('finished');
      expectEventsEqualCurve(dir, id, join(tb, id));
    });

    it('a run on the cpu backend writes the same through tfjs-node and leaves cpu active, without leaking tensors', async () => {
      await tf.setBackend('cpu');
      const { dir, id } = prepare(TWO_STEPS);
      const tb = join(dir, 'tensorboard');
      // tfjs-node keeps one resource tensor per writer folder for the life of the process.
      const warm = prepare(TWO_STEPS);
      await trainRun(warm.id, { dir: warm.dir, tensorboard: join(warm.dir, 'tensorboard') });
      const before = tf.memory().numTensors;
      await trainRun(id, { dir, tensorboard: tb });
      expect(tf.memory().numTensors).to.equal(before + 1);
      expect(tf.getBackend()).to.equal('cpu');
      await tf.setBackend('tensorflow');
      expectEventsEqualCurve(dir, id, join(tb, id));
    });

    it('a fresh run deletes earlier events files of its folder', async () => {
      const { dir, id } = prepare(TWO_STEPS);
      const logdir = join(dir, 'tensorboard', id);
      mkdirSync(logdir, { recursive: true });
      writeFileSync(join(logdir, 'events.out.tfevents.1.stale.0.v2'), 'left by an earlier run of this id');
      await trainRun(id, { dir, tensorboard: join(dir, 'tensorboard') });
      expectEventsEqualCurve(dir, id, logdir);
    });

    it('histograms (not written by optlab): tfjs-node 4.22 throws for a tensor of equal values, writes others', async () => {
      const node = await loadTfjsNode();
      const w = node.summaryFileWriter(tempDir());
      // buckets(): a constant tensor gives one bucket built by tf.concat of three rank-0 tensors.
      expect(() => w.histogram('bias', tf.zeros([8]), 0)).to.throw(/Can't concatenate scalars/);
      expect(() => w.histogram('scalar', tf.scalar(1), 0)).to.throw(/Can't concatenate scalars/);
      expect(() => w.histogram('weights', tf.tensor([1, 2, 3]), 0)).not.to.throw();
    });
  },
  { only: ['tensorflow'] },
);

describe('TensorBoard without tfjs-node', () => {
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, hide: process.env.OPTLAB_HIDE_TFJS_NODE, log: process.env.OPTLAB_TFJS_NODE_LOG };
  const restore = (k: string, v: string | undefined) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  beforeEach(() => {
    // Child processes (the backend check, the runs) inherit the hook.
    process.env.NODE_OPTIONS = `${saved.NODE_OPTIONS ?? ''} --require ${HOOK}`.trim();
  });
  afterEach(() => {
    restore('NODE_OPTIONS', saved.NODE_OPTIONS);
    restore('OPTLAB_HIDE_TFJS_NODE', saved.hide);
    restore('OPTLAB_TFJS_NODE_LOG', saved.log);
  });
  after(removeTempDirs);

  it('--tensorboard fails before any run starts, saying what to install', async () => {
    process.env.OPTLAB_HIDE_TFJS_NODE = '1';
    expect(() => probeBackend('cpu', '--backend cpu', { tensorboard: true })).to.throw(ConfigError, /--tensorboard needs @tensorflow\/tfjs-node.*not installed.*npm run setup:tensorflow/);
    const root = tempDir();
    const out = join(root, 'out');
    const file = writeExperiment(root, tinyExperiment(TWO_STEPS));
    let err: unknown;
    try {
      await runSweep(file, { out, backend: 'wasm', tensorboard: '', jobs: 1, tty: false, print: false });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).path).to.equal('tensorboard');
    expect(existsSync(out), 'no results folder was made').to.equal(false);
  });

  it('without --tensorboard a run does not look for tfjs-node', async () => {
    const root = tempDir();
    const log = join(root, 'resolved.txt');
    process.env.OPTLAB_TFJS_NODE_LOG = log;
    const file = writeExperiment(root, tinyExperiment(TWO_STEPS));
    const o = await runSweep(file, { out: join(root, 'out'), backend: 'wasm', jobs: 1, tty: false, print: false, report: false });
    expect(Object.values(o.statuses)).to.deep.equal(['finished']);
    expect(existsSync(log) ? readFileSync(log, 'utf8') : '').to.equal('');
  });
});
