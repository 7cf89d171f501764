-- Fee bumping by CPFP: the settlement transactions watched and every child paying for one,
-- persisted before it is broadcast.

CREATE TABLE cpfp_parents (
    txid TEXT NOT NULL PRIMARY KEY,             -- a settlement transaction with an anchor
    competition_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,                         -- outcome, split
    first_seen_height INTEGER NOT NULL          -- the tip when it was first seen unconfirmed
) STRICT;

CREATE TABLE cpfp_children (
    txid TEXT NOT NULL PRIMARY KEY,
    competition_id TEXT NOT NULL REFERENCES competitions (id) ON DELETE CASCADE,
    parent_txid TEXT NOT NULL,                  -- a watched parent (cpfp_parents)
    raw_hex TEXT NOT NULL,                      -- signed: spends the anchor and wallet coins
    fee_sats INTEGER NOT NULL,
    vsize INTEGER NOT NULL,
    package_rate INTEGER NOT NULL,              -- sat/kwu of parent and child together
    coins TEXT NOT NULL,                        -- JSON list of the wallet outpoints it spends
    reason TEXT NOT NULL,                       -- parent_rejected, below_estimate, deadline, stuck, adopted
    created_at TEXT NOT NULL,                   -- persisted (before any broadcast)
    broadcast_at TEXT,                          -- the chain accepted it
    broadcast_height INTEGER,
    abandoned_at TEXT,                          -- refused, replaced by another's, or not needed
    abandon_reason TEXT,
    confirmed_height INTEGER
) STRICT;

CREATE INDEX cpfp_children_parent ON cpfp_children (parent_txid);
CREATE INDEX cpfp_children_competition ON cpfp_children (competition_id);
