"""``python -m devnet.lightning --host 127.0.0.1 --port P --data-dir D --token T [--tls]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from devnet.common import parse_service_args, serve
from devnet.lightning.app import DevnetLightningConfig, create_app
from devnet.lightning.credentials import ensure_tls_pair
from devnet.lightning.network import FeePolicy

DEFAULT_NODES = ("coordinator=100000000",)


def _node_spec(text: str) -> tuple[str, int]:
    alias, _, sats = text.partition("=")
    try:
        return alias, int(sats or 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ALIAS=SATS, got {text!r}") from None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with <data-dir>/tls.cert (self-signed, generated when missing)",
    )
    parser.add_argument("--fee-base-msat", type=int, default=1000, help="routing fee base")
    parser.add_argument("--fee-ppm", type=int, default=1000, help="routing fee rate (ppm)")
    parser.add_argument(
        "--node",
        action="append",
        type=_node_spec,
        metavar="ALIAS=SATS",
        help=f"node created at start-up when missing (default: {' '.join(DEFAULT_NODES)})",
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_service_args("devnet Lightning network (LND REST API)", argv, _add_arguments)
    nodes = tuple(args.node or [_node_spec(spec) for spec in DEFAULT_NODES])
    config = DevnetLightningConfig(
        data_dir=args.data_dir,
        token=args.token,
        fees=FeePolicy(base_msat=args.fee_base_msat, ppm=args.fee_ppm),
        initial_nodes=nodes,
    )
    options: dict[str, object] = {"timeout_graceful_shutdown": 1}
    if args.tls:
        cert, key = ensure_tls_pair(args.data_dir)
        options.update(ssl_certfile=str(cert), ssl_keyfile=str(key))
    serve(create_app(config), args.host, args.port, args.log_level, **options)


if __name__ == "__main__":
    main()
