"""Devnet S3: moto's S3 server, the object store Litestream backs the databases up to."""
