// A winner's on-chain claim from the browser, without trusting the coordinator (mirrors
// coordinator.player.claim: the same steps, in the same order):
//
// 1. the outcome transaction of the attested outcome (its adaptor signature completed with the
//    oracle's attestation; the expiry transaction once the event expired unattested), if
//    nobody broadcast one yet;
// 2. the outcome's split transaction, unlocked with the player's ticket preimage, Δ blocks
//    after (1);
// 3. the split-win spend of the player's split output, signed here with the entry key (which
//    never leaves the browser) and the ticket preimage, to the address the player gives, at
//    the fee rate it chooses, Δ blocks after (2).
//
// `claimStep` reads where things stand on chain and takes the next possible step; it keeps
// no state, so pressing the button again is always safe. Every transaction is built from the
// contract parameters and checked signatures in this browser; the chain is read and the
// transactions are relayed through the coordinator's /chain routes, and the page shows each
// transaction's hex so the player can broadcast it anywhere else.
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { hmac } from '@noble/hashes/hmac.js';
import { concat, fromHex, sha256, toHex } from './bytes.js';
import {
  CURVE_ORDER, P2TR_DUST_VALUE, bigToBytes, bytesToBig, leafHash, predictWeight, serializeTx,
  taprootSighash, txidHex, verifySchnorr, witnessOf,
} from './btc.js';
import { ContractError, signedContract } from './contract.js';

const LOCKTIME_THRESHOLD = 500_000_000;
const NOT_YET = ['non-final', 'non-BIP68-final'];

export class ClaimError extends Error {}

/** rfc6979_aux of ticketdlc.crypto.bip340: the musig2 crate's deterministic BIP-340 aux. */
export function rfc6979Aux(secret, msg) {
  const h1 = sha256(msg);
  let v = new Uint8Array(32).fill(1);
  let k = new Uint8Array(32);
  k = hmac(sha256, k, concat(v, Uint8Array.from([0]), secret, h1));
  v = hmac(sha256, k, v);
  k = hmac(sha256, k, concat(v, Uint8Array.from([1]), secret, h1));
  v = hmac(sha256, k, v);
  for (;;) {
    v = hmac(sha256, k, v);
    const candidate = bytesToBig(v);
    if (candidate > 0n && candidate < CURVE_ORDER) return v;
    k = hmac(sha256, k, concat(v, Uint8Array.from([0])));
    v = hmac(sha256, k, v);
  }
}

export const signDeterministic = (secret, msg) => schnorr.sign(msg, secret, rfc6979Aux(secret, msg));

/** Complete a 65-byte adaptor signature with the secret t (musig2 crate convention). */
export function adapt(signature, t) {
  const nonce = secp256k1.Point.fromBytes(signature.slice(0, 33));
  const s = bytesToBig(signature.slice(33));
  const finalNonce = nonce.add(secp256k1.Point.BASE.multiply(t));
  const bytes = finalNonce.toBytes(true);
  const sFinal = bytes[0] === 2 ? (s + t) % CURVE_ORDER : (((s - t) % CURVE_ORDER) + CURVE_ORDER) % CURVE_ORDER;
  return concat(bytes.slice(1), bigToBytes(sFinal));
}

const withWitness = (tx, witness) => ({ ...tx, inputs: tx.inputs.map((input, i) => (i === 0 ? { ...input, witness } : input)) });

/** The outcome whose locking point is attestation·G (first match). */
export function outcomeOfAttestation(contract, attestation) {
  if (!(attestation > 0n && attestation < CURVE_ORDER)) throw new ClaimError('attestation scalar out of range');
  const point = toHex(secp256k1.Point.BASE.multiply(attestation).toBytes(true));
  const index = contract.params.lockingPoints.findIndex((p) => p && toHex(p) === point);
  if (index < 0) throw new ClaimError('the attestation matches no locking point');
  return `att${index}`;
}

/** The outcome transaction, its adaptor signature completed with the attestation. */
export function signedOutcomeTx(contract, attestation) {
  const outcome = outcomeOfAttestation(contract, attestation);
  const o = contract.outcome(outcome);
  const adaptorSig = contract.signatures.outcome_tx_signatures?.[outcome.slice(3)];
  if (!adaptorSig) throw new ClaimError(`no signature for outcome ${outcome}`);
  const signature = adapt(fromHex(adaptorSig), attestation);
  if (!verifySchnorr(contract.funding.xonly, o.outcomeSighash, signature)) {
    throw new ClaimError(`the adapted signature of outcome ${outcome} does not verify`);
  }
  return { outcome, tx: withWitness(o.outcomeTx, [signature]) };
}

export function expiryTx(contract) {
  if (contract.params.expiry === null || !contract.params.payouts.has('exp')) return null;
  const signature = contract.signatures.expiry_tx_signature;
  if (!signature) return null;
  return withWitness(contract.outcome('exp').outcomeTx, [fromHex(signature)]);
}

