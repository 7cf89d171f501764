"""The client verifies every signature of a batch against its contract entry before using it."""

from __future__ import annotations

import pytest

from coordinator.adapters.signer import keymeld
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import SignerRejectedError
from tests.signer.conftest import new_competition
from ticketdlc.contract import sign_contract_locally


def test_a_batch_is_refused_unless_every_signature_verifies_for_its_entry() -> None:
    competition = new_competition(CoordinatorKeys(bytes(range(32))), 3, 2)
    dlc = competition.dlc()
    signed = sign_contract_locally(dlc, [competition.mm_secret, *competition.player_secrets])
    entries = dlc.signing_plan().entries
    signatures = {
        i: signed.signatures.signature_for(entry.key) or b"" for i, entry in enumerate(entries)
    }
    keymeld._verify(entries, signatures)  # the genuine set passes
    adaptor = next(i for i, e in enumerate(entries) if e.adaptor is not None)
    plain = next(i for i, e in enumerate(entries) if e.adaptor is None)
    for index in (adaptor, plain):
        forged = bytearray(signatures[index])
        forged[-1] ^= 1
        with pytest.raises(SignerRejectedError, match="do not verify"):
            keymeld._verify(entries, {**signatures, index: bytes(forged)})
    # another entry's (valid) signature is not this entry's
    other = next(i for i, e in enumerate(entries) if e.adaptor is None and i != plain)
    with pytest.raises(SignerRejectedError, match="do not verify"):
        keymeld._verify(entries, {plain: signatures[other]})
    with pytest.raises(SignerRejectedError, match="missing"):
        keymeld._verify(entries, {plain: signatures[plain][:63]})
