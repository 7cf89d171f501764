// The pure functions of the browser module, exposed as `window.forecastCore` so tests can run
// them next to the Python implementation on the same inputs.
export { deriveEntryKeys } from './entryKeys.js';
export { stretch, loginKeys, sealNsec, openNsec, passwordProblem, usernameProblem } from './loginKeys.js';
export { LocalSigner, nip98Header, payloadHash } from './nostr.js';
export { checkPayoutInvoice, checkEntryInvoice, decodeInvoice, invoiceQrSvg } from './invoice.js';
export { entryBody, sealEntrySecrets, collectPicks, countPicks } from './entry.js';
export { payoutBody } from './payout.js';
export { toHex, fromHex, taggedHash } from './bytes.js';
export { solve as solveProofOfWork } from './pow.js';
export * as account from './account.js';
/** The modules loaded on demand (enclave attestation, registration, contract checks, claim), for tests. */
export async function onDemand() {
  const [cbor, nitro, registration, contract, btc, claim, claimFlow] = await Promise.all([
    import('./cbor.js'), import('./nitro.js'), import('./registration.js'), import('./contract.js'),
    import('./btc.js'), import('./claim.js'), import('./claimFlow.js'),
  ]);
  return { cbor, nitro, registration, contract, btc, claim, claimFlow };
}
export { register } from './entry.js';
