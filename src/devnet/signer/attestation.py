"""Devnet enclave attestation: Nitro-shaped COSE_Sign1 ES384 documents under a devnet root CA.

The devnet signing gateway answers ``GET /enclaves/{id}/public-key?nonce=…`` with documents
made here, so the coordinator verifies devnet enclaves with the same verifier
(:func:`coordinator_core.nitro.verify_attestation`) as real ones, only against another trust
root. The chain mirrors the Nitro Secure Module's: a P-384 root CA and an intermediate CA,
generated once and kept in ``<data dir>/attestation/`` (keys 0600), and a short-lived leaf
certificate with a fresh key for every document, which signs it.

Files in ``<data dir>/attestation/`` (``data/devnet/signer/attestation/`` under ``coordinator
dev``):

* ``root.pem`` — the root certificate, the trust root a non-production coordinator names;
* ``root.key``, ``intermediate.key`` — PKCS#8 PEM private keys (0600);
* ``intermediate.pem`` — the intermediate certificate (reissued when it nears expiry);
* ``pcrs.json`` — the devnet measurements ``{"PCR0": hex, …}`` (:data:`DEVNET_PCRS`).

The devnet measurements are fixed (SHA-384 of a label per register), so a configuration can
pin :data:`DEVNET_PCR0_HEX` without reading any file; the root differs per data folder.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from coordinator_core.errors import ConfigError
from coordinator_core.nitro import TrustRoot
from coordinator_core.nitro.cose import CoseSign1, encode_sign1, es384_protected_header, sign_es384
from coordinator_core.private_file import write_private

ATTESTATION_DIR: Final = "attestation"
ROOT_CERT_FILE: Final = "root.pem"
ROOT_KEY_FILE: Final = "root.key"
INTERMEDIATE_CERT_FILE: Final = "intermediate.pem"
INTERMEDIATE_KEY_FILE: Final = "intermediate.key"
PCRS_FILE: Final = "pcrs.json"

DEVNET_MODULE_ID: Final = "i-0000000000devnet-enc0000000000000000"
ROOT_NAME: Final = "devnet.nitro-enclaves"
INTERMEDIATE_NAME: Final = "zonal.devnet.nitro-enclaves"
ROOT_LIFETIME: Final = datetime.timedelta(days=20 * 365)
INTERMEDIATE_LIFETIME: Final = datetime.timedelta(days=365)
INTERMEDIATE_RENEW_BEFORE: Final = datetime.timedelta(days=30)
LEAF_LIFETIME: Final = datetime.timedelta(hours=3)
_BACKDATE: Final = datetime.timedelta(minutes=1)
_MEASURED: Final = (0, 1, 2, 3, 4, 8)  # image, kernel, application, IAM role, instance, signer


def _measurement(index: int) -> bytes:
    return hashlib.sha384(f"forecast-coordinator devnet enclave PCR{index}".encode()).digest()


DEVNET_PCRS: Final[Mapping[int, bytes]] = MappingProxyType(
    {index: _measurement(index) if index in _MEASURED else bytes(48) for index in range(16)}
)
DEVNET_PCR0: Final = DEVNET_PCRS[0]
DEVNET_PCR0_HEX: Final = DEVNET_PCR0.hex()


@dataclass(frozen=True)
class CertifiedKey:
    """A P-384 private key and the certificate of its public key."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


