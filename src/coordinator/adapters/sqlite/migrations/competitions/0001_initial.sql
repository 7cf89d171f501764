-- Initial schema of competitions.db.
-- Competition state is derived from which timestamps and documents are set; it is never a column.
-- Every timestamp is an RFC 3339 UTC string; JSON documents are TEXT.

CREATE TABLE coordinator_metadata (
    pubkey TEXT NOT NULL PRIMARY KEY,          -- hex x-only public key of the coordinator key
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1)
) STRICT;

CREATE TABLE competitions (
    id TEXT NOT NULL PRIMARY KEY,              -- UUIDv7, also the oracle event id
    created_at TEXT NOT NULL,
    event_submission TEXT NOT NULL,            -- JSON CreateEvent
    event_announcement TEXT,                   -- JSON EventLockingConditions
    funding_psbt_base64 TEXT,
    funding_outpoint TEXT,                     -- "txid:vout"
    funding_transaction TEXT,                  -- raw transaction, hex
    outcome_transaction TEXT,                  -- raw transaction, hex
    contract_parameters TEXT,                  -- JSON ContractParameters
    signed_contract TEXT,                      -- JSON SignedContract
    attestation TEXT,                          -- hex scalar
    errors TEXT,                               -- JSON array of errors, NULL when none
    keymeld_session TEXT,                      -- JSON signing-session record
    escrow_funds_confirmed_at TEXT,
    event_created_at TEXT,
    entries_submitted_at TEXT,
    contracted_at TEXT,
    keymeld_keygen_completed_at TEXT,
    signed_at TEXT,
    funding_broadcasted_at TEXT,
    invoices_settled_at TEXT,
    funding_confirmed_at TEXT,
    funding_settled_at TEXT,
    awaiting_attestation_at TEXT,
    expiry_broadcasted_at TEXT,
    outcome_broadcasted_at TEXT,
    delta_broadcasted_at TEXT,
    completed_at TEXT,
    failed_at TEXT,
    cancelled_at TEXT
) STRICT;

-- The processor loads every competition that has not reached a terminal state on each tick.
CREATE INDEX competitions_active ON competitions (created_at)
    WHERE completed_at IS NULL AND cancelled_at IS NULL;

CREATE TABLE tickets (
    id TEXT NOT NULL PRIMARY KEY,              -- UUIDv7, increasing per competition
    event_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    ephemeral_pubkey TEXT,                     -- escrow mode only
    encrypted_preimage TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,                 -- SHA-256 of the preimage: payment and ticket hash
    payment_request TEXT,                      -- BOLT11 hold invoice
    invoice_expires_at TEXT,
    reserved_at TEXT,
    reserved_by TEXT,                          -- nostr public key (hex) of the reserving user
    paid_at TEXT,                              -- hold invoice ACCEPTED
    settled_at TEXT,                           -- hold invoice SETTLED
    cancelled_at TEXT,                         -- hold invoice CANCELED
    escrow_transaction TEXT
) STRICT;

CREATE INDEX tickets_event_id ON tickets (event_id);
CREATE INDEX tickets_reserved_by ON tickets (reserved_by) WHERE reserved_by IS NOT NULL;
-- The invoice watcher polls reserved tickets whose invoice is not yet paid.
CREATE INDEX tickets_pending ON tickets (reserved_at) WHERE reserved_at IS NOT NULL AND paid_at IS NULL;

CREATE TABLE entries (
    id TEXT NOT NULL PRIMARY KEY,              -- client UUIDv7
    event_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    ticket_id TEXT NOT NULL UNIQUE REFERENCES tickets (id),
    pubkey TEXT NOT NULL,                      -- nostr public key (hex) of the owner
    ephemeral_pubkey TEXT NOT NULL,            -- compressed hex, the DLC player key
    ephemeral_privatekey_encrypted TEXT NOT NULL,
    payout_hash TEXT NOT NULL,
    payout_preimage_encrypted TEXT NOT NULL,
    entry_submission TEXT NOT NULL,            -- JSON {id, event_id, expected_observations}
    encrypted_keymeld_private_key TEXT,
    keymeld_auth_pubkey TEXT,
    ephemeral_privatekey TEXT,                 -- revealed at payout
    payout_preimage TEXT,                      -- revealed at payout
    created_at TEXT NOT NULL,
    signed_at TEXT,
    sellback_broadcasted_at TEXT,
    reclaimed_broadcasted_at TEXT,
    -- DLC players must have distinct keys and payout hashes within a contract.
    UNIQUE (event_id, ephemeral_pubkey),
    UNIQUE (event_id, payout_hash)
) STRICT;

-- entries (event_id) is covered by the UNIQUE (event_id, ...) indexes above.
CREATE INDEX entries_pubkey ON entries (pubkey);

CREATE TABLE payouts (
    id TEXT NOT NULL PRIMARY KEY,              -- UUIDv7
    entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    payout_payment_request TEXT NOT NULL,
    payment_hash TEXT NOT NULL,
    payout_amount_sats INTEGER NOT NULL CHECK (payout_amount_sats > 0),
    initiated_at TEXT NOT NULL,
    succeed_at TEXT,
    failed_at TEXT,
    error TEXT
) STRICT;

CREATE INDEX payouts_entry_id ON payouts (entry_id);
CREATE INDEX payouts_payment_hash ON payouts (payment_hash);
CREATE INDEX payouts_pending ON payouts (initiated_at) WHERE succeed_at IS NULL AND failed_at IS NULL;
-- At most one payout that has not failed per entry: a retried request cannot pay twice.
CREATE UNIQUE INDEX payouts_one_live_per_entry ON payouts (entry_id) WHERE failed_at IS NULL;
