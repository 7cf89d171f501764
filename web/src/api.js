// Calls to the coordinator's JSON API; every authenticated call carries a NIP-98 signature
// over the absolute URL, the method and the SHA-256 of the exact body bytes sent.
import { nip98Header } from './nostr.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Readable text of a coordinator error answer ({"error": "..."} or {"error": {"detail"}}). */
export function errorMessage(status, body) {
  let detail = null;
  if (body && typeof body === 'object') {
    const error = body.error ?? body.detail;
    if (error && typeof error === 'object') detail = error.detail ?? error.message ?? null;
    else if (error !== undefined) detail = String(error);
  } else if (typeof body === 'string' && body.trim()) {
    detail = body.trim().slice(0, 300);
  }
  if (status === 401) return detail ? `Please log in again (${detail}).` : 'Please log in again.';
  if (status === 429) return 'Too many requests; wait a moment and try again.';
  if (status >= 500) return detail ? `The coordinator failed: ${detail}` : 'The coordinator failed; try again later.';
  return detail ? sentence(detail) : `The request was refused (HTTP ${status}).`;
}

/** A message as a sentence: capitalised, with a full stop ("the window is over" → "The window is over."). */
function sentence(text) {
  const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?)]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

export function absoluteUrl(path) {
  return new URL(path, window.location.origin).href;
}

/**
 * One request. `body` (an object) is sent as compact JSON; with a signer the request is
 * signed (NIP-98). Returns the decoded JSON (or null); throws ApiError or a network Error.
 */
export async function callApi(path, { method = 'GET', body = undefined, signer = null } = {}) {
  const url = absoluteUrl(path);
  const text = body === undefined ? null : JSON.stringify(body);
  const headers = { Accept: 'application/json' };
  if (text !== null) headers['Content-Type'] = 'application/json';
  if (signer) headers.Authorization = await nip98Header(signer, url, method, text);
  let response;
  try {
    response = await fetch(url, { method, headers, body: text, credentials: 'same-origin' });
  } catch {
    throw new Error('Network error: the coordinator could not be reached. Check your connection and try again.');
  }
  const raw = await response.text();
  let decoded = null;
  if (raw.trim()) {
    try {
      decoded = JSON.parse(raw);
    } catch {
      decoded = raw;
    }
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, decoded), decoded);
  return decoded;
}
