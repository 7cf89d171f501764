// A player checks its own payout paths in the public contract (mirrors
// coordinator.player.verify.verify_payout_paths, check by check and with the same names).
//
// From the contract parameters and the funding outpoint the browser rebuilds, for every
// outcome that pays the player, the outcome transaction (spending the funding output), the
// split transaction and the player's split output (its script rebuilt from the player's own
// keys), as ticketdlc.contract builds them (dlctix layout, outcome-bound or legacy, anchors),
// and verifies the aggregated signatures the player relies on (the adaptor signature of each
// outcome it wins, the expiry signature, its split leaves) against the rebuilt sighashes.
// The membership and terms checks compare the contract with what the player knows: its entry
// key, ticket hash and payout hash, and the competition's published terms.
import { keyAggregate, keyAggExport } from '@scure/btc-signer/musig2.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { fromHex, toHex } from './bytes.js';
import {
  P2A_SCRIPT, P2TR_DUST_VALUE, P2TR_KEY_SPEND, SEQUENCE_LOCKTIME_ENABLED, feeForWeight, huffmanTree,
  leafHash, outcomeSplitLeaf, p2trScript, predictWeight, reclaimLeaf, sameBytes, sellbackLeaf,
  taprootSighash, txid, txidHex, verifyAdaptor, verifySchnorr, winLeaf,
} from './btc.js';

const EXPIRY = 'exp';
const MIN_ANCHOR_SATS = 240;
const MAX_ANCHOR_SATS = 1000;
const MAX_RELATIVE_LOCKTIME_BLOCK_DELTA = 0x7fff;
const MAX_LEAF_WEIGHT = 0xffffffff;
const U32_MAX = 0xffffffff;
const MAX_MONEY = 21_000_000n * 100_000_000n;
const PLACE_WEIGHTS = { 1: [100], 2: [60, 40], 3: [45, 35, 20], 4: [42, 30, 18, 10], 5: [40, 27, 16, 9, 8] };
const MAX_OUTCOMES = 20_000;

export class ContractError extends Error {}

// -- parameters -------------------------------------------------------------------------------

const outcomeCode = (name) => (name === EXPIRY ? Infinity : Number(name.slice(3)));
const byOutcome = (a, b) => outcomeCode(a) - outcomeCode(b);

function hexOf(value, size, what) {
  if (typeof value !== 'string' || value.length !== 2 * size || !/^[0-9a-fA-F]*$/.test(value)) {
    throw new ContractError(`${what}: expected ${size} bytes of hex`);
  }
  return fromHex(value);
}

function pointOf(value, what) {
  const bytes = hexOf(value, 33, what);
  if (bytes.every((b) => b === 0)) return null;
  try {
    secp256k1.Point.fromBytes(bytes);
  } catch {
    throw new ContractError(`${what}: not a valid point`);
  }
  return bytes;
}

function uint(value, what, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new ContractError(`${what}: expected an unsigned integer`);
  return value;
}

/** ContractParameters from their JSON (ticketdlc.contract.jsoncodec.params_from_json). */
export function parseParams(obj) {
  if (!obj || typeof obj !== 'object') throw new ContractError('params: expected an object');
  const players = (obj.players ?? []).map((p, i) => ({
    pubkey: pointOf(p.pubkey, `players[${i}].pubkey`),
    ticketHash: hexOf(p.ticket_hash, 32, `players[${i}].ticket_hash`),
    payoutHash: hexOf(p.payout_hash, 32, `players[${i}].payout_hash`),
  }));
  const payouts = new Map();
  for (const name of Object.keys(obj.outcome_payouts ?? {}).sort(byOutcome)) {
    if (!/^(att(0|[1-9][0-9]{0,19})|exp)$/.test(name)) throw new ContractError(`invalid outcome ${name}`);
    const weights = new Map();
    for (const [player, weight] of Object.entries(obj.outcome_payouts[name]).sort((a, b) => Number(a[0]) - Number(b[0]))) {
      weights.set(uint(Number(player), `outcome_payouts.${name}`), uint(weight, `outcome_payouts.${name}.${player}`));
    }
    payouts.set(name, weights);
  }
  const expiry = obj.event?.expiry;
  const bound = obj.outcome_bound_splits ?? false;
  if (typeof bound !== 'boolean') throw new ContractError('outcome_bound_splits: expected a boolean');
  return {
    marketMaker: pointOf(obj.market_maker?.pubkey, 'market_maker.pubkey'),
    players,
    lockingPoints: (obj.event?.locking_points ?? []).map((p, i) => pointOf(p, `event.locking_points[${i}]`)),
    expiry: expiry === null || expiry === undefined ? null : uint(expiry, 'event.expiry', U32_MAX),
    payouts,
    feeRate: uint(obj.fee_rate, 'fee_rate'),
    fundingValue: BigInt(uint(obj.funding_value, 'funding_value')),
    delta: uint(obj.relative_locktime_block_delta, 'relative_locktime_block_delta', 0xffff),
    outcomeBound: bound,
    anchor: obj.anchor ? uint(obj.anchor.value, 'anchor.value') : null,
  };
}

