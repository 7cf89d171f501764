// Sign-up proof of work (mirrors coordinator_core.pow): the smallest u64 nonce such that
// SHA-256(base64url-decoded challenge ‖ nonce as 8 bytes big-endian) starts with at least
// `difficulty` zero bits.
import { sha256 } from '@noble/hashes/sha2.js';

export function challengeBytes(challenge) {
  const text = challenge.replaceAll('-', '+').replaceAll('_', '/');
  const padded = text + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

/** Solve a challenge; yields to the page every 4096 hashes so it stays responsive. */
export async function solve(challenge, difficulty) {
  const prefix = challengeBytes(challenge);
  const input = new Uint8Array(prefix.length + 8);
  input.set(prefix);
  const view = new DataView(input.buffer);
  for (let nonce = 0n; ; nonce += 1n) {
    view.setBigUint64(prefix.length, nonce, false);
    if (leadingZeroBits(sha256(input)) >= difficulty) return nonce.toString();
    if ((nonce & 4095n) === 4095n) await new Promise((resolve) => { setTimeout(resolve, 0); });
  }
}
