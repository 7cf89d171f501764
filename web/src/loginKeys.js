// Login keys: the password never leaves the browser.
//
// stretched = scrypt(password, tagged_hash("login-salt", lowercase(username)), N=2^17, r=8, p=1)
// login key = tagged_hash("login-auth", stretched)        (sent; the server stores argon2 of it)
// vault key = tagged_hash("login-vault", stretched)       (seals the nsec, never sent)
// sealed nsec = base64(nonce[24] ‖ XChaCha20-Poly1305(vault key, nonce, nsec, aad))
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { base64, concat, fromBase64, taggedHash, toHex, utf8 } from './bytes.js';

export const SCRYPT = { N: 2 ** 17, r: 8, p: 1, dkLen: 32 };
export const VAULT_AAD = 'coordinator/nostr-key/v1';

export async function stretch(username, password, params = SCRYPT) {
  const salt = taggedHash('login-salt', utf8(username.toLowerCase()));
  return scryptAsync(utf8(password.normalize('NFC')), salt, params);
}

export function loginKeys(stretched) {
  return {
    loginKey: toHex(taggedHash('login-auth', stretched)),
    vaultKey: taggedHash('login-vault', stretched),
  };
}

export function sealNsec(vaultKey, nsec, nonce = randomBytes(24)) {
  const box = xchacha20poly1305(vaultKey, nonce, utf8(VAULT_AAD));
  return base64(concat(nonce, box.encrypt(utf8(nsec))));
}

export function openNsec(vaultKey, sealed) {
  const raw = fromBase64(sealed);
  if (raw.length < 24 + 16) throw new Error('the stored key is damaged');
  const box = xchacha20poly1305(vaultKey, raw.slice(0, 24), utf8(VAULT_AAD));
  try {
    return new TextDecoder().decode(box.decrypt(raw.slice(24)));
  } catch {
    throw new Error('Wrong password: the stored key could not be opened.');
  }
}

/** Client-side password rules (the server never sees the password). */
export function passwordProblem(password, confirm) {
  if (password.length < 10) return 'The password must be at least 10 characters long.';
  if (!/[a-z]/.test(password) || !/[A-Z]/.test(password) || !/[0-9]/.test(password)) {
    return 'The password needs a lowercase letter, an uppercase letter and a digit.';
  }
  if (!/[^A-Za-z0-9]/.test(password)) return 'The password needs a special character.';
  if (confirm !== undefined && confirm !== password) return 'The passwords do not match.';
  return null;
}

export function usernameProblem(username) {
  if (username.length < 3) return 'The username must be at least 3 characters long.';
  if (username.length > 32) return 'The username must be at most 32 characters long.';
  if (!/^[A-Za-z]/.test(username)) return 'The username must start with a letter.';
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(username)) {
    return 'The username may hold only letters, digits, "_" and "-".';
  }
  return null;
}
