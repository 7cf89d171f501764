"""The coordinator's on-chain wallet (bdkpython in a worker process)."""
