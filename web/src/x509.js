// X.509 checks of a Nitro certificate chain: leaf ← CA bundle (minus its root) ← trust root
// (mirrors coordinator_core.nitro.chain, rule for rule and in the same order). Certificates are
// parsed with pkijs; every signature is checked with WebCrypto (ECDSA P-384 / SHA-384).
//
// Every certificate of the path, the root included, must be X.509 v3, signed with
// ECDSA/SHA-384 under its issuer's P-384 key (its own key P-384), valid at the verification
// instant (inclusive), carry no critical extension other than basic constraints, key usage,
// extended key usage and subject alternative name, and no name constraints; an extended key
// usage must include server authentication. CA certificates have basic constraints with cA
// true, a path length constraint (if any) at least the number of CA certificates below them,
// and a key usage (if any) with keyCertSign; the leaf is no CA and a key usage (if any) allows
// digitalSignature.
import * as pkijs from 'pkijs';
import { toHex } from './bytes.js';

const OID = {
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecPublicKey: '1.2.840.10045.2.1',
  p384: '1.3.132.0.34',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};
const UNDERSTOOD_CRITICAL = new Set([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName]);

export class CertificateProblem extends Error {}

const bytesOf = (buffer) => new Uint8Array(buffer);

/** A parsed certificate with the fields the checks read. */
export function parseCertificate(der, what) {
  let cert;
  try {
    cert = pkijs.Certificate.fromBER(der);
    void cert.issuer.valueBeforeDecode;
    void cert.notBefore.value.getTime();
    void cert.notAfter.value.getTime();
  } catch (error) {
    throw new CertificateProblem(`${what} is not a well-formed X.509 certificate: ${error.message ?? error}`);
  }
  const serial = cert.serialNumber.valueBlock.valueHexView;
  if (serial.length === 0 || (serial[0] & 0x80) !== 0 || serial.every((b) => b === 0)) {
    throw new CertificateProblem(`${what} has a serial number that is not positive`);
  }
  return { cert, der: Uint8Array.from(der) };
}

function spki(parsed) {
  return bytesOf(parsed.cert.subjectPublicKeyInfo.toSchema().toBER(false));
}

/** The certificate's public key as a WebCrypto key; it must be ECDSA P-384. */
export async function p384Key(parsed, what) {
  const info = parsed.cert.subjectPublicKeyInfo;
  const curve = info.algorithm.algorithmParams?.valueBlock?.toString?.();
  if (info.algorithm.algorithmId !== OID.ecPublicKey || curve !== OID.p384) {
    throw new CertificateProblem(`${what} does not have an ECDSA P-384 key`);
  }
  try {
    return await crypto.subtle.importKey('spki', spki(parsed), { name: 'ECDSA', namedCurve: 'P-384' }, false, ['verify']);
  } catch {
    throw new CertificateProblem(`${what} has an unreadable public key`);
  }
}

function extension(cert, oid) {
  return (cert.extensions ?? []).find((e) => e.extnID === oid);
}

function keyUsageBits(ext) {
  const block = ext.parsedValue?.valueBlock;
  const bits = block?.valueHexView ?? new Uint8Array();
  return {
    digitalSignature: bits.length > 0 && (bits[0] & 0x80) !== 0,
    keyCertSign: bits.length > 0 && (bits[0] & 0x04) !== 0,
  };
}

/** Per-certificate rules; `caBelow` is the number of CA certificates under a CA, null for the leaf. */
export async function checkCertificate(parsed, what, caBelow) {
  const { cert } = parsed;
  if (cert.version !== 2) throw new CertificateProblem(`${what} is not an X.509 v3 certificate`);
  if (cert.signatureAlgorithm.algorithmId !== OID.ecdsaWithSha384) {
    throw new CertificateProblem(`${what} is not signed with ECDSA/SHA-384`);
  }
  await p384Key(parsed, what);
  for (const ext of cert.extensions ?? []) {
    if (ext.extnID === OID.nameConstraints) {
      throw new CertificateProblem(`${what} has name constraints, which are not supported`);
    }
    if (ext.critical && !UNDERSTOOD_CRITICAL.has(ext.extnID)) {
      throw new CertificateProblem(`${what} has an unsupported critical extension ${ext.extnID}`);
    }
  }
  const eku = extension(cert, OID.extKeyUsage);
  if (eku && !(eku.parsedValue?.keyPurposes ?? []).includes(OID.serverAuth)) {
    throw new CertificateProblem(`${what} has an extended key usage without server auth`);
  }
  const constraints = extension(cert, OID.basicConstraints)?.parsedValue;
  const usage = extension(cert, OID.keyUsage);
  if (caBelow === null) {
    if (constraints?.cA) throw new CertificateProblem(`${what} is a CA certificate used as the signing leaf`);
    if (usage && !keyUsageBits(usage).digitalSignature) {
      throw new CertificateProblem(`${what} key usage does not allow digital signatures`);
    }
    return;
  }
  if (!constraints?.cA) throw new CertificateProblem(`${what} is not a CA certificate (basic constraints)`);
  const limit = constraints.pathLenConstraint;
  if (limit !== undefined) {
    const n = typeof limit === 'number' ? limit : limit.valueBlock.valueDec;
    if (caBelow > n) throw new CertificateProblem(`${what} allows ${n} CA certificates below it, has ${caBelow}`);
  }
  if (usage && !keyUsageBits(usage).keyCertSign) {
    throw new CertificateProblem(`${what} key usage does not allow certificate signing`);
  }
}