class AttestationIssuer:
    """Issues attestation documents for devnet enclaves under one root CA."""

    def __init__(self, root: CertifiedKey, intermediate: CertifiedKey) -> None:
        self.root = root
        self.intermediate = intermediate

    @classmethod
    def create(cls, *, now: datetime.datetime | None = None) -> AttestationIssuer:
        """A new root and intermediate, in memory only."""
        moment = now or _utcnow()
        root = _self_signed_root(moment)
        return cls(root, _intermediate(root, moment))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> AttestationIssuer:
        """The authority kept in ``data_dir/attestation``; created on first use. An expired or
        missing intermediate is reissued under the kept root."""
        folder = data_dir / ATTESTATION_DIR
        root_cert, root_key = folder / ROOT_CERT_FILE, folder / ROOT_KEY_FILE
        if not root_cert.exists() and not root_key.exists():
            issuer = cls.create()
            issuer.save(data_dir)
            return issuer
        if not (root_cert.exists() and root_key.exists()):
            raise ConfigError(
                f"incomplete devnet attestation authority in {folder}: remove the folder to"
                " start over with a new root"
            )
        root = _load_pair(root_cert, root_key)
        now = _utcnow()
        intermediate = _load_intermediate(folder, root, now)
        issuer = cls(root, intermediate or _intermediate(root, now))
        if intermediate is None:
            issuer._save_intermediate(folder)
        issuer._save_pcrs(folder)
        return issuer

    @property
    def trust_root(self) -> TrustRoot:
        """The root as the verifier takes it."""
        return TrustRoot.from_der(self.root.der)

    @property
    def root_pem(self) -> str:
        return self.root.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cabundle(self) -> list[bytes]:
        """The document's CA bundle, root first (as the Nitro Secure Module orders it)."""
        return [self.root.der, self.intermediate.der]

    def issue(
        self,
        *,
        public_key: bytes,
        nonce: bytes | None,
        pcrs: Mapping[int, bytes] = DEVNET_PCRS,
        module_id: str = DEVNET_MODULE_ID,
        user_data: bytes | None = None,
        timestamp_ms: int | None = None,
    ) -> bytes:
        """A signed attestation document binding ``public_key`` (the enclave's secp256k1 key)
        and ``nonce`` to ``pcrs``, dated now (or ``timestamp_ms``)."""
        now_ms = time.time_ns() // 1_000_000
        stamp = now_ms if timestamp_ms is None else timestamp_ms
        leaf = self.leaf(
            module_id, valid_from_ms=min(stamp, now_ms), valid_to_ms=max(stamp, now_ms)
        )
        fields = nitro_payload(
            module_id=module_id,
            timestamp_ms=stamp,
            pcrs=pcrs,
            certificate=leaf.der,
            cabundle=self.cabundle,
            public_key=public_key,
            user_data=user_data,
            nonce=nonce,
        )
        return sign_document(fields, leaf.key)

    def leaf(self, module_id: str, *, valid_from_ms: int, valid_to_ms: int) -> CertifiedKey:
        """A fresh signing key certified by the intermediate, valid over the given span (backdated
        a minute, then :data:`LEAF_LIFETIME` beyond its end)."""
        key = ec.generate_private_key(ec.SECP384R1())
        start = datetime.datetime.fromtimestamp(valid_from_ms / 1000, datetime.UTC) - _BACKDATE
        end = datetime.datetime.fromtimestamp(valid_to_ms / 1000, datetime.UTC) + LEAF_LIFETIME
        certificate = (
            _builder(
                _name(f"{module_id}.devnet.nitro-enclaves"), self.intermediate, key, start, end
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .sign(self.intermediate.key, hashes.SHA384())
        )
        return CertifiedKey(key, certificate)

    def save(self, data_dir: Path) -> None:
        """Write root, intermediate and measurements to ``data_dir/attestation``."""
        folder = data_dir / ATTESTATION_DIR
        self._save_root(folder)
        self._save_intermediate(folder)
        self._save_pcrs(folder)

    def _save_root(self, folder: Path) -> None:
        write_private(folder / ROOT_KEY_FILE, _key_pem(self.root.key))
        write_private(folder / ROOT_CERT_FILE, self.root_pem.encode())

    def _save_intermediate(self, folder: Path) -> None:
        write_private(folder / INTERMEDIATE_KEY_FILE, _key_pem(self.intermediate.key))
        write_private(
            folder / INTERMEDIATE_CERT_FILE,
            self.intermediate.certificate.public_bytes(serialization.Encoding.PEM),
        )

    def _save_pcrs(self, folder: Path) -> None:
        text = json.dumps({f"PCR{i}": value.hex() for i, value in DEVNET_PCRS.items()}, indent=2)
        path = folder / PCRS_FILE
        if not path.exists() or path.read_text() != text + "\n":
            write_private(path, (text + "\n").encode())


def nitro_payload(
    *,
    module_id: str,
    timestamp_ms: int,
    pcrs: Mapping[int, bytes],
    certificate: bytes,
    cabundle: list[bytes],
    public_key: bytes | None,
    user_data: bytes | None,
    nonce: bytes | None,
) -> dict[str, Any]:
    """The payload fields in the Nitro Secure Module's order."""
    return {
        "module_id": module_id,
        "digest": "SHA384",
        "timestamp": timestamp_ms,
        "pcrs": dict(pcrs),
        "certificate": certificate,
        "cabundle": list(cabundle),
        "public_key": public_key,
        "user_data": user_data,
        "nonce": nonce,
    }


def sign_document(
    fields: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, *, tagged: bool = False
) -> bytes:
    """COSE_Sign1 (ES384) of the CBOR payload ``fields``; untagged like the Nitro Secure
    Module's documents unless ``tagged``."""
    protected = es384_protected_header()
    payload = cbor2.dumps(dict(fields))
    unsigned = CoseSign1(protected=protected, payload=payload, signature=b"")
    signed = CoseSign1(protected, payload, sign_es384(key, unsigned.to_be_signed()))
    return encode_sign1(signed, tagged=tagged)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Forecast Coordinator devnet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name,
    issuer: CertifiedKey | None,
    key: ec.EllipticCurvePrivateKey,
    start: datetime.datetime,
    end: datetime.datetime,
) -> x509.CertificateBuilder:
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    return builder


