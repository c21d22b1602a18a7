/**
 * OpenBLAS's kernel set (kernels/blas_family.ts): the choice for each setting, on a simulated addon
 * (a DYNAMIC_ARCH OpenBLAS with a table of which sets compute correctly), and on the real one when it
 * is built: the running set passes the product check, the record names it, and a set that is switched
 * to is the one that runs.
 */
import { expect } from 'chai';
import { blasKernels, cpuFlags, loadAddon } from '../../kernels/addon.js';
import { BLAS_CHECK_SHAPES, BlasSettingError, setUpBlasKernels } from '../../kernels/blas_family.js';
import { describeNative } from './helpers.js';

const AVX512 = new Set(['sse3', 'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512dq', 'avx512cd', 'avx512bw', 'avx512vl']);
const AVX2 = new Set(['sse3', 'sse4_2', 'avx', 'avx2', 'fma']);

/** An addon whose OpenBLAS starts on `pick` and computes wrongly with the sets in `broken`. */
function fakeAddon(pick: string, opts: { broken?: string[]; switchable?: boolean } = {}) {
  let core = pick;
  const known = ['SkylakeX', 'Cooperlake', 'Haswell', 'Zen', 'Sandybridge', 'Nehalem', 'Prescott'];
  const checked: string[] = [];
  return {
    checked,
    blasConfig: () => `OpenBLAS 0.3.21 DYNAMIC_ARCH ${core} MAX_THREADS=64`,
    blasCore: () => core,
    blasSetCore: (name: string) => {
      if (opts.switchable === false) return null;
      core = known.find((k) => k.toLowerCase() === name.toLowerCase()) ?? pick; // unknown: OpenBLAS's detection
      return core;
    },
    blasVerify: (shapes: readonly number[], names: readonly string[]) => {
      expect(shapes).to.deep.equal(BLAS_CHECK_SHAPES.flat());
      const before = core;
      const rows = names.map((n): [string, number, number] => {
        if (n) core = known.find((k) => k.toLowerCase() === n.toLowerCase()) ?? pick;
        checked.push(core);
        return [core, opts.broken?.includes(core) ? Infinity : 0.1, 0.001];
      });
      core = before;
      return rows;
    },
  };
}

