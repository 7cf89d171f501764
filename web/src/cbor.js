// The CBOR subset of Nitro attestation documents, decoded strictly (mirrors
// coordinator_core.nitro.cbor_gate, which admits exactly this before cbor2 decodes it):
//
// * one data item, no trailing bytes; nesting at most MAX_DEPTH deep;
// * integers, byte strings, UTF-8 text strings, arrays, maps, false/true/null;
// * every head in its shortest form; definite-length strings (arrays and maps may be
//   indefinite-length);
// * map keys are integers or text strings, and no key appears twice in a map;
// * no tags, no floating-point or other simple values.
//
// Decoded values: integers as Number when safe, else BigInt; byte strings as Uint8Array; text
// as string; arrays as Array; maps as Map (keys as decoded). `encode` writes the few values
// the COSE Sig_structure needs, in the shortest form (as cbor2.dumps does).

export const MAX_DEPTH = 8;

export class CborError extends Error {}

const UINT = 0;
const NEGINT = 1;
const BYTES = 2;
const TEXT = 3;
const ARRAY = 4;
const MAP = 5;
const TAG = 6;
const SIMPLE = 7;
const INDEFINITE = -1n;
const BREAK = 0xff;
const WIDTH = { 24: 1, 25: 2, 26: 4, 27: 8 };
const MIN_FOR_WIDTH = { 24: 24n, 25: 1n << 8n, 26: 1n << 16n, 27: 1n << 32n };
const utf8 = new TextDecoder('utf-8', { fatal: true });

function head(data, pos) {
  if (pos >= data.length) throw new CborError('truncated data item');
  const initial = data[pos];
  const major = initial >> 5;
  const info = initial & 0x1f;
  pos += 1;
  if (info < 24) return { major, info, value: BigInt(info), pos };
  if (info === 31) {
    if (major !== ARRAY && major !== MAP) throw new CborError('only arrays and maps may have an indefinite length');
    return { major, info, value: INDEFINITE, pos };
  }
  if (info > 27) throw new CborError(`reserved additional information ${info}`);
  const width = WIDTH[info];
  if (pos + width > data.length) throw new CborError('truncated data item head');
  let value = 0n;
  for (let i = 0; i < width; i += 1) value = (value << 8n) | BigInt(data[pos + i]);
  if (major !== SIMPLE && value < MIN_FOR_WIDTH[info]) throw new CborError('a data item head is not in its shortest form');
  return { major, info, value, pos: pos + width };
}

function integer(value) {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

function item(data, pos, depth) {
  const h = head(data, pos);
  pos = h.pos;
  if (h.major === UINT) return { value: integer(h.value), pos };
  if (h.major === NEGINT) return { value: integer(-1n - h.value), pos };
  if (h.major === BYTES || h.major === TEXT) {
    if (h.value > BigInt(data.length - pos)) throw new CborError('a string runs past the end of the data');
    const end = pos + Number(h.value);
    const raw = data.slice(pos, end);
    if (h.major === BYTES) return { value: raw, pos: end };
    try {
      return { value: utf8.decode(raw), pos: end };
    } catch {
      throw new CborError('a text string is not valid UTF-8');
    }
  }
  if (h.major === ARRAY || h.major === MAP) {
    if (depth >= MAX_DEPTH) throw new CborError(`nesting deeper than ${MAX_DEPTH}`);
    const isMap = h.major === MAP;
    if (h.value !== INDEFINITE && h.value * (isMap ? 2n : 1n) > BigInt(data.length - pos)) {
      throw new CborError('a container claims more items than the data holds');
    }
    const out = isMap ? new Map() : [];
    const seen = new Set();
    let count = 0n;
    while (h.value === INDEFINITE || count < h.value) {
      if (h.value === INDEFINITE) {
        if (pos >= data.length) throw new CborError('an indefinite-length container is not terminated');
        if (data[pos] === BREAK) return { value: out, pos: pos + 1 };
      }
      if (isMap) {
        if (pos >= data.length || ![UINT, NEGINT, TEXT].includes(data[pos] >> 5)) {
          throw new CborError('a map key is not an integer or a text string');
        }
        const key = item(data, pos, depth + 1);
        const rawKey = Array.from(data.subarray(pos, key.pos)).join(',');
        if (seen.has(rawKey)) throw new CborError('a map key appears twice');
        seen.add(rawKey);
        const entry = item(data, key.pos, depth + 1);
        out.set(key.value, entry.value);
        pos = entry.pos;
      } else {
        const entry = item(data, pos, depth + 1);
        out.push(entry.value);
        pos = entry.pos;
      }
      count += 1n;
    }
    return { value: out, pos };
  }
  if (h.major === TAG) throw new CborError(`tag ${h.value} is not allowed`);
  if (h.info === 20) return { value: false, pos };
  if (h.info === 21) return { value: true, pos };
  if (h.info === 22) return { value: null, pos };
  throw new CborError('floating-point and simple values other than false/true/null are not allowed');
}

/** Decode one data item of the admitted subset (throws CborError otherwise). */
export function decode(data) {
  const { value, pos } = item(data, 0, 0);
  if (pos !== data.length) throw new CborError(`${data.length - pos} trailing bytes after the data item`);
  return value;
}

function encodeHead(major, length) {
  const n = BigInt(length);
  if (n < 24n) return [(major << 5) | Number(n)];
  for (const [info, width] of [[24, 1], [25, 2], [26, 4], [27, 8]]) {
    if (n < 1n << BigInt(8 * width)) {
      const out = [(major << 5) | info];
      for (let i = width - 1; i >= 0; i -= 1) out.push(Number((n >> BigInt(8 * i)) & 0xffn));
      return out;
    }
  }
  throw new CborError('length too large');
}

/** Encode strings, byte strings and arrays of them (enough for a Sig_structure). */
export function encode(value) {
  const parts = [];
  const walk = (v) => {
    if (typeof v === 'string') {
      const bytes = new TextEncoder().encode(v);
      parts.push(Uint8Array.from(encodeHead(TEXT, bytes.length)), bytes);
    } else if (v instanceof Uint8Array) {
      parts.push(Uint8Array.from(encodeHead(BYTES, v.length)), v);
    } else if (Array.isArray(v)) {
      parts.push(Uint8Array.from(encodeHead(ARRAY, v.length)));
      v.forEach(walk);
    } else {
      throw new CborError('cannot encode this value');
    }
  };
  walk(value);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
