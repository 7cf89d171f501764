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
import { solve } from './pow.js';

const STORAGE_KEY = 'forecast.session';

/** Account routes of the coordinator API, in one place. */
export const ROUTES = {
  usernameRegister: '/api/v1/users/username/register',
  usernameLogin: '/api/v1/users/username/login',
  nostrRegister: '/api/v1/users/register',
  nostrLogin: '/api/v1/users/login',
  pow: '/api/v1/users/pow',
  forgotPassword: '/api/v1/users/username/forgot-password',
  resetPassword: '/api/v1/users/username/reset-password',
};

/** A solved sign-up proof of work: `{pow_challenge, pow_nonce}` for the register body. */
async function proofOfWork() {
  const issued = await callApi(ROUTES.pow, { method: 'POST' });
  if (!issued || typeof issued.challenge !== 'string' || !Number.isInteger(issued.difficulty)) {
    throw new Error('The coordinator sent a malformed sign-up challenge.');
  }
  return { pow_challenge: issued.challenge, pow_nonce: await solve(issued.challenge, issued.difficulty) };
}

/** Register with a fresh proof of work; one retry when the challenge was refused. */
async function register(path, body, signer) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await callApi(path, { method: 'POST', body: { ...body, ...(await proofOfWork()) }, signer });
    } catch (error) {
      if (attempt === 0 && error.body?.code === 'pow_rejected') continue;
      throw error;
    }
  }
}

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
  const keys = loginKeys(await stretch(draft.username, draft.password));
  const { loginKey, vaultKey } = keys;
  const body = {
    username: draft.username,
    password: loginKey,
    encrypted_nsec: sealNsec(vaultKey, draft.signer.nsec),
    nostr_pubkey: npubEncode(draft.signer.pubkey),
    encrypted_bitcoin_private_key: await draft.signer.encryptToSelf(toHex(draft.seed)),
    network,
  };
  await register(ROUTES.usernameRegister, body, null);
  // A taken username answers the same as a new one; logging in tells them apart.
  try {
    return await loginWithKeys(draft.username, keys, network);
  } catch (error) {
    if (error.message === INVALID_LOGIN) throw new Error('That username is taken; choose another one.');
    throw error;
  }
}

const INVALID_LOGIN = 'Invalid username or password.';

export async function usernameLogin(username, password, network) {
  if (!username || !password) throw new Error('Enter your username and password.');
  const problem = usernameProblem(username);
  if (problem) throw new Error(INVALID_LOGIN);
  return loginWithKeys(username, loginKeys(await stretch(username, password)), network);
}

async function loginWithKeys(username, { loginKey, vaultKey }, network) {
  let user;
  try {
    user = await callApi(ROUTES.usernameLogin, { method: 'POST', body: { username, password: loginKey } });
  } catch (error) {
    if (error.status === 401 || error.status === 403 || error.status === 404) {
      throw new Error(INVALID_LOGIN);
    }
    throw error;
  }
  if (typeof user?.encrypted_nsec !== 'string') throw new Error('The account has no stored key.');
  const signer = LocalSigner.fromNsec(openNsec(vaultKey, user.encrypted_nsec));
  if (user.nostr_pubkey && user.nostr_pubkey !== npubEncode(signer.pubkey)) {
    throw new Error('The stored key does not belong to this account.');
  }
  checkNetwork(user, network);
  return new Session(signer, await walletSeedFrom(signer, user), username);
}

export async function extensionSignup(network) {
  const signer = await ExtensionSigner.connect();
  const seed = randomBytes(32);
  const body = { encrypted_bitcoin_private_key: await signer.encryptToSelf(toHex(seed)), network };
  try {
    await register(ROUTES.nostrRegister, body, signer);
  } catch (error) {
    if (error.status === 409) throw new Error('This key has an account already: log in instead.');
    throw error;
  }
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

/**
 * Forgotten password: the saved secret key signs the server's single-use challenge, and the
 * same key is sealed again under the new password (mirrors coordinator_core.login_keys).
 */
export async function resetPassword(username, nsec, password, confirm) {
  const problem = usernameProblem(username) ?? passwordProblem(password, confirm);
  if (problem) throw new Error(problem);
  let signer;
  try {
    signer = LocalSigner.fromNsec(nsec);
  } catch {
    throw new Error('That is not a valid secret key (nsec1…).');
  }
  const issued = await callApi(ROUTES.forgotPassword, { method: 'POST', body: { username } });
  if (issued?.nostr_pubkey && issued.nostr_pubkey !== npubEncode(signer.pubkey)) {
    throw new Error('This secret key does not belong to that account.');
  }
  const signed = await signer.signEvent({
    kind: 27235, created_at: Math.floor(Date.now() / 1000), tags: [], content: issued.challenge,
  });
  const { loginKey, vaultKey } = loginKeys(await stretch(username, password));
  await callApi(ROUTES.resetPassword, {
    method: 'POST',
    body: {
      username,
      challenge: issued.challenge,
      signed_event: JSON.stringify(signed),
      new_password: loginKey,
      new_encrypted_nsec: sealNsec(vaultKey, signer.nsec),
    },
  });
}
