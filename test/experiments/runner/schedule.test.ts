import { expect } from 'chai';
import { checkSchedule, compressSchedule, constant, linearDecay, makeSchedule, ScheduleError, warmupCosine, wsd } from '../../../experiments/runner/schedule.js';

describe('schedules', () => {
  it('warmup + cosine follows nanoGPT get_lr (1e-3 -> 1e-4, 100 warmup, 2000 total)', () => {
    const s = warmupCosine({ warmup: 100, total: 2000, floor: 0.1 });
    expect(s(1)).to.be.closeTo(0.01, 1e-12); // step/warmup
    expect(s(100)).to.be.closeTo(1, 1e-12);
    // halfway through the decay: floor + 0.5 * (1 + cos(pi/2)) * 0.9 = 0.55
    expect(s(1050)).to.be.closeTo(0.55, 1e-12);
    expect(s(2000)).to.be.closeTo(0.1, 1e-12);
    expect(s(5000)).to.be.closeTo(0.1, 1e-12);
  });
  it('wsd is flat then decays linearly over the last steps', () => {
    const s = wsd({ warmup: 10, total: 100, decay: 20, floor: 0 });
    expect(s(5)).to.be.closeTo(0.5, 1e-12);
    expect(s(80)).to.equal(1);
    expect(s(90)).to.be.closeTo(0.5, 1e-12);
    expect(s(100)).to.equal(0);
  });
  it('linear decay and constant', () => {
    expect(linearDecay({ total: 10, floor: 0 })(5)).to.be.closeTo(0.5, 1e-12); // 1 - 5/10
    expect(constant(4)(2)).to.equal(0.5);
    expect(constant()(1000)).to.equal(1);
  });
  it('rejects inconsistent settings naming the key', () => {
    expect(() => makeSchedule({ kind: 'cosine', warmup: 100, total: 50 })).to.throw(/schedule.total/);
    expect(() => makeSchedule({ kind: 'wsd', total: 50, decay: 80 })).to.throw(/schedule.decay/);
    expect(() => makeSchedule({ kind: 'bogus' } as never)).to.throw(/unknown schedule kind 'bogus'/);
  });
  it('checkSchedule names the derived value that broke; compressSchedule scales warmup, total and decay', () => {
    const c = compressSchedule({ kind: 'cosine', warmup: 5, total: 6 }, 30, 10);
    expect(c).to.deep.equal({ kind: 'cosine', warmup: 2, total: 2 });
    expect(compressSchedule({ kind: 'wsd', warmup: 10, decay: 20 }, 100, 50)).to.deep.equal({ kind: 'wsd', warmup: 5, total: 50, decay: 10 });
    expect(compressSchedule({ kind: 'constant' }, 100, 50)).to.deep.equal({ kind: 'constant' });
    try {
      checkSchedule(c, 10, 'compressed to 10 steps');
      expect.fail('expected a ScheduleError');
    } catch (e) {
      expect(e).to.be.instanceOf(ScheduleError);
      expect((e as ScheduleError).key).to.equal('schedule.total');
      expect((e as Error).message).to.equal('the schedule compressed to 10 steps: derived schedule.total (2) must exceed derived schedule.warmup (2)');
    }
    expect(() => checkSchedule({ kind: 'cosine', total: 20 }, 10)).to.throw(/schedule.total \(20\) exceeds the run's 10 steps/);
    expect(() => checkSchedule({ kind: 'constant', warmup: 11 }, 10)).to.throw(/schedule.warmup \(11\) exceeds/);
    expect(() => checkSchedule({ kind: 'wsd', total: 10, decay: 3, floor: 2 })).to.throw(/schedule.floor/);
  });
});
