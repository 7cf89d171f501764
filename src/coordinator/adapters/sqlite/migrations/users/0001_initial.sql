-- Initial schema of users.db. Timestamps are RFC 3339 UTC strings.

CREATE TABLE user (
    nostr_pubkey TEXT NOT NULL PRIMARY KEY,        -- bech32 npub
    encrypted_bitcoin_private_key TEXT NOT NULL UNIQUE,
    network TEXT NOT NULL,
    username TEXT,
    password_hash TEXT,                            -- Argon2id PHC string
    encrypted_nsec TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX user_username ON user (username) WHERE username IS NOT NULL;
CREATE INDEX user_network_created ON user (network, created_at);
