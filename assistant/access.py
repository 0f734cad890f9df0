"""Who may read and change which knowledge bases on the page.

With no user in the users file the page is one person's tool on this machine (it then listens on
loopback only): that person reads and changes everything. Once a user exists, every request is
someone's, and a request without a known user may do nothing at all. Rights are read from the
users file on every request, so a grant or revoke made with ``xunshi users`` while the page runs
counts from the next question on.
"""

from __future__ import annotations

from typing import Any


class Access:
    """The rights of the page's users over knowledge bases.

    Args:
        users: The users file (``assistant.users.UserStore``).
        open_page: True when the page was started without users (no login asked).
    """

    def __init__(self, users: Any, open_page: bool) -> None:
        self.users = users
        self.open_page = open_page

    def _user(self, name: str | None) -> Any:
        return self.users.get(name) if name else None

    def readable(self, name: str | None, kbs: list[str]) -> list[str]:
        """Those of ``kbs`` the user may search, ask and cite from."""
        if self.open_page:
            return list(kbs)
        user = self._user(name)
        return [kb for kb in kbs if user is not None and user.can_read(kb)]

    def writable(self, name: str | None, kbs: list[str]) -> list[str]:
        """Those of ``kbs`` the user may upload into and delete from."""
        if self.open_page:
            return list(kbs)
        user = self._user(name)
        return [kb for kb in kbs if user is not None and user.can_write(kb)]

    def is_admin(self, name: str | None) -> bool:
        """Whether the user may create and remove knowledge bases from the page."""
        if self.open_page:
            return True
        user = self._user(name)
        return bool(user and user.admin)
