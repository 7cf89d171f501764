"""Devnet weather oracle: the noaa-oracle HTTP API, scoring and attestations from local data."""