/** The split transaction of `outcome`, unlocked with the winner's ticket preimage. */
export function signedSplitTx(contract, outcome, player, ticketPreimage) {
  const o = contract.outcome(outcome);
  if (!o.splitLeaves.has(player)) throw new ClaimError(`no win condition ${outcome}:p${player}`);
  if (toHex(sha256(ticketPreimage)) !== toHex(contract.params.players[player].ticketHash)) {
    throw new ClaimError('the ticket preimage does not match the ticket hash');
  }
  const signature = contract.signatures.split_tx_signatures?.[`${outcome}:p${player}`];
  if (!signature) throw new ClaimError(`no signature for ${outcome}:p${player}`);
  const leaf = o.splitLeaves.get(player);
  return withWitness(o.splitTx, [fromHex(signature), ticketPreimage, leaf, o.tree.controlBlock(leaf)]);
}

/** The signed split-win spend paying the claimant's output (less the fee) to its script. */
export function winTransaction(contract, outcome, claimant) {
  const o = contract.outcome(outcome);
  const vout = o.winners.indexOf(claimant.playerIndex);
  if (vout < 0) throw new ClaimError(`player ${claimant.playerIndex} does not win ${outcome}`);
  const prevout = o.splitTx.outputs[vout];
  const info = contract.splitInfo(claimant.playerIndex);
  const control = info.tree.controlBlock(info.win);
  const weight = predictWeight([{ scriptLen: 0, witness: [64, 32, info.win.length, control.length] }], [claimant.destinationScript.length]);
  const fee = (BigInt(claimant.feeRateSatVb) * BigInt(weight) + 3n) / 4n;
  const value = prevout.value - fee;
  if (value <= P2TR_DUST_VALUE) {
    throw new ClaimError(`a fee of ${fee} sats at ${claimant.feeRateSatVb} sat/vB leaves ${value} sats of the ${prevout.value} sat output: choose a lower fee rate`);
  }
  const tx = {
    version: 2,
    inputs: [{ txid: fromHex(txidHex(o.splitTx)).reverse(), vout, sequence: contract.params.delta, witness: [] }],
    outputs: [{ value, script: claimant.destinationScript }],
    locktime: 0,
  };
  const sighash = taprootSighash(tx, 0, [prevout], leafHash(info.win));
  const signature = signDeterministic(claimant.entrySecret, sighash);
  return withWitness(tx, [signature, claimant.ticketPreimage, info.win, control]);
}

// -- the chain, through the coordinator's relay ------------------------------------------------

const result = (state, detail, extra = {}) => ({
  state, detail, txid: null, readyAtHeight: null, outcome: null, hex: null, ...extra,
  get finished() {
    return ['claimed', 'nothing_to_claim', 'taken'].includes(this.state);
  },
});

async function broadcast(chain, tx, what, outcome) {
  const hex = toHex(serializeTx(tx));
  try {
    const txid = await chain.broadcast(hex);
    return result('broadcast', `broadcast the ${what}`, { txid, hex, outcome });
  } catch (error) {
    if (NOT_YET.some((reason) => String(error.reason ?? '').startsWith(reason))) return null;
    throw error;
  }
}

async function confirmedHeight(chain, txid) {
  const status = await chain.txStatus(txid);
  return status && status.confirmed ? status.block_height : null;
}

/** Take the next possible step of the claim (see the module comment). */
export async function claimStep(chain, contract, claimant, attestation) {
  const player = contract.params.players[claimant.playerIndex];
  if (!player) throw new ClaimError(`player index ${claimant.playerIndex} is not in the contract`);
  if (toHex(sha256(claimant.ticketPreimage)) !== toHex(player.ticketHash)) {
    throw new ClaimError("the ticket preimage does not match the contract's ticket hash");
  }
  if (!(claimant.feeRateSatVb >= 1)) throw new ClaimError('the fee rate must be at least 1 sat/vB');
  const [fundingTxid, fundingVout] = contract.fundingOutpoint.split(':');
  const spend = await chain.outputSpend(fundingTxid, Number(fundingVout));
  if (spend === null) return result('waiting', 'the funding transaction is not on chain yet');
  if (!spend.spent) return publishOutcome(chain, contract, attestation);
  const outcome = contract.outcomeOfTx(spend.txid);
  if (outcome === null) {
    return result('taken', `the funding output was spent by ${spend.txid}, which is no outcome transaction (a cooperative close)`, { txid: spend.txid });
  }
  if (!contract.params.payouts.get(outcome).has(claimant.playerIndex)) {
    return result('nothing_to_claim', `outcome ${outcome} pays this player nothing`, { outcome });
  }
  return claimSplit(chain, contract, claimant, outcome, spend.txid);
}

