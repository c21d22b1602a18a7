/**
 * Reruns are bit-identical on one build: a short tiny-GPT run trained from scratch twice on each
 * backend configuration gives the same curve CSV in every cell except wall_ms, and the same record
 * (result without wall time, step, status). Muon (Newton-Schulz) and AdamW (the fused Adam kernel
 * on wasm-native) between them cover the matrix and elementwise paths.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initRun, readRecord, runPaths, trainRun, writeRecord, type RunRecord } from '../../../experiments/runner/runner.js';
import { describeBackends } from '../../shared/backends.js';
import { curveWithoutWall, optlabSync, removeTempDirs, tempDir, tinyExperiment, writeExperiment } from '../helpers.js';

/** The record's fields a rerun must reproduce (everything but times, pid and where it ran). */
function reproducible(rec: RunRecord): unknown {
  const { wallMs: _w, wallMsToTarget: _t, ...result } = (rec.result ?? {}) as Record<string, unknown>;
  return { status: rec.status, step: rec.step, result, sample: (rec as { sample?: string }).sample, routing: rec.routing };
}

describeBackends('reruns are bit-identical', (backend) => {
  after(removeTempDirs);
  for (const optimizer of [{ name: 'adamw', lr: 0.01 }, { name: 'muon', lr: 0.02 }]) {
    it(`${optimizer.name}: the same config and seed from scratch twice give every CSV cell but wall_ms identical`, async function () {
      this.timeout(300_000);
      const doc = tinyExperiment({ optimizers: [optimizer], training: { steps: 24, batchSize: 4, logEvery: 2, evalEvery: 4, evalBatches: 2, checkpointEvery: 8, sampleChars: 24 }, schedule: { kind: 'cosine', warmup: 4 } });
      const spec = expandRuns(applyOverrides(doc, []))[0];
      const curves: string[][] = [];
      const recs: unknown[] = [];
      for (let k = 0; k < 2; k++) {
        const dir = tempDir();
        initRun(dir, spec, 'tiny');
        const before = tf.memory().numTensors;
        const rec = await trainRun(spec.id, { dir, backendLabel: backend });
        expect(tf.memory().numTensors, 'tensors freed').to.equal(before);
        expect(rec.status).to.equal('finished');
        curves.push(curveWithoutWall(runPaths(dir, spec.id).csv));
        recs.push(reproducible(rec));
      }
      expect(curves[0].length, "header, step 0 and a row every 2 steps").to.equal(2 + 24 / 2);
      for (let i = 0; i < curves[0].length; i++) expect(curves[1][i], `${backend} ${optimizer.name} CSV line ${i}`).to.equal(curves[0][i]);
      expect(recs[1]).to.deep.equal(recs[0]);
    });
  }
});

describe('a run resumed on another build', function () {
  this.timeout(300_000);
  after(removeTempDirs);

  it('is flagged in the comparison (comparison.json resumedElsewhere and the verdict notes)', () => {
    const dir = tempDir();
    const doc = tinyExperiment({ name: 'resumed', backend: 'cpu', schedule: { kind: 'constant' }, training: { steps: 2, batchSize: 2, logEvery: 2, evalEvery: 2, evalBatches: 1, checkpointEvery: 2, sampleChars: 8 }, optimizers: [{ name: 'adamw', lr: 0.01 }, { name: 'sgd', lr: 0.1 }] });
    const file = writeExperiment(dir, doc);
    const out = join(dir, 'out');
    const r = optlabSync(['run', file, '--out', out]);
    expect(r.code, r.out).to.equal(0);
    const cmp = () => JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')) as { resumedElsewhere: string[] };
    expect(cmp().resumedElsewhere).to.deep.equal([]);
    const id = expandRuns(applyOverrides(doc, []))[0].id;
    const rec = readRecord(runPaths(out, id).json);
    rec.resumedOn = [{ ...rec.env!, hostname: 'other-host', gitCommit: 'feedbeef00', gitDirty: false, step: 1 }];
    writeRecord(runPaths(out, id).json, rec);
    const rep = optlabSync(['report', out]);
    expect(rep.code, rep.out).to.equal(0);
    expect(cmp().resumedElsewhere).to.deep.equal([`${id} (from step 1 on host other-host, commit feedbee, ${rec.env!.backend})`]);
    expect(rep.out).to.include('mixed builds: 1 run continued from a checkpoint on another machine');
  });
});
