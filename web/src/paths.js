// "Check payout paths": the player's own check of the published contract, in this browser
// (contract.js), with what only the player knows: its entry key and payout hash (derived from
// the wallet seed and the entry id) and the ticket hash of the invoice it paid (kept in this
// browser when it entered; otherwise the hash of the ticket preimage the coordinator reports,
// and the page says so).
import { callApi } from './api.js';
import { fromHex, sha256, toHex } from './bytes.js';
import { deriveEntryKeys } from './entryKeys.js';

const TICKETS_KEY = 'forecast.tickets';

/** Remember the payment hash of the invoice paid for an entry (public data, no secret). */
export function rememberTicket(entryId, paymentHash, storage = window.localStorage) {
  try {
    const known = JSON.parse(storage.getItem(TICKETS_KEY) ?? '{}');
    known[entryId] = paymentHash;
    storage.setItem(TICKETS_KEY, JSON.stringify(known));
  } catch {
    /* storage blocked: the check falls back to the coordinator's word */
  }
}

function rememberedTicket(entryId, storage = window.localStorage) {
  try {
    return JSON.parse(storage.getItem(TICKETS_KEY) ?? '{}')[entryId] ?? null;
  } catch {
    return null;
  }
}

/** The contract as the competition JSON publishes it (player.public.published_contract). */
export function publishedContract(competition) {
  const signed = competition?.signed_contract;
  if (signed && typeof signed === 'object') {
    return { params: signed.dlc?.params, outpoint: String(signed.dlc?.funding_outpoint), signatures: signed.signatures ?? null };
  }
  if (!competition?.contract_parameters || !competition?.funding_outpoint) throw new Error('The competition has no contract yet.');
  return { params: competition.contract_parameters, outpoint: String(competition.funding_outpoint), signatures: null };
}

/** What the competition's published terms say the contract must be (player.public.expected_terms). */
export function expectedTerms(competition) {
  const terms = competition.event_submission ?? competition;
  const need = (name) => {
    const value = Number(terms[name]);
    if (!Number.isInteger(value)) throw new Error(`The competition's terms lack ${name}.`);
    return value;
  };
  return {
    entries: need('total_allowed_entries'),
    places: need('number_of_places_win'),
    fundingValue: need('total_competition_pool'),
    delta: terms.relative_locktime_block_delta ?? null,
  };
}

/** Run the check for one of the player's entries; resolves to {report, ticketSource, notChecked}. */
export async function checkPayoutPaths({ session, network, competitionId, entryId }) {
  const [{ verifyPayoutPaths }] = await Promise.all([import('./contract.js')]);
  const keys = deriveEntryKeys(session.seed, network, entryId);
  const competition = await callApi(`/api/v1/competitions/${competitionId}`);
  const published = publishedContract(competition);
  let ticketHash = rememberedTicket(entryId);
  let ticketSource = 'the payment hash of the invoice this browser paid';
  if (!ticketHash) {
    const mine = await callApi(`/api/v1/competitions/${competitionId}/contract`, { signer: session.signer });
    const preimage = (mine?.players ?? []).find((p) => p.entry_id === entryId)?.ticket_preimage;
    if (typeof preimage !== 'string' || !/^[0-9a-f]{64}$/.test(preimage)) {
      throw new Error('This browser did not keep the invoice you paid for this entry, and the ticket is not settled yet: check again after funding.');
    }
    ticketHash = toHex(sha256(fromHex(preimage)));
    ticketSource = 'SHA256 of the ticket preimage the coordinator reports (this browser did not keep the invoice you paid)';
  }
  const report = verifyPayoutPaths(published.params, published.outpoint, published.signatures, {
    entryId, entryPubkey: fromHex(keys.pubkeyHex), ticketHash: fromHex(ticketHash), payoutHash: keys.payoutHash,
    expected: expectedTerms(competition),
  });
  const notChecked = 'Not checked here: that the locking points are the oracle\'s (this page talks only to the coordinator), '
    + 'the player order against the oracle\'s entry list, and that the funding transaction is on chain. '
    + '`coordinator player verify` checks those too.';
  return { report, ticketSource, notChecked };
}
