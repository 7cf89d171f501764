"""The signing gateway's wire formats (``coordinator_core.keymeld``) against their JSON: valid
documents round-trip; mutated documents (the gateway's answers as the client reads them, and
the clients' requests as the gateway reads them) are refused with :class:`WireError` and
nothing else, or decode to a value that re-encodes to itself."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator_core.keymeld import api, messages
from coordinator_core.keymeld.messages import SubsetDefinition, TaprootTweak
from coordinator_core.keymeld.wire import WireError, canonical, loads
from tests.fuzz.budget import examples
from tests.fuzz.mutations import mutated_json, mutated_text

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
uuids = st.uuids().map(str)
statuses = st.text(max_size=20)
point_hex = st.tuples(st.sampled_from(["02", "03"]), st.binary(min_size=32, max_size=32)).map(
    lambda parts: parts[0] + parts[1].hex()
)
key_bytes = st.binary(min_size=33, max_size=33)

READERS: dict[str, tuple[Callable[[Any], Any], st.SearchStrategy[Any]]] = {
    "reserve response": (
        api.ReserveResponse.from_json,
        st.builds(api.ReserveResponse, st.dictionaries(uuids, u32, max_size=3), uuids, u32,
                  point_hex, u64, u64, u64),
    ),
    "initialize response": (
        api.InitializeResponse.from_json,
        st.builds(api.InitializeResponse, uuids, statuses, st.text(max_size=40), key_bytes),
    ),
    "slots response": (
        api.SlotsResponse.from_json,
        st.builds(
            api.SlotsResponse,
            uuids,
            st.lists(st.builds(api.Slot, uuids, u32, u64, st.booleans()), max_size=3).map(tuple),
            u64,
            u64,
        ),
    ),
    "register response": (
        api.RegisterResponse.from_json,
        st.builds(api.RegisterResponse, uuids, uuids, statuses, u64, u64, u64, u32,
                  st.booleans()),
    ),
    "signing response": (
        api.CreateSigningResponse.from_json,
        st.builds(api.CreateSigningResponse, uuids, uuids, statuses, u64, u64),
    ),
    "signing status": (
        api.SigningStatus.from_json,
        st.builds(
            api.SigningStatus,
            st.just(()),
            uuids,
            uuids,
            statuses,
            u64,
            u64,
            u64,
            st.lists(uuids, max_size=3).map(tuple),
            st.lists(uuids, max_size=3).map(tuple),
            st.lists(
                st.builds(api.BatchResult, uuids, st.none() | st.text(max_size=20),
                          st.none() | st.text(max_size=20), st.none() | st.text(max_size=20)),
                max_size=3,
            ).map(tuple),
        ),
    ),
    "enclave key": (
        api.EnclaveKey.from_json,
        st.builds(api.EnclaveKey, u32, point_hex, st.binary(max_size=40).map(bytes.hex),
                  st.dictionaries(st.text(max_size=4), st.text(max_size=10), max_size=3),
                  u64, st.booleans(), u64),
    ),
    "taproot tweak": (
        TaprootTweak.from_json,
        st.one_of(
            st.sampled_from(["none", "unspendable_taproot"]).map(TaprootTweak),
            st.builds(TaprootTweak,
                      st.sampled_from(["taproot_with_merkle_root", "plain_tweak", "x_only_tweak"]),
                      st.binary(min_size=32, max_size=32)),
        ),
    ),
    "subset": (
        lambda value: SubsetDefinition.from_json(value, "subset", 10),
        st.builds(SubsetDefinition, uuids, st.lists(uuids, max_size=4).map(tuple)),
    ),
}  # fmt: skip


def _seed(name: str) -> Any:
    """A fixed valid value of reader ``name`` (the seed of the mutations)."""
    ids = [str(uuid.UUID(int=i + 1)) for i in range(3)]
    key = "02" + "ab" * 32
    return {
        "reserve response": api.ReserveResponse({ids[0]: 1, ids[1]: 2}, ids[2], 0, key, 1, 2, 9),
        "initialize response": api.InitializeResponse(ids[0], "ready", "cafe", b"\x02" * 33),
        "slots response": api.SlotsResponse(
            ids[0], (api.Slot(ids[1], 1, 0, False), api.Slot(ids[2], 2, 1, True)), 2, 1
        ),
        "register response": api.RegisterResponse(ids[0], ids[1], "ok", 1, 2, 0, 3, False),
        "signing response": api.CreateSigningResponse(ids[0], ids[1], "collecting", 2, 99),
        "signing status": api.SigningStatus(
            (),
            ids[0],
            ids[1],
            "done",
            2,
            2,
            99,
            (ids[2],),
            (ids[2],),
            (api.BatchResult(ids[2], "00" * 64, None, None),),
        ),
        "enclave key": api.EnclaveKey(3, key, "d28443a1", {"0": "00" * 48}, 5, True, 1),
        "taproot tweak": TaprootTweak("plain_tweak", b"\x05" * 32),
        "subset": SubsetDefinition(ids[0], (ids[1], ids[2])),
    }[name]


@pytest.mark.parametrize("name", list(READERS))
@settings(max_examples=examples(30), deadline=None)
@given(data=st.data())
def test_gateway_documents_round_trip(name: str, data: st.DataObject) -> None:
    read, values = READERS[name]
    value = data.draw(values)
    document = loads(canonical(value.to_json()), name, 1 << 20)
    assert read(document) == value


def _refused_or_stable(read: Callable[[Any], Any], document: Any) -> None:
    try:
        value = read(document)
    except WireError:
        return
    assert read(value.to_json()) == value


@pytest.mark.parametrize("name", list(READERS))
@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_mutated_gateway_documents_are_refused(name: str, data: st.DataObject) -> None:
    read, _ = READERS[name]
    _refused_or_stable(read, data.draw(mutated_json(_seed(name).to_json())))


ENCLAVE_KEY_TEXT = canonical(_seed("enclave key").to_json()).decode()


@settings(max_examples=examples(100), deadline=None)
@given(text=mutated_text(ENCLAVE_KEY_TEXT, '0123456789abcdef{}[]",: '))
def test_mutated_gateway_text_is_refused(text: str) -> None:
    try:
        document = loads(text.encode(), "enclave key", 1 << 16)
    except WireError:
        return
    _refused_or_stable(api.EnclaveKey.from_json, document)


@pytest.mark.parametrize("hex_text", ["d2 84", "d284\n", " d284", "d2\t84", "d284  "])
def test_hex_fields_are_hex_as_a_whole(hex_text: str) -> None:
    document = {**_seed("enclave key").to_json(), "attestation_document": hex_text}
    with pytest.raises(WireError, match="hex"):
        api.EnclaveKey.from_json(document)


# -- What the gateway reads from its clients -----------------------------------------------------

IDS = [str(uuid.UUID(int=0x0190_0000_0000_7000_8000_0000_0000_0000 + i)) for i in range(4)]
KEY, KEY2, KEY3 = (PrivateKey.from_int(i).public_key.format() for i in (1, 2, 3))
SIG = bytes(range(64))
MANIFEST = messages.SignedManifest(
    messages.SessionManifest(
        keygen_session_id=IDS[0],
        coordinator_user_id=IDS[1],
        creator_pubkey=KEY,
        signing_pubkey=KEY2,
        session_public_key=KEY3,
        participant_verifiers={IDS[1]: KEY, IDS[2]: KEY2},
        timeout_secs=3600,
        max_signing_sessions=4,
        encrypted_taproot_tweak="ab" * 16,
        subset_definitions=(SubsetDefinition(IDS[3], (IDS[1], IDS[2])),),
    ),
    SIG,
)
RECIPIENTS = messages.RecipientAuthorization(IDS[0], b"\x09" * 32, {IDS[1]: 0, IDS[2]: 1},
                                            {0: KEY, 1: KEY2}, SIG)  # fmt: skip
CONTEXT = messages.RegistrationContext(IDS[0], b"\x09" * 32, IDS[2], 1, 7, KEY, KEY, True)
ITEMS = (
    messages.BatchItem(IDS[3], b"\x05" * 32, "cafe", None, "beef", None),
    messages.BatchItem(IDS[2], b"\x06" * 32, "cafe", "f00d", "", IDS[3]),
)
#: Request readers of the gateway (the body of each client call) and one valid value of each.
REQUESTS: dict[str, tuple[Callable[[Any], Any], Any]] = {
    "reserve": (api.ReserveRequest.from_json, api.ReserveRequest.of(MANIFEST)),
    "initialize": (
        api.InitializeRequest.from_json,
        api.InitializeRequest(RECIPIENTS, SIG, KEY, KEY, "aa" * 40, "bb" * 40, 7),
    ),
    "register": (
        api.RegisterRequest.from_json,
        api.RegisterRequest(
            messages.RegistrationAuthorization(CONTEXT, b"\x08" * 32, SIG),
            IDS[0], IDS[2], "cc" * 60, KEY, "dd" * 20, "02" + "ab" * 32, 7, True, KEY,
        ),
    ),
    "keygen status": (
        api.KeygenStatus.from_json,
        api.KeygenStatus(RECIPIENTS, MANIFEST, "ee" * 30, IDS[0], "completed", 2, 2,
                         "ff" * 33, 1_900_000_000, {IDS[3]: "12" * 33}),
    ),
    "signing": (
        api.CreateSigningRequest.from_json,
        api.CreateSigningRequest(api.SigningAuthorization(600, SIG), IDS[3], IDS[0], 600, ITEMS),
    ),
    "approval": (
        messages.ParticipantApproval.from_json,
        messages.ParticipantApproval(IDS[2], 1_800_000_000, SIG),
    ),
    "envelope": (
        messages.RegistrationEnvelope.from_json,
        messages.RegistrationEnvelope(CONTEXT, b"\x01" * 32, SIG),
    ),
    "adaptor config": (messages.AdaptorConfig.from_json, messages.AdaptorConfig(IDS[3], KEY)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(REQUESTS))
def test_gateway_requests_round_trip(name: str) -> None:
    read, value = REQUESTS[name]
    assert read(loads(canonical(value.to_json()), name, 1 << 20)) == value


@pytest.mark.parametrize("name", list(REQUESTS))
@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_mutated_gateway_requests_are_refused(name: str, data: st.DataObject) -> None:
    read, value = REQUESTS[name]
    _refused_or_stable(read, data.draw(mutated_json(value.to_json())))


SIGNING_TEXT = canonical(REQUESTS["signing"][1].to_json()).decode()


@settings(max_examples=examples(100), deadline=None)
@given(text=mutated_text(SIGNING_TEXT, '0123456789abcdef{}[]",:-e '))
def test_mutated_gateway_request_text_is_refused(text: str) -> None:
    try:
        document = loads(text.encode(), "signing", 1 << 16)
    except WireError:
        return
    _refused_or_stable(api.CreateSigningRequest.from_json, document)