/** validate_stored: every safety rule except the legacy shared-winners rule. */
function validateStored(p) {
  const fail = (rule, message) => new ContractError(`${rule}: ${message}`);
  if (!p.payouts.size) throw fail('EmptyOutcomePayouts', 'the contract has no outcomes');
  const tickets = new Set();
  const payoutHashes = new Set();
  p.players.forEach((player, i) => {
    if (player.pubkey === null) throw fail('InvalidPubkey', `player ${i} has no key`);
    const t = toHex(player.ticketHash);
    const h = toHex(player.payoutHash);
    if (tickets.has(t)) throw fail('DuplicateTicketHash', `player ${i} repeats a ticket hash`);
    if (payoutHashes.has(h)) throw fail('DuplicatePayoutHash', `player ${i} repeats a payout hash`);
    tickets.add(t);
    payoutHashes.add(h);
  });
  if ([...tickets].some((t) => payoutHashes.has(t))) throw fail('TicketPayoutHashCollision', 'a payout hash equals a ticket hash');
  const keys = new Set([toHex(p.marketMaker)]);
  p.players.forEach((player, i) => {
    const k = toHex(player.pubkey);
    if (keys.has(k)) throw fail('DuplicatePubkey', `player ${i} shares its public key with another player or the market maker`);
    keys.add(k);
  });
  p.lockingPoints.forEach((point, i) => {
    if (point === null) throw fail('InvalidLockingPoint', `locking point ${i} is the point at infinity`);
  });
  for (const [outcome, weights] of p.payouts) {
    const valid = outcome === EXPIRY ? p.expiry !== null : outcomeCode(outcome) < p.lockingPoints.length;
    if (!valid) throw fail('UnknownOutcome', `the event cannot produce outcome ${outcome}`);
    if (!weights.size) throw fail('EmptyPayoutMap', `outcome ${outcome} pays nobody`);
    for (const [player, weight] of weights) {
      if (weight <= 0) throw fail('InvalidPayoutWeight', `outcome ${outcome}: weight ${weight} of ${player}`);
      if (player >= p.players.length) throw fail('OutOfBoundsPlayerIndex', `outcome ${outcome} pays unknown player ${player}`);
    }
  }
  if (p.feeRate <= 0) throw fail('InvalidFeeRate', 'the fee rate must be positive');
  if (p.delta <= 0 || p.delta > MAX_RELATIVE_LOCKTIME_BLOCK_DELTA) throw fail('InvalidLocktime', 'the relative locktime delta is out of range');
  if (p.expiry !== null && p.expiry <= 0) throw fail('InvalidExpiry', 'the expiry must be a non-zero u32 locktime');
  if (p.fundingValue <= 0n || p.fundingValue > MAX_MONEY) throw fail('InvalidFundingValue', 'the funding value must be positive and at most 21M BTC');
  if (p.anchor !== null && p.anchor < MIN_ANCHOR_SATS) throw fail('InvalidAnchorValue', 'the anchor value must be at least 240 sats');
}

// -- the contract's outputs and transactions ---------------------------------------------------

