-- The competition lifecycle: milestones and retry bookkeeping on competitions, server-assigned
-- entry ids and signer registrations on tickets, payout tracking, every settlement transaction
-- (persisted before it is broadcast), owed winners and payout holds.

ALTER TABLE competitions ADD COLUMN keygen_opened_at TEXT;
ALTER TABLE competitions ADD COLUMN attested_at TEXT;
ALTER TABLE competitions ADD COLUMN settled_outcome TEXT;        -- "att<index>" or "exp"
ALTER TABLE competitions ADD COLUMN invoices_released_at TEXT;   -- held fees returned (cancel)
ALTER TABLE competitions ADD COLUMN cancel_reason TEXT;
ALTER TABLE competitions ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE competitions ADD COLUMN permanent_errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE competitions ADD COLUMN retry_at TEXT;

ALTER TABLE tickets ADD COLUMN entry_id TEXT;                    -- UUIDv7, fixed at creation
ALTER TABLE tickets ADD COLUMN registration_holder TEXT;         -- who registered (nostr hex)
ALTER TABLE tickets ADD COLUMN registration_public_key TEXT;     -- compressed hex
ALTER TABLE tickets ADD COLUMN registration_auth_pubkey TEXT;
ALTER TABLE tickets ADD COLUMN registration_envelope TEXT;       -- hex ciphertext
ALTER TABLE tickets ADD COLUMN registration_epoch INTEGER;       -- enclave key epoch sealed for
ALTER TABLE tickets ADD COLUMN registered_at TEXT;
ALTER TABLE tickets ADD COLUMN registration_forwarded_at TEXT;   -- accepted by the signer
ALTER TABLE tickets ADD COLUMN registration_error TEXT;

CREATE UNIQUE INDEX tickets_entry_id ON tickets (entry_id) WHERE entry_id IS NOT NULL;

ALTER TABLE payouts ADD COLUMN cltv_limit INTEGER;
ALTER TABLE payouts ADD COLUMN fee_limit_sats INTEGER;
ALTER TABLE payouts ADD COLUMN fee_msat INTEGER;
ALTER TABLE payouts ADD COLUMN payment_preimage TEXT;
ALTER TABLE payouts ADD COLUMN invoice_expires_at TEXT;
ALTER TABLE payouts ADD COLUMN min_final_cltv_expiry INTEGER;
ALTER TABLE payouts ADD COLUMN send_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payouts ADD COLUMN last_sent_at TEXT;

-- One Lightning payment settles at most one payout.
CREATE UNIQUE INDEX payouts_live_payment_hash ON payouts (payment_hash) WHERE failed_at IS NULL;

CREATE TABLE settlement_transactions (
    competition_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                        -- funding, outcome, close, split, split_close, sweep
    player_index INTEGER NOT NULL DEFAULT -1,  -- the winner, for split_close and sweep
    txid TEXT NOT NULL,
    raw_hex TEXT NOT NULL,
    fee_sats INTEGER,
    created_at TEXT NOT NULL,                  -- persisted (before any broadcast)
    broadcast_at TEXT,                         -- the chain source accepted it
    confirmed_height INTEGER,
    confirmed_at TEXT,
    observed INTEGER NOT NULL DEFAULT 0,       -- found on chain, not built here
    PRIMARY KEY (competition_id, kind, player_index)
) STRICT;

CREATE UNIQUE INDEX settlement_transactions_txid ON settlement_transactions (txid);

CREATE TABLE owed_winners (
    entry_id TEXT NOT NULL PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
    competition_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    player_index INTEGER NOT NULL,
    amount_sats INTEGER NOT NULL,              -- what the Lightning payout would have paid
    output_value_sats INTEGER NOT NULL,        -- the winner's split output
    owed_since TEXT NOT NULL,
    sweepable_at_height INTEGER NOT NULL,      -- first block the market maker's reclaim fits in
    sweep_approved_at TEXT,
    claimed_on_chain_at TEXT,                  -- the winner spent its output itself
    claim_txid TEXT,
    swept_at TEXT,                             -- the approved reclaim confirmed
    uneconomic_at TEXT                         -- not worth a transaction at the fee floor
) STRICT;

CREATE INDEX owed_winners_competition_id ON owed_winners (competition_id);

CREATE TABLE payout_holds (
    entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    payment_hash TEXT NOT NULL,                -- a node payment no payout row explains
    amount_sats INTEGER NOT NULL,
    reason TEXT NOT NULL,
    held_at TEXT NOT NULL,
    released_at TEXT,
    PRIMARY KEY (entry_id, payment_hash)
) STRICT;
