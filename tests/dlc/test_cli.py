"""``coordinator dlc build`` reproduces the compat vector and needs no configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from coordinator.cli import cli
from coordinator_core.errors import ValidationError

OUTPOINT = "5a" * 32 + ":1"


@pytest.fixture
def params_file(tmp_path: Path, compat: dict[str, Any]) -> Path:
    path = tmp_path / "params.json"
    path.write_text(json.dumps(compat["params"], indent=2))
    return path


def run(*args: str) -> Any:
    # A config path that does not exist proves the command never loads settings.
    env = {"COORDINATOR_CONFIG": "/nonexistent/coordinator.toml"}
    return CliRunner().invoke(cli, ["dlc", "build", *args], env=env)


def test_legacy_build_prints_the_compat_vector(params_file: Path, compat: dict[str, Any]) -> None:
    result = run("--params", str(params_file), "--funding-outpoint", OUTPOINT, "--layout", "legacy")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == [
        "funding_script_pubkey",
        "outcome_value",
        "outcome_txs",
        "split_txs",
        "outcome_sighashes",
        "split_sighashes",
        "outcome_tx_fees",
        "split_tx_fees",
    ]
    for key in list(report)[:6]:
        assert report[key] == compat[key], key
    assert report["outcome_tx_fees"] == {"att0": 1110, "att1": 1110, "exp": 1110}
    assert report["split_tx_fees"] == {"att0": 1533, "att1": 2042, "exp": 2553}


def test_anchor_option_adds_the_anchor(params_file: Path) -> None:
    result = run("--params", str(params_file), "--funding-outpoint", OUTPOINT, "--anchor", "240")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["outcome_value"] == 298_520
    assert report["outcome_txs"]["att0"].endswith("f0000000000000000451024e7300000000")
    assert report["outcome_tx_fees"]["att0"] == 1240
    low = run("--params", str(params_file), "--funding-outpoint", OUTPOINT, "--anchor", "239")
    assert isinstance(low.exception, ValidationError)
    assert "InvalidAnchorValue" in str(low.exception)


def test_layout_defaults_to_the_parameters_and_can_be_overridden(
    params_file: Path, compat: dict[str, Any]
) -> None:
    default = json.loads(run("--params", str(params_file), "--funding-outpoint", OUTPOINT).output)
    assert default["outcome_txs"] == compat["outcome_txs"]  # the file selects the legacy layout
    bound = run(
        "--params", str(params_file), "--funding-outpoint", OUTPOINT, "--layout", "outcome_bound"
    )
    assert bound.exit_code == 0
    report = json.loads(bound.output)
    assert report["funding_script_pubkey"] == compat["funding_script_pubkey"]
    assert report["outcome_txs"]["att0"] != compat["outcome_txs"]["att0"]


def test_invalid_input_is_reported(params_file: Path, tmp_path: Path) -> None:
    bad_outpoint = run("--params", str(params_file), "--funding-outpoint", "nothex:1")
    assert isinstance(bad_outpoint.exception, ValidationError)
    broken = tmp_path / "broken.json"
    broken.write_text('{"market_maker": {}}')
    result = run("--params", str(broken), "--funding-outpoint", OUTPOINT)
    assert isinstance(result.exception, ValidationError)
    assert "missing field 'players'" in str(result.exception)
    bad_layout = run(
        "--params", str(params_file), "--funding-outpoint", OUTPOINT, "--layout", "bound"
    )
    assert bad_layout.exit_code == 2
