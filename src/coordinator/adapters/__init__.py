"""Adapters to the outside world: databases and clients of the chain, Lightning, oracle, signer."""
