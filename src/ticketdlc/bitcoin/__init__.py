"""Bitcoin transactions, scripts, signature hashes, taproot, fees and addresses."""
