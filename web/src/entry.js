// Entering a competition: picks → ticket → (signing-gateway registration) → payment → entry.
// The same steps, in the same order and with the same request bodies, as the headless
// player client (coordinator.player).
import { callApi } from './api.js';
import { toHex } from './bytes.js';
import { rememberTicket } from './paths.js';
import { deriveEntryKeys } from './entryKeys.js';
import { checkEntryInvoice } from './invoice.js';
import { randomBytes } from '@noble/hashes/utils.js';

export const PAID = new Set(['Paid', 'Settled', 'Used']);
export const DEAD = new Set(['Expired', 'Cancelled', 'Canceled']);
const METRICS = ['temp_high', 'temp_low', 'wind_speed'];

/** Picks from the form's pressed buttons, as `expected_observations`. */
export function collectPicks(form) {
  const byStation = new Map();
  for (const button of form.querySelectorAll('button.pick[aria-pressed="true"]')) {
    const field = button.dataset.field;
    const cut = field.indexOf('_');
    const station = field.slice(0, cut);
    const metric = field.slice(cut + 1);
    if (!METRICS.includes(metric)) continue;
    if (!byStation.has(station)) byStation.set(station, { stations: station });
    byStation.get(station)[metric] = button.dataset.choice;
  }
  return [...byStation.values()];
}

export function countPicks(picks) {
  return picks.reduce((n, p) => n + METRICS.filter((m) => m in p).length, 0);
}

/**
 * The `POST /api/v1/entries` body (mirrors Player.entry_body). `sealed` holds the entry key and
 * payout preimage NIP-44-encrypted to the player itself (so another device with the same key
 * can read them back; they also derive from the wallet seed and the entry id).
 */
export function entryBody(ticket, competitionId, keys, picks, sealed) {
  return {
    id: ticket.entry_id,
    ticket_id: ticket.ticket_id,
    event_id: competitionId,
    ephemeral_pubkey: keys.pubkeyHex,
    ephemeral_privatekey_encrypted: sealed.entryKey,
    payout_hash: toHex(keys.payoutHash),
    payout_preimage_encrypted: sealed.payoutPreimage,
    expected_observations: picks,
  };
}

/** The entry's secrets NIP-44-encrypted to the player's own key. */
export async function sealEntrySecrets(signer, keys) {
  return {
    entryKey: await signer.encryptToSelf(toHex(keys.secret)),
    payoutPreimage: await signer.encryptToSelf(toHex(keys.payoutPreimage)),
  };
}

function checkTicket(ticket) {
  const ok = ticket && typeof ticket.ticket_id === 'string' && typeof ticket.entry_id === 'string'
    && typeof ticket.payment_request === 'string' && /^[0-9a-f]{64}$/.test(ticket.payment_hash ?? '')
    && Number.isInteger(ticket.amount_sats) && ticket.amount_sats > 0;
  if (!ok) throw new Error('The coordinator sent a malformed ticket.');
  return ticket;
}

/** Retry while the coordinator answers 503 (the competition's signing session is opening). */
async function whileOpening(call, attempts = 30) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (error.status !== 503 || attempt >= attempts) throw error;
      await sleep(1000);
    }
  }
}

/**
 * Seal the entry key to the ticket's signing enclave (mirrors Player.register): fetch the slot
 * with a fresh challenge of ours, verify the enclave's attestation against the policy the page
 * was given (`enclave`: profile, PCR pins and, outside production, a trust root), then post the
 * sealed registration. Nothing secret leaves the browser unless the enclave verified.
 */
export async function register({ signer, competitionId, ticket, keys, enclave, nowMs = null }) {
  const [{ attestationTrust }, { parseSlot, sealRegistration }] = await Promise.all([
    import('./nitro.js'), import('./registration.js'),
  ]);
  let trust;
  try {
    trust = await attestationTrust(enclave?.profile ?? 'production', { pcrPins: enclave?.pcrPins, rootPem: enclave?.rootPem ?? null });
  } catch (error) {
    throw new Error(`This page cannot check the signing enclave: ${error.message}`);
  }
  const challenge = randomBytes(32);
  const path = `/api/v1/competitions/${competitionId}/tickets/${ticket.ticket_id}/registration`;
  const answer = await whileOpening(() => callApi(`${path}?nonce=${toHex(challenge)}`, { signer }));
  let slot;
  try {
    slot = parseSlot(answer);
  } catch (error) {
    throw new Error(`The coordinator sent a malformed registration slot: ${error.message}`);
  }
  if (toHex(slot.attestationNonce) !== toHex(challenge)) throw new Error('The enclave attestation does not answer our challenge.');
  if (slot.userId !== ticket.ticket_id) throw new Error('The registration slot belongs to another ticket.');
  let sealed;
  try {
    sealed = await sealRegistration(slot, keys.secret, trust, { nowMs: nowMs ?? Date.now() });
  } catch (error) {
    throw new Error(`The signing enclave could not be trusted, so your key was not sent: ${error.message}`);
  }
  return callApi(path, { method: 'POST', body: sealed, signer });
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * Run one entry. `ui` receives progress: step(name, state), invoice(ticket), status(text).
 * Returns the stored entry. Throws an Error with a message for the player.
 */
export async function enter({ session, network, enclave, competitionId, picks, maxPicks, ui, pollMs = 2000, timeoutMs = 15 * 60 * 1000 }) {
  const count = countPicks(picks);
  if (count < 1) throw new Error('Make at least one pick first.');
  if (count > maxPicks) throw new Error(`At most ${maxPicks} picks are allowed; you made ${count}.`);
  const signer = session.signer;

  ui.step('ticket', 'active');
  const ticket = checkTicket(await whileOpening(() => callApi(`/api/v1/competitions/${competitionId}/ticket`, { method: 'POST', body: {}, signer })));
  checkEntryInvoice(ticket.payment_request, { network, amountSats: ticket.amount_sats, paymentHash: ticket.payment_hash });
  const keys = deriveEntryKeys(session.seed, network, ticket.entry_id);
  rememberTicket(ticket.entry_id, ticket.payment_hash);
  ui.step('ticket', 'done');

  if (ticket.keymeld_gateway_url) {
    ui.step('register', 'active');
    ui.status('Checking the signing enclave\'s attestation…');
    try {
      await register({ signer, competitionId, ticket, keys, enclave });
    } catch (error) {
      ui.step('register', 'failed');
      throw error;
    }
    ui.step('register', 'done');
  } else {
    ui.step('register', 'skipped');
  }

  ui.step('pay', 'active');
  ui.invoice(ticket);
  const statusPath = `/api/v1/competitions/${competitionId}/tickets/${ticket.ticket_id}/status`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await callApi(statusPath, { signer });
    if (PAID.has(status)) break;
    if (DEAD.has(status)) {
      ui.step('pay', 'failed');
      throw new Error(status === 'Expired' ? 'The invoice expired before it was paid. Start again for a new one.' : `The ticket is ${status}.`);
    }
    if (Date.now() > deadline) throw new Error('Still waiting for the payment; reopen the entry form to resume.');
    ui.status('Waiting for payment…');
    await sleep(pollMs);
  }
  ui.step('pay', 'done');
  ui.status('Payment received. Submitting your entry…');

  ui.step('submit', 'active');
  const sealed = await sealEntrySecrets(signer, keys);
  const entry = await callApi('/api/v1/entries', { method: 'POST', body: entryBody(ticket, competitionId, keys, picks, sealed), signer });
  ui.step('submit', 'done');
  return entry;
}
