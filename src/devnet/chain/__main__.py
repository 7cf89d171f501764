"""``python -m devnet.chain --host H --port P --data-dir D --token T [--automine-secs S]``."""

from __future__ import annotations

import argparse

from devnet.chain.app import create_app
from devnet.common import parse_service_args, serve


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--automine-secs", type=float, default=0.0, help="mine a block every S seconds (0: off)"
    )


def main() -> None:
    args = parse_service_args("Devnet regtest chain with an Esplora API", add_arguments=_options)
    if args.automine_secs < 0:
        raise SystemExit("--automine-secs must be >= 0")
    serve(
        create_app(args.data_dir, args.token, args.automine_secs),
        args.host,
        args.port,
        args.log_level,
    )


if __name__ == "__main__":
    main()
