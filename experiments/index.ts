/** The `optlab/experiments` entry point: experiment files, sweeps, training runs and reports (the runner behind `optlab run`). */
export { loadExperiment, applyOverrides, expandRuns, ConfigError, type Experiment, type RunSpec } from './runner/config.js';
export { runSweep, type SweepOptions } from './sweep/sweep.js';
export { trainRun, readCurve, type RunRecord, type CurveRow } from './runner/runner.js';
export { writeReport, mergeResults, summarize } from './analysis/report.js';
