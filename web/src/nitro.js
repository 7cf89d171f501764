// Verification of an AWS Nitro Enclaves attestation document before anything is sealed to an
// enclave key (mirrors coordinator_core.nitro: the same checks, in the same order, with the
// same names). Each failure throws AttestationError naming its check:
//
//  1. policy: a PCR policy is given (fail closed without one)
//  2. input: the document is 1 B – 64 KiB (hex text: even length, hex digits only); the
//     challenge, if any, is 32 bytes; the expected key is a secp256k1 point
//  3. cose / cose-header: COSE_Sign1, tagged (18) or untagged; protected alg ES384; no crit;
//     no unprotected alg
//  4. payload: the CBOR Nitro payload's shape
//  5. chain: leaf ← CA bundle minus its root ← trust root at now (x509.js)
//  6. signature: the COSE signature under the leaf key
//  7. timestamp: now − 300 s ≤ timestamp ≤ now + 30 s
//  8. nonce: equals the challenge (with no challenge: the document carries no nonce)
//  9. public-key: present and the expected enclave key
// 10. debug: PCR0, PCR1, PCR2 present and not all zero
// 11. pcr: every pinned PCR equal
//
// Trust: the AWS Nitro Enclaves Root G1 is bundled and pinned by its SHA-256; another root (the
// devnet gateway's) is accepted only outside the production profile (attestationTrust).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CborError, decode, encode } from './cbor.js';
import { fromBase64, fromHex, sha256, toHex } from './bytes.js';
import { CertificateProblem, checkCertificate, checkIssuedBy, parseCertificate, verifyPath } from './x509.js';

export const MAX_DOCUMENT_BYTES = 64 * 1024;
export const CHALLENGE_BYTES = 32;
export const MAX_AGE_MS = 300_000;
export const MAX_AHEAD_MS = 30_000;
const MAX_CERTIFICATE_BYTES = 1024;
const MAX_CABUNDLE = 10;
const MAX_BLOB_BYTES = 1024;
const PCR_BYTES = 48;
const MAX_PCR_INDEX = 31;
const IDENTITY_PCRS = [0, 8];
const DEBUG_PCRS = [0, 1, 2];
const COSE_TAG_BYTE = 0xc0 | 18;
const HEADER_ALG = 1;
const HEADER_CRIT = 2;
const ES384 = -35;
const SIGNATURE_BYTES = 96;
export const NON_PRODUCTION_PROFILES = new Set(['development', 'test']);

export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';
export const AWS_NITRO_ROOT_G1_PEM = `-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
`;

export class AttestationError extends Error {
  constructor(check, message) {
    super(`enclave attestation refused (${check}): ${message}`);
    this.check = check;
  }
}

/** A configuration problem (policy or trust root), as coordinator_core's ConfigError. */
export class TrustConfigError extends Error {}

// -- policy and trust roots -----------------------------------------------------------------

