/**
 * A run's recorded build names the kernel set that runs (experiments/runner/build.ts currentBlas reads
 * kernels/' blasKernels() record), not the one OpenBLAS's config string names from its load-time
 * detection: after optlab switches sets, the two differ, and the one-build rule must see the running one.
 */
import { expect } from 'chai';
import { blasKernels } from '../../../kernels/addon.js';
import { currentBlas } from '../../../experiments/runner/build.js';
import { environment } from '../../../experiments/runner/runner.js';
import { describeBackends } from '../../shared/backends.js';

describeBackends('run build record', (backend) => {
  it('records the running BLAS kernel set (wasm-native) or none (plain backends)', () => {
    const blas = currentBlas();
    if (backend !== 'wasm-native') {
      expect(blas).to.equal(null);
      return;
    }
    const k = blasKernels();
    expect(k, 'the kernel-set record exists once the native kernels are on').to.not.equal(null);
    expect(blas?.family).to.equal(k!.family);
    expect(blas?.library).to.equal(`${k!.library} ${k!.version}`);
    expect(environment().blas?.family).to.equal(k!.family);
  });
});
