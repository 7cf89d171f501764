"""``python -m devnet.signer --host 127.0.0.1 --port P --data-dir D --token T [options]``."""

from __future__ import annotations

import argparse
import os

from coordinator_core.keymeld.limits import REAL_GATEWAY, GatewayLimits
from devnet.common import parse_service_args, serve
from devnet.signer.app import Admission, create_app
from devnet.signer.attestation import AttestationIssuer
from devnet.signer.service import GatewayConfig, GatewayService
from devnet.signer.store import GatewayStore

DB_FILE = "gateway.sqlite"


def _options(parser: argparse.ArgumentParser) -> None:
    limits = REAL_GATEWAY
    parser.add_argument("--enclaves", type=int, default=2, help="simulated enclaves (≥ 1)")
    parser.add_argument("--max-participants", type=int, default=limits.max_participants)
    parser.add_argument("--max-subsets", type=int, default=limits.max_subsets)
    parser.add_argument("--max-batch-items", type=int, default=limits.max_batch_items)
    parser.add_argument(
        "--max-signing-sessions",
        type=int,
        default=limits.max_signing_sessions,
        help="signing sessions per keygen when its manifest names no quota",
    )
    parser.add_argument("--max-timeout-secs", type=int, default=limits.max_timeout_secs)
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"request body limit (default {limits.max_body_bytes}, or 4 KiB per batch item if "
        "more, so raised batch limits stay usable)",
    )
    parser.add_argument("--tick-ms", type=int, default=100, help="background coordinator period")
    parser.add_argument("--sessions-per-tick", type=int, default=20)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for large signing rounds (1: sign in the gateway process)",
    )
    parser.add_argument("--admission-per-ip-burst", type=int, default=Admission.per_ip_burst)
    parser.add_argument("--admission-per-ip-rate", type=float, default=Admission.per_ip_rate)
    parser.add_argument("--admission-global-rate", type=float, default=Admission.global_rate)


def main() -> None:
    args = parse_service_args("Devnet keymeld gateway (keymeld 0.10 API)", None, _options)
    limits = GatewayLimits(
        max_participants=args.max_participants,
        max_subsets=args.max_subsets,
        max_batch_items=args.max_batch_items,
        max_signing_sessions=args.max_signing_sessions,
        max_timeout_secs=args.max_timeout_secs,
        max_body_bytes=args.max_body_bytes
        or max(REAL_GATEWAY.max_body_bytes, 4096 * args.max_batch_items),
    )
    config = GatewayConfig(
        limits=limits,
        enclaves=max(1, args.enclaves),
        tick_secs=args.tick_ms / 1000,
        sessions_per_tick=args.sessions_per_tick,
        workers=max(1, args.workers),
    )
    issuer = AttestationIssuer.load_or_create(args.data_dir)

    def attest(enclave_id: int, public_key: bytes, nonce: bytes | None) -> bytes:
        return issuer.issue(public_key=public_key, nonce=nonce)

    service = GatewayService(GatewayStore(args.data_dir / DB_FILE), config, attest)
    admission = Admission(
        per_ip_burst=args.admission_per_ip_burst,
        per_ip_rate=args.admission_per_ip_rate,
        global_rate=args.admission_global_rate,
    )
    serve(create_app(service, args.token, admission), args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