describe('OpenBLAS kernel set: choice, check and record (kernels/blas_family.ts)', () => {
  it('nothing set, OpenBLAS picked a narrower set than the CPU runs: the widest verified set runs, the record says OpenBLAS picked another', () => {
    const addon = fakeAddon('Haswell');
    const r = setUpBlasKernels(addon, AVX512, {});
    expect(r.family).to.equal('SkylakeX');
    expect(addon.blasCore()).to.equal('SkylakeX');
    expect(r).to.include({ source: 'widest verified', explicitSetting: null, openblasPick: 'Haswell', verified: true, widerAvailable: null, width: 512, version: '0.3.21', library: 'OpenBLAS' });
    expect(r.summary).to.equal('SkylakeX kernels, verified');
    expect(r.note).to.match(/OpenBLAS picked Haswell kernels itself; .*round differently.*OPTLAB_BLAS_CORE=Haswell keeps/);
    expect(addon.checked).to.deep.equal(['Haswell', 'SkylakeX']); // AVX-512 without bf16: Cooperlake is not tried
  });

  it('nothing set, OpenBLAS already runs the widest set: it stays, nothing wider is tried, no note', () => {
    const addon = fakeAddon('SkylakeX');
    const r = setUpBlasKernels(addon, AVX512, {});
    expect(r).to.include({ family: 'SkylakeX', source: 'widest verified', note: '', verified: true });
    expect(addon.checked).to.deep.equal(['SkylakeX']);
  });

  it('nothing set, the wider set fails the check: the narrower one that passes runs, and the failure is recorded', () => {
    const addon = fakeAddon('Haswell', { broken: ['SkylakeX'] });
    const r = setUpBlasKernels(addon, AVX512, {});
    expect(r).to.include({ family: 'Haswell', verified: true, widerAvailable: null });
    expect(r.candidates.find((c) => c.family === 'SkylakeX')).to.include({ verified: false, maxError: Infinity });
  });

  it('nothing set, OpenBLAS\'s pick and every wider set fail: the widest other set that passes runs', () => {
    const addon = fakeAddon('Haswell', { broken: ['SkylakeX', 'Haswell'] });
    const r = setUpBlasKernels(addon, AVX512, {});
    expect(r).to.include({ family: 'Zen', verified: true });
  });

  it('OPENBLAS_CORETYPE set to a narrower set: honoured, and the record and note name the wider verified set and say that rounding differs', () => {
    const addon = fakeAddon('Haswell');
    const r = setUpBlasKernels(addon, AVX512, { OPENBLAS_CORETYPE: 'Haswell' });
    expect(r).to.include({ family: 'Haswell', source: 'OPENBLAS_CORETYPE', explicitSetting: 'OPENBLAS_CORETYPE=Haswell', widerAvailable: 'SkylakeX', verified: true });
    expect(addon.blasCore()).to.equal('Haswell');
    expect(r.summary).to.equal('Haswell kernels, verified, from OPENBLAS_CORETYPE=Haswell');
    expect(r.note).to.match(/^wider SkylakeX kernels pass the check here: OPTLAB_BLAS_CORE=SkylakeX selects them for optlab \(kernel sets round differently/);
  });

  it('OPENBLAS_CORETYPE naming a set OpenBLAS does not have: the record says so and names the set that runs', () => {
    const r = setUpBlasKernels(fakeAddon('SkylakeX'), AVX512, { OPENBLAS_CORETYPE: 'Skylake-X' });
    expect(r).to.include({ family: 'SkylakeX', source: 'OPENBLAS_CORETYPE', explicitSetting: 'OPENBLAS_CORETYPE=Skylake-X' });
    expect(r.note).to.equal("OpenBLAS has no kernel set named 'Skylake-X' and runs its own pick, SkylakeX");
  });

  it('an explicit set that fails the check is recorded as failed, not replaced', () => {
    const r = setUpBlasKernels(fakeAddon('Haswell', { broken: ['Haswell'] }), AVX512, { OPENBLAS_CORETYPE: 'Haswell' });
    expect(r).to.include({ family: 'Haswell', verified: false });
    expect(r.summary).to.match(/^Haswell kernels, FAILED the product check/);
  });

  it('OPTLAB_BLAS_CORE switches to its set above OPENBLAS_CORETYPE; unknown names, sets the CPU cannot run and unswitchable builds throw, naming the setting', () => {
    const addon = fakeAddon('Haswell');
    const r = setUpBlasKernels(addon, AVX512, { OPENBLAS_CORETYPE: 'Haswell', OPTLAB_BLAS_CORE: 'Sandybridge' });
    expect(r).to.include({ family: 'Sandybridge', source: 'OPTLAB_BLAS_CORE', explicitSetting: 'OPTLAB_BLAS_CORE=Sandybridge', widerAvailable: 'SkylakeX' });
    expect(addon.blasCore()).to.equal('Sandybridge');
    expect(() => setUpBlasKernels(fakeAddon('Haswell'), AVX512, { OPTLAB_BLAS_CORE: 'Skylake-X' })).to.throw(BlasSettingError, /OPTLAB_BLAS_CORE=Skylake-X: OpenBLAS has no kernel set of that name/);
    expect(() => setUpBlasKernels(fakeAddon('Haswell'), AVX2, { OPTLAB_BLAS_CORE: 'SkylakeX' })).to.throw(BlasSettingError, /this CPU lacks avx512f, avx512dq, avx512cd, avx512bw, avx512vl/);
    expect(() => setUpBlasKernels(fakeAddon('Haswell', { switchable: false }), AVX512, { OPTLAB_BLAS_CORE: 'SkylakeX' })).to.throw(BlasSettingError, /not a DYNAMIC_ARCH build/);
  });

  it('a single-target OpenBLAS, or a CPU without known flags: its own set is checked and kept', () => {
    const fixed = setUpBlasKernels(fakeAddon('Haswell', { switchable: false }), AVX512, {});
    expect(fixed).to.include({ family: 'Haswell', source: 'OpenBLAS', switchable: false, widerAvailable: null, verified: true });
    const unknownCpu = setUpBlasKernels(fakeAddon('Haswell'), new Set(), {});
    expect(unknownCpu).to.include({ family: 'Haswell', source: 'OpenBLAS' });
  });
});

describeNative('OpenBLAS kernel set of the built addon', () => {
  it('the running set passed the product check, the record names it as OpenBLAS reports it, and an explicit setting is honoured', () => {
    const rec = blasKernels();
    expect(rec, 'the addon loaded and set up its kernels').to.not.equal(null);
    const addon = loadAddon()!;
    expect(rec!.verified).to.equal(true);
    expect(rec!.maxError).to.be.at.most(1);
    expect(addon.blasCore()).to.equal(rec!.family);
    expect(rec!.config).to.contain(rec!.family);
    const own = process.env.OPTLAB_BLAS_CORE, given = process.env.OPENBLAS_CORETYPE;
    if (own) expect(rec!.family.toLowerCase()).to.equal(own.toLowerCase());
    else if (given) expect(rec!.explicitSetting).to.equal(`OPENBLAS_CORETYPE=${given}`);
    else if (cpuFlags().has('avx512f') && rec!.switchable) expect(rec!.width).to.equal(512);
  });

  it('every check of the real OpenBLAS is within the float32 rounding bound, on the running set and after switching away and back', () => {
    const addon = loadAddon()!;
    const running = addon.blasCore();
    const rows = addon.blasVerify(BLAS_CHECK_SHAPES.flat(), ['', running], 0);
    for (const [core, err] of rows) {
      expect(core).to.equal(running);
      expect(err).to.be.within(0, 1);
    }
    expect(addon.blasCore()).to.equal(running);
  });
});
