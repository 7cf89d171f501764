"""Devnet keymeld gateway: the keymeld 0.10 orchestrated REST API over simulated enclaves.

``python -m devnet.signer --host 127.0.0.1 --port P --data-dir D --token T [options]`` serves
the same routes, checks, error shapes and session state machines as a keymeld 0.10 gateway
(keymeld-0.10 §11), with at least two in-process enclaves, each with its own key and epoch.
The gateway's default limits are the real gateway's; options raise them for large contracts.
"""
