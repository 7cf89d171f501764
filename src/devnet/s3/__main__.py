"""``python -m devnet.s3 --host 127.0.0.1 --port P --data-dir D --token T [--bucket NAME …]``.

Runs moto's S3 server (in memory: a restart starts with empty buckets), creates the buckets and
writes the access key pair it accepts to ``<data-dir>/access_key_id`` and
``<data-dir>/secret_access_key`` (0600), which a development ``[backup]`` section names.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from coordinator_core.private_file import write_private
from devnet.common import parse_service_args

ACCESS_KEY_ID = "devnet"
SECRET_ACCESS_KEY = "devnet-secret"  # noqa: S105 - the stand-in's fixed development key
REGION = "us-east-1"


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bucket", action="append", default=[], help="bucket to create (repeatable)"
    )


def main() -> None:
    args = parse_service_args("Devnet S3 (moto) for database backups", None, _options)
    import boto3
    from moto.server import ThreadedMotoServer

    write_private(args.data_dir / "access_key_id", ACCESS_KEY_ID.encode())
    write_private(args.data_dir / "secret_access_key", SECRET_ACCESS_KEY.encode())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{args.host}:{args.port}",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
    )
    for bucket in args.bucket or ["coordinator-db-backups"]:
        client.create_bucket(Bucket=bucket)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
