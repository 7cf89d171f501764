"""Application layer: HTTP API, background tasks, CLI wiring."""
