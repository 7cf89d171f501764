// Per-entry keys derived from the wallet seed and the entry id (mirrors coordinator_core.entry_keys).
//
// message = seed (32 bytes) ‖ network magic (4 bytes) ‖ entry id (16 bytes)
// entry key       = tagged_hash("coordinator/entry-key/v1", message), a scalar in [1, n)
// payout preimage = tagged_hash("coordinator/payout-preimage/v1", message)
// payout hash     = SHA256(payout preimage)
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { concat, fromHex, sha256, taggedHash, toHex, uuidBytes } from './bytes.js';

export const ENTRY_KEY_TAG = 'coordinator/entry-key/v1';
export const PAYOUT_PREIMAGE_TAG = 'coordinator/payout-preimage/v1';

export const NETWORK_MAGIC = {
  bitcoin: 'f9beb4d9',
  testnet: '0b110907',
  signet: '0a03cf40',
  regtest: 'fabfb5da',
};

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export function deriveEntryKeys(seed, network, entryId) {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new Error('the wallet seed must be 32 bytes');
  }
  const magic = NETWORK_MAGIC[network];
  if (!magic) throw new Error(`unknown network ${network}`);
  const message = concat(seed, fromHex(magic), uuidBytes(entryId));
  const secret = taggedHash(ENTRY_KEY_TAG, message);
  const scalar = BigInt(`0x${toHex(secret)}`);
  if (scalar === 0n || scalar >= CURVE_ORDER) {
    throw new Error('the derived entry key is not a valid scalar; use another entry id');
  }
  const payoutPreimage = taggedHash(PAYOUT_PREIMAGE_TAG, message);
  return {
    entryId,
    secret,
    pubkeyHex: toHex(secp256k1.getPublicKey(secret, true)),
    payoutPreimage,
    payoutHash: sha256(payoutPreimage),
  };
}
