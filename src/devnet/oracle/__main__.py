"""``python -m devnet.oracle --host 127.0.0.1 --port P --data-dir D --token T [--seed HEX]
[--public-url URL …] [--trusted-proxy IP …]``."""

from __future__ import annotations

import argparse
import datetime as dt

from coordinator_core.http_origin import OriginPolicy
from devnet.common import parse_service_args, serve
from devnet.oracle.app import create_app
from devnet.oracle.keys import OracleKeys
from devnet.oracle.service import EXPIRY_DELAY, OracleService
from devnet.oracle.store import OracleStore
from ticketdlc.competition import DEFAULT_MAX_OUTCOMES

DB_FILE = "oracle.sqlite"
WEATHER_DIR = "weather"


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", help="64 hex digits: deterministic oracle key and event nonces (tests only)"
    )
    parser.add_argument(
        "--max-outcomes",
        type=int,
        default=DEFAULT_MAX_OUTCOMES,
        help="largest outcome space an event may have",
    )
    parser.add_argument(
        "--expiry-delay-secs",
        type=int,
        default=int(EXPIRY_DELAY.total_seconds()),
        help="an event expires this long after its signing date (the noaa-oracle: one day)",
    )
    parser.add_argument(
        "--public-url",
        action="append",
        default=[],
        help="origin clients sign NIP-98 URLs for (repeatable; default http://HOST:PORT "
        "and http://localhost:PORT)",
    )
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        help="address or CIDR of a proxy whose X-Forwarded-Proto/-Host are honoured",
    )


def main() -> None:
    args = parse_service_args("Devnet weather oracle (noaa-oracle compatible)", None, _options)
    keys = OracleKeys.from_seed(args.seed) if args.seed else OracleKeys.from_data_dir(args.data_dir)
    weather_dir = args.data_dir / WEATHER_DIR
    weather_dir.mkdir(exist_ok=True)
    service = OracleService(
        OracleStore(args.data_dir / DB_FILE),
        keys,
        max_outcomes=args.max_outcomes,
        weather_dir=weather_dir,
        expiry_delay=dt.timedelta(seconds=args.expiry_delay_secs),
    )
    origins = OriginPolicy.from_config(
        args.public_url or [f"http://{args.host}:{args.port}", f"http://localhost:{args.port}"],
        args.trusted_proxy,
    )
    serve(create_app(service, args.token, origins), args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