def _ca(
    name: str,
    issuer: CertifiedKey | None,
    start: datetime.datetime,
    lifetime: datetime.timedelta,
    path_length: int | None,
) -> CertifiedKey:
    key = ec.generate_private_key(ec.SECP384R1())
    certificate = (
        _builder(_name(name), issuer, key, start - _BACKDATE, start + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
        .sign(key if issuer is None else issuer.key, hashes.SHA384())
    )
    return CertifiedKey(key, certificate)


def _self_signed_root(now: datetime.datetime) -> CertifiedKey:
    return _ca(ROOT_NAME, None, now, ROOT_LIFETIME, None)


def _intermediate(root: CertifiedKey, now: datetime.datetime) -> CertifiedKey:
    return _ca(INTERMEDIATE_NAME, root, now, INTERMEDIATE_LIFETIME, 0)


def _load_intermediate(
    folder: Path, root: CertifiedKey, now: datetime.datetime
) -> CertifiedKey | None:
    """The kept intermediate if it is issued by ``root`` and valid for at least
    :data:`INTERMEDIATE_RENEW_BEFORE`; ``None`` when it must be (re)issued."""
    cert_path, key_path = folder / INTERMEDIATE_CERT_FILE, folder / INTERMEDIATE_KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        pair = _load_pair(cert_path, key_path)
        pair.certificate.verify_directly_issued_by(root.certificate)
    except (ConfigError, ValueError, TypeError, InvalidSignature):
        return None
    validity = pair.certificate.not_valid_before_utc, pair.certificate.not_valid_after_utc
    return pair if validity[0] <= now and now + INTERMEDIATE_RENEW_BEFORE < validity[1] else None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_pair(cert_path: Path, key_path: Path) -> CertifiedKey:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"unreadable devnet attestation key pair {cert_path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ConfigError(f"{key_path} is not a P-384 private key")
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public != key.public_key():
        raise ConfigError(f"{cert_path} does not certify the key in {key_path}")
    return CertifiedKey(key, certificate)
