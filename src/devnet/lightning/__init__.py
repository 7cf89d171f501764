"""Devnet Lightning network: simulated LND nodes behind LND's REST API, in one process."""
