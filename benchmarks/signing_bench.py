"""Keygen and whole-contract signing through the devnet signing gateway, over HTTP.

For each (entries, places) a devnet gateway is started with the limits given for that size,
and the coordinator's keymeld client (in this process) opens the keygen with n + 1
participants, has every player seal its key to its attested enclave and registers it, waits for
the verified roster, then signs the contract's whole ``signing_data()`` and verifies the
signature set. Printed per size: the limits used, keygen and signing wall times, batches, the
peak memory of the client and of the gateway process, the local signing figure of
``dlc_bench.py`` (every key in one process) for the same size in the same run, and the ratio.

    .venv/bin/python benchmarks/signing_bench.py                  # (10,3) (20,2) (25,3)
    .venv/bin/python benchmarks/signing_bench.py --sizes 20x2 --profile
    .venv/bin/python benchmarks/signing_bench.py --sizes 20x3 --profile-gateway

``--profile`` prints the client's signing profile (its event loop; verification threads are not
in it), ``--profile-gateway`` the gateway's CPU profile (its routes and background tick, run with
one process: ``gateway_profile.py``), both to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import pstats
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from coordinator.adapters.signer.keymeld import KeymeldConfig, KeymeldSigner
from coordinator.domain.keys import CoordinatorKeys
from coordinator.domain.ports.signer import (
    KeygenRequest,
    ParticipantRegistration,
    SignerLimits,
    SignerSession,
)
from coordinator_core.ids import uuid7
from coordinator_core.keymeld.attestation import EnclaveTrust, new_challenge
from coordinator_core.keymeld.limits import REAL_GATEWAY, GatewayLimits
from coordinator_core.keymeld.registration import SlotOffer, seal_registration
from coordinator_core.nitro import attestation_trust
from devnet.launcher import ServiceProcess, service_spec
from devnet.signer.attestation import ATTESTATION_DIR, DEVNET_PCR0_HEX, ROOT_CERT_FILE
from ticketdlc.bitcoin.tx import OutPoint
from ticketdlc.competition import Announcement, OutcomeSpace
from ticketdlc.contract import (
    CompetitionEntry,
    SignedContract,
    TicketedDLC,
    competition_contract_parameters,
)
from ticketdlc.crypto.secp import Point

RAISED = GatewayLimits(max_subsets=5_000, max_batch_items=2_000, max_signing_sessions=1_000)
SIZES = {"10x3": REAL_GATEWAY, "20x2": REAL_GATEWAY, "25x3": RAISED}
DLC_BENCH = Path(__file__).with_name("dlc_bench.py")
GATEWAY_PROFILE = Path(__file__).with_name("gateway_profile.py")


class ProfiledGateway(ServiceProcess):
    """The devnet gateway under ``gateway_profile.py``: signing rounds in its one process."""

    def __init__(self, *args: Any, output: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output = output
        os.environ["GATEWAY_PROFILE"] = str(output)

    def argv(self) -> list[str]:
        argv = super().argv()
        module = argv.index("-m")
        return [argv[0], str(GATEWAY_PROFILE), *argv[module + 2 :], "--workers", "1"]

    def print_profile(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGUSR1)
        done = self.output.with_name(self.output.name + ".done")
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        print("gateway profile (CPU seconds of its threads):", file=sys.stderr)
        pstats.Stats(str(self.output), stream=sys.stderr).sort_stats("cumulative").print_stats(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_args(limits: GatewayLimits) -> list[str]:
    return [
        "--log-level", "warning",
        "--max-subsets", str(limits.max_subsets),
        "--max-batch-items", str(limits.max_batch_items),
        "--max-signing-sessions", str(limits.max_signing_sessions),
    ]  # fmt: skip


def describe(limits: GatewayLimits) -> str:
    return (
        f"subsets ≤ {limits.max_subsets}, items/batch ≤ {limits.max_batch_items}, "
        f"sessions ≤ {limits.max_signing_sessions}"
    )


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_secs_of(pid: int) -> float:
    """User + system CPU seconds of a running process and its child processes (workers)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_secs() -> float:
    """CPU seconds of this process and its finished children (verification workers)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def peak_rss_of(pid: int) -> int:
    """VmHWM of a running process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def contract(
    entries: int, places: int, mm_secret: bytes, tickets: list[str], keys: list[bytes]
) -> TicketedDLC:
    space = OutcomeSpace(entries, places)
    announcement = Announcement(space, [Point.from_secret(10_000 + i) for i in range(space.count)])
    params = competition_contract_parameters(
        [
            CompetitionEntry(
                uuid.UUID(ticket),
                Point.from_secret(key),
                hashlib.sha256(b"ticket %d" % i).digest(),
                hashlib.sha256(b"payout %d" % i).digest(),
            )
            for i, (ticket, key) in enumerate(zip(tickets, keys, strict=True))
        ],
        announcement,
        900_000,
        places,
        Point.from_secret(mm_secret),
        funding_value=entries * 100_000,
        fee_rate=2_500,
        relative_locktime_block_delta=144,
    )
    return TicketedDLC.new(params, OutPoint(b"\x11" * 32, 0))


