"""Devnet: local, protocol-compatible stand-ins for the coordinator's external services.

Each service is a separate HTTP server bound to 127.0.0.1 that speaks the real system's API
(Esplora for the chain, LND REST for Lightning, the noaa-oracle API, the keymeld gateway), so
the coordinator's production clients are exercised end to end. None of this is importable from a
production configuration path; ``coordinator dev`` and the tests start it.
"""
