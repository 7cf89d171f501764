// The player's side of a signing-gateway registration, byte for byte as
// coordinator_core.keymeld.registration.seal_registration:
//
// 1. verify the slot's attestation document (nitro.js) with the player's own 32-byte nonce and
//    the slot's enclave key; nothing below happens if it fails;
// 2. public_key = compressed sk·G; auth_pubkey = compressed public key of
//    HKDF-SHA256(ikm = sk, salt = none, info = "keymeld-session-auth-v1:" ‖ keygen_session_id);
// 3. the context (keygen_session_id, manifest_hash, user_id, enclave_id, enclave_key_epoch,
//    public_key, auth_pubkey, require_signing_approval) as compact JSON J, byte arrays as
//    integer arrays;
// 4. proof_signature = compact low-S ECDSA (RFC 6979) by sk over
//    SHA256("keymeld-authorization-v1" ‖ u64_be(23) ‖ "registration-possession" ‖ u64_be(len J) ‖ J);
// 5. envelope = {"context", "private_key": [32 ints], "proof_signature": [64 ints]};
// 6. ECIES to the enclave key: ephemeral e, shared = SHA256(0x02|parity ‖ x) of e·P,
//    key = HKDF-SHA256(shared, none, "keymeld-ecies-encrypt"), AES-256-GCM, fresh 12-byte nonce,
//    no AAD; ciphertext = E (33) ‖ nonce (12) ‖ ciphertext ‖ tag (16);
// 7. the SealedRegistration JSON {user_id, public_key, auth_pubkey, encrypted_envelope,
//    enclave_key_epoch} (hex) goes back to the coordinator.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { concat, fromHex, sha256, toHex, utf8 } from './bytes.js';
import { AttestationError, verifyAttestation } from './nitro.js';

export const USER_AUTH_PREFIX = 'keymeld-session-auth-v1:';
export const ECIES_INFO = 'keymeld-ecies-encrypt';
export const AUTHORIZATION_PREFIX = 'keymeld-authorization-v1';
export const REGISTRATION_POSSESSION = 'registration-possession';
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_DOCUMENT_BYTES = 64 * 1024;

export class RegistrationError extends Error {}

const scalarOf = (bytes) => BigInt(`0x${toHex(bytes)}`);

function checkSecret(secret, what) {
  if (!(secret instanceof Uint8Array) || secret.length !== 32) throw new RegistrationError(`${what}: expected 32 bytes`);
  const n = scalarOf(secret);
  if (n === 0n || n >= CURVE_ORDER) throw new RegistrationError(`${what}: not a valid secret key`);
  return secret;
}

export const publicKey = (secret) => secp256k1.getPublicKey(checkSecret(secret, 'private key'), true);

export function hkdf32(ikm, info) {
  return hkdf(sha256, ikm, undefined, utf8(info), 32);
}

/** The auth key a participant registers for a keygen session (crypto.user_auth_pubkey). */
export function userAuthPubkey(secret, keygenSessionId) {
  checkSecret(secret, 'private key');
  return publicKey(checkSecret(hkdf32(secret, USER_AUTH_PREFIX + keygenSessionId), 'user auth'));
}

function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

/** SHA256("keymeld-authorization-v1" ‖ u64_be(len D) ‖ D ‖ u64_be(len J) ‖ J). */
export function authorizationDigest(domain, payload) {
  const label = utf8(domain);
  const body = utf8(JSON.stringify(payload));
  return sha256(concat(utf8(AUTHORIZATION_PREFIX), u64be(label.length), label, u64be(body.length), body));
}

export function authorize(secret, domain, payload) {
  return secp256k1.sign(authorizationDigest(domain, payload), secret, { prehash: false, lowS: true, format: 'compact' });
}

/** libsecp256k1's default ECDH: SHA256(0x02|parity(d·P) ‖ x(d·P)). */
export function ecdh(secret, pubkey) {
  return sha256(secp256k1.getSharedSecret(secret, pubkey, true));
}

/** ECIES to a compressed secp256k1 key: E[33] ‖ nonce[12] ‖ ciphertext‖tag. */
export function eciesEncrypt(recipient, plaintext, { ephemeralSecret = null, nonce = null } = {}) {
  let ephemeral = ephemeralSecret;
  while (ephemeral === null) {
    const candidate = randomBytes(32);
    const n = scalarOf(candidate);
    if (n > 0n && n < CURVE_ORDER) ephemeral = candidate;
  }
  let shared;
  try {
    secp256k1.Point.fromBytes(recipient);
    shared = ecdh(ephemeral, recipient);
  } catch {
    throw new RegistrationError('ECIES: invalid recipient key');
  }
  const iv = nonce ?? randomBytes(12);
  if (iv.length !== 12) throw new RegistrationError('nonce: expected 12 bytes');
  const body = gcm(hkdf32(shared, ECIES_INFO), iv).encrypt(plaintext);
  return concat(publicKey(ephemeral), iv, body);
}

// -- the slot ---------------------------------------------------------------------------------

