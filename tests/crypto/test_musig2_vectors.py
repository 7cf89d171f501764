"""The eight official BIP-327 vector files, run against ``ticketdlc.crypto.musig2``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ticketdlc.crypto import bip340
from ticketdlc.crypto.musig2 import (
    InvalidContributionError,
    SecNonce,
    SessionContext,
    deterministic_sign,
    get_xonly_pk,
    key_agg,
    key_agg_and_tweak,
    key_sort,
    nonce_agg,
    nonce_gen_internal,
    partial_sig_agg,
    partial_sig_verify,
    partial_sig_verify_internal,
    sign,
)


def load(vectors_dir: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir / "bip327" / f"{name}_vectors.json").read_text())
    return data


def fromhex_all(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def expect_error(error: dict[str, Any], call: Callable[..., object], *args: Any) -> None:
    if error["type"] == "invalid_contribution":
        with pytest.raises(InvalidContributionError) as caught:
            call(*args)
        assert caught.value.signer == error["signer"]
        assert caught.value.contrib == error["contrib"]
    elif error["type"] == "value":
        with pytest.raises(ValueError, match=re.escape(error["message"])) as caught_value:
            call(*args)
        assert not isinstance(caught_value.value, InvalidContributionError)
    else:
        pytest.fail(f"unknown error type {error['type']}")


def test_key_sort(vectors_dir: Path) -> None:
    data = load(vectors_dir, "key_sort")
    assert key_sort(fromhex_all(data["pubkeys"])) == fromhex_all(data["sorted_pubkeys"])


def test_key_agg(vectors_dir: Path) -> None:
    data = load(vectors_dir, "key_agg")
    X = fromhex_all(data["pubkeys"])
    T = fromhex_all(data["tweaks"])
    for case in data["valid_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        assert get_xonly_pk(key_agg(pubkeys)) == bytes.fromhex(case["expected"])
    for case in data["error_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        tweaks = [T[i] for i in case["tweak_indices"]]
        is_xonly = case["is_xonly"]
        expect_error(case["error"], key_agg_and_tweak, pubkeys, tweaks, is_xonly)


def test_nonce_gen(vectors_dir: Path) -> None:
    data = load(vectors_dir, "nonce_gen")

    def opt(value: str | None) -> bytes | None:
        return None if value is None else bytes.fromhex(value)

    for case in data["test_cases"]:
        secnonce, pubnonce = nonce_gen_internal(
            bytes.fromhex(case["rand_"]),
            opt(case["sk"]),
            bytes.fromhex(case["pk"]),
            opt(case["aggpk"]),
            opt(case["msg"]),
            opt(case["extra_in"]),
        )
        assert secnonce.to_bytes() == bytes.fromhex(case["expected_secnonce"])
        assert pubnonce == bytes.fromhex(case["expected_pubnonce"])
        assert secnonce.public_nonce() == pubnonce


def test_nonce_agg(vectors_dir: Path) -> None:
    data = load(vectors_dir, "nonce_agg")
    pnonces = fromhex_all(data["pnonces"])
    for case in data["valid_test_cases"]:
        selected = [pnonces[i] for i in case["pnonce_indices"]]
        assert nonce_agg(selected) == bytes.fromhex(case["expected"])
    for case in data["error_test_cases"]:
        selected = [pnonces[i] for i in case["pnonce_indices"]]
        expect_error(case["error"], nonce_agg, selected)


def test_sign_verify(vectors_dir: Path, verify_path: str) -> None:
    data = load(vectors_dir, "sign_verify")
    sk = bytes.fromhex(data["sk"])
    X = fromhex_all(data["pubkeys"])
    secnonces = fromhex_all(data["secnonces"])
    pnonces = fromhex_all(data["pnonces"])
    aggnonces = fromhex_all(data["aggnonces"])
    msgs = fromhex_all(data["msgs"])

    for case in data["valid_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        pubnonces = [pnonces[i] for i in case["nonce_indices"]]
        aggnonce = aggnonces[case["aggnonce_index"]]
        assert nonce_agg(pubnonces) == aggnonce
        msg = msgs[case["msg_index"]]
        expected = bytes.fromhex(case["expected"])
        session_ctx = SessionContext(aggnonce, pubkeys, [], [], msg)
        assert sign(bytearray(secnonces[0]), sk, session_ctx) == expected
        assert sign(SecNonce.from_bytes(secnonces[0]), sk, session_ctx) == expected
        assert partial_sig_verify(expected, pubnonces, pubkeys, [], [], msg, case["signer_index"])

    for case in data["sign_error_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        session_ctx = SessionContext(
            aggnonces[case["aggnonce_index"]], pubkeys, [], [], msgs[case["msg_index"]]
        )
        secnonce = bytearray(secnonces[case["secnonce_index"]])
        expect_error(case["error"], sign, secnonce, sk, session_ctx)

    for case in data["verify_fail_test_cases"]:
        sig = bytes.fromhex(case["sig"])
        pubkeys = [X[i] for i in case["key_indices"]]
        pubnonces = [pnonces[i] for i in case["nonce_indices"]]
        msg = msgs[case["msg_index"]]
        assert not partial_sig_verify(sig, pubnonces, pubkeys, [], [], msg, case["signer_index"])

    for case in data["verify_error_test_cases"]:
        sig = bytes.fromhex(case["sig"])
        pubkeys = [X[i] for i in case["key_indices"]]
        pubnonces = [pnonces[i] for i in case["nonce_indices"]]
        msg = msgs[case["msg_index"]]
        index = case["signer_index"]
        expect_error(
            case["error"],
            partial_sig_verify,
            sig,
            pubnonces,
            pubkeys,
            [],
            [],
            msg,
            index,
        )


def test_tweak(vectors_dir: Path, verify_path: str) -> None:
    data = load(vectors_dir, "tweak")
    sk = bytes.fromhex(data["sk"])
    X = fromhex_all(data["pubkeys"])
    secnonce = bytes.fromhex(data["secnonce"])
    pnonces = fromhex_all(data["pnonces"])
    aggnonce = bytes.fromhex(data["aggnonce"])
    tweaks_all = fromhex_all(data["tweaks"])
    msg = bytes.fromhex(data["msg"])
    assert nonce_agg([pnonces[0], pnonces[1], pnonces[2]]) == aggnonce

    for case in data["valid_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        pubnonces = [pnonces[i] for i in case["nonce_indices"]]
        tweaks = [tweaks_all[i] for i in case["tweak_indices"]]
        is_xonly = case["is_xonly"]
        expected = bytes.fromhex(case["expected"])
        session_ctx = SessionContext(aggnonce, pubkeys, tweaks, is_xonly, msg)
        assert sign(bytearray(secnonce), sk, session_ctx) == expected
        assert partial_sig_verify(
            expected, pubnonces, pubkeys, tweaks, is_xonly, msg, case["signer_index"]
        )

    for case in data["error_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        tweaks = [tweaks_all[i] for i in case["tweak_indices"]]
        session_ctx = SessionContext(aggnonce, pubkeys, tweaks, case["is_xonly"], msg)
        expect_error(case["error"], sign, bytearray(secnonce), sk, session_ctx)


def test_sig_agg(vectors_dir: Path) -> None:
    data = load(vectors_dir, "sig_agg")
    X = fromhex_all(data["pubkeys"])
    pnonces = fromhex_all(data["pnonces"])
    tweaks_all = fromhex_all(data["tweaks"])
    psigs_all = fromhex_all(data["psigs"])
    msg = bytes.fromhex(data["msg"])

    for case in data["valid_test_cases"]:
        pubnonces = [pnonces[i] for i in case["nonce_indices"]]
        aggnonce = bytes.fromhex(case["aggnonce"])
        assert nonce_agg(pubnonces) == aggnonce
        pubkeys = [X[i] for i in case["key_indices"]]
        tweaks = [tweaks_all[i] for i in case["tweak_indices"]]
        is_xonly = case["is_xonly"]
        psigs = [psigs_all[i] for i in case["psig_indices"]]
        session_ctx = SessionContext(aggnonce, pubkeys, tweaks, is_xonly, msg)
        sig = partial_sig_agg(psigs, session_ctx)
        assert sig == bytes.fromhex(case["expected"])
        aggpk = get_xonly_pk(key_agg_and_tweak(pubkeys, tweaks, is_xonly))
        assert bip340.verify(aggpk, msg, sig)

    for case in data["error_test_cases"]:
        aggnonce = bytes.fromhex(case["aggnonce"])
        pubkeys = [X[i] for i in case["key_indices"]]
        tweaks = [tweaks_all[i] for i in case["tweak_indices"]]
        psigs = [psigs_all[i] for i in case["psig_indices"]]
        session_ctx = SessionContext(aggnonce, pubkeys, tweaks, case["is_xonly"], msg)
        expect_error(case["error"], partial_sig_agg, psigs, session_ctx)


def test_det_sign(vectors_dir: Path, verify_path: str) -> None:
    data = load(vectors_dir, "det_sign")
    sk = bytes.fromhex(data["sk"])
    X = fromhex_all(data["pubkeys"])
    msgs = fromhex_all(data["msgs"])

    for case in data["valid_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        aggothernonce = bytes.fromhex(case["aggothernonce"])
        tweaks = fromhex_all(case["tweaks"])
        is_xonly = case["is_xonly"]
        msg = msgs[case["msg_index"]]
        rand = None if case["rand"] is None else bytes.fromhex(case["rand"])
        pubnonce, psig = deterministic_sign(sk, aggothernonce, pubkeys, tweaks, is_xonly, msg, rand)
        assert [pubnonce.hex().upper(), psig.hex().upper()] == case["expected"]
        session_ctx = SessionContext(
            nonce_agg([aggothernonce, pubnonce]), pubkeys, tweaks, is_xonly, msg
        )
        assert partial_sig_verify_internal(
            psig, pubnonce, pubkeys[case["signer_index"]], session_ctx
        )

    for case in data["error_test_cases"]:
        pubkeys = [X[i] for i in case["key_indices"]]
        aggothernonce = bytes.fromhex(case["aggothernonce"])
        tweaks = fromhex_all(case["tweaks"])
        is_xonly = case["is_xonly"]
        msg = msgs[case["msg_index"]]
        rand = None if case["rand"] is None else bytes.fromhex(case["rand"])
        expect_error(
            case["error"],
            deterministic_sign,
            sk,
            aggothernonce,
            pubkeys,
            tweaks,
            is_xonly,
            msg,
            rand,
        )
