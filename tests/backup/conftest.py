"""Backups against a real S3 stand-in: moto's S3 server on a free loopback port."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coordinator.config import Settings
from coordinator_core.private_file import write_private
from tests.conftest import free_port

ACCESS_KEY_ID = "backup-test"
SECRET_ACCESS_KEY = "backup-test-secret"


@dataclass(frozen=True)
class S3:
    endpoint: str

    def create_bucket(self) -> str:
        import boto3

        name = f"backups-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto's S3 server (one per test session; each test takes its own bucket)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def backup_overrides(s3: S3, root: Path, bucket: str, **backup: Any) -> dict[str, Any]:
    """The ``[backup]`` section of a test: 1 s sync, credentials in 0600 files."""
    key_id, secret = root / "creds" / "s3_key_id", root / "creds" / "s3_secret"
    write_private(key_id, ACCESS_KEY_ID.encode())
    write_private(secret, SECRET_ACCESS_KEY.encode())
    return {
        "enabled": True,
        "bucket": bucket,
        "path": "test",
        "endpoint": s3.endpoint,
        "force_path_style": True,
        "access_key_id_file": str(key_id),
        "secret_access_key_file": str(secret),
        "sync_interval_secs": 1,
        "status_interval_secs": 1,
        "litestream_port": free_port(),
        **backup,
    }


def backup_settings(s3: S3, root: Path, bucket: str | None = None, **backup: Any) -> Settings:
    """Test settings with backups to a fresh bucket (or ``bucket``) under ``root``."""
    data = root / "data"
    return Settings.model_validate(
        {
            "profile": "test",
            "db": {"data_folder": str(data)},
            "bitcoin": {"storage_file": str(data / "bitcoin.db")},
            "backup": backup_overrides(s3, root, bucket or s3.create_bucket(), **backup),
        }
    )
