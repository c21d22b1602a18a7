/** The `optlab/experiments` entry point: experiment files, sweeps, training runs and reports (the runner behind `optlab run`). */
export { loadExperiment, applyOverrides, expandRuns, ConfigError, type Experiment, type RunSpec } from './runner/config.js';
export { runSweep, type SweepOptions } from './sweep/sweep.js';
export { trainRun, readCurve, type RunRecord, type CurveRow } from './runner/runner.js';
export { writeReport, mergeResults, summarize } from './analysis/report.js';
export { registerModel, registerData, registerMetric, MODEL_KINDS, DATA_KINDS, METRIC_KINDS, BUILTIN_MODELS, BUILTIN_DATA } from './runner/tasks.js';
export { loadPlugin, loadPlugins, loadExperimentFile, loadedPlugin, PLUGIN_EXPORTS, type PluginSummary } from './runner/plugins.js';
export { experimentJsonSchema, renderConfigDoc } from './runner/config_docs.js';
