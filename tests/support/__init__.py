"""Helpers shared by test packages (devnet services started over HTTP)."""
