"""Backups of the databases (Litestream)."""
