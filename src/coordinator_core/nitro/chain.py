"""X.509 checks of a Nitro certificate chain: leaf ← CA bundle (minus its root) ← trust root.

The CA bundle of a Nitro document is ordered root first (``[root, CA_1, …, CA_n]``) and the
leaf is issued by ``CA_n``. The bundle's first certificate must be the pinned trust root
itself (byte for byte) and is never used as an anchor; the path checked is
``leaf, CA_n, …, CA_1`` with each certificate issued by the next and ``CA_1`` issued by the
pinned root. Every certificate of the path, the root included, must:

* be X.509 v3, signed with ECDSA/SHA-384 under its issuer's P-384 key (its own key P-384);
* be valid at the verification instant (``not_before ≤ now ≤ not_after``, inclusive);
* carry no critical extension other than basic constraints, key usage, extended key usage and
  subject alternative name, and no name constraints;
* if it has an extended key usage, include server authentication.

CA certificates (bundle and root) have basic constraints with ``cA`` true, a path length
constraint (if any) at least the number of CA certificates below them in the path, and a key
usage (if any) that includes ``keyCertSign``. The leaf has no ``cA`` true basic constraints
and a key usage (if any) that includes ``digitalSignature``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

_UNDERSTOOD_CRITICAL: Final = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    }
)


_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


class CertificateProblem(ValueError):
    """A certificate or the path failed a check (the message says which)."""


def parse_certificate(der: bytes, what: str) -> x509.Certificate:
    """Parse DER bytes as an X.509 certificate, every field the checks read included (the
    library parses names, dates and extensions lazily)."""
    try:
        with warnings.catch_warnings():  # a non-positive serial warns; it is refused below
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(der)
        _ = (cert.version, cert.issuer, cert.subject, cert.extensions)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc, cert.signature_algorithm_oid)
    except (ValueError, x509.InvalidVersion) as exc:
        raise CertificateProblem(f"{what} is not a well-formed X.509 certificate: {exc}") from None
    if cert.serial_number <= 0:
        raise CertificateProblem(f"{what} has a serial number that is not positive")
    return cert


def p384_key(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    """The certificate's public key, which must be ECDSA P-384."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateProblem(f"{what} has an unreadable public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise CertificateProblem(f"{what} does not have an ECDSA P-384 key")
    return key


def check_certificate(cert: x509.Certificate, what: str, *, ca_below: int | None) -> None:
    """The per-certificate rules; ``ca_below`` is the number of CA certificates under a CA in
    the path, ``None`` for the leaf."""
    if cert.version is not x509.Version.v3:
        raise CertificateProblem(f"{what} is not an X.509 v3 certificate")
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA384:
        raise CertificateProblem(f"{what} is not signed with ECDSA/SHA-384")
    p384_key(cert, what)
    try:
        extensions = cert.extensions
    except ValueError as exc:
        raise CertificateProblem(f"{what} has malformed extensions: {exc}") from None
    for extension in extensions:
        if extension.oid == ExtensionOID.NAME_CONSTRAINTS:
            raise CertificateProblem(f"{what} has name constraints, which are not supported")
        if extension.critical and extension.oid not in _UNDERSTOOD_CRITICAL:
            raise CertificateProblem(
                f"{what} has an unsupported critical extension {extension.oid.dotted_string}"
            )
    eku = _extension(extensions, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise CertificateProblem(f"{what} has an extended key usage without server auth")
    constraints = _extension(extensions, x509.BasicConstraints)
    usage = _extension(extensions, x509.KeyUsage)
    if ca_below is None:
        if constraints is not None and constraints.ca:
            raise CertificateProblem(f"{what} is a CA certificate used as the signing leaf")
        if usage is not None and not usage.digital_signature:
            raise CertificateProblem(f"{what} key usage does not allow digital signatures")
        return
    if constraints is None or not constraints.ca:
        raise CertificateProblem(f"{what} is not a CA certificate (basic constraints)")
    if constraints.path_length is not None and ca_below > constraints.path_length:
        raise CertificateProblem(
            f"{what} allows {constraints.path_length} CA certificates below it, has {ca_below}"
        )
    if usage is not None and not usage.key_cert_sign:
        raise CertificateProblem(f"{what} key usage does not allow certificate signing")


def check_validity(cert: x509.Certificate, what: str, now_ms: int) -> None:
    """``not_before ≤ now ≤ not_after`` (certificate times have second precision)."""
    not_before = int(cert.not_valid_before_utc.timestamp()) * 1000
    not_after = int(cert.not_valid_after_utc.timestamp()) * 1000
    if now_ms < not_before:
        raise CertificateProblem(f"{what} is not valid before {cert.not_valid_before_utc}")
    if now_ms > not_after:
        raise CertificateProblem(f"{what} expired at {cert.not_valid_after_utc}")


def check_issued_by(cert: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    """``cert`` names ``issuer`` as its issuer and carries a valid signature by its key."""
    if cert.issuer.public_bytes() != issuer.subject.public_bytes():
        raise CertificateProblem(f"{what} names another issuer")
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        raise CertificateProblem(f"{what} signature does not verify under its issuer") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateProblem(f"{what} cannot be checked against its issuer: {exc}") from None


def verify_path(
    leaf_der: bytes,
    cabundle: Sequence[bytes],
    root_der: bytes,
    now_ms: int,
) -> ec.EllipticCurvePublicKey:
    """Check the whole path at ``now_ms``; returns the leaf's P-384 key."""
    if not cabundle or cabundle[0] != root_der:
        raise CertificateProblem("the CA bundle does not start with the pinned trust root")
    root = parse_certificate(root_der, "the trust root")
    path = [parse_certificate(leaf_der, "the signing certificate")]
    names = ["the signing certificate"]
    for index in range(len(cabundle) - 1, 0, -1):
        what = f"CA bundle certificate {index}"
        path.append(parse_certificate(cabundle[index], what))
        names.append(what)
    path.append(root)
    names.append("the trust root")
    for position, (cert, what) in enumerate(zip(path, names, strict=True)):
        check_certificate(cert, what, ca_below=None if position == 0 else position - 1)
        check_validity(cert, what, now_ms)
        issuer = path[position + 1] if position + 1 < len(path) else root
        check_issued_by(cert, issuer, what)
    return p384_key(path[0], names[0])


def _extension(extensions: x509.Extensions, kind: type[_Ext]) -> _Ext | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