function need(obj, name, what) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new RegistrationError(`${what}: expected an object`);
  if (!(name in obj)) throw new RegistrationError(`${what}: missing field \`${name}\``);
  return obj[name];
}

function uuidField(value, what) {
  if (typeof value !== 'string' || !UUID.test(value)) throw new RegistrationError(`${what}: expected a UUID`);
  return value;
}

function intField(value, what, high = 2 ** 53 - 1) {
  if (!Number.isInteger(value) || value < 0 || value > high) throw new RegistrationError(`${what}: expected an integer in range`);
  return value;
}

function hexField(value, what, largest, smallest = 0) {
  if (typeof value !== 'string' || value.length % 2 || !/^[0-9a-fA-F]*$/.test(value)) throw new RegistrationError(`${what}: expected hex`);
  const bytes = fromHex(value);
  if (bytes.length < smallest || bytes.length > largest) throw new RegistrationError(`${what}: wrong length`);
  return bytes;
}

/** The coordinator's slot JSON, checked as SlotOffer.from_json checks it. */
export function parseSlot(value) {
  const ctx = need(value, 'context', 'slot');
  const w = 'slot.context';
  const manifest = need(ctx, 'manifest_hash', w);
  if (!Array.isArray(manifest) || manifest.length !== 32 || !manifest.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    throw new RegistrationError(`${w}.manifest_hash: expected 32 bytes`);
  }
  const approval = need(ctx, 'require_signing_approval', w);
  if (typeof approval !== 'boolean') throw new RegistrationError(`${w}.approval: expected a boolean`);
  const slot = {
    keygenSessionId: uuidField(need(ctx, 'keygen_session_id', w), w),
    manifestHash: Uint8Array.from(manifest),
    userId: uuidField(need(ctx, 'user_id', w), `${w}.user_id`),
    enclaveId: intField(need(ctx, 'enclave_id', w), `${w}.enclave_id`, 2 ** 32 - 1),
    enclaveKeyEpoch: intField(need(ctx, 'enclave_key_epoch', w), `${w}.epoch`),
    requireSigningApproval: approval,
    enclavePublicKey: hexField(need(value, 'enclave_public_key', 'slot'), 'enclave_public_key', 33, 33),
    attestationDocument: hexField(need(value, 'attestation_document', 'slot'), 'document', MAX_DOCUMENT_BYTES),
    attestationNonce: hexField(need(value, 'attestation_nonce', 'slot'), 'nonce', 32, 32),
  };
  if (intField(need(value, 'enclave_id', 'slot'), 'slot.enclave_id') !== slot.enclaveId
      || intField(need(value, 'enclave_key_epoch', 'slot'), 'slot.epoch') !== slot.enclaveKeyEpoch) {
    throw new RegistrationError("slot: enclave id or epoch differs from the context's");
  }
  try {
    secp256k1.Point.fromBytes(slot.enclavePublicKey);
  } catch {
    throw new RegistrationError('slot: the enclave key is not a secp256k1 point');
  }
  return slot;
}

/** The RegistrationContext JSON for `secret` (field order as keymeld's serde writes it). */
export function registrationContext(slot, secret) {
  return {
    keygen_session_id: slot.keygenSessionId,
    manifest_hash: Array.from(slot.manifestHash),
    user_id: slot.userId,
    enclave_id: slot.enclaveId,
    enclave_key_epoch: slot.enclaveKeyEpoch,
    public_key: Array.from(publicKey(secret)),
    auth_pubkey: Array.from(userAuthPubkey(secret, slot.keygenSessionId)),
    require_signing_approval: slot.requireSigningApproval,
  };
}

/** The RegistrationEnvelope JSON text: context, private key and proof of possession. */
export function envelopeJson(slot, secret) {
  const context = registrationContext(slot, secret);
  const proof = authorize(secret, REGISTRATION_POSSESSION, context);
  return JSON.stringify({ context, private_key: Array.from(secret), proof_signature: Array.from(proof) });
}

/**
 * Verify the enclave, then seal `secret` with its proof of possession to it. Resolves to the
 * SealedRegistration JSON; throws (AttestationError from nitro.js) before anything is
 * encrypted if the enclave does not verify. `ephemeralSecret`/`nonce` fix the ECIES randomness
 * (test vectors only).
 */
export async function sealRegistration(slot, secret, trust, { nowMs = Date.now(), ephemeralSecret = null, nonce = null } = {}) {
  if (!slot.attestationDocument.length) throw new AttestationError('input', 'the gateway returned no attestation document');
  await verifyAttestation(slot.attestationDocument, {
    challenge: slot.attestationNonce, expectedPublicKey: slot.enclavePublicKey, trust, nowMs,
  });
  checkSecret(secret, 'private key');
  const ciphertext = eciesEncrypt(slot.enclavePublicKey, utf8(envelopeJson(slot, secret)), { ephemeralSecret, nonce });
  return {
    user_id: slot.userId,
    public_key: toHex(publicKey(secret)),
    auth_pubkey: toHex(userAuthPubkey(secret, slot.keygenSessionId)),
    encrypted_envelope: toHex(ciphertext),
    enclave_key_epoch: slot.enclaveKeyEpoch,
  };
}
