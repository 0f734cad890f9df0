"""The page's login: users from the users file, failed attempts limited per user and address, each logged.

Gradio asks a callable for ``(username, password)`` only; the address the attempt came from is
put aside for it by a small ASGI middleware (``ClientAddress``) in a context variable, which the
login route's call runs inside. An attempt while the user and address must wait is refused with
HTTP 429 and the seconds left, before the password is even checked.
"""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("xunshi_client_address", default="?")


class ClientAddress:
    """ASGI middleware: remembers the client's address of each HTTP request for the login check."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("client"):
            _ADDRESS.set(str(scope["client"][0]))
        await self.app(scope, receive, send)


def authenticator(users: Any, limiter: Any, audit: Any) -> Callable[[str, str], bool]:
    """Gradio's ``auth`` callable over the users file, the limiter and the access log."""
    from fastapi import HTTPException

    def check(username: str, password: str) -> bool:
        address = _ADDRESS.get()
        wait = limiter.blocked(username, address)
        if wait:
            logger.warning("login of %r from %s refused: too many failed attempts (%.0f s to wait)", username,
                           address, wait)
            audit.record("login_failed", username, [], via="page", address=address, detail="too many attempts")
            raise HTTPException(status_code=429, detail=f"登录失败次数过多，请 {math.ceil(wait)} 秒后再试。")
        if users.verify(username, password):
            limiter.succeeded(username, address)
            audit.record("login", username, [], via="page", address=address)
            return True
        limiter.failed(username, address)
        logger.warning("failed login for %r from %s", username, address)
        audit.record("login_failed", username, [], via="page", address=address)
        return False

    return check
