"""What the browser checks a signing enclave's attestation against, as the page tells it.

The browser module verifies the enclave's Nitro attestation before it seals an entry key
(``web/src/nitro.js``, mirroring :mod:`coordinator_core.nitro`). It needs the coordinator's own
policy: the profile, the pinned PCRs (``[keymeld] pcr_pins``) and, only outside the production
profile, the trust root named by ``[keymeld] attestation_trust_root_file`` (the devnet
gateway's root). In production the page never names a root: the browser trusts only the AWS
Nitro Enclaves Root G1 it bundles.
"""

from __future__ import annotations

import json
import logging

from coordinator.config import Settings
from coordinator_core.errors import ConfigError
from coordinator_core.nitro import TrustRoot
from coordinator_core.nitro.policy import NON_PRODUCTION_PROFILES

log = logging.getLogger(__name__)


class EnclaveTrustView:
    """The ``data-enclave-trust`` JSON of the pages (the root file is read once it exists)."""

    def __init__(self, settings: Settings) -> None:
        self._profile = settings.profile
        self._pins = dict(settings.keymeld.pcr_pins)
        self._root_file = settings.keymeld.attestation_trust_root_file
        self._root_pem: str | None = None

    def _root(self) -> str | None:
        if self._root_file is None or self._profile not in NON_PRODUCTION_PROFILES:
            return None
        if self._root_pem is None and self._root_file.exists():
            try:
                self._root_pem = TrustRoot.from_file(self._root_file).pem()
            except ConfigError as exc:
                log.warning("attestation trust root not shown to browsers: %s", exc)
        return self._root_pem

    def json(self) -> str:
        return json.dumps({"profile": self._profile, "pcr_pins": self._pins,
                           "root_pem": self._root()})  # fmt: skip
