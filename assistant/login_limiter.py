"""Failed logins counted per user and address, so that a password cannot be guessed at speed."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ingest.errors import ConfigError

log = logging.getLogger(__name__)


class LoginLimiter:
    """Failed logins counted per (user, address) over a sliding minute; too many mean a wait.

    Args:
        attempts: failures allowed within ``WINDOW`` seconds; the last of them starts the wait.
        wait: seconds the pair must then wait before trying again.
        clock: monotonic seconds (a test passes its own).
    """

    WINDOW = 60.0
    MAX_ENTRIES = 10_000  # (user, address) pairs remembered at most; the oldest go first

    def __init__(self, attempts: int, wait: float, clock: Callable[[], float] = time.monotonic) -> None:
        if attempts < 1 or wait < 0:
            raise ConfigError(f"login attempts must be 1 or more and the wait 0 or more (got {attempts}, {wait})")
        self.attempts, self.wait, self._clock = attempts, wait, clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._until: dict[tuple[str, str], float] = {}

    def blocked(self, user: str, address: str) -> float:
        """Seconds ``user`` from ``address`` must still wait before trying again; 0 when allowed."""
        key = (user, address)
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return 0.0
            left = until - self._clock()
            if left <= 0:
                del self._until[key]
                return 0.0
            return left

    def failed(self, user: str, address: str) -> None:
        """Count a failed login; the ``attempts``-th within a minute starts the wait."""
        key = (user, address)
        with self._lock:
            now = self._clock()
            if self._until.get(key, 0.0) > now:
                return  # already waiting: the caller should not have tried
            times = self._failures.pop(key, None) or deque(maxlen=self.attempts)
            while times and times[0] <= now - self.WINDOW:
                times.popleft()
            times.append(now)
            if len(times) >= self.attempts:
                self._until[key] = now + self.wait
                log.warning("%d failed logins for %r from %s within a minute: it must wait %g s",
                            len(times), user, address, self.wait)
            else:
                self._failures[key] = times  # re-inserted last: the dict stays ordered oldest first
            self._forget(now)

    def succeeded(self, user: str, address: str) -> None:
        """A successful login clears the pair's failures."""
        with self._lock:
            self._failures.pop((user, address), None)
            self._until.pop((user, address), None)

    def _forget(self, now: float) -> None:
        """Keep memory bounded: drop stale failures and ended waits, then the oldest beyond MAX_ENTRIES."""
        if len(self._failures) + len(self._until) <= self.MAX_ENTRIES:
            return
        self._failures = {k: t for k, t in self._failures.items() if t and t[-1] > now - self.WINDOW}
        self._until = {k: u for k, u in self._until.items() if u > now}
        keep = self.MAX_ENTRIES // 2
        if len(self._failures) > keep:
            self._failures = dict(list(self._failures.items())[-keep:])
        if len(self._until) > keep:
            self._until = dict(list(self._until.items())[-keep:])
