"""Lightning adapter: a client for LND's REST API."""

from coordinator.adapters.lightning.client import LndRestClient
from coordinator.adapters.lightning.subscriptions import ReconnectPolicy

__all__ = ["LndRestClient", "ReconnectPolicy"]
