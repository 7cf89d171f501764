"""Every crash point of the lifecycle, for the crash-recovery suite.

A test names points in ``FORECAST_CRASH_POINTS`` (comma-separated) and the coordinator dies
there at once (see :mod:`coordinator_core.faults`). ``before_<action>:<what>`` is reached after
everything the action needs was persisted and just before its side effect; ``after_<action>:
<what>`` right after the side effect returned, before its result is persisted. Restarting from
either must end in the same place as an uninterrupted run: no lost entry, no second payment, no
conflicting broadcast.

Kickoff:
  before_open:keygen, after_open:keygen                 signing session at creation
  before_create:oracle_event, after_create:oracle_event
  before_submit:oracle_entries, after_submit:oracle_entries
  before_build:funding_psbt, after_build:funding_psbt    coins locked, nothing persisted yet
  before_sign:contract, after_sign:contract             the signer signed; not yet verified/stored
  before_sign:funding, after_sign:funding
  before_broadcast:funding, after_broadcast:funding
  before_settle:invoice, after_settle:invoices          hold invoices settled with ticket preimages
Entries:
  before_create:invoice, after_create:invoice           a ticket's hold invoice
  after_register:participant                            the signer accepted a registration
Settlement:
  before_broadcast:outcome, after_broadcast:outcome     attested outcome transaction
  before_broadcast:expiry, after_broadcast:expiry       expiry transaction (no attestation)
  before_broadcast:close, after_broadcast:close         cooperative close (every winner paid)
  before_broadcast:split, after_broadcast:split
  before_broadcast:split_close, after_broadcast:split_close   a paid winner's split output
  before_broadcast:sweep, after_broadcast:sweep         an owed winner's output, approved
Fee bumping:
  before_broadcast:cpfp, after_broadcast:cpfp           a CPFP child (persisted) of a settlement tx
Payouts:
  before_send:payout, after_send:payout
Cancellation:
  before_cancel:invoices, after_cancel:invoices          held entry fees returned
"""

from __future__ import annotations

from typing import Final

from coordinator_core.faults import crash_point

__all__ = ["CRASH_POINTS", "crash_point"]

#: Every name listed above (what the crash suite may put in ``FORECAST_CRASH_POINTS``).
CRASH_POINTS: Final = frozenset(
    word.rstrip(",")
    for line in (__doc__ or "").splitlines()
    for word in line.split()
    if word.startswith(("before_", "after_"))
)