/** Pinned PCR values by index, from `{"PCR0": "<96 hex>", "8": "…"}` (mirrors PcrPolicy). */
export function pcrPolicy(pinsHex) {
  const pins = new Map();
  for (const [name, value] of Object.entries(pinsHex ?? {})) {
    const match = /^(?:PCR)?([0-9]{1,2})$/.exec(String(name));
    if (!match) throw new TrustConfigError(`not a PCR name: ${name} (use PCR0 … PCR31)`);
    const index = Number(match[1]);
    if (pins.has(index)) throw new TrustConfigError(`PCR${index} is pinned twice`);
    if (typeof value !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new TrustConfigError(`PCR${index} pin is not hex`);
    pins.set(index, fromHex(value));
  }
  if (!IDENTITY_PCRS.some((i) => pins.has(i))) {
    throw new TrustConfigError('an attestation policy must pin PCR0 (image) or PCR8 (image signer)');
  }
  for (const [index, value] of pins) {
    if (index > MAX_PCR_INDEX) throw new TrustConfigError(`PCR index must be 0..${MAX_PCR_INDEX}, got ${index}`);
    if (value.length !== PCR_BYTES) throw new TrustConfigError(`PCR${index} pin must be ${PCR_BYTES} bytes`);
    if (value.every((b) => b === 0)) throw new TrustConfigError(`PCR${index} pin is all zero (a debug-mode measurement)`);
  }
  return { pins: new Map([...pins].sort((a, b) => a[0] - b[0])) };
}

export function pemToDer(pem) {
  const blocks = [...String(pem).matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
  if (blocks.length !== 1) throw new TrustConfigError(`attestation trust root: expected one certificate, got ${blocks.length}`);
  try {
    return fromBase64(blocks[0][1].replace(/\s+/g, ''));
  } catch {
    throw new TrustConfigError('attestation trust root: not a PEM certificate');
  }
}

/** A self-signed P-384 CA certificate signed with ECDSA/SHA-384 (mirrors TrustRoot.from_der). */
export async function trustRoot(der) {
  try {
    const parsed = parseCertificate(der, 'the trust root');
    await checkCertificate(parsed, 'the trust root', 0);
    await checkIssuedBy(parsed, parsed, 'the trust root');
  } catch (error) {
    if (error instanceof CertificateProblem) throw new TrustConfigError(`unusable attestation trust root: ${error.message}`);
    throw error;
  }
  const digest = toHex(sha256(der));
  return { der: Uint8Array.from(der), sha256: digest, isAwsNitroRoot: digest === AWS_NITRO_ROOT_G1_SHA256 };
}

let awsRoot = null;
export async function awsNitroRootG1() {
  if (awsRoot === null) {
    const root = await trustRoot(pemToDer(AWS_NITRO_ROOT_G1_PEM));
    if (!root.isAwsNitroRoot) throw new Error('the bundled AWS Nitro Root G1 does not match its pinned SHA-256');
    awsRoot = root;
  }
  return awsRoot;
}

/**
 * Policy and trust root (mirrors coordinator_core.nitro.attestation_trust): a PCR0 or PCR8 pin
 * is required; production always uses the bundled AWS Nitro Root G1 and refuses another root;
 * development and test use `rootPem` when given.
 */
export async function attestationTrust(profile, { pcrPins, rootPem = null }) {
  if (!pcrPins || Object.keys(pcrPins).length === 0) {
    throw new TrustConfigError('enclave attestation needs a PCR policy: pin PCR0 (image) or PCR8 (image signer)');
  }
  const policy = pcrPolicy(pcrPins);
  if (!rootPem) return { policy, trustRoot: await awsNitroRootG1() };
  if (!NON_PRODUCTION_PROFILES.has(profile)) {
    throw new TrustConfigError(`the ${profile} profile verifies enclaves against the pinned AWS Nitro Root G1 only`);
  }
  return { policy, trustRoot: await trustRoot(pemToDer(rootPem)) };
}

// -- the document ---------------------------------------------------------------------------

function documentBytes(document) {
  let raw = document;
  if (typeof document === 'string') {
    if (document.length > 2 * MAX_DOCUMENT_BYTES) throw new AttestationError('input', 'the document is larger than 64 KiB');
    if (document.length % 2 || !/^[0-9a-fA-F]*$/.test(document)) throw new AttestationError('input', 'the document is not hex');
    raw = fromHex(document);
  } else if (!(document instanceof Uint8Array)) {
    throw new AttestationError('input', 'the document is neither bytes nor hex text');
  }
  if (!raw.length) throw new AttestationError('input', 'the document is empty');
  if (raw.length > MAX_DOCUMENT_BYTES) throw new AttestationError('input', 'the document is larger than 64 KiB');
  return raw;
}

/** Compressed form of a 33-byte compressed or 65-byte uncompressed secp256k1 key, or null. */
function secp256k1Key(data) {
  if (!(data instanceof Uint8Array)) return null;
  if (!((data.length === 33 && (data[0] === 2 || data[0] === 3)) || (data.length === 65 && data[0] === 4))) return null;
  try {
    return secp256k1.Point.fromBytes(data).toBytes(true);
  } catch {
    return null;
  }
}

function equal(a, b) {
  return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Parse a COSE_Sign1 message and check its headers (mirrors cose.decode_sign1). */
export function decodeSign1(data) {
  const body = data[0] === COSE_TAG_BYTE ? data.subarray(1) : data;
  let message;
  try {
    message = decode(body);
  } catch (error) {
    if (error instanceof CborError) throw new AttestationError('cose', `the document is not well-formed CBOR: ${error.message}`);
    throw error;
  }
  if (!Array.isArray(message) || message.length !== 4) {
    throw new AttestationError('cose', 'the document is not a COSE_Sign1 array of four items');
  }
  const [protectedHeader, unprotected, payload, signature] = message;
  if (!(protectedHeader instanceof Uint8Array)) throw new AttestationError('cose', 'the protected header is not a byte string');
  if (!(unprotected instanceof Map)) throw new AttestationError('cose', 'the unprotected header is not a map');
  if (!(payload instanceof Uint8Array)) throw new AttestationError('cose', 'the payload is not an embedded byte string');
  if (!(signature instanceof Uint8Array)) throw new AttestationError('cose', 'the signature is not a byte string');
  let header;
  try {
    header = protectedHeader.length ? decode(protectedHeader) : new Map();
  } catch (error) {
    if (error instanceof CborError) throw new AttestationError('cose-header', `the protected header is malformed: ${error.message}`);
    throw error;
  }
  if (!(header instanceof Map)) throw new AttestationError('cose-header', 'the protected header is not a map');
  const alg = header.get(HEADER_ALG);
  if (alg !== ES384) throw new AttestationError('cose-header', `protected alg must be ES384 (-35), got ${alg === undefined ? 'None' : alg}`);
  if (header.has(HEADER_CRIT) || unprotected.has(HEADER_CRIT)) {
    throw new AttestationError('cose-header', 'critical header parameters (crit) are not supported');
  }
  if (unprotected.has(HEADER_ALG)) throw new AttestationError('cose-header', 'alg must not appear in the unprotected header');
  if (signature.length !== SIGNATURE_BYTES) {
    throw new AttestationError('cose', `an ES384 signature is ${SIGNATURE_BYTES} bytes, got ${signature.length}`);
  }
  return { protectedHeader, payload, signature };
}

const isBlob = (v, smallest, largest) => v instanceof Uint8Array && v.length >= smallest && v.length <= largest;

function optionalBlob(fields, name, smallest) {
  const value = fields.get(name);
  if (value === undefined || value === null) return null;
  if (!isBlob(value, smallest, MAX_BLOB_BYTES)) throw new AttestationError('payload', `${name} must be ${smallest}–${MAX_BLOB_BYTES} bytes`);
  return value;
}

/** Shape-check a Nitro payload (mirrors verify.parse_payload). */
export function parsePayload(data) {
  let fields;
  try {
    fields = decode(data);
  } catch (error) {
    if (error instanceof CborError) throw new AttestationError('payload', `the payload is not well-formed CBOR: ${error.message}`);
    throw error;
  }
  if (!(fields instanceof Map) || ![...fields.keys()].every((k) => typeof k === 'string')) {
    throw new AttestationError('payload', 'the payload is not a map with text keys');
  }
  const moduleId = fields.get('module_id');
  if (typeof moduleId !== 'string' || !moduleId) throw new AttestationError('payload', 'module_id is missing or empty');
  const digest = fields.get('digest');
  if (digest !== 'SHA384') throw new AttestationError('payload', `digest must be SHA384, got ${JSON.stringify(digest ?? null)}`);
  const timestamp = fields.get('timestamp');
  const isUint = (typeof timestamp === 'number' && Number.isInteger(timestamp) && timestamp >= 0)
    || (typeof timestamp === 'bigint' && timestamp >= 0n && timestamp < 1n << 64n);
  if (!isUint) throw new AttestationError('payload', 'timestamp is not an unsigned integer');
  const certificate = fields.get('certificate');
  if (!isBlob(certificate, 1, MAX_CERTIFICATE_BYTES)) throw new AttestationError('payload', 'certificate must be 1–1024 bytes');
  const cabundle = fields.get('cabundle');
  if (!Array.isArray(cabundle) || cabundle.length < 1 || cabundle.length > MAX_CABUNDLE
      || !cabundle.every((c) => isBlob(c, 1, MAX_CERTIFICATE_BYTES))) {
    throw new AttestationError('payload', 'cabundle must hold 1–10 certificates of 1–1024 bytes');
  }
  const pcrs = fields.get('pcrs');
  if (!(pcrs instanceof Map) || pcrs.size === 0) throw new AttestationError('payload', 'pcrs must be a non-empty map');
  for (const [index, measurement] of pcrs) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > MAX_PCR_INDEX) {
      throw new AttestationError('payload', `PCR index must be 0..${MAX_PCR_INDEX}`);
    }
    if (!isBlob(measurement, PCR_BYTES, PCR_BYTES)) throw new AttestationError('payload', `PCR${index} is not ${PCR_BYTES} bytes`);
  }
  return {
    moduleId,
    digest,
    timestampMs: Number(timestamp),
    pcrs,
    certificate,
    cabundle,
    publicKey: optionalBlob(fields, 'public_key', 1),
    userData: optionalBlob(fields, 'user_data', 0),
    nonce: optionalBlob(fields, 'nonce', 0),
  };
}

async function verifyEs384(key, message, signature) {
  if (signature.length !== SIGNATURE_BYTES) return false;
  if (signature.subarray(0, 48).every((b) => b === 0) || signature.subarray(48).every((b) => b === 0)) return false;
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, key, signature, message);
}

