"""Forecast Coordinator: weather prediction competitions settled with ticketed DLCs.

Layers, imports pointing down only: ``domain`` (state machine, scoring, payouts; no I/O) ←
``adapters`` (SQLite, chain, Lightning, oracle and signer clients) ← ``app`` (HTTP API, CLI,
background tasks).
"""

__version__ = "0.1.0"
