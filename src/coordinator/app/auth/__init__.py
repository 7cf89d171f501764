"""Authentication and authorization of the HTTP listeners.

Public routes: ``caller: NostrCaller = Depends(nostr_caller)`` (or ``caller: NostrDep``),
strict NIP-98. Admin routes: ``admin: AdminCaller = Depends(require_admin)`` (or
``admin: AdminDep``): the token, an admin npub, or a session with CSRF.
"""

from coordinator.app.auth.admin import (
    AdminCaller,
    AdminDep,
    admin_csrf_token,
    require_admin,
)
from coordinator.app.auth.admin_token import AdminToken, load_admin_token
from coordinator.app.auth.limits import RateLimiter
from coordinator.app.auth.nostr import NostrCaller, NostrDep, RawBodyMiddleware, nostr_caller

__all__ = [
    "AdminCaller",
    "AdminDep",
    "AdminToken",
    "NostrCaller",
    "NostrDep",
    "RateLimiter",
    "RawBodyMiddleware",
    "admin_csrf_token",
    "load_admin_token",
    "nostr_caller",
    "require_admin",
]
