// Byte helpers shared by the browser module (hex, utf-8, concatenation, tagged hashes).
import { sha256 } from '@noble/hashes/sha2.js';

const HEX = /^(?:[0-9a-f]{2})*$/;

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(text) {
  const lower = String(text).toLowerCase();
  if (!HEX.test(lower)) throw new Error('not a hex string');
  const out = new Uint8Array(lower.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(lower.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const utf8 = (text) => new TextEncoder().encode(text);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** BIP-340 tagged hash: SHA256(SHA256(tag) ‖ SHA256(tag) ‖ message). */
export function taggedHash(tag, message) {
  const tagHash = sha256(utf8(tag));
  return sha256(concat(tagHash, tagHash, message));
}

/** The 16 bytes of a UUID written in its canonical text form. */
export function uuidBytes(text) {
  const hex = String(text).toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(hex)) {
    throw new Error('not a UUID');
  }
  return fromHex(hex.replaceAll('-', ''));
}

export function base64(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

export function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export { sha256 };
