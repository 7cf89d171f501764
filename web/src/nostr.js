// Nostr identity in the browser: a local secret key or a NIP-07 extension, NIP-98 request
// signatures over the exact body sent, and NIP-44 encryption to oneself.
import { randomBytes } from '@noble/hashes/utils.js';
import { finalizeEvent, getPublicKey, generateSecretKey } from 'nostr-tools/pure';
import * as nip19 from 'nostr-tools/nip19';
import * as nip44 from 'nostr-tools/nip44';
import { base64, sha256, toHex, utf8 } from './bytes.js';

export const KIND_HTTP_AUTH = 27235;

/** A signer over a secret key held in this page (it never leaves the browser). */
export class LocalSigner {
  constructor(secret) {
    if (!(secret instanceof Uint8Array) || secret.length !== 32) {
      throw new Error('a nostr secret key is 32 bytes');
    }
    this.secret = secret;
    this.pubkey = getPublicKey(secret);
    this.kind = 'local';
  }

  static generate() {
    return new LocalSigner(generateSecretKey());
  }

  static fromNsec(nsec) {
    const decoded = nip19.decode(nsec.trim());
    if (decoded.type !== 'nsec') throw new Error('not an nsec key');
    return new LocalSigner(decoded.data);
  }

  get nsec() {
    return nip19.nsecEncode(this.secret);
  }

  async getPublicKey() {
    return this.pubkey;
  }

  async signEvent(template) {
    return finalizeEvent(template, this.secret);
  }

  async encryptToSelf(plaintext) {
    return nip44.v2.encrypt(plaintext, nip44.v2.utils.getConversationKey(this.secret, this.pubkey));
  }

  async decryptFromSelf(ciphertext) {
    return nip44.v2.decrypt(ciphertext, nip44.v2.utils.getConversationKey(this.secret, this.pubkey));
  }
}

/** A signer through a NIP-07 browser extension (`window.nostr`); the key stays in it. */
export class ExtensionSigner {
  constructor(extension, pubkey) {
    this.extension = extension;
    this.pubkey = pubkey;
    this.kind = 'extension';
  }

  static async connect(win = window) {
    const extension = win.nostr;
    if (!extension || typeof extension.getPublicKey !== 'function') {
      throw new Error('No Nostr browser extension (NIP-07) was found in this browser.');
    }
    const pubkey = await extension.getPublicKey();
    if (!/^[0-9a-f]{64}$/.test(pubkey)) throw new Error('The extension returned an invalid key.');
    return new ExtensionSigner(extension, pubkey);
  }

  async getPublicKey() {
    return this.pubkey;
  }

  async signEvent(template) {
    const event = await this.extension.signEvent(template);
    if (event.pubkey !== this.pubkey) throw new Error('The extension signed with another key.');
    return event;
  }

  async encryptToSelf(plaintext) {
    if (!this.extension.nip44) throw new Error('The extension does not support NIP-44.');
    return this.extension.nip44.encrypt(this.pubkey, plaintext);
  }

  async decryptFromSelf(ciphertext) {
    if (!this.extension.nip44) throw new Error('The extension does not support NIP-44.');
    return this.extension.nip44.decrypt(this.pubkey, ciphertext);
  }
}

/** SHA-256 hex of the exact body bytes (the NIP-98 `payload` tag). */
export function payloadHash(body) {
  const bytes = typeof body === 'string' ? utf8(body) : body;
  return toHex(sha256(bytes));
}

/**
 * The `Authorization` header value for one request (NIP-98). A random `nonce` tag makes every
 * event unique, so the same request repeated within a second is not refused as a replay.
 */
export async function nip98Header(signer, url, method, body = null, now = null) {
  const tags = [
    ['u', url],
    ['method', method.toUpperCase()],
  ];
  if (body !== null && body !== undefined) tags.push(['payload', payloadHash(body)]);
  tags.push(['nonce', toHex(randomBytes(16))]);
  const event = await signer.signEvent({
    kind: KIND_HTTP_AUTH,
    created_at: now ?? Math.floor(Date.now() / 1000),
    tags,
    content: '',
  });
  return `Nostr ${base64(utf8(JSON.stringify(event)))}`;
}

export const npubEncode = (pubkeyHex) => nip19.npubEncode(pubkeyHex);
