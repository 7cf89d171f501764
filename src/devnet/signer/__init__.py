"""The devnet signing gateway: a keymeld-compatible stand-in with simulated enclaves."""