function keyContext(points) {
  const sorted = points.map((p) => Uint8Array.from(p)).sort((a, b) => (toHex(a) < toHex(b) ? -1 : 1));
  return { pubkeys: sorted, xonly: keyAggExport(keyAggregate(sorted)) };
}

function subtractFee(available, fee) {
  if (fee >= available) throw new ContractError(`InsufficientFunds: fee ${fee} is not below ${available}`);
  const value = available - fee;
  if (value <= P2TR_DUST_VALUE) throw new ContractError(`DustAmount: output of ${value} sats is dust`);
  return value;
}

const anchorLens = (p) => (p.anchor === null ? [] : [P2A_SCRIPT.length]);
const winnersOf = (p, outcome) => [...p.payouts.get(outcome).keys()];
const commitmentOf = (outcome) => (outcome === EXPIRY ? -1 : outcomeCode(outcome));

/** Everything of the contract a player needs for one outcome, built as ticketdlc builds it. */
class Rebuilt {
  constructor(p, fundingOutpoint) {
    this.p = p;
    const [txidHex, vout] = fundingOutpoint.split(':');
    if (!/^[0-9a-f]{64}$/.test(txidHex ?? '') || !/^(0|[1-9][0-9]*)$/.test(vout ?? '')) throw new ContractError('funding outpoint: expected txid:vout');
    this.fundingInput = { txid: fromHex(txidHex).reverse(), vout: Number(vout), sequence: SEQUENCE_LOCKTIME_ENABLED, witness: [] };
    this.funding = keyContext([p.marketMaker, ...p.players.map((x) => x.pubkey)]);
    this.fundingOutput = { value: p.fundingValue, script: p2trScript(this.funding.xonly) };
    const fee = feeForWeight(p.feeRate, predictWeight([P2TR_KEY_SPEND], [34, ...anchorLens(p)]));
    this.outcomeValue = subtractFee(p.fundingValue, fee + BigInt(p.anchor ?? 0));
    this.anchorOutputs = p.anchor === null ? [] : [{ value: BigInt(p.anchor), script: P2A_SCRIPT }];
    this.splitInfos = new Map();
  }

  splitInfo(index) {
    if (!this.splitInfos.has(index)) {
      const { p } = this;
      const player = p.players[index];
      const mm = p.marketMaker.slice(1);
      const keys = keyContext([p.marketMaker, player.pubkey]);
      const sellback = sellbackLeaf(player.payoutHash, mm);
      const win = winLeaf(p.delta, player.ticketHash, player.pubkey.slice(1));
      const reclaim = reclaimLeaf(2 * p.delta, mm);
      const tree = huffmanTree(keys.xonly, [[2, sellback], [1, win], [1, reclaim]]);
      this.splitInfos.set(index, { keys, tree, sellback, win, reclaim, scriptPubkey: tree.scriptPubkey });
    }
    return this.splitInfos.get(index);
  }

  /** The outcome's output, outcome transaction, split transaction and sighashes (cached). */
  outcome(outcome) {
    this.outcomes ??= new Map();
    if (!this.outcomes.has(outcome)) {
      if (!this.p.payouts.has(outcome)) throw new ContractError(`the contract has no outcome ${outcome}`);
      this.outcomes.set(outcome, this.buildOutcome(outcome));
    }
    return this.outcomes.get(outcome);
  }

  /** The outcome whose outcome transaction has this txid (display hex), or null. */
  outcomeOfTx(txidHexText) {
    for (const outcome of this.p.payouts.keys()) {
      if (txidHex(this.outcome(outcome).outcomeTx) === txidHexText) return outcome;
    }
    return null;
  }