async function publishOutcome(chain, contract, attestation) {
  if (attestation !== null) {
    const { outcome, tx } = signedOutcomeTx(contract, attestation);
    const done = await broadcast(chain, tx, `outcome transaction of ${outcome}`, outcome);
    if (done === null) throw new ClaimError('the outcome transaction was refused as not final');
    return done;
  }
  const tx = expiryTx(contract);
  const { expiry } = contract.params;
  if (tx === null || expiry === null) return result('waiting', "waiting for the oracle's attestation");
  const tip = await chain.tip();
  const reached = expiry < LOCKTIME_THRESHOLD ? tip.height + 1 > expiry : tip.median_time_past > expiry;
  if (reached) {
    const done = await broadcast(chain, tx, 'expiry transaction', 'exp');
    if (done !== null) return done;
  }
  return result('waiting', `no attestation yet; the expiry transaction becomes valid after locktime ${expiry}`, {
    readyAtHeight: expiry < LOCKTIME_THRESHOLD ? expiry + 1 : null,
  });
}

async function claimSplit(chain, contract, claimant, outcome, outcomeTxid) {
  const { delta } = contract.params;
  const outcomeHeight = await confirmedHeight(chain, outcomeTxid);
  if (outcomeHeight === null) return result('waiting', `the outcome transaction ${outcomeTxid} is unconfirmed`, { txid: outcomeTxid, outcome });
  const splitTx = contract.outcome(outcome).splitTx;
  const splitTxid = txidHex(splitTx);
  const spend = await chain.outputSpend(outcomeTxid, 0);
  if (spend === null || !spend.spent) {
    const ready = outcomeHeight + delta - 1;
    if ((await chain.tip()).height < ready) {
      return result('waiting', `the split transaction may be broadcast once the tip reaches ${ready}`, { readyAtHeight: ready, outcome });
    }
    const done = await broadcast(chain, signedSplitTx(contract, outcome, claimant.playerIndex, claimant.ticketPreimage), 'split transaction', outcome);
    if (done === null) return result('waiting', 'the split transaction is not final yet', { readyAtHeight: ready + 1, outcome });
    return done;
  }
  if (spend.txid !== splitTxid) {
    return result('taken', `the outcome output was spent by ${spend.txid}, not by the split transaction (a cooperative close or the market maker's reclaim)`, { txid: spend.txid, outcome });
  }
  return claimWin(chain, contract, claimant, outcome, splitTxid);
}

async function claimWin(chain, contract, claimant, outcome, splitTxid) {
  const splitHeight = await confirmedHeight(chain, splitTxid);
  if (splitHeight === null) return result('waiting', `the split transaction ${splitTxid} is unconfirmed`, { txid: splitTxid, outcome });
  const vout = contract.outcome(outcome).winners.indexOf(claimant.playerIndex);
  const spend = await chain.outputSpend(splitTxid, vout);
  if (spend !== null && spend.spent) {
    if (await spentByWinLeaf(chain, contract, claimant.playerIndex, spend)) {
      const confirmed = Boolean(spend.status?.confirmed);
      return result(confirmed ? 'claimed' : 'waiting', `the win transaction is ${confirmed ? 'confirmed' : 'in the mempool'}`, { txid: spend.txid, outcome });
    }
    return result('taken', `the split output was spent by ${spend.txid} (sold back, closed or reclaimed)`, { txid: spend.txid, outcome });
  }
  const ready = splitHeight + contract.params.delta - 1;
  if ((await chain.tip()).height < ready) {
    return result('waiting', `the win transaction may be broadcast once the tip reaches ${ready}`, { readyAtHeight: ready, outcome });
  }
  const done = await broadcast(chain, winTransaction(contract, outcome, claimant), 'win transaction', outcome);
  if (done === null) return result('waiting', 'the win transaction is not final yet', { readyAtHeight: ready + 1, outcome });
  return done;
}

/** True if `spend` took the output through the win leaf, which only the winner can sign. */
async function spentByWinLeaf(chain, contract, playerIndex, spend) {
  const hex = await chain.rawTransaction(spend.txid);
  if (!hex) return false;
  let witness = null;
  try {
    witness = witnessOf(fromHex(hex), spend.vin);
  } catch {
    return false;
  }
  return witness !== null && witness.length === 4 && toHex(witness[2]) === toHex(contract.splitInfo(playerIndex).win);
}

/** A chain view over the coordinator's /chain relay (reads public; broadcasts signed). */
export function relayChain(call, competitionId) {
  const path = (p) => `/chain${p}`;
  const maybe = async (p) => {
    try {
      return await call(path(p));
    } catch (error) {
      if (error.status === 404) return null;
      throw error;
    }
  };
  return {
    tip: () => call(path('/tip')),
    txStatus: (txid) => maybe(`/tx/${txid}/status`),
    outputSpend: (txid, vout) => maybe(`/tx/${txid}/outspend/${vout}`),
    rawTransaction: async (txid) => (await maybe(`/tx/${txid}/hex`))?.hex ?? null,
    async broadcast(hex) {
      try {
        return (await call(path('/tx'), { method: 'POST', body: { competition_id: competitionId, tx: hex }, signed: true })).txid;
      } catch (error) {
        const reason = error.body?.error?.detail ?? error.message;
        throw Object.assign(new ClaimError(`the transaction was refused: ${reason}`), { reason });
      }
    },
  };
}

export { ContractError, signedContract };
