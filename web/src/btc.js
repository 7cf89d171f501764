// Bitcoin transaction pieces the contract checks need, byte for byte as ticketdlc.bitcoin:
// serialization and txids, minimal integer pushes, BIP-341 signature hashes (SIGHASH_DEFAULT,
// key and script path), taproot trees built with rust-bitcoin's Huffman construction, output
// keys and control blocks, weight prediction.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { concat, sha256, taggedHash, toHex } from './bytes.js';

export const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
export const TAPSCRIPT_LEAF_VERSION = 0xc0;
export const SEQUENCE_LOCKTIME_ENABLED = 0xfffffffe;
export const P2A_SCRIPT = Uint8Array.from([0x51, 0x02, 0x4e, 0x73]);
export const P2TR_DUST_VALUE = 330n;
const MAX_HUFFMAN_WEIGHT = 0xffffffff;
const OP = { OP_0: 0x00, OP_1NEGATE: 0x4f, OP_1: 0x51, OP_DROP: 0x75, OP_EQUALVERIFY: 0x88, OP_SHA256: 0xa8, OP_CHECKSIG: 0xac, OP_CSV: 0xb2 };

export const bytesToBig = (b) => BigInt(`0x${toHex(b) || '0'}`);
export function bigToBytes(n, size = 32) {
  const out = new Uint8Array(size);
  let v = n;
  for (let i = size - 1; i >= 0; i -= 1) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function compactSize(n) {
  if (n < 0xfd) return Uint8Array.from([n]);
  if (n <= 0xffff) return Uint8Array.from([0xfd, n & 0xff, n >> 8]);
  const out = new Uint8Array(5);
  out[0] = 0xfe;
  new DataView(out.buffer).setUint32(1, n, true);
  return out;
}
const compactSizeLen = (n) => (n < 0xfd ? 1 : n <= 0xffff ? 3 : 5);
export const serBytes = (b) => concat(compactSize(b.length), b);

function le32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0, true);
  return out;
}
function le64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

// -- transactions ----------------------------------------------------------------------------
// tx = {version, inputs: [{txid (internal order), vout, sequence, witness: [Uint8Array]}],
//       outputs: [{value: BigInt, script: Uint8Array}], locktime}

export const serOutput = (o) => concat(le64(o.value), serBytes(o.script));
const serOutpoint = (i) => concat(i.txid, le32(i.vout));

export function serializeTx(tx, withWitness = true) {
  const segwit = withWitness && tx.inputs.some((i) => i.witness && i.witness.length);
  const parts = [le32(tx.version)];
  if (segwit) parts.push(Uint8Array.from([0, 1]));
  parts.push(compactSize(tx.inputs.length));
  for (const i of tx.inputs) parts.push(serOutpoint(i), serBytes(new Uint8Array()), le32(i.sequence));
  parts.push(compactSize(tx.outputs.length));
  for (const o of tx.outputs) parts.push(serOutput(o));
  if (segwit) {
    for (const i of tx.inputs) {
      const stack = i.witness ?? [];
      parts.push(compactSize(stack.length), ...stack.map(serBytes));
    }
  }
  parts.push(le32(tx.locktime));
  return concat(...parts);
}

export const txid = (tx) => sha256(sha256(serializeTx(tx, false)));
export const txidHex = (tx) => toHex(txid(tx).slice().reverse());

/** BIP-341 sighash, SIGHASH_DEFAULT, of input `index` (script path with `leafHash`). */
export function taprootSighash(tx, index, prevouts, leafHash = null) {
  const shaPrevouts = sha256(concat(...tx.inputs.map(serOutpoint)));
  const shaAmounts = sha256(concat(...prevouts.map((o) => le64(o.value))));
  const shaScripts = sha256(concat(...prevouts.map((o) => serBytes(o.script))));
  const shaSequences = sha256(concat(...tx.inputs.map((i) => le32(i.sequence))));
  const shaOutputs = sha256(concat(...tx.outputs.map(serOutput)));
  const parts = [
    Uint8Array.from([0x00, 0x00]), le32(tx.version), le32(tx.locktime),
    shaPrevouts, shaAmounts, shaScripts, shaSequences, shaOutputs,
    Uint8Array.from([leafHash === null ? 0 : 2]), le32(index),
  ];
  if (leafHash !== null) parts.push(leafHash, Uint8Array.from([0x00]), le32(0xffffffff));
  return taggedHash('TapSighash', concat(...parts));
}

// -- scripts ---------------------------------------------------------------------------------

function scriptNum(value) {
  const out = [];
  const negative = value < 0;
  let abs = Math.abs(value);
  while (abs > 0) {
    out.push(abs & 0xff);
    abs = Math.floor(abs / 256);
  }
  if (out[out.length - 1] & 0x80) out.push(negative ? 0x80 : 0x00);
  else if (negative) out[out.length - 1] |= 0x80;
  return Uint8Array.from(out);
}