  buildOutcome(outcome) {
    const { p } = this;
    const winners = winnersOf(p, outcome);
    const keys = keyContext([p.marketMaker, ...winners.map((i) => p.players[i].pubkey)]);
    const commitment = p.outcomeBound ? commitmentOf(outcome) : null;
    const splitLeaves = new Map(winners.map((i) => [i, outcomeSplitLeaf(p.players[i].ticketHash, keys.xonly, commitment)]));
    const reclaim = reclaimLeaf(2 * p.delta, p.marketMaker.slice(1));
    const tree = huffmanTree(keys.xonly, [...[...splitLeaves.values()].map((s) => [1, s]), [MAX_LEAF_WEIGHT, reclaim]]);
    const output = { value: this.outcomeValue, script: tree.scriptPubkey };
    const outcomeTx = {
      version: 2, inputs: [this.fundingInput], outputs: [output, ...this.anchorOutputs],
      locktime: outcome === EXPIRY ? (p.expiry ?? 0) : 0,
    };
    const outcomeSighash = taprootSighash(outcomeTx, 0, [this.fundingOutput]);
    // Split: each winner's weighted share minus an equal share of the fee.
    const leafLen = splitLeaves.values().next().value.length;
    const splitInput = { scriptLen: 0, witness: [64, 32, leafLen, 33 + 32 * tree.maxDepth] };
    const fee = feeForWeight(p.feeRate, predictWeight([splitInput], [...winners.map(() => 34), ...anchorLens(p)]));
    const available = this.outcomeValue - BigInt(p.anchor ?? 0);
    if (available < 0n) throw new ContractError('InsufficientFunds: the anchor exceeds the outcome value');
    const weights = p.payouts.get(outcome);
    const total = [...weights.values()].reduce((n, w) => n + BigInt(w), 0n);
    const feeShare = fee / BigInt(winners.length);
    const splitOutputs = winners.map((i) => ({
      value: subtractFee((available * BigInt(weights.get(i))) / total, feeShare),
      script: this.splitInfo(i).scriptPubkey,
    }));
    const splitTx = {
      version: 2,
      inputs: [{ txid: txid(outcomeTx), vout: 0, sequence: p.delta, witness: [] }],
      outputs: [...splitOutputs, ...this.anchorOutputs],
      locktime: 0,
    };
    const splitSighashes = new Map(winners.map((i) => [i, taprootSighash(splitTx, 0, [output], leafHash(splitLeaves.get(i)))]));
    return { outcome, winners, keys, tree, splitLeaves, output, outcomeTx, outcomeSighash, splitTx, splitSighashes };
  }
}

// -- the competition's rules ------------------------------------------------------------------

function perm(n, k) {
  let out = 1;
  for (let i = 0; i < k; i += 1) out *= n - i;
  return out;
}

function* rankings(entries, places) {
  const used = new Array(entries).fill(false);
  const current = [];
  function* walk() {
    if (current.length === places) {
      yield [...current];
      return;
    }
    for (let i = 0; i < entries; i += 1) {
      if (used[i]) continue;
      used[i] = true;
      current.push(i);
      yield* walk();
      current.pop();
      used[i] = false;
    }
  }
  yield* walk();
}

function equalSplit(players) {
  const share = Math.floor(100 / players);
  const extra = 100 % players;
  return new Map(Array.from({ length: players }, (_, i) => [i, share + (i < extra ? 1 : 0)]));
}

/** competition_payouts: rank weights per ranking, equal split for refund-all and expiry. */
function competitionPayouts(entries, places, withExpiry) {
  const out = new Map();
  let index = 0;
  for (const ranking of rankings(entries, places)) {
    out.set(`att${index}`, new Map(ranking.map((player, rank) => [player, PLACE_WEIGHTS[places][rank]])));
    index += 1;
  }
  out.set(`att${index}`, equalSplit(entries));
  if (withExpiry) out.set(EXPIRY, equalSplit(entries));
  return out;
}

const sameWeights = (a, b) => a && b && a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

// -- the report -------------------------------------------------------------------------------

function canonicalOrder(entryIds) {
  return [...entryIds].sort(); // UUID text order is byte order
}

/**
 * Check everything that pays this player; returns {checks: [{name, ok, detail}], payouts:
 * [{outcome, weight, totalWeight, splitValue}], playerIndex, ok}. `expected` holds the
 * competition's terms {entries, places, fundingValue, delta?, entryIds?}.
 */
