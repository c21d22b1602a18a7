/**
 * Reruns are bit-identical on one build: a short tiny-GPT run trained from scratch twice on each
 * backend configuration gives the same curve CSV in every cell except wall_ms, and the same record
 * (result without wall time, step, status). Muon (Newton-Schulz) and AdamW (the fused Adam kernel
 * on wasm-native) between them cover the matrix and elementwise paths.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'chai';
import { applyOverrides, expandRuns } from '../../../experiments/runner/config.js';
import { initRun, runPaths, trainRun, type RunRecord } from '../../../experiments/runner/runner.js';
import { describeBackends } from '../../shared/backends.js';
import { curveWithoutWall, removeTempDirs, tempDir, tinyExperiment } from '../helpers.js';

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
