"""Client of the noaa-oracle HTTP API (the 4cast truth oracle, or the devnet oracle)."""

from coordinator.adapters.oracle.client import NoaaOracleClient, RetryPolicy

__all__ = ["NoaaOracleClient", "RetryPolicy"]
