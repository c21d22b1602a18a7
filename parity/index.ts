/** Reference parity: the fixture format, the mapping from each reference's hyperparameters to optlab, and replay. */
export { FixtureError, loadFixture, type Fixture, type ReferenceCase } from './fixture.js';
export { referenceGroupOf, referenceRole, rolesByRank, rolesFromRouting, setOnce, singleReferenceGroup, type ReferenceMapper, type ReferenceMapping } from './mapping_helpers.js';
export { REFERENCE_MAPPINGS } from './mapping.js';
export { formatReplay, replayFixture, type ReplayResult } from './replay.js';
