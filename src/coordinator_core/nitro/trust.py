"""Trust roots of attestation chains; the AWS Nitro Enclaves Root G1 is bundled and pinned.

The pinned root is part of this package and checked against its published SHA-256 when the
module is imported; it is never taken from a document or a gateway. Other roots (the devnet's)
are loaded from a PEM file, and only non-production profiles may name one
(:func:`coordinator_core.nitro.policy.attestation_trust`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from coordinator_core.errors import ConfigError
from coordinator_core.nitro.chain import (
    CertificateProblem,
    check_certificate,
    check_issued_by,
    parse_certificate,
)

MAX_ROOT_FILE_BYTES: Final = 64 * 1024

AWS_NITRO_ROOT_G1_SHA256: Final = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

# https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip
AWS_NITRO_ROOT_G1_PEM: Final = """\
-----BEGIN CERTIFICATE-----
MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL
MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD
VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4
MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL
DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG
BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb
48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE
h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF
R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC
MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW
rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N
IwLz3/Y=
-----END CERTIFICATE-----
"""


@dataclass(frozen=True)
class TrustRoot:
    """A self-signed P-384 CA certificate that attestation chains must lead to."""

    der: bytes
    certificate: x509.Certificate = field(repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the DER certificate (how AWS publishes its root's identity)."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def is_aws_nitro_root(self) -> bool:
        return self.sha256 == AWS_NITRO_ROOT_G1_SHA256

    def pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode()

    @classmethod
    def from_der(cls, der: bytes) -> TrustRoot:
        """Check and wrap a DER certificate; raises :class:`ConfigError` if it is not a
        self-signed P-384 CA certificate signed with ECDSA/SHA-384."""
        try:
            certificate = parse_certificate(der, "the trust root")
            check_certificate(certificate, "the trust root", ca_below=0)
            check_issued_by(certificate, certificate, "the trust root")
        except CertificateProblem as exc:
            raise ConfigError(f"unusable attestation trust root: {exc}") from None
        return cls(der=bytes(der), certificate=certificate)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> TrustRoot:
        """Exactly one PEM ``CERTIFICATE`` block."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ConfigError("attestation trust root: not a PEM certificate") from None
        if len(certificates) != 1:
            raise ConfigError(
                f"attestation trust root: expected one certificate, got {len(certificates)}"
            )
        return cls.from_der(certificates[0].public_bytes(Encoding.DER))

    @classmethod
    def from_file(cls, path: Path) -> TrustRoot:
        """A PEM file holding one certificate."""
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_ROOT_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"attestation trust root {path}: {exc.strerror}") from None
        if len(data) > MAX_ROOT_FILE_BYTES:
            raise ConfigError(f"attestation trust root {path}: larger than 64 KiB")
        try:
            return cls.from_pem(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None


def _pinned_aws_root() -> TrustRoot:
    root = TrustRoot.from_pem(AWS_NITRO_ROOT_G1_PEM)
    if root.sha256 != AWS_NITRO_ROOT_G1_SHA256:  # pragma: no cover - a corrupted package
        raise RuntimeError("the bundled AWS Nitro Root G1 does not match its pinned SHA-256")
    return root


AWS_NITRO_ROOT_G1: Final = _pinned_aws_root()
