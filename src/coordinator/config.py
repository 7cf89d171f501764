"""Typed configuration: a TOML file plus ``COORDINATOR__SECTION__KEY`` environment overrides.

Every key is validated at start-up; unknown keys and bad values are errors with a one-line
reason. The ``production`` profile refuses the devnet stand-ins.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from coordinator_core.errors import ConfigError
from coordinator_core.http_origin import normalise_origin, parse_networks
from coordinator_core.keymeld.limits import REAL_GATEWAY
from coordinator_core.nitro.policy import NON_PRODUCTION_PROFILES, attestation_trust
from coordinator_core.nostr import pubkey_from_text

DEFAULT_CONFIG_PATH = Path("config/local.toml")
ENV_PREFIX = "COORDINATOR__"
ENV_CONFIG_PATH = "COORDINATOR_CONFIG"

Network = Literal["regtest", "signet", "testnet", "bitcoin"]
Profile = Literal["development", "test", "production"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DbSettings(_Section):
    data_folder: Path = Path("./data")
    read_connections: int = Field(4, ge=1, le=64)
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000)
    synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"
    cache_size: int = -64_000
    wal_autocheckpoint: int = Field(1000, ge=0)
    mmap_size: int = Field(268_435_456, ge=0)
    integrity_check_interval_secs: float = Field(60.0, gt=0, le=86_400)


def _check_origins(values: list[str]) -> list[str]:
    for value in values:
        normalise_origin(value)
    return values


def _check_networks(values: list[str]) -> list[str]:
    parse_networks(values)
    return values


def _check_pubkeys(values: list[str]) -> list[str]:
    for value in values:
        pubkey_from_text(value)
    return values


Origins = Annotated[list[str], AfterValidator(_check_origins)]
PublicKeys = Annotated[list[str], AfterValidator(_check_pubkeys)]
Networks = Annotated[list[str], AfterValidator(_check_networks)]


class ApiSettings(_Section):
    """The public listener."""

    host: str = "127.0.0.1"
    port: int = Field(9990, ge=1, le=65535)
    # Browser origins allowed by CORS; NIP-98 ``u`` tags may name any of them too.
    origins: Origins = ["http://localhost:9990", "http://127.0.0.1:9990"]
    # The origin clients use for this API when it is not among ``origins`` (e.g. behind TLS).
    public_url: str | None = None
    # Proxies (addresses or CIDR networks) whose forwarding headers are honoured: the
    # ``X-Forwarded-Proto``/``X-Forwarded-Host`` of NIP-98 URLs and ``client_ip_header``.
    trusted_proxies: Networks = []
    client_ip_header: str = Field("X-Real-IP", pattern=r"^[A-Za-z0-9-]{1,64}$")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    shutdown_timeout_secs: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _public_url_is_an_origin(self) -> ApiSettings:
        if self.public_url is not None:
            normalise_origin(self.public_url)
        return self

    @property
    def nip98_origins(self) -> list[str]:
        """Origins a NIP-98 ``u`` tag may name on the public listener."""
        return [*self.origins, *([self.public_url] if self.public_url else [])]


class AdminSettings(_Section):
    """The operator listener: a separate port, never reachable through the public one."""

    host: str = "127.0.0.1"
    port: int = Field(9991, ge=1, le=65535)
    # 0600 file holding the bearer token (32 to 4096 characters); created by non-production
    # profiles when missing, required by production.
    token_file: Path = Path("./creds/admin_token")
    # npubs (or x-only hex keys) allowed to call admin routes with NIP-98.
    npubs: PublicKeys = []
    # Origins NIP-98 ``u`` tags may name on this listener; default http://HOST:PORT and
    # http://localhost:PORT.
    origins: Origins = []
    trusted_proxies: Networks = []
    session_ttl_secs: int = Field(43_200, ge=60, le=30 * 86_400)

    @property
    def nip98_origins(self) -> list[str]:
        return self.origins or [f"http://{self.host}:{self.port}", f"http://localhost:{self.port}"]


class AuthSettings(_Section):
    """Participant authentication and abuse limits."""

    replay_capacity: int = Field(100_000, ge=100, le=10_000_000)
    # Token buckets for login, register and password-reset attempts.
    address_attempts_per_minute: float = Field(30.0, gt=0)
    address_burst: int = Field(20, ge=1)
    username_attempts_per_minute: float = Field(10.0, gt=0)
    username_burst: int = Field(5, ge=1)
    limiter_capacity: int = Field(100_000, ge=100)  # keys remembered per limiter
    reset_challenge_ttl_secs: int = Field(300, ge=30, le=3600)


class PowSettings(_Section):
    """Sign-up proof of work (off by default)."""

    enabled: bool = False
    base_bits: int = Field(18, ge=1, le=32)
    max_bits: int = Field(22, ge=1, le=32)
    step_signups: int = Field(200, ge=1)
    challenge_ttl_secs: int = Field(600, ge=10, le=3600)

    @model_validator(mode="after")
    def _bits_ordered(self) -> PowSettings:
        if self.max_bits < self.base_bits:
            raise ValueError("max_bits must be at least base_bits")
        return self


class CoordinatorSettings(_Section):
    name: str = Field("coordinator", min_length=1, max_length=64)
    private_key_file: Path = Path("./creds/coordinator_private_key.pem")
    oracle_url: str = "http://127.0.0.1:9800"
    relative_locktime_block_delta: int = Field(432, ge=1, le=32767)
    required_confirmations: int = Field(1, ge=1)
    sync_interval_secs: float = Field(15.0, gt=0)


class BitcoinSettings(_Section):
    network: Network = "regtest"
    esplora_url: str = "http://127.0.0.1:3002"
    storage_file: Path = Path("./data/bitcoin.db")
    refresh_blocks_secs: float = Field(15.0, gt=0)


class LightningSettings(_Section):
    base_url: str = "http://127.0.0.1:8180/nodes/coordinator"
    macaroon_file_path: Path | None = None
    tls_cert_path: Path | None = None
    invoice_watch_interval_secs: float = Field(5.0, gt=0)
    payout_watch_interval_secs: float = Field(5.0, gt=0)
    request_timeout_secs: float = Field(10.0, gt=0, le=300)
    max_retries: int = Field(3, ge=0, le=10)


class KeymeldSettings(_Section):
    """The signing gateway (a keymeld 0.10 gateway), required in every profile.

    The limits are those the gateway enforces (a real gateway's by default): contracts that do
    not fit are refused before any session is opened. Every enclave is attested before a
    secret goes to it: ``pcr_pins`` must pin PCR0 or PCR8 (a production config without a pin is
    refused at load, any other profile refuses to build the signer without one);
    ``attestation_trust_root_file`` (a PEM root other than the bundled AWS Nitro Root G1) is
    refused by the production profile.
    """

    gateway_url: str = "http://127.0.0.1:8090"
    keygen_session_expiry_secs: int = Field(3600, ge=1, le=86_400)
    signing_session_expiry_secs: int = Field(300, ge=1, le=86_400)
    request_timeout_secs: float = Field(30.0, gt=0, le=600)
    max_participants: int = Field(REAL_GATEWAY.max_participants, ge=2)
    max_subsets: int = Field(REAL_GATEWAY.max_subsets, ge=1)
    max_batch_items: int = Field(REAL_GATEWAY.max_batch_items, ge=1)
    max_signing_sessions: int = Field(REAL_GATEWAY.max_signing_sessions, ge=1)
    max_keygen_timeout_secs: int = Field(REAL_GATEWAY.max_timeout_secs, ge=1)
    pcr_pins: dict[str, str] = {}
    attestation_trust_root_file: Path | None = None


class CompetitionSettings(_Section):
    """The competition lifecycle: limits checked at creation, timeouts, payouts, fees."""

    reservation_secs: float = Field(600.0, ge=60, le=86_400)  # a ticket's unpaid hold
    signing_timeout_secs: float = Field(7200.0, gt=0)  # contract built -> signed, else cancel
    failed_cancel_after_secs: float = Field(3600.0, ge=0)
    max_permanent_errors: int = Field(5, ge=0)
    max_entries: int = Field(25, ge=2, le=25)
    max_places: int = Field(5, ge=1, le=5)
    max_outcomes: int = Field(20_000, ge=2, le=20_001)
    min_block_delta: int = Field(6, ge=1, le=32_767)
    hold_invoice_max_secs: float = Field(43_200.0, gt=0)  # how long LND holds an HTLC
    min_share_sats: int = Field(1_000, ge=331)
    anchor_value_sats: int = Field(240, ge=0, le=1_000)  # 0: contracts without anchors
    contract_fee_target_blocks: int = Field(1, ge=1, le=1008)
    contract_fee_floor_sat_vb: int = Field(1, ge=1, le=10_000)
    settlement_fee_target_blocks: int = Field(6, ge=1, le=1008)
    payout_margin_blocks: int = Field(13, ge=1, le=1000)
    payout_max_cltv: int = Field(432, ge=10, le=4032)
    payout_fee_limit_sats: int = Field(1_000, ge=0)
    payout_timeout_secs: int = Field(60, ge=1, le=600)

    @model_validator(mode="after")
    def _anchor_not_dust(self) -> CompetitionSettings:
        if 0 < self.anchor_value_sats < 240:
            raise ValueError("anchor_value_sats: 0 (no anchor) or at least 240")
        return self


class BackupSettings(_Section):
    """Continuous backups of every database to S3-compatible storage through Litestream.

    The Litestream configuration is generated from this section (``coordinator backup
    config``); it is never edited by hand. Credentials come from the environment
    (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, or an instance role) or from 0600 files.
    """

    enabled: bool = False
    bucket: str = Field("coordinator-db-backups", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    # Key prefix inside the bucket; each database is replicated under <prefix>/<file name>.
    path: str = Field("coordinator", pattern=r"^[A-Za-z0-9._/-]{0,200}$")
    # S3-compatible endpoint (MinIO, moto, …); None: AWS S3 in ``region``.
    endpoint: str | None = None
    region: str = Field("us-east-1", pattern=r"^[a-z0-9-]{1,32}$")
    force_path_style: bool = False
    access_key_id_file: Path | None = None
    secret_access_key_file: Path | None = None
    sync_interval_secs: float = Field(10.0, ge=0.1, le=3600)
    snapshot_interval_secs: float = Field(3600.0, ge=60, le=7 * 86_400)
    retention_secs: float = Field(168 * 3600.0, ge=3600, le=365 * 86_400)
    # True: ``coordinator serve`` runs ``litestream replicate`` as a child and restarts it when
    # it dies; False: a sidecar runs it (``coordinator backup replicate``).
    supervise: bool = True
    # Litestream's own metrics listener (127.0.0.1), how the coordinator sees it is alive.
    litestream_port: int = Field(9095, ge=1, le=65535)
    # How often replica positions are read for ``backup status``, readiness and metrics.
    status_interval_secs: float = Field(15.0, gt=0, le=3600)
    # Readiness fails when a database has changes older than this not yet in the replica.
    max_lag_secs: float = Field(120.0, gt=0)
    # Restore a missing database from its replica at start-up (before migrations).
    restore_on_start: bool = True
    # Where the generated Litestream configuration is written (default: the data folder).
    config_file: Path | None = None

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> BackupSettings:
        if (self.access_key_id_file is None) != (self.secret_access_key_file is None):
            raise ValueError(
                "access_key_id_file and secret_access_key_file are set together or not at all"
            )
        return self


class MetricsSettings(_Section):
    """The Prometheus metrics listener (unauthenticated: keep it on a private address)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(9992, ge=1, le=65535)
    # Database gauges (competitions by state, …) are recomputed at most this often.
    refresh_secs: float = Field(15.0, ge=0, le=3600)


class CpfpSettings(_Section):
    """Fee bumping of the anchored settlement transactions by CPFP from the wallet's coins."""

    enabled: bool = True
    check_interval_secs: float = Field(60.0, ge=0, le=3600)  # per competition
    after_blocks: int = Field(3, ge=1, le=1008)  # unconfirmed this long at the target: 1.25×
    conf_target: int = Field(6, ge=1, le=1008)
    urgent_conf_target: int = Field(1, ge=1, le=1008)
    urgent_within_blocks: int = Field(36, ge=0, le=10_000)  # of a competing spend (height)
    urgent_within_secs: int = Field(21_600, ge=0, le=1_209_600)  # of a competing spend (time)
    max_fee_percent: int = Field(10, ge=1, le=100)  # of what the bumped transaction spends
    budget_sats: int = Field(100_000, ge=0)  # what one competition's children pay in all

    @model_validator(mode="after")
    def _urgent_is_sooner(self) -> CpfpSettings:
        if self.urgent_conf_target > self.conf_target:
            raise ValueError("urgent_conf_target: at most conf_target")
        return self


class DevnetSettings(_Section):
    """Local protocol-compatible stand-ins started by ``coordinator dev``. Never in production."""

    host: Literal["127.0.0.1"] = "127.0.0.1"
    data_folder: Path = Path("./data/devnet")
    token: str = Field("devnet-token", min_length=8)
    chain_port: int = Field(3002, ge=1, le=65535)
    chain_automine_secs: float = Field(10.0, ge=0, le=3600)  # 0: mine only on request
    lightning_port: int = Field(8180, ge=1, le=65535)
    oracle_port: int = Field(9800, ge=1, le=65535)
    oracle_expiry_delay_secs: int = Field(86_400, ge=0, le=86_400)  # short: expiry in minutes
    signer_port: int = Field(8090, ge=1, le=65535)
    # limits of the devnet signing gateway (the real gateway's by default)
    signer_max_subsets: int = Field(REAL_GATEWAY.max_subsets, ge=1)
    signer_max_batch_items: int = Field(REAL_GATEWAY.max_batch_items, ge=1)
    signer_max_signing_sessions: int = Field(REAL_GATEWAY.max_signing_sessions, ge=1)
    s3_port: int = Field(4566, ge=1, le=65535)
    s3_bucket: str = "coordinator-db-backups"  # created by the devnet S3 service
    startup_timeout_secs: float = Field(30.0, gt=0)


class Settings(_Section):
    profile: Profile = "development"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db: DbSettings = DbSettings()
    api: ApiSettings = ApiSettings()
    admin: AdminSettings = AdminSettings()
    auth: AuthSettings = AuthSettings()
    pow: PowSettings = PowSettings()
    coordinator: CoordinatorSettings = CoordinatorSettings()
    bitcoin: BitcoinSettings = BitcoinSettings()
    lightning: LightningSettings = LightningSettings()
    keymeld: KeymeldSettings = KeymeldSettings()
    competitions: CompetitionSettings = CompetitionSettings()
    backup: BackupSettings = BackupSettings()
    metrics: MetricsSettings = MetricsSettings()
    cpfp: CpfpSettings = CpfpSettings()
    devnet: DevnetSettings | None = None

    @model_validator(mode="after")
    def _production_has_no_stand_ins(self) -> Settings:
        if self.profile == "production":
            if self.devnet is not None:
                raise ValueError("the production profile must not configure [devnet] stand-ins")
            if self.bitcoin.network == "regtest":
                raise ValueError("the production profile cannot use the regtest network")
        keymeld = self.keymeld
        if keymeld.pcr_pins or self.profile == "production":
            try:
                pins: dict[str | int, str] = dict(keymeld.pcr_pins.items())
                attestation_trust(self.profile, pcr_pins=pins, trust_root_file=None)
            except ConfigError as exc:
                raise ValueError(f"keymeld.pcr_pins: {exc.message}") from None
        if (
            keymeld.attestation_trust_root_file is not None
            and self.profile not in NON_PRODUCTION_PROFILES
        ):
            raise ValueError(
                f"keymeld: the {self.profile} profile verifies enclaves against the pinned AWS"
                " Nitro Root G1 only; remove attestation_trust_root_file"
            )
        if self.devnet is not None:
            for name, devnet_limit in (
                ("max_subsets", self.devnet.signer_max_subsets),
                ("max_batch_items", self.devnet.signer_max_batch_items),
                ("max_signing_sessions", self.devnet.signer_max_signing_sessions),
            ):
                if getattr(self.keymeld, name) > devnet_limit:
                    raise ValueError(
                        f"keymeld.{name} exceeds the devnet gateway's signer_{name} "
                        f"({devnet_limit})"
                    )
        return self


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate settings.

    ``path`` defaults to ``$COORDINATOR_CONFIG`` or ``config/local.toml``. An explicitly named
    file must exist; the default file may be absent, in which case built-in defaults apply.
    """
    environ = os.environ if env is None else env
    explicit = path is not None or ENV_CONFIG_PATH in environ
    config_path = path or Path(environ.get(ENV_CONFIG_PATH, str(DEFAULT_CONFIG_PATH)))
    data: dict[str, Any] = {}
    if config_path.exists():
        try:
            data = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: invalid TOML: {exc}") from exc
    elif explicit:
        raise ConfigError(f"config file not found: {config_path}")
    _apply_env_overrides(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{config_path}: {_first_error(exc)}") from exc


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(keys):
            raise ConfigError(f"malformed override variable {name}")
        target = data
        for key in keys[:-1]:
            node = target.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {key} is not a section")
            target = node
        target[keys[-1]] = _parse_env_value(raw)


def _parse_env_value(raw: str) -> Any:
    """Interpret an override as a TOML value when it is one (numbers, booleans, arrays)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    location = ".".join(str(part) for part in err["loc"]) or "config"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{location}: {message}" + (f" (got {err['input']!r})" if _short(err) else "")


def _short(err: Any) -> bool:
    value = err.get("input")
    return err["type"] != "extra_forbidden" and isinstance(value, str | int | float | bool)
