// Lightning payout of a winning entry: check the invoice, then reveal the entry key and the
// payout preimage to the coordinator (mirrors Player.payout_body).
import { callApi } from './api.js';
import { toHex } from './bytes.js';
import { deriveEntryKeys } from './entryKeys.js';
import { checkPayoutInvoice } from './invoice.js';

export function payoutBody(ticketId, keys, invoice) {
  return {
    ticket_id: ticketId,
    payout_preimage: toHex(keys.payoutPreimage),
    ephemeral_private_key: toHex(keys.secret),
    ln_invoice: invoice,
  };
}

export async function requestPayout({ session, network, competitionId, entryId, ticketId, amountSats, invoiceText }) {
  const invoice = checkPayoutInvoice(invoiceText, { network, amountSats });
  const keys = deriveEntryKeys(session.seed, network, entryId);
  const path = `/api/v1/competitions/${competitionId}/entries/${entryId}/payout`;
  return callApi(path, { method: 'POST', body: payoutBody(ticketId, keys, invoice.request), signer: session.signer });
}
