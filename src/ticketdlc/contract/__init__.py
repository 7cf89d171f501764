"""Ticketed DLC engine, byte-compatible with the dlctix library.

Parameters (:mod:`.types`, JSON in :mod:`.jsoncodec`) are checked against size limits and
validated (:mod:`.validation`), every transaction is built (:mod:`.build`), signed in a two-round
MuSig2 session with adaptor signatures for attestation outcomes (:mod:`.signing`), verified
(:mod:`.signatures`) and finally settled (:mod:`.settlement`). :mod:`.competition` turns a
weather competition into contract parameters.

Two layouts exist: ``legacy`` reproduces dlctix 0.0.x/0.1.0 byte for byte; ``outcome_bound``
(the default for new contracts) binds split leaves to their outcome, which closes the
shared-winner exploit of the legacy layout. Either layout may carry a pay-to-anchor output on
every pre-signed transaction (``ContractParameters.anchor``), so a stuck settlement transaction
can be bumped by CPFP (:mod:`.cpfp`).
"""

from ticketdlc.contract.build import SigningEntry, SigningPlan, TicketedDLC
from ticketdlc.contract.competition import (
    CompetitionContractError,
    CompetitionEntry,
    competition_contract_parameters,
    competition_payouts,
)
from ticketdlc.contract.cpfp import (
    CpfpChild,
    CpfpFundingInput,
    contract_cpfp_child,
    cpfp_child_template,
    presigned_tx_fee,
)
from ticketdlc.contract.errors import (
    ContractBuildError,
    ContractDecodeError,
    ContractError,
    ContractLimitError,
    ContractValidationError,
    InvalidPartialSignatureError,
    InvalidSignatureError,
    SigningError,
    SpendError,
)
from ticketdlc.contract.external import SigningData, signing_data
from ticketdlc.contract.settlement import SPENDS, SignedContract, Spend, dlc_from_json, dlc_to_json
from ticketdlc.contract.sigmap import SigMap, sigmap_keys_for
from ticketdlc.contract.signatures import ContractSignatures, verify_entries, verify_signatures
from ticketdlc.contract.signing import CoordinatorSession, SignerSession, sign_contract_locally
from ticketdlc.contract.types import (
    DEFAULT_ANCHOR,
    DEFAULT_LAYOUT,
    EXPIRY,
    AnchorParams,
    ContractLayout,
    ContractParameters,
    EventLockingConditions,
    MarketMaker,
    Outcome,
    Player,
    WinCondition,
)
from ticketdlc.contract.validation import (
    DEFAULT_LIMITS,
    ContractLimits,
    check_limits,
    validate,
    validate_stored,
)

__all__ = [
    "DEFAULT_ANCHOR",
    "DEFAULT_LAYOUT",
    "DEFAULT_LIMITS",
    "EXPIRY",
    "SPENDS",
    "AnchorParams",
    "CompetitionContractError",
    "CompetitionEntry",
    "ContractBuildError",
    "ContractDecodeError",
    "ContractError",
    "ContractLayout",
    "ContractLimitError",
    "ContractLimits",
    "ContractParameters",
    "ContractSignatures",
    "ContractValidationError",
    "CoordinatorSession",
    "CpfpChild",
    "CpfpFundingInput",
    "EventLockingConditions",
    "InvalidPartialSignatureError",
    "InvalidSignatureError",
    "MarketMaker",
    "Outcome",
    "Player",
    "SigMap",
    "SignedContract",
    "SignerSession",
    "SigningData",
    "SigningEntry",
    "SigningError",
    "SigningPlan",
    "Spend",
    "SpendError",
    "TicketedDLC",
    "WinCondition",
    "check_limits",
    "competition_contract_parameters",
    "competition_payouts",
    "contract_cpfp_child",
    "cpfp_child_template",
    "dlc_from_json",
    "dlc_to_json",
    "presigned_tx_fee",
    "sigmap_keys_for",
    "sign_contract_locally",
    "signing_data",
    "validate",
    "validate_stored",
    "verify_entries",
    "verify_signatures",
]
