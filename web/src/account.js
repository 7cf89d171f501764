// The player's account in this browser: who is logged in, their signer and wallet seed.
//
// A username account keeps its nostr key sealed by the password (loginKeys.js) on the server;
// an extension account keeps it in the extension. Either way the wallet seed is stored on the
// server NIP-44-encrypted to the player's own key and decrypted here. While logged in, the
// session (the key and seed of a username account, only the public key of an extension
// account) stays in this tab's sessionStorage.
import { callApi } from './api.js';
import { fromHex, toHex } from './bytes.js';
import { loginKeys, openNsec, sealNsec, stretch, passwordProblem, usernameProblem } from './loginKeys.js';
import { ExtensionSigner, LocalSigner, npubEncode } from './nostr.js';
import { randomBytes } from '@noble/hashes/utils.js';

const STORAGE_KEY = 'forecast.session';

/** Account routes of the coordinator API, in one place. */
export const ROUTES = {
  usernameRegister: '/api/v1/users/username/register',
  usernameLogin: '/api/v1/users/username/login',
  nostrRegister: '/api/v1/users/register',
  nostrLogin: '/api/v1/users/login',
};

export class Session {
  constructor(signer, seed, name) {
    this.signer = signer;
    this.seed = seed;
    this.name = name;
  }

  get pubkey() {
    return this.signer.pubkey;
  }

  get label() {
    return this.name ?? `${npubEncode(this.signer.pubkey).slice(0, 12)}…`;
  }

  save(storage = window.sessionStorage) {
    const data = { name: this.name, kind: this.signer.kind, pubkey: this.signer.pubkey };
    if (this.signer.kind === 'local') {
      data.secret = toHex(this.signer.secret);
      data.seed = toHex(this.seed);
    } else {
      data.seed = toHex(this.seed); // the seed, not the nostr key, which stays in the extension
    }
    storage.setItem(STORAGE_KEY, JSON.stringify(data));
  }

  static async restore(storage = window.sessionStorage) {
    const raw = storage.getItem(STORAGE_KEY);
    if (!raw) return null;
    try {
      const data = JSON.parse(raw);
      const signer = data.kind === 'local'
        ? new LocalSigner(fromHex(data.secret))
        : await ExtensionSigner.connect();
      if (signer.pubkey !== data.pubkey) throw new Error('the extension key changed');
      return new Session(signer, fromHex(data.seed), data.name ?? null);
    } catch {
      storage.removeItem(STORAGE_KEY);
      return null;
    }
  }

  static forget(storage = window.sessionStorage) {
    storage.removeItem(STORAGE_KEY);
  }
}

async function walletSeedFrom(signer, user) {
  const sealed = user?.encrypted_bitcoin_private_key;
  if (typeof sealed !== 'string' || !sealed) throw new Error('The account has no wallet key stored.');
  let text;
  try {
    text = await signer.decryptFromSelf(sealed);
  } catch {
    throw new Error('Your wallet key could not be decrypted with your key.');
  }
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error('The stored wallet key is not valid.');
  return fromHex(text);
}

function checkNetwork(user, network) {
  if (user?.network && user.network !== network) {
    throw new Error(`This account is for ${user.network}, but this coordinator runs on ${network}.`);
  }
}

/** Step 1 of a username sign-up: checks, a fresh key and wallet seed (not yet sent). */
export function prepareUsernameSignup(username, password, confirm) {
  const problem = usernameProblem(username) ?? passwordProblem(password, confirm);
  if (problem) throw new Error(problem);
  return { username, password, signer: LocalSigner.generate(), seed: randomBytes(32) };
}

/** Step 2: the key is backed up; register the account and log in. */
export async function completeUsernameSignup(draft, network) {
  const { loginKey, vaultKey } = loginKeys(await stretch(draft.username, draft.password));
  const body = {
    username: draft.username,
    login_key: loginKey,
    encrypted_nsec: sealNsec(vaultKey, draft.signer.nsec),
    encrypted_bitcoin_private_key: await draft.signer.encryptToSelf(toHex(draft.seed)),
    network,
  };
  await callApi(ROUTES.usernameRegister, { method: 'POST', body, signer: draft.signer });
  return new Session(draft.signer, draft.seed, draft.username);
}

export async function usernameLogin(username, password, network) {
  if (!username || !password) throw new Error('Enter your username and password.');
  const { loginKey, vaultKey } = loginKeys(await stretch(username, password));
  let user;
  try {
    user = await callApi(ROUTES.usernameLogin, { method: 'POST', body: { username, login_key: loginKey } });
  } catch (error) {
    if (error.status === 401 || error.status === 403 || error.status === 404) {
      throw new Error('Invalid username or password.');
    }
    throw error;
  }
  const signer = LocalSigner.fromNsec(openNsec(vaultKey, user.encrypted_nsec));
  checkNetwork(user, network);
  return new Session(signer, await walletSeedFrom(signer, user), username);
}

export async function extensionSignup(network) {
  const signer = await ExtensionSigner.connect();
  const seed = randomBytes(32);
  const body = { encrypted_bitcoin_private_key: await signer.encryptToSelf(toHex(seed)), network };
  await callApi(ROUTES.nostrRegister, { method: 'POST', body, signer });
  return new Session(signer, seed, null);
}

export async function extensionLogin(network) {
  const signer = await ExtensionSigner.connect();
  let user;
  try {
    user = await callApi(ROUTES.nostrLogin, { method: 'POST', signer });
  } catch (error) {
    if (error.status === 401 || error.status === 404) throw new Error('No account for this key yet: sign up first.');
    throw error;
  }
  checkNetwork(user, network);
  return new Session(signer, await walletSeedFrom(signer, user), user?.username ?? null);
}
