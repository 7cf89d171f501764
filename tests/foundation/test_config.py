from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.config import Settings, load_settings
from coordinator_core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_configs_load() -> None:
    local = load_settings(Path("config/local.toml"), env={})
    assert local.profile == "development"
    assert local.devnet is not None
    assert local.devnet.token == "devnet-token"
    assert (local.api.port, local.devnet.chain_port, local.devnet.lightning_port) == (
        9990,
        3002,
        8180,
    )
    assert (local.devnet.oracle_port, local.devnet.signer_port, local.devnet.s3_port) == (
        9800,
        8090,
        4566,
    )
    e2e = load_settings(Path("config/e2e.toml"), env={})
    assert e2e.profile == "test"
    prod = load_settings(Path("config/production.example.toml"), env={})
    assert prod.profile == "production" and prod.devnet is None


def test_missing_default_file_uses_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}) == Settings()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[db]\nread_conections = 3\n")
    with pytest.raises(ConfigError, match=r"db\.read_conections: unknown key"):
        load_settings(path, env={})


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bogus: unknown key"):
        load_settings(write(tmp_path, "[bogus]\nx = 1\n"), env={})


def test_wrong_type_and_range_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_settings(write(tmp_path, '[api]\nport = "ninety"\n'), env={})
    with pytest.raises(ConfigError, match=r"coordinator\.relative_locktime_block_delta"):
        load_settings(
            write(tmp_path, "[coordinator]\nrelative_locktime_block_delta = 40000\n"), env={}
        )


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(write(tmp_path, "[db\n"), env={})


def test_production_refuses_devnet(tmp_path: Path) -> None:
    text = 'profile = "production"\n[bitcoin]\nnetwork = "signet"\n[devnet]\n'
    with pytest.raises(ConfigError, match="must not configure \\[devnet\\]"):
        load_settings(write(tmp_path, text), env={})


def test_production_refuses_regtest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regtest"):
        load_settings(write(tmp_path, 'profile = "production"\n'), env={})


def test_devnet_binds_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"devnet\.host"):
        load_settings(write(tmp_path, '[devnet]\nhost = "0.0.0.0"\n'), env={})


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9000\n")
    settings = load_settings(
        path,
        env={
            "COORDINATOR__API__PORT": "9123",
            "COORDINATOR__API__ORIGINS": '["https://a.example"]',
            "COORDINATOR__DB__DATA_FOLDER": "/tmp/elsewhere",
            "COORDINATOR__LOG_LEVEL": "debug",
            "UNRELATED": "x",
        },
    )
    assert settings.api.port == 9123
    assert settings.api.origins == ["https://a.example"]
    assert settings.db.data_folder == Path("/tmp/elsewhere")
    assert settings.log_level == "debug"


def test_environment_override_with_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"api\.prot: unknown key"):
        load_settings(write(tmp_path, ""), env={"COORDINATOR__API__PROT": "1"})


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nport = 9555\n")
    assert load_settings(env={"COORDINATOR_CONFIG": str(path)}).api.port == 9555
    with pytest.raises(ConfigError, match="not found"):
        load_settings(env={"COORDINATOR_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[db]\nread_conections = 3\n", "db.read_conections: unknown key"),
        ('[api]\nport = "x"\n', "api.port"),
        ('profile = "production"\n[bitcoin]\nnetwork = "signet"\n[devnet]\n', "[devnet]"),
    ],
)
def test_cli_exits_non_zero_with_one_line_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "--config", str(path), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert reason in lines[0]
