"""Helpers that run whole MuSig2 sessions among in-process signers (tests only)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from ticketdlc.crypto import adaptor, musig2
from ticketdlc.crypto.secp import Point


@dataclass
class Signer:
    sk: bytes
    pk: bytes


def make_signers(count: int) -> list[Signer]:
    signers = []
    for _ in range(count):
        sk = os.urandom(32)
        signers.append(Signer(sk, musig2.individual_pk(sk)))
    return signers


def run_session(
    signers: Sequence[Signer],
    msg: bytes,
    tweaks: Sequence[bytes] = (),
    is_xonly: Sequence[bool] = (),
    adaptor_point: Point | None = None,
) -> tuple[bytes, musig2.SessionContext]:
    """Full session; returns the aggregate (64-byte, or 65-byte with an adaptor point)."""
    pubkeys = musig2.key_sort([s.pk for s in signers])
    by_pk = {s.pk: s for s in signers}
    aggpk = musig2.get_xonly_pk(musig2.key_agg_and_tweak(pubkeys, tweaks, is_xonly))
    nonces = [musig2.nonce_gen(by_pk[pk].sk, pk, aggpk, msg, None) for pk in pubkeys]
    pubnonces = [pub for _, pub in nonces]
    session = musig2.SessionContext(musig2.nonce_agg(pubnonces), pubkeys, tweaks, is_xonly, msg)
    psigs = []
    for (secnonce, pubnonce), pk in zip(nonces, pubkeys, strict=True):
        if adaptor_point is None:
            psig = musig2.sign(secnonce, by_pk[pk].sk, session)
            assert musig2.partial_sig_verify_internal(psig, pubnonce, pk, session)
        else:
            psig = adaptor.sign(secnonce, by_pk[pk].sk, session, adaptor_point)
            assert adaptor.partial_sig_verify_internal(psig, pubnonce, pk, session, adaptor_point)
        psigs.append(psig)
    if adaptor_point is None:
        return musig2.partial_sig_agg(psigs, session), session
    return adaptor.partial_sig_agg(psigs, session, adaptor_point), session