/** rust-bitcoin's push_int: OP_0, OP_1NEGATE, OP_1..OP_16, else a minimal CScriptNum push. */
export function pushInt(value) {
  if (value === 0) return Uint8Array.from([OP.OP_0]);
  if (value === -1) return Uint8Array.from([OP.OP_1NEGATE]);
  if (value >= 1 && value <= 16) return Uint8Array.from([OP.OP_1 + value - 1]);
  const data = scriptNum(value);
  return concat(Uint8Array.from([data.length]), data); // at most 75 bytes: a direct push
}

export const p2trScript = (xonly) => concat(Uint8Array.from([OP.OP_1, 32]), xonly);
const hashlock = (hash) => concat(Uint8Array.from([OP.OP_SHA256, 32]), hash, Uint8Array.from([OP.OP_EQUALVERIFY]));
const checksig = (xonly) => concat(Uint8Array.from([32]), xonly, Uint8Array.from([OP.OP_CHECKSIG]));
const csv = (blocks) => concat(pushInt(blocks), Uint8Array.from([OP.OP_CSV, OP.OP_DROP]));

export function outcomeSplitLeaf(ticketHash, outcomeKeyXonly, commitment) {
  const prefix = commitment === null ? new Uint8Array() : concat(pushInt(commitment), Uint8Array.from([OP.OP_DROP]));
  return concat(prefix, hashlock(ticketHash), checksig(outcomeKeyXonly));
}
export const reclaimLeaf = (delay, mmXonly) => concat(csv(delay), checksig(mmXonly));
export const sellbackLeaf = (payoutHash, mmXonly) => concat(hashlock(payoutHash), checksig(mmXonly));
export const winLeaf = (delta, ticketHash, playerXonly) => concat(csv(delta), hashlock(ticketHash), checksig(playerXonly));

// -- taproot ---------------------------------------------------------------------------------

export const leafHash = (script) => taggedHash('TapLeaf', concat(Uint8Array.from([TAPSCRIPT_LEAF_VERSION]), serBytes(script)));

