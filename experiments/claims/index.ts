/** Registry of the seed papers' claims (issue 16), in the issue's order: name -> definition. */
import type { Claim } from './claim.js';
import { marsMClaim } from './mars_m.js';
import { auonCostClaim } from './auon_cost.js';
import { auonLossGptClaim, auonLossVitClaim } from './auon_loss.js';
import { regClaim, regScratchClaim } from './reg.js';
import { kroneckerClaim } from './kronecker.js';
import { muonAdamwClaim } from './muon_adamw.js';

/** Every claim, in the order. */
export const CLAIMS: readonly Claim[] = [marsMClaim, auonCostClaim, auonLossGptClaim, auonLossVitClaim, regScratchClaim, regClaim, kroneckerClaim, muonAdamwClaim];

/** A claim by name, with a message listing the known ones. */
export function getClaim(name: string): Claim {
  const c = CLAIMS.find((x) => x.name === name);
  if (!c) throw new Error(`unknown claim '${name}'; known: ${CLAIMS.map((x) => x.name).join(', ')}`);
  return c;
}

export * from './claim.js';
