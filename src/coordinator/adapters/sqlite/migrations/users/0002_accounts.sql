-- Username accounts: case-insensitive usernames, password-reset challenges, sign-up counts.

CREATE UNIQUE INDEX user_username_nocase ON user (username COLLATE NOCASE)
    WHERE username IS NOT NULL;
CREATE INDEX user_created ON user (created_at);

-- Single-use challenges of `forgot-password`, valid until `expires_at` (unix seconds).
CREATE TABLE password_reset_challenge (
    challenge TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL COLLATE NOCASE,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX password_reset_challenge_expiry ON password_reset_challenge (expires_at);
