// BOLT11 checks before a payout invoice is sent, and QR codes for invoices.
import { decode } from 'light-bolt11-decoder';
import qrcode from 'qrcode-generator';

export const NETWORK_CURRENCY = { bitcoin: 'bc', testnet: 'tb', signet: 'tbs', regtest: 'bcrt' };
const MAX_CHARS = 4096;

function section(decoded, name) {
  const found = decoded.sections.find((s) => s.name === name);
  return found ? found.value : undefined;
}

/** Decode a payment request; throws an Error with a plain message when it is not valid. */
export function decodeInvoice(text) {
  const request = String(text ?? '').trim().replace(/^lightning:/i, '');
  if (!request) throw new Error('Paste a Lightning invoice first.');
  if (request.length > MAX_CHARS) throw new Error('That invoice is too long to be real.');
  let decoded;
  try {
    decoded = decode(request);
  } catch (error) {
    throw new Error(`That is not a valid Lightning invoice (${error.message}).`);
  }
  const amount = section(decoded, 'amount');
  const timestamp = section(decoded, 'timestamp');
  const expiry = decoded.expiry ?? section(decoded, 'expiry') ?? 3600;
  return {
    request: request.toLowerCase(),
    currency: section(decoded, 'coin_network')?.bech32 ?? prefixCurrency(request),
    amountMsat: amount === undefined ? null : BigInt(amount),
    paymentHash: section(decoded, 'payment_hash'),
    createdAt: timestamp,
    expiresAt: timestamp + expiry,
  };
}

function prefixCurrency(request) {
  const match = /^ln(bcrt|tbs|bc|tb)/i.exec(request);
  return match ? match[1].toLowerCase() : '?';
}

/**
 * Check a payout invoice: right network, not expired, amount exactly the entry's share.
 * Returns the decoded invoice; throws with a message a person can act on.
 */
export function checkPayoutInvoice(text, { network, amountSats, now = Date.now() / 1000 }) {
  const invoice = decodeInvoice(text);
  const currency = NETWORK_CURRENCY[network];
  if (invoice.currency !== currency) {
    throw new Error(`This invoice is for another network (ln${invoice.currency}); use a ${network} wallet.`);
  }
  if (invoice.expiresAt <= now) throw new Error('This invoice has expired; create a new one.');
  if (invoice.amountMsat === null) {
    throw new Error(`The invoice has no amount; create one for exactly ${amountSats} sats.`);
  }
  if (invoice.amountMsat !== BigInt(amountSats) * 1000n) {
    const asked = invoice.amountMsat / 1000n;
    throw new Error(`The invoice asks for ${asked} sats but your share is exactly ${amountSats} sats.`);
  }
  return invoice;
}

/** Check an entry invoice from the coordinator: network, amount, hash and not expired. */
export function checkEntryInvoice(text, { network, amountSats, paymentHash, now = Date.now() / 1000 }) {
  const invoice = decodeInvoice(text);
  if (invoice.currency !== NETWORK_CURRENCY[network]) throw new Error('The invoice is for another network.');
  if (invoice.expiresAt <= now) throw new Error('The invoice has expired.');
  if (invoice.amountMsat !== BigInt(amountSats) * 1000n) throw new Error('The invoice amount is not the entry fee.');
  if (paymentHash && invoice.paymentHash !== paymentHash) {
    throw new Error("The invoice pays another hash than the ticket's.");
  }
  return invoice;
}

/** An SVG QR code of `lightning:<invoice>` (upper case: the compact alphanumeric mode). */
export function invoiceQrSvg(request, title = 'Lightning invoice QR code') {
  const qr = qrcode(0, 'M');
  qr.addData(`LIGHTNING:${request.toUpperCase()}`, 'Alphanumeric');
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true, title: { text: title } });
}
