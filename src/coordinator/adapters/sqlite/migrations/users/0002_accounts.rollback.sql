DROP TABLE password_reset_challenge;
DROP INDEX user_created;
DROP INDEX user_username_nocase;
