DROP TABLE payouts;
DROP TABLE entries;
DROP TABLE tickets;
DROP TABLE competitions;
DROP TABLE coordinator_metadata;