export function verifyPayoutPaths(paramsJson, fundingOutpoint, signatures, { entryId, entryPubkey, ticketHash, payoutHash, expected }) {
  const checks = [];
  const report = { checks, payouts: [], playerIndex: null, ok: false };
  const add = (name, ok, detail) => {
    checks.push({ name, ok, detail });
    return ok;
  };
  let p;
  let dlc;
  try {
    p = parseParams(paramsJson);
    validateStored(p);
    dlc = new Rebuilt(p, fundingOutpoint);
  } catch (error) {
    add('contract rebuilds', false, error.message);
    return report;
  }
  const leaves = [...p.payouts.values()].reduce((n, w) => n + w.size, 0);
  add('contract rebuilds', true, `${p.players.length} players, ${p.payouts.size} outcomes, ${leaves} split leaves, funding ${fundingOutpoint}`);

  // Membership.
  const keyHex = toHex(entryPubkey);
  const index = p.players.findIndex((x) => toHex(x.pubkey) === keyHex);
  const member = add('player key in contract', index >= 0, index >= 0
    ? `entry key ${keyHex.slice(0, 16)}… at player index ${index}` : 'the entry key is not one of the contract\'s players');
  if (member) {
    const player = p.players[index];
    add('ticket hash', sameBytes(player.ticketHash, ticketHash), sameBytes(player.ticketHash, ticketHash)
      ? "the contract's ticket hash is the payment hash of this player's ticket"
      : `the contract has ticket hash ${toHex(player.ticketHash)}, the ticket ${toHex(ticketHash)}`);
    add('payout hash', sameBytes(player.payoutHash, payoutHash), sameBytes(player.payoutHash, payoutHash)
      ? "the contract's payout hash is SHA256 of this player's payout preimage" : "the contract's payout hash is not this player's");
    if (expected.entryIds) {
      const order = canonicalOrder(expected.entryIds);
      const position = order.indexOf(entryId);
      add('player order', position === index, `entry ${entryId} is number ${position < 0 ? 'None' : position} of ${order.length} by entry id`
        + (position === index ? '' : `, but the contract has it at ${index}`));
    }
  }

  // Terms.
  add('funding value', p.fundingValue === BigInt(expected.fundingValue), `${p.fundingValue} sats (competition pool ${expected.fundingValue})`);
  if (expected.delta !== null && expected.delta !== undefined) {
    add('relative timelock', p.delta === expected.delta, `Δ = ${p.delta} blocks (competition: ${expected.delta})`);
  }
  if (p.anchor !== null) {
    add('anchor', p.anchor >= MIN_ANCHOR_SATS && p.anchor <= MAX_ANCHOR_SATS,
      `every settlement transaction carries a ${p.anchor} sat pay-to-anchor output (accepted: ${MIN_ANCHOR_SATS}–${MAX_ANCHOR_SATS})`);
  }
  add('players', p.players.length === expected.entries, `${p.players.length} players (competition: ${expected.entries} entries)`);
  const { entries, places } = expected;
  let spaceProblem = null;
  if (!(places >= 1 && places <= 5)) spaceProblem = `places must be between 1 and 5, got ${places}`;
  else if (!(places < entries && entries <= 25)) spaceProblem = `entries must be more than places (${places}) and at most 25, got ${entries}`;
  else if (perm(entries, places) + 1 > MAX_OUTCOMES) spaceProblem = `${entries} entries with ${places} places give ${perm(entries, places) + 1} outcomes, more than the maximum of ${MAX_OUTCOMES}`;
  else if (p.lockingPoints.length !== perm(entries, places) + 1) spaceProblem = `announcement has ${p.lockingPoints.length} locking points, expected ${perm(entries, places) + 1} for ${entries} entries and ${places} places`;
  if (spaceProblem) {
    add('outcome space', false, spaceProblem);
  } else {
    const count = perm(entries, places) + 1;
    add('outcome space', true, `${count} outcomes for ${entries} entries, ${places} places`);
    const rules = competitionPayouts(entries, places, p.expiry !== null);
    const wrong = [...rules].filter(([o, w]) => !sameWeights(p.payouts.get(o) ?? new Map(), w)).map(([o]) => o);
    const extra = [...p.payouts.keys()].filter((o) => !rules.has(o));
    add('payout weights', !wrong.length && !extra.length, !wrong.length && !extra.length
      ? "every outcome pays by the competition's rules" : `outcomes paying otherwise: ${[...wrong, ...extra].slice(0, 5).join(', ')}`);
  }
  if (!member) return report;
  report.playerIndex = index;

  // Outputs of every outcome that pays this player, and the signatures it relies on.
  const problems = [];
  const rows = [];
  const built = [];
  let expiryExpected = false;
  for (const [outcome, weights] of p.payouts) {
    if (!weights.has(index)) continue;
    let o;
    try {
      o = dlc.outcome(outcome);
    } catch (error) {
      add('contract rebuilds', false, error.message);
      return report;
    }
    built.push(o);
    const vout = o.winners.indexOf(index);
    const out = o.splitTx.outputs[vout];
    if (!sameBytes(out.script, dlc.splitInfo(index).scriptPubkey)) problems.push(`${outcome}: the split output is not this player's`);
    const total = [...weights.values()].reduce((n, w) => n + w, 0);
    report.payouts.push({ outcome, weight: weights.get(index), totalWeight: total, splitValue: Number(out.value) });
    if (outcome === EXPIRY) expiryExpected = true;
  }
  add('outcome and split transactions', !problems.length, !problems.length
    ? `${report.payouts.length} outcomes pay this player${expiryExpected ? ' (including expiry)' : ''}` : problems.slice(0, 5).join('; '));

  if (!signatures) {
    add('signatures', false, 'the contract is not signed yet');
    return finish(report);
  }
  // In the signing plan's order: outcomes first, then win conditions.
  const missing = [];
  const outcomeRows = [];
  const splitRows = [];
  for (const o of built) {
    const name = o.outcome;
    const signature = name === EXPIRY ? signatures.expiry_tx_signature : signatures.outcome_tx_signatures?.[String(outcomeCode(name))];
    const size = name === EXPIRY ? 64 : 65;
    const bytes = typeof signature === 'string' && signature.length === 2 * size ? fromHex(signature) : null;
    if (!bytes) missing.push(name);
    else outcomeRows.push({ key: name, ok: () => (name === EXPIRY ? verifySchnorr(dlc.funding.xonly, o.outcomeSighash, bytes)
      : verifyAdaptor(dlc.funding.xonly, o.outcomeSighash, bytes, secp256k1.Point.fromBytes(p.lockingPoints[outcomeCode(name)]))) });
  }
  for (const o of built) {
    const win = `${o.outcome}:p${index}`;
    const split = signatures.split_tx_signatures?.[win];
    const splitBytes = typeof split === 'string' && split.length === 128 ? fromHex(split) : null;
    if (!splitBytes) missing.push(win);
    else splitRows.push({ key: win, ok: () => verifySchnorr(o.keys.xonly, o.splitSighashes.get(index), splitBytes) });
  }
  rows.push(...outcomeRows, ...splitRows);
  if (missing.length) {
    add('signatures', false, `missing signatures for ${missing.slice(0, 5).join(', ')}`);
  } else {
    const failed = rows.filter((row) => !row.ok()).map((row) => row.key);
    add('signatures', !failed.length, !failed.length
      ? `${built.length} outcome signatures and ${built.length} split signatures this player relies on verify`
      : `${failed.length} invalid signatures: ${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ' …' : ''}`);
  }
  return finish(report);
}

/**
 * A signed contract's JSON ({"signatures", "dlc": {"params", "funding_outpoint"}}) rebuilt for
 * spending: params, signatures, funding key, and each outcome's transactions on demand.
 */
export function signedContract(signedJson) {
  const p = parseParams(signedJson?.dlc?.params);
  validateStored(p);
  const outpoint = String(signedJson?.dlc?.funding_outpoint);
  const dlc = new Rebuilt(p, outpoint);
  return Object.assign(dlc, { params: p, signatures: signedJson.signatures ?? {}, fundingOutpoint: outpoint });
}

function finish(report) {
  report.ok = report.checks.length > 0 && report.checks.every((c) => c.ok);
  return report;
}
