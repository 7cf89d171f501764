"""Devnet chain: a regtest chain validated by libbitcoinkernel, served with an Esplora API."""