/** not_before ≤ now ≤ not_after (certificate times have second precision). */
export function checkValidity(parsed, what, nowMs) {
  const notBefore = Math.floor(parsed.cert.notBefore.value.getTime() / 1000) * 1000;
  const notAfter = Math.floor(parsed.cert.notAfter.value.getTime() / 1000) * 1000;
  if (nowMs < notBefore) throw new CertificateProblem(`${what} is not valid before ${parsed.cert.notBefore.value.toISOString()}`);
  if (nowMs > notAfter) throw new CertificateProblem(`${what} expired at ${parsed.cert.notAfter.value.toISOString()}`);
}

/** DER ECDSA-Sig-Value → 96-byte r ‖ s (null if malformed). */
export function derSignatureToRaw(der, size = 48) {
  let at = 0;
  const take = () => der[at++];
  const length = () => {
    let n = take();
    if (n & 0x80) {
      const count = n & 0x7f;
      if (count < 1 || count > 2) return -1;
      n = 0;
      for (let i = 0; i < count; i += 1) n = (n << 8) | take();
    }
    return n;
  };
  if (take() !== 0x30) return null;
  const total = length();
  if (total !== der.length - at) return null;
  const out = new Uint8Array(2 * size);
  for (let part = 0; part < 2; part += 1) {
    if (take() !== 0x02) return null;
    const n = length();
    if (n < 1 || at + n > der.length) return null;
    let value = der.subarray(at, at + n);
    at += n;
    if ((value[0] & 0x80) !== 0) return null; // negative
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > size) return null;
    out.set(value, part * size + size - value.length);
  }
  return at === der.length ? out : null;
}

/** `cert` names `issuer` as its issuer and carries a valid signature by its key. */
export async function checkIssuedBy(parsed, issuer, what) {
  const named = toHex(bytesOf(parsed.cert.issuer.valueBeforeDecode));
  const subject = toHex(bytesOf(issuer.cert.subject.valueBeforeDecode));
  if (named !== subject) throw new CertificateProblem(`${what} names another issuer`);
  let key;
  try {
    key = await p384Key(issuer, 'the issuer');
  } catch (error) {
    throw new CertificateProblem(`${what} cannot be checked against its issuer: ${error.message}`);
  }
  const raw = derSignatureToRaw(parsed.cert.signatureValue.valueBlock.valueHexView);
  const ok = raw !== null && await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-384' }, key, raw, parsed.cert.tbsView);
  if (!ok) throw new CertificateProblem(`${what} signature does not verify under its issuer`);
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Check the whole path at `nowMs`; returns the leaf's P-384 WebCrypto key. */
export async function verifyPath(leafDer, cabundle, rootDer, nowMs) {
  if (!cabundle.length || !sameBytes(cabundle[0], rootDer)) {
    throw new CertificateProblem('the CA bundle does not start with the pinned trust root');
  }
  const root = parseCertificate(rootDer, 'the trust root');
  const path = [parseCertificate(leafDer, 'the signing certificate')];
  const names = ['the signing certificate'];
  for (let index = cabundle.length - 1; index > 0; index -= 1) {
    const what = `CA bundle certificate ${index}`;
    path.push(parseCertificate(cabundle[index], what));
    names.push(what);
  }
  path.push(root);
  names.push('the trust root');
  for (let position = 0; position < path.length; position += 1) {
    const what = names[position];
    await checkCertificate(path[position], what, position === 0 ? null : position - 1);
    checkValidity(path[position], what, nowMs);
    await checkIssuedBy(path[position], path[position + 1] ?? root, what);
  }
  return p384Key(path[0], names[0]);
}