/**
 * Verify `document` (COSE_Sign1 bytes or their hex). Resolves to what it attests, or throws
 * AttestationError (never anything else for any document). `challenge` is the fresh 32-byte
 * nonce the gateway forwarded; `trust` comes from attestationTrust.
 */
export async function verifyAttestation(document, { challenge, expectedPublicKey, trust, nowMs }) {
  if (!trust?.policy) throw new AttestationError('policy', 'no PCR policy is configured; enclaves cannot be trusted (fail closed)');
  const raw = documentBytes(document);
  if (challenge !== null && challenge !== undefined && challenge.length !== CHALLENGE_BYTES) {
    throw new AttestationError('input', `the challenge must be ${CHALLENGE_BYTES} bytes`);
  }
  const expectedKey = secp256k1Key(expectedPublicKey);
  if (expectedKey === null) throw new AttestationError('input', 'the expected enclave key is not a secp256k1 key');

  const message = decodeSign1(raw);
  const payload = parsePayload(message.payload);
  let leafKey;
  try {
    leafKey = await verifyPath(payload.certificate, payload.cabundle, trust.trustRoot.der, nowMs);
  } catch (error) {
    if (error instanceof CertificateProblem) throw new AttestationError('chain', error.message);
    throw error;
  }
  const toBeSigned = encode(['Signature1', message.protectedHeader, new Uint8Array(), message.payload]);
  if (!await verifyEs384(leafKey, toBeSigned, message.signature)) {
    throw new AttestationError('signature', 'the COSE signature does not verify under the leaf');
  }
  const age = nowMs - payload.timestampMs;
  if (age > MAX_AGE_MS) throw new AttestationError('timestamp', `the document is ${(age / 1000).toFixed(3)} s old (max 300 s)`);
  if (-age > MAX_AHEAD_MS) throw new AttestationError('timestamp', `the document is dated ${(-age / 1000).toFixed(3)} s ahead (max 30 s)`);
  const wanted = challenge ?? null;
  if (!(payload.nonce === null && wanted === null) && !equal(payload.nonce, wanted)) {
    let reason = "the document's nonce is not the challenge";
    if (payload.nonce === null) reason = 'the document carries no nonce';
    else if (wanted === null) reason = 'the document carries a nonce but no challenge was given';
    throw new AttestationError('nonce', reason);
  }
  if (payload.publicKey === null) throw new AttestationError('public-key', 'the document binds no enclave public key');
  const attestedKey = secp256k1Key(payload.publicKey);
  if (attestedKey === null) throw new AttestationError('public-key', 'the attested public key is not a secp256k1 key');
  if (!equal(attestedKey, expectedKey)) throw new AttestationError('public-key', "the attested key is not the enclave's key");
  for (const index of DEBUG_PCRS) {
    const value = payload.pcrs.get(index);
    if (!value || value.every((b) => b === 0)) {
      throw new AttestationError('debug', `PCR${index} is missing or zero (a debug-mode or unmeasured enclave)`);
    }
  }
  for (const [index, pinned] of trust.policy.pins) {
    if (!equal(payload.pcrs.get(index), pinned)) throw new AttestationError('pcr', `PCR${index} does not match the pinned measurement`);
  }
  return {
    moduleId: payload.moduleId,
    timestampMs: payload.timestampMs,
    pcrs: payload.pcrs,
    publicKey: attestedKey,
    nonce: payload.nonce,
    userData: payload.userData,
  };
}
