"""Errors raised by the ticketed DLC engine."""

from __future__ import annotations


class ContractError(ValueError):
    """Base class: the contract, its input or a signature set is not acceptable."""


class ContractDecodeError(ContractError):
    """Serialized contract data (JSON) is malformed."""


class ContractLimitError(ContractError):
    """The contract is larger than the configured limits (checked before anything is built)."""


class ContractValidationError(ContractError):
    """The contract parameters break a validation rule.

    ``rule`` names the rule in the terms dlctix uses (``"DuplicateTicketHash"``, …).
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class ContractBuildError(ContractError):
    """A transaction could not be built (fees exceed the value, dust output, overflow).

    ``rule`` names the failure as dlctix does: ``"InsufficientFunds"``, ``"DustAmount"``,
    ``"WeightOverflow"``, ``"InvalidFeeAmount"``, ``"MissingAnchor"`` or ``"InvalidInput"``.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class SigningError(ContractError):
    """A signing session received incomplete or inconsistent nonces or signatures."""


class InvalidPartialSignatureError(SigningError):
    """Partial signatures that do not verify, by signer.

    ``blamed`` maps each guilty signer's 33-byte public key to the entries (``"att3"``,
    ``"exp:p1"``, …) where its partial signature is invalid.
    """

    def __init__(self, blamed: dict[bytes, list[str]]) -> None:
        parts = []
        for signer, entries in blamed.items():
            shown = ", ".join(entries[:5]) + (" …" if len(entries) > 5 else "")
            parts.append(f"{signer.hex()} on {shown}")
        super().__init__("invalid partial signatures from " + "; ".join(parts))
        self.blamed = blamed


class InvalidSignatureError(ContractError):
    """An aggregated contract signature is missing or does not verify."""


class SpendError(ContractError):
    """A settlement transaction cannot be signed as requested (wrong input, key, preimage)."""
