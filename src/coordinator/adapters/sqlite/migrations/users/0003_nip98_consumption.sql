-- NIP-98 replay guard: the authorization events the HTTP API accepted, each once, kept while
-- their `created_at` (unix seconds, as signed) is inside the 60 s freshness window. One table
-- for every coordinator process on this data folder, so a restart or a second process
-- (blue/green) cannot accept an event again.

CREATE TABLE nip98_consumption (
    event_id TEXT NOT NULL PRIMARY KEY,            -- nostr event id, 64 lower-case hex
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX nip98_consumption_created ON nip98_consumption (created_at);

-- The number of rows of nip98_consumption, kept by triggers: the capacity check reads one row
-- instead of counting up to `replay_capacity` rows on every request.
CREATE TABLE nip98_consumption_count (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    held INTEGER NOT NULL CHECK (held >= 0)
) STRICT;

INSERT INTO nip98_consumption_count (id, held) VALUES (1, 0);

CREATE TRIGGER nip98_consumption_counted_insert AFTER INSERT ON nip98_consumption
BEGIN
    UPDATE nip98_consumption_count SET held = held + 1 WHERE id = 1;
END;

CREATE TRIGGER nip98_consumption_counted_delete AFTER DELETE ON nip98_consumption
BEGIN
    UPDATE nip98_consumption_count SET held = held - 1 WHERE id = 1;
END;