async def run_size(
    entries: int, places: int, limits: GatewayLimits, profile: bool, profile_gateway: bool = False
) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="signing-bench-"))
    token = secrets.token_hex(16)
    spec, port, args = service_spec("signer"), free_port(), gateway_args(limits)
    process = (
        ProfiledGateway(spec, port, data, token, args, output=data / "gateway.prof")
        if profile_gateway
        else ServiceProcess(spec, port, data, token, args)
    )
    process.start()
    assert process.process is not None
    try:
        trust = EnclaveTrust(
            attestation_trust(
                "test",
                pcr_pins={"PCR0": DEVNET_PCR0_HEX},
                trust_root_file=data / ATTESTATION_DIR / ROOT_CERT_FILE,
            )
        )
        keys = CoordinatorKeys(os.urandom(32))
        config = KeymeldConfig(
            gateway_url=process.url,
            limits=SignerLimits(
                max_participants=limits.max_participants,
                max_subsets=limits.max_subsets,
                max_items_per_signing_session=limits.max_batch_items,
                max_signing_sessions=limits.max_signing_sessions,
                max_keygen_timeout_secs=limits.max_timeout_secs,
            ),
            signing_timeout_secs=3_600,
            request_timeout_secs=600,
        )
        signer = KeymeldSigner(config, keys, trust)
        competition_id = str(uuid7())
        tickets = [str(uuid7()) for _ in range(entries)]
        player_keys = [os.urandom(32) for _ in range(entries)]
        mm_secret = keys.market_maker_secret(competition_id)
        space = OutcomeSpace(entries, places)
        everyone = frozenset(range(entries))
        winner_sets = [
            everyone if i == space.refund_index else frozenset(r)
            for i, r in enumerate(space.rankings())
        ] + [everyone]
        states: list[SignerSession] = []

        async def checkpoint(session: SignerSession) -> None:
            states.append(session)

        dlc = contract(entries, places, mm_secret, tickets, player_keys)
        profiler = cProfile.Profile() if profile else None
        pid = process.process.pid
        cpu = (own_cpu_secs(), cpu_secs_of(pid))
        start = time.perf_counter()
        session = await signer.open_keygen(
            KeygenRequest(competition_id, tickets, winner_sets, mm_secret, 3_600), checkpoint
        )
        for ticket, key in zip(tickets, player_keys, strict=True):
            slot = await signer.registration_slot(session, ticket, new_challenge())
            sealed = seal_registration(SlotOffer.from_json(slot.to_json()), key, trust)
            session = await signer.register_participant(
                session,
                ParticipantRegistration(
                    ticket,
                    sealed.public_key,
                    sealed.auth_pubkey,
                    sealed.encrypted_envelope,
                    sealed.enclave_key_epoch,
                ),
                checkpoint,
            )
        while True:
            if await signer.keygen_result(session) is not None:
                break
            await asyncio.sleep(0.05)
        keygen = time.perf_counter() - start
        keygen_cpu = (own_cpu_secs() - cpu[0], cpu_secs_of(pid) - cpu[1])
        cpu = (own_cpu_secs(), cpu_secs_of(pid))
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter()
        signatures = await signer.sign_contract(session, dlc, checkpoint)
        signing = time.perf_counter() - start
        signing_cpu = (own_cpu_secs() - cpu[0], cpu_secs_of(pid) - cpu[1])
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        SignedContract.verified(dlc, signatures)
        gateway_peak = peak_rss_of(process.process.pid)
        await signer.aclose()
        if isinstance(process, ProfiledGateway):
            process.print_profile()
    finally:
        process.stop()
    items = len(dlc.signing_plan().entries)
    return {
        "entries": entries,
        "places": places,
        "items": items,
        "batches": -(-items // limits.max_batch_items),
        "keygen": keygen,
        "signing": signing,
        "keygen_cpu": keygen_cpu,
        "signing_cpu": signing_cpu,
        "client_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "gateway_peak": gateway_peak,
    }


def local_figure(entries: int, places: int) -> dict[str, Any]:
    """``dlc_bench.py``'s local mode for the same size (default workers)."""
    done = subprocess.run(
        [sys.executable, str(DLC_BENCH), "--one", f"{entries}:{places}:local"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help="e.g. 10x3,20x2,25x3")
    parser.add_argument("--profile", action="store_true", help="cProfile the client's signing")
    parser.add_argument(
        "--profile-gateway", action="store_true", help="cProfile the gateway (one process)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        entries, places = (int(v) for v in args.one.split("x"))
        limits = SIZES.get(args.one, RAISED)
        result = run_size(entries, places, limits, args.profile, args.profile_gateway)
        print(json.dumps(asyncio.run(result)))
        return
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average {load} (1/5/15 min) at start, {os.cpu_count()} CPUs")
    print(
        "size    items  batches  keygen  signing   total  client cpu  gateway cpu  client MiB"
        "  gateway MiB  local sign+verify  ratio  limits"
    )
    print("  (seconds; gateway cpu: its process and workers; ratio: signing / local sign+verify)")
    for size in args.sizes.split(","):
        entries, places = (int(v) for v in size.lower().split("x"))
        command = [
            sys.executable,
            __file__,
            "--one",
            size,
            *(["--profile"] if args.profile else []),
            *(["--profile-gateway"] if args.profile_gateway else []),
        ]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{size} failed:\n{done.stderr}")
        if args.profile or args.profile_gateway:
            print(done.stderr, file=sys.stderr)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        local = local_figure(entries, places)
        local_time = local["timings"]["sign"] + local["timings"]["verify"]
        total = r["keygen"] + r["signing"]
        limits = SIZES.get(size, RAISED)
        client_cpu = r["keygen_cpu"][0] + r["signing_cpu"][0]
        gateway_cpu = r["keygen_cpu"][1] + r["signing_cpu"][1]
        ratio = r["signing"] / local_time
        kind = "real" if limits == REAL_GATEWAY else "raised"
        print(
            f"({entries:>2},{places}) {r['items']:>7,} {r['batches']:>8} {r['keygen']:>7.2f}"
            f" {r['signing']:>8.2f} {total:>7.2f} {client_cpu:>10.1f} {gateway_cpu:>11.1f}"
            f" {r['client_peak'] / 2**20:>11.0f} {r['gateway_peak'] / 2**20:>12.0f}"
            f" {local_time:>18.2f} {ratio:>6.1f}  {describe(limits)} ({kind})"
        )
        sys.stdout.flush()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average {load} (1/5/15 min) at end")


if __name__ == "__main__":
    main()