function compare(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
export const sameBytes = (a, b) => a.length === b.length && compare(a, b) === 0;

export function branchHash(a, b) {
  return compare(b, a) < 0 ? taggedHash('TapBranch', concat(b, a)) : taggedHash('TapBranch', concat(a, b));
}

export function tapTweak(internalXonly, merkleRoot) {
  const t = bytesToBig(taggedHash('TapTweak', merkleRoot ? concat(internalXonly, merkleRoot) : internalXonly));
  if (t >= CURVE_ORDER) throw new Error('tap tweak out of range');
  return t;
}

export function liftX(xonly) {
  return secp256k1.Point.fromBytes(concat(Uint8Array.from([2]), xonly));
}

/** Tweaked output key: { xonly, parity }. */
export function outputKey(internalXonly, merkleRoot) {
  const t = tapTweak(internalXonly, merkleRoot);
  const q = liftX(internalXonly).add(secp256k1.Point.BASE.multiply(t));
  const bytes = q.toBytes(true);
  return { xonly: bytes.slice(1), parity: bytes[0] === 3 ? 1 : 0 };
}

/**
 * rust-bitcoin's TaprootSpendInfo::with_huffman_tree: join the two lightest nodes (weights
 * saturate at 2^32-1); among equal weights the largest hash goes first (then insertion order).
 * Returns { internal, merkleRoot, outputKey, parity, paths: Map(hex script → [hashes]) , scriptPubkey }.
 */
export function huffmanTree(internalXonly, weighted) {
  let counter = 0;
  let nodes = weighted.map(([weight, script]) => ({
    weight, hash: leafHash(script), order: counter++, leaves: [{ script, path: [] }],
  }));
  if (!nodes.length) throw new Error('a script tree needs at least one leaf');
  const lighter = (a, b) => (a.weight !== b.weight ? a.weight - b.weight : compare(b.hash, a.hash) || a.order - b.order);
  while (nodes.length > 1) {
    nodes.sort(lighter);
    const [a, b] = nodes;
    for (const leaf of a.leaves) leaf.path.push(b.hash);
    for (const leaf of b.leaves) leaf.path.push(a.hash);
    nodes = [{
      weight: Math.min(a.weight + b.weight, MAX_HUFFMAN_WEIGHT), hash: branchHash(a.hash, b.hash),
      order: counter++, leaves: [...a.leaves, ...b.leaves],
    }, ...nodes.slice(2)];
  }
  const root = nodes[0];
  const key = outputKey(internalXonly, root.hash);
  const paths = new Map();
  for (const { script, path } of root.leaves) {
    const id = toHex(script);
    if (!paths.has(id) || path.length < paths.get(id).length) paths.set(id, path);
  }
  return {
    internal: internalXonly, merkleRoot: root.hash, outputKey: key.xonly, parity: key.parity,
    paths, scriptPubkey: p2trScript(key.xonly),
    controlBlock(script) {
      const path = paths.get(toHex(script));
      if (!path) throw new Error('leaf not in this tree');
      return concat(Uint8Array.from([TAPSCRIPT_LEAF_VERSION | key.parity]), internalXonly, ...path);
    },
    maxDepth: Math.max(...[...paths.values()].map((p) => p.length)),
  };
}

// -- weights and fees (rust-bitcoin predict_weight) -----------------------------------------

export const P2TR_KEY_SPEND = { scriptLen: 0, witness: [64] };

function inputWeight(input) {
  let witness = 0;
  if (input.witness.length) witness = input.witness.reduce((n, e) => n + e + compactSizeLen(e), 0) + compactSizeLen(input.witness.length);
  return 4 * (input.scriptLen + compactSizeLen(input.scriptLen)) + witness;
}

export function predictWeight(inputs, outputScriptLens) {
  const inputsWeight = inputs.reduce((n, i) => n + inputWeight(i), 0) + 4 * 40 * inputs.length;
  const withWitness = inputs.filter((i) => i.witness.length).length;
  const nonInput = 4 + compactSizeLen(inputs.length) + compactSizeLen(outputScriptLens.length)
    + outputScriptLens.reduce((n, len) => n + 8 + len + compactSizeLen(len), 0) + 4;
  let weight = 4 * nonInput + inputsWeight;
  if (withWitness) weight += inputs.length - withWitness + 2;
  return weight;
}

export const feeForWeight = (feeRate, weight) => (BigInt(feeRate) * BigInt(weight) + 999n) / 1000n;

// -- signatures ------------------------------------------------------------------------------

export function verifySchnorr(xonly, msg, signature) {
  try {
    return schnorr.verify(signature, msg, xonly);
  } catch {
    return false;
  }
}

/** A 65-byte adaptor signature ser33(R) ‖ s under adaptor point T (musig2 crate convention):
 * s·G == ±R + e·P with the parity and e = H(x(R+T), x(P), m) decided by R + T. */
export function verifyAdaptor(xonly, msg, signature, adaptorPoint) {
  try {
    if (signature.length !== 65) return false;
    const nonce = secp256k1.Point.fromBytes(signature.slice(0, 33));
    const s = bytesToBig(signature.slice(33));
    if (s >= CURVE_ORDER) return false;
    const pubkey = liftX(xonly);
    const adapted = adaptorPoint ? nonce.add(adaptorPoint) : nonce;
    if (adapted.equals(secp256k1.Point.ZERO)) return false;
    const adaptedBytes = adapted.toBytes(true);
    const e = bytesToBig(taggedHash('BIP0340/challenge', concat(adaptedBytes.slice(1), xonly, msg))) % CURVE_ORDER;
    const effective = adaptedBytes[0] === 2 ? nonce : nonce.negate();
    const right = e === 0n ? effective : effective.add(pubkey.multiply(e));
    const left = s === 0n ? secp256k1.Point.ZERO : secp256k1.Point.BASE.multiply(s);
    return left.equals(right);
  } catch {
    return false;
  }
}

/** The witness stack of input `vin` of a serialized transaction (null if it has none). */
export function witnessOf(raw, vin) {
  let at = 0;
  const take = (n) => {
    if (at + n > raw.length) throw new Error('truncated transaction');
    const out = raw.subarray(at, at + n);
    at += n;
    return out;
  };
  const varint = () => {
    const first = take(1)[0];
    if (first < 0xfd) return first;
    const width = first === 0xfd ? 2 : first === 0xfe ? 4 : 8;
    let n = 0;
    take(width).forEach((b, i) => { n += b * 2 ** (8 * i); });
    return n;
  };
  take(4);
  let segwit = false;
  if (raw[at] === 0 && raw[at + 1] === 1) {
    segwit = true;
    take(2);
  }
  const inputs = varint();
  for (let i = 0; i < inputs; i += 1) {
    take(36);
    take(varint());
    take(4);
  }
  const outputs = varint();
  for (let i = 0; i < outputs; i += 1) {
    take(8);
    take(varint());
  }
  if (!segwit || vin >= inputs) return null;
  for (let i = 0; i < inputs; i += 1) {
    const stack = [];
    const count = varint();
    for (let j = 0; j < count; j += 1) stack.push(Uint8Array.from(take(varint())));
    if (i === vin) return stack;
  }
  return null;
}
