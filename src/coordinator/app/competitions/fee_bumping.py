"""Fee bumping in the settlement: CPFP children for the anchored settlement transactions.

The processor calls :meth:`FeeBumper.watch` after a competition's steps (under its lock, at most
every ``[cpfp] check_interval_secs``). For every stored settlement transaction with a
pay-to-anchor output that is not confirmed (outcome, expiry, split) it

1. reconciles the anchor's spender on chain with the stored children: a child broadcast just
   before a crash is found and kept, a child of ours the database does not know (restored from
   an older backup) is adopted, a stored child the chain does not hold is sent (again), somebody
   else's child is taken as it is — a second child is never built next to a live one;
2. asks :func:`coordinator.domain.fee_bumping.plan_bump` whether a child is needed, and at what
   package rate (estimate for the target, urgent near a competing timelock, 1.25× when stuck);
3. builds the child (:func:`ticketdlc.contract.cpfp.cpfp_child_template`: the anchor, the
   wallet's confirmed coins not locked for anything else — a replacement keeps the coins of the
   child it replaces — and change to the wallet), has the wallet sign it and lock its coins,
   **persists it**, then broadcasts it: alone if the chain holds the parent, else as a package
   with the parent. A refused child is abandoned and its new coins released.

When the chain refuses a stored settlement transaction for its fee rate, :meth:`rescue` (called
by :func:`~coordinator.app.competitions.onchain.broadcast_stored`) does the same at once, so the
parent enters the mempool with its child. Every check that acts is counted in
``coordinator_cpfp_bumps_total{tx, result}`` and logged with its reason and figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from coordinator.app import metrics
from coordinator.app.competitions.context import Lifecycle
from coordinator.app.competitions.contracts import announcement_of
from coordinator.app.competitions.crash_points import crash_point
from coordinator.config import CpfpSettings
from coordinator.domain.competitions.payouts import reclaim_height
from coordinator.domain.competitions.records import Competition, SettlementTx, TxKind
from coordinator.domain.fee_bumping import (
    BumpSettings,
    Child,
    ChildFee,
    Deadline,
    Hold,
    Market,
    Parent,
    Plan,
    Reason,
    Result,
    child_fee,
    coin_sets,
    plan_bump,
)
from coordinator.domain.ports.chain import BroadcastRejectedError, PackageRelayUnsupportedError
from coordinator.domain.ports.cpfp import (
    BumpChild,
    CpfpStore,
    WatchedParent,
    committed_fees,
    current_child,
)
from coordinator.domain.ports.wallet import CoinLockedError, WalletOutput
from coordinator_core.errors import CoordinatorError
from ticketdlc.bitcoin.address import address_to_script_pubkey
from ticketdlc.bitcoin.anchor import ANCHOR_INPUT_WEIGHT, find_anchor
from ticketdlc.bitcoin.fees import P2TR_KEY_SPEND, minimal_non_dust, predict_weight
from ticketdlc.bitcoin.tx import OutPoint, Transaction, TxOut
from ticketdlc.contract import EXPIRY
from ticketdlc.contract.cpfp import CpfpChild, CpfpFundingInput, cpfp_child_template
from ticketdlc.contract.errors import ContractBuildError
from ticketdlc.typed_bytes import Txid

log = logging.getLogger(__name__)

#: Bitcoin Core's reject reasons for a transaction paying too little to enter the mempool.
FEE_REJECT_REASONS: Final = ("min relay fee not met", "mempool min fee not met")
#: How long a chain source without package relay is not asked for one again.
PACKAGE_RELAY_RETRY_SECS: Final = 600.0
#: What ``cpfp_bumps_total{tx, result}`` counts (``tx``: the settlement transaction's kind).
CPFP_BUMPS = metrics.counter(
    "cpfp_bumps_total", "CPFP fee bumps of settlement transactions, by transaction kind and result"
)


def bump_settings(settings: CpfpSettings) -> BumpSettings:
    return BumpSettings(
        after_blocks=settings.after_blocks,
        conf_target=settings.conf_target,
        urgent_conf_target=settings.urgent_conf_target,
        urgent_within_blocks=settings.urgent_within_blocks,
        urgent_within_secs=settings.urgent_within_secs,
        max_fee_percent=settings.max_fee_percent,
        budget_sats=settings.budget_sats,
    )


@dataclass(frozen=True)
class _Spender:
    """The anchor's spender in the mempool: a stored child of ours, or somebody else's."""

    view: Child
    ours: BumpChild | None


class FeeBumper:
    """Fee bumping of one coordinator's settlement transactions (see the module doc)."""

    def __init__(
        self,
        lc: Lifecycle,
        store: CpfpStore,
        settings: CpfpSettings,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lc = lc
        self.store = store
        self.settings = settings
        self.policy = bump_settings(settings)
        self._monotonic = monotonic
        self._checked: dict[uuid.UUID, float] = {}
        self._watched: dict[str, WatchedParent] = {}
        self._coins = asyncio.Lock()  # one coin selection and signature at a time
        self._no_package_relay_until = 0.0  # the chain source said it has none: ask later

    # -- entry points -----------------------------------------------------------------------

    async def watch(self, competition_id: uuid.UUID) -> None:
        now = self._monotonic()
        last = self._checked.get(competition_id)
        if last is not None and now - last < self.settings.check_interval_secs:
            return
        self._checked[competition_id] = now
        try:
            txs = await self.lc.store.txs_of(competition_id)
            children = await self.store.children_of_competition(competition_id)
            unsettled = {c.parent_txid for c in children if c.live and c.confirmed_height is None}
            parents = [
                tx
                for tx in txs
                if (tx.confirmed_height is None or tx.txid in unsettled) and _anchored(tx)
            ]
            competition = await self.lc.store.load(competition_id) if parents else None
        except CoordinatorError as exc:
            log.warning("competition %s: fee bumping check failed: %s", competition_id, exc)
            return
        if competition is None:
            return
        for tx in parents:
            await self._guarded(competition, tx, txs)

    async def rescue(self, tx: SettlementTx, reason: str) -> bool:
        if not any(words in reason for words in FEE_REJECT_REASONS) or not _anchored(tx):
            return False
        competition = await self.lc.store.load(tx.competition_id)
        if competition is None:
            return False
        log.info(
            "competition %s: %s transaction %s refused alone (%s): sending it with a child",
            competition.id,
            tx.kind.value,
            tx.txid,
            reason,
        )
        txs = await self.lc.store.txs_of(tx.competition_id)
        await self._guarded(competition, tx, txs, refused_for_fee=True)
        return await self.lc.chain.tx_status(tx.txid) is not None

    async def _guarded(
        self,
        c: Competition,
        tx: SettlementTx,
        txs: list[SettlementTx],
        refused_for_fee: bool = False,
    ) -> None:
        try:
            await self._check(c, tx, txs, refused_for_fee)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            CPFP_BUMPS.inc(tx=tx.kind.value, result=Result.FAILED.value)
            if isinstance(exc, CoordinatorError):
                log.warning("competition %s: fee bumping of %s failed: %s", c.id, tx.txid, exc)
            else:
                log.error("competition %s: fee bumping of %s crashed", c.id, tx.txid, exc_info=exc)

    # -- one parent -------------------------------------------------------------------------

    async def _check(
        self, c: Competition, tx: SettlementTx, txs: list[SettlementTx], refused_for_fee: bool
    ) -> None:
        chain = self.lc.chain
        parent = Transaction.from_hex(tx.raw_hex)
        found = find_anchor(parent)
        assert found is not None
        anchor_outpoint, _ = found
        status = await chain.tx_status(tx.txid)
        tip = await chain.tip_height()
        watched = self._watched.get(tx.txid)
        if watched is None:
            watched = await self.store.watch(tx.txid, c.id, tx.kind.value, tip)
            self._watched[tx.txid] = watched
        children = await self.store.children_of(tx.txid)
        spend = None
        if status is not None:
            spend = await chain.output_spend(tx.txid, anchor_outpoint.vout)
        spender_txid = spend.txid if spend is not None and spend.spent else None
        if status is not None and status.confirmed:
            await self._parent_confirmed(tx, children, spender_txid)
            return
        if status is None and not refused_for_fee:
            if not await self._offered(c, tx, parent):
                return
            status = await chain.tx_status(tx.txid)
        if status is None and self._monotonic() < self._no_package_relay_until:
            log.warning(
                "competition %s: %s %s is below the mempool's floor and the chain source has no "
                "package relay: it cannot be bumped",
                c.id,
                tx.kind.value,
                tx.txid,
            )
            return
        spender = None
        if spender_txid is not None:
            spender = await self._reconcile(c, tx, txs, children, spender_txid, tip)
            children = await self.store.children_of(tx.txid)
        current = current_child(children)
        live = None if spender is None else spender.ours
        pending = current is not None and (live is None or live.txid != current.txid)
        if current is not None and pending and (spender is None or live is not None):
            # Persisted but not in the mempool (a crash around its broadcast, or the chain lost
            # it): that child is sent, never a second one next to it.
            await self._send(c, tx, parent, current, status is not None, live, capped=False)
            return
        values = await self._input_values(parent, txs)
        view = Parent(
            fee=sum(values) - sum(out.value for out in parent.outputs),
            vsize=parent.vsize(),
            input_value=sum(values),
            in_mempool=status is not None,
            waiting_blocks=max(0, tip - watched.first_seen_height),
            deadline=await self._deadline(c, tx, txs),
            refused_rate=_refused_rate(children) if spender is None else None,
        )
        market = Market(tip, await chain.median_time_past(), await chain.fee_estimates())
        spent = committed_fees(
            await self.store.children_of_competition(c.id),
            parents={t.txid for t in txs} - {tx.txid},
        )
        budget_left = self.policy.budget_sats - spent
        decision = plan_bump(
            view, None if spender is None else spender.view, market, self.policy, budget_left
        )
        if isinstance(decision, Hold):
            log.debug("competition %s: %s %s: %s", c.id, tx.kind.value, tx.txid, decision.why)
            return
        await self._bump(c, tx, parent, view, decision, spender)

    async def _offered(self, c: Competition, tx: SettlementTx, parent: Transaction) -> bool:
        """A parent the chain lacks is offered alone first: False if it is refused for another
        reason than its fee rate (a conflict or a missing input is the lifecycle's to see)."""
        try:
            await self.lc.chain.broadcast(parent.serialize())
        except BroadcastRejectedError as exc:
            if not any(words in exc.reason for words in FEE_REJECT_REASONS):
                log.info(
                    "competition %s: %s %s is refused (%s): not bumped",
                    c.id,
                    tx.kind.value,
                    tx.txid,
                    exc.reason,
                )
                return False
        return True

    async def _reconcile(
        self,
        c: Competition,
        tx: SettlementTx,
        txs: list[SettlementTx],
        children: list[BumpChild],
        spender_txid: Txid,
        tip: int,
    ) -> _Spender:
        """The anchor's spender, recorded: a stored child marked broadcast, a lost child of ours
        adopted, or somebody else's child (our stored ones then abandoned)."""
        ours = next((child for child in children if child.txid == spender_txid), None)
        raw = None
        if ours is None:
            raw = await self.lc.chain.raw_transaction(spender_txid)
            if raw is None:
                raise CoordinatorError(f"the chain reports {spender_txid} but does not return it")
            ours = await self._adopt(c, tx, txs, Transaction.parse(raw), tip)
        if ours is not None:
            if ours.broadcast_at is None:
                await self.store.mark_child_broadcast(ours.txid, self.lc.clock(), tip)
                CPFP_BUMPS.inc(tx=tx.kind.value, result=Result.KEPT.value)
                log.warning(
                    "competition %s: child %s of %s %s is on chain though not recorded as "
                    "broadcast (a restart): kept, not built again",
                    c.id,
                    ours.txid,
                    tx.kind.value,
                    tx.txid,
                )
            waiting = tip - (ours.broadcast_height if ours.broadcast_height is not None else tip)
            return _Spender(Child(ours.fee_sats, ours.vsize, max(0, waiting)), ours)
        assert raw is not None
        foreign = Transaction.parse(raw)
        fee = sum(await self._input_values(foreign, txs)) - sum(o.value for o in foreign.outputs)
        for child in children:
            if child.live:
                await self._abandon(child, f"replaced by {spender_txid}", keep=())
        log.info(
            "competition %s: %s %s is bumped by somebody else's child %s (fee %d)",
            c.id,
            tx.kind.value,
            tx.txid,
            spender_txid,
            fee,
        )
        return _Spender(Child(fee, foreign.vsize(), 0), None)

    async def _adopt(
        self,
        c: Competition,
        tx: SettlementTx,
        txs: list[SettlementTx],
        spender: Transaction,
        tip: int,
    ) -> BumpChild | None:
        """A spender of the anchor paid from the wallet's coins is ours (its record was lost):
        recorded as the current child."""
        outputs = {o.outpoint: o for o in await self.lc.wallet.outputs(include_spent=True)}
        coins = tuple(str(txin.prevout) for txin in spender.inputs if str(txin.prevout) in outputs)
        if not coins:
            return None
        fee = sum(await self._input_values(spender, txs)) - sum(o.value for o in spender.outputs)
        parent = Transaction.from_hex(tx.raw_hex)
        parent_fee = sum(await self._input_values(parent, txs)) - sum(
            o.value for o in parent.outputs
        )
        child = BumpChild(
            txid=spender.txid_hex(),
            competition_id=c.id,
            parent_txid=tx.txid,
            raw_hex=spender.hex(),
            fee_sats=fee,
            vsize=spender.vsize(),
            package_rate=(parent_fee + fee) * 1000 // (4 * (parent.vsize() + spender.vsize())),
            coins=coins,
            reason=Reason.ADOPTED,
            created_at=self.lc.clock(),
            broadcast_at=self.lc.clock(),
            broadcast_height=tip,
        )
        await self.store.insert_child(child)
        CPFP_BUMPS.inc(tx=tx.kind.value, result=Result.KEPT.value)
        log.warning(
            "competition %s: child %s of %s %s pays from our coins but was not recorded "
            "(a database older than the chain): adopted",
            c.id,
            child.txid,
            tx.kind.value,
            tx.txid,
        )
        return child

    async def _parent_confirmed(
        self, tx: SettlementTx, children: list[BumpChild], spender_txid: Txid | None
    ) -> None:
        """The parent is in a block: the child that spent its anchor is recorded once it
        confirms; every other child is abandoned and its coins released."""
        spender = next((c for c in children if c.txid == spender_txid), None)
        if spender is not None and spender.confirmed_height is None:
            status = await self.lc.chain.tx_status(spender.txid)
            if status is not None and status.confirmed and status.block_height is not None:
                await self.store.mark_child_confirmed(spender.txid, status.block_height)
                log.info(
                    "%s %s confirmed with its child %s (fee %d sats)",
                    tx.kind.value,
                    tx.txid,
                    spender.txid,
                    spender.fee_sats,
                )
        keep = () if spender is None else spender.coins
        for child in children:
            if child.live and child is not spender:
                await self._abandon(child, "not needed: the parent confirmed", keep)

    # -- building and sending ---------------------------------------------------------------

    async def _bump(
        self,
        c: Competition,
        tx: SettlementTx,
        parent: Transaction,
        view: Parent,
        plan: Plan,
        spender: _Spender | None,
    ) -> None:
        replaced = None if spender is None else spender.ours
        async with self._coins:
            built_here = [
                child
                for child in await self.store.children_of(tx.txid)
                if child.reason is not Reason.ADOPTED
            ]
            change = built_here[-1] if built_here else None
            built = await self._build(parent, view, plan, replaced, change)
            if isinstance(built, Result):
                CPFP_BUMPS.inc(tx=tx.kind.value, result=built.value)
                log.warning(
                    "competition %s: %s %s needs a child (%s, %s) but %s: package at %s, "
                    "target %s, cap %d sats",
                    c.id,
                    tx.kind.value,
                    tx.txid,
                    plan.reason.value,
                    "urgent" if plan.urgent else "normal",
                    built.value,
                    _vb(plan.current_rate),
                    _vb(plan.rate),
                    plan.max_fee,
                )
                return
            template, fee = built
            reused = () if replaced is None else replaced.coins
            coins = tuple(str(txin.prevout) for txin in template.tx.inputs[1:])
            try:
                signed = await self.lc.wallet.sign_and_lock(
                    template.tx, template.prevouts, {0}, relock=reused
                )
            except CoinLockedError as exc:
                CPFP_BUMPS.inc(tx=tx.kind.value, result=Result.FAILED.value)
                log.warning("competition %s: child not signed: %s; retrying later", c.id, exc)
                return
        child = BumpChild(
            txid=signed.txid,
            competition_id=c.id,
            parent_txid=tx.txid,
            raw_hex=signed.raw.hex(),
            fee_sats=signed.fee,
            vsize=Transaction.parse(signed.raw).vsize(),
            package_rate=fee.rate,
            coins=coins,
            reason=plan.reason,
            created_at=self.lc.clock(),
        )
        await self.store.insert_child(child)
        log.info(
            "competition %s: %s %s pays %s (%s%s): child %s pays %d sats for a package at %s%s",
            c.id,
            tx.kind.value,
            tx.txid,
            _vb(plan.current_rate),
            plan.reason.value,
            ", urgent" if plan.urgent else "",
            child.txid,
            child.fee_sats,
            _vb(fee.rate),
            f" (capped below {_vb(plan.rate)})" if fee.capped else "",
        )
        await self._send(c, tx, parent, child, view.in_mempool, replaced, fee.capped)

    async def _build(
        self,
        parent: Transaction,
        view: Parent,
        plan: Plan,
        replaced: BumpChild | None,
        change: BumpChild | None,
    ) -> tuple[CpfpChild, ChildFee] | Result:
        """The cheapest child meeting ``plan`` from the wallet's coins, or why there is none."""
        await self.lc.wallet.sync()  # which coins are confirmed, and which spent, right now
        outputs = {o.outpoint: o for o in await self.lc.wallet.outputs(include_spent=True)}
        reused = [] if replaced is None else [outputs[o] for o in replaced.coins if o in outputs]
        if replaced is not None and len(reused) != len(replaced.coins):
            return Result.NO_COIN
        available = [
            (o, o.value)
            for o in outputs.values()
            if not o.is_spent
            and not o.locked
            and o.confirmation_height is not None
            and o.address is not None
        ]
        if change is not None:  # a replacement or a retry pays to the same address
            change_script = Transaction.from_hex(change.raw_hex).outputs[0].script_pubkey
        else:
            change_script = address_to_script_pubkey(await self.lc.wallet.new_address())
        found = find_anchor(parent)
        assert found is not None
        anchor_value = found[1].value
        for coins in coin_sets(available, reused):
            weight = predict_weight(
                [ANCHOR_INPUT_WEIGHT, *(P2TR_KEY_SPEND for _ in coins)], [len(change_script)]
            )
            fee = child_fee(plan, view, -(-weight // 4))
            if fee is None:
                return Result.OVER_BUDGET
            value = anchor_value + sum(coin.value for coin in coins)
            if value - fee.fee < minimal_non_dust(change_script):
                continue
            try:
                template = cpfp_child_template(
                    parent, view.fee, [_funding(coin) for coin in coins], change_script, fee.rate
                )
            except ContractBuildError:
                continue
            if template.fee > plan.max_fee:
                return Result.OVER_BUDGET
            return template, fee
        return Result.NO_COIN

    async def _send(
        self,
        c: Competition,
        tx: SettlementTx,
        parent: Transaction,
        child: BumpChild,
        parent_in_mempool: bool,
        replaced: BumpChild | None,
        capped: bool,
    ) -> None:
        """Broadcast a persisted child (as a package with its parent when the chain lacks
        it), then record that the chain took it."""
        raw = bytes.fromhex(child.raw_hex)
        crash_point("before_broadcast:cpfp")
        refusal = None
        verdict = "refused"  # a refused package is tried again higher (see _refused_rate)
        try:
            if not parent_in_mempool:
                answer = await self.lc.chain.submit_package([parent.serialize(), raw])
                if not answer.accepted:
                    refused = [f"{r.txid}: {r.error}" for r in answer.results if not r.accepted]
                    refusal = "; ".join(refused) or answer.message
            if refusal is None:
                await self.lc.wallet.broadcast(raw)  # in the mempool now: recorded in the wallet
        except BroadcastRejectedError as exc:
            refusal = exc.reason
        except PackageRelayUnsupportedError as exc:
            self._no_package_relay_until = self._monotonic() + PACKAGE_RELAY_RETRY_SECS
            refusal, verdict = exc.message, "no package relay"
        crash_point("after_broadcast:cpfp")
        if refusal is not None:
            keep = () if replaced is None else replaced.coins
            await self._abandon(child, f"{verdict}: {refusal}", keep)
            CPFP_BUMPS.inc(tx=tx.kind.value, result=Result.REFUSED.value)
            log.warning(
                "competition %s: child %s of %s %s refused: %s",
                c.id,
                child.txid,
                tx.kind.value,
                tx.txid,
                refusal,
            )
            return
        await self.store.mark_child_broadcast(child.txid, self.lc.clock(), await self._tip())
        label = Result.CAPPED if capped else Result.BROADCAST
        if replaced is not None and not capped:
            label = Result.REPLACED
        CPFP_BUMPS.inc(tx=tx.kind.value, result=label.value)
        spent = committed_fees(await self.store.children_of_competition(c.id))
        log.info(
            "competition %s: child %s of %s %s is in the mempool%s (%s); bumping this "
            "competition costs %d of %d sats",
            c.id,
            child.txid,
            tx.kind.value,
            tx.txid,
            "" if parent_in_mempool else " with its parent",
            label.value,
            spent,
            self.policy.budget_sats,
        )

    async def _abandon(self, child: BumpChild, reason: str, keep: Sequence[str]) -> None:
        await self.store.abandon_child(child.txid, self.lc.clock(), reason)
        release = [coin for coin in child.coins if coin not in keep]
        if release:
            await self.lc.wallet.release_coins(release)

    # -- chain facts ------------------------------------------------------------------------

    async def _tip(self) -> int:
        return await self.lc.chain.tip_height()

    async def _input_values(self, tx: Transaction, txs: list[SettlementTx]) -> list[int]:
        """The value of every output ``tx`` spends, from stored transactions or the chain."""
        stored: Mapping[str, str] = {t.txid: t.raw_hex for t in txs}
        values = []
        for txin in tx.inputs:
            txid = txin.prevout.txid_hex
            raw_hex = stored.get(txid)
            if raw_hex is not None:
                prev = Transaction.from_hex(raw_hex)
            else:
                raw = await self.lc.chain.raw_transaction(txid)
                if raw is None:
                    raise CoordinatorError(f"the chain does not return {txid}")
                prev = Transaction.parse(raw)
            values.append(prev.outputs[txin.prevout.vout].value)
        return values

    async def _deadline(
        self, c: Competition, tx: SettlementTx, txs: list[SettlementTx]
    ) -> Deadline | None:
        """When a spend competing with ``tx`` becomes valid (see :data:`DEADLINES`)."""
        rule = DEADLINES.get(tx.kind)
        return None if rule is None else await rule(self, c, txs)

    async def _outcome_deadline(self, c: Competition, txs: list[SettlementTx]) -> Deadline | None:
        """An attested outcome's transaction competes with the expiry transaction, valid once
        the median time past exceeds the event's expiry."""
        if c.settled_outcome == str(EXPIRY):
            return None
        _, expiry = announcement_of(c)
        return None if expiry is None else Deadline(time=expiry)

    async def _split_deadline(self, c: Competition, txs: list[SettlementTx]) -> Deadline | None:
        """The split competes with the market maker's reclaim of the outcome output, valid 2Δ
        after the outcome transaction confirmed."""
        outcome = next((t for t in txs if t.kind is TxKind.OUTCOME), None)
        if outcome is None:
            return None
        height = outcome.confirmed_height
        if height is None:
            status = await self.lc.chain.tx_status(outcome.txid)
            height = None if status is None else status.block_height
        if height is None:
            return None
        return Deadline(height=reclaim_height(height, c.terms.relative_locktime_block_delta))


#: The competing spend of each kind of anchored settlement transaction.
DEADLINES: Final = {
    TxKind.OUTCOME: FeeBumper._outcome_deadline,
    TxKind.SPLIT: FeeBumper._split_deadline,
}


def _anchored(tx: SettlementTx) -> bool:
    return tx.kind in DEADLINES and find_anchor(Transaction.from_hex(tx.raw_hex)) is not None


def _funding(coin: WalletOutput) -> CpfpFundingInput:
    assert coin.address is not None
    return CpfpFundingInput(
        OutPoint.parse(coin.outpoint),
        TxOut(coin.value, address_to_script_pubkey(coin.address)),
        P2TR_KEY_SPEND,
    )


def _refused_rate(children: Sequence[BumpChild]) -> int | None:
    """Package rate of the newest child the chain refused."""
    refused = [
        c.package_rate
        for c in children
        if c.abandon_reason is not None and c.abandon_reason.startswith("refused")
    ]
    return refused[-1] if refused else None


def _vb(rate: Fraction | int) -> str:
    return f"{float(rate) / 250:.1f} sat/vB"
