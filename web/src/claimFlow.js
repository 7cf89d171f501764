// The "Claim on chain" button of the payouts page: checks the contract, gathers what the claim
// needs (entry key from the seed, ticket preimage, attestation, destination script) and takes
// the next step of claim.js's claimStep.
import { Address, OutScript, NETWORK, TEST_NETWORK } from '@scure/btc-signer';
import { callApi } from './api.js';
import { fromHex, sha256, toHex } from './bytes.js';
import { deriveEntryKeys } from './entryKeys.js';
import { checkPayoutPaths } from './paths.js';

const NETWORKS = {
  bitcoin: NETWORK,
  testnet: TEST_NETWORK,
  signet: TEST_NETWORK,
  regtest: { ...TEST_NETWORK, bech32: 'bcrt' },
};

/** The output script of an address of the coordinator's network. */
export function destinationScript(address, network) {
  try {
    return OutScript.encode(Address(NETWORKS[network]).decode(address.trim()));
  } catch {
    throw new Error(`That is not a valid ${network} bitcoin address.`);
  }
}

export async function claimOnChain({ session, network, competitionId, entryId, address, feeRate, preimageText }) {
  const [{ claimStep, relayChain, signedContract }] = await Promise.all([import('./claim.js')]);
  const script = destinationScript(address, network);
  const rate = Number(feeRate);
  if (!Number.isInteger(rate) || rate < 1 || rate > 10_000) throw new Error('Choose a fee rate of 1 to 10,000 sat/vB.');
  const { report } = await checkPayoutPaths({ session, network, competitionId, entryId });
  const signatures = report.checks.find((c) => c.name === 'signatures');
  if (!signatures?.ok || report.playerIndex === null) {
    throw new Error('The contract did not pass the payout path checks, so nothing was signed. Use "Check payout paths" to see why.');
  }
  const competition = await callApi(`/api/v1/competitions/${competitionId}`);
  if (!competition.signed_contract) throw new Error('The contract is not signed yet.');
  const contract = signedContract(competition.signed_contract);
  const player = contract.params.players[report.playerIndex];
  let preimage = null;
  if (preimageText?.trim()) {
    if (!/^[0-9a-fA-F]{64}$/.test(preimageText.trim())) throw new Error('A ticket preimage is 64 hex digits.');
    preimage = fromHex(preimageText.trim());
  } else {
    const mine = await callApi(`/api/v1/competitions/${competitionId}/contract`, { signer: session.signer });
    const known = (mine?.players ?? []).find((p) => p.entry_id === entryId)?.ticket_preimage;
    if (typeof known === 'string' && /^[0-9a-f]{64}$/.test(known)) preimage = fromHex(known);
  }
  if (preimage === null) throw new Error('The ticket preimage is not known yet: paste it from your Lightning wallet.');
  if (toHex(sha256(preimage)) !== toHex(player.ticketHash)) throw new Error("That preimage does not match your ticket's hash.");
  const keys = deriveEntryKeys(session.seed, network, entryId);
  const attestation = typeof competition.attestation === 'string' && /^[0-9a-f]{64}$/.test(competition.attestation)
    ? BigInt(`0x${competition.attestation}`) : null;
  const call = (path, { method = 'GET', body, signed = false } = {}) => callApi(path, { method, body, signer: signed ? session.signer : null });
  return claimStep(relayChain(call, competitionId), contract, {
    playerIndex: report.playerIndex, entrySecret: keys.secret, ticketPreimage: preimage,
    destinationScript: script, feeRateSatVb: rate,
  }, attestation);
}
