"""The access log: who asked what of which knowledge bases, and which documents they were shown.

Every question, draft, precedents search, upload and delete (and logins and admin changes), from
the page and the CLI alike, appends one JSON line to ``HOME/audit/audit.log``::

    {"time": "2026-12-02T10:31:05Z", "user": "张三", "via": "page", "action": "ask",
     "kbs": ["default"], "query": "…", "doc_ids": ["…"], "address": "10.0.0.7"}

Security officers read it after a leak (``xunshi audit``), so the program only ever appends:

- each line is written whole by one ``os.write`` on a descriptor opened ``O_APPEND``, mode 0600,
  in a folder made 0700; nothing is rewritten, truncated or deleted;
- several processes (the web server and CLI commands) write at once: an exclusive ``flock`` on
  ``audit.lock`` orders their appends and rotations, so no line is torn or lands in a file that
  is being moved away;
- when ``audit.log`` would pass its size limit it is renamed ``audit-YYYYMMDDTHHMMSSZ.log`` (the
  time of the move, with ``-1``, ``-2``… if that name is taken) and a new one is started; the
  moved files stay, for the officers to archive.

Times are stored in UTC. The log is on unless ``XUNSHI_AUDIT=off`` is set: a disabled log writes
and creates nothing, but what is on disk can still be read.

A failure to write (disk full, a folder that cannot be created) does not cost the user the answer
they were given: ``record`` logs it at ERROR level, every time, with the entry itself, so that it
reaches stderr (and the service's journal) instead of vanishing; it does not raise.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from assistant.settings import Settings

log = logging.getLogger(__name__)

CURRENT = "audit.log"
LOCK = "audit.lock"
ACTIONS = ("search", "ask", "draft", "precedents", "upload", "delete", "login", "login_failed",
           "kb_create", "kb_remove", "users")
VIA = ("cli", "page")
MB = 1024 * 1024
_ROTATED = re.compile(r"audit-(\d{8}T\d{6}Z)(?:-(\d+))?\.log")


def system_user() -> str:
    """The CLI's user: the login name of the process, or its uid when it has none."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (a container's bare uid)
        return str(os.getuid())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: date | datetime) -> datetime:
    """A date means its local midnight; a naive time is local; an aware one stays as it is."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return moment.astimezone(UTC)


@contextlib.contextmanager
def _locked(fd: int, how: int) -> Iterator[None]:
    fcntl.flock(fd, how)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class AuditLog:
    """The access log in one folder.

    Args:
        folder: where ``audit.log``, its rotated files and ``audit.lock`` live (created 0700 on the
            first entry).
        enabled: False writes nothing and creates nothing; ``entries`` still reads the folder.
        max_bytes: the size ``audit.log`` may reach before it is moved aside.
        clock: the current time, aware (tests pass a fixed one).
    """

    def __init__(self, folder: Path, enabled: bool = True, max_bytes: int = 10 * MB,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be 1 or more (got {max_bytes})")
        self.folder = Path(folder)
        self.enabled = enabled
        self.max_bytes = max_bytes
        self._clock = clock

    @property
    def path(self) -> Path:
        """The file being written now."""
        return self.folder / CURRENT

    def record(self, action: str, user: str, kbs: Iterable[str], *, via: str = "cli",
               query: str | None = None, file: str | None = None, doc_ids: Iterable[str] = (),
               address: str | None = None, detail: Any = None) -> None:
        """Append one entry (nothing when the log is off).

        Args:
            action: one of ``ACTIONS``.
            user: who did it: the page's login, or ``system_user()`` for the CLI.
            kbs: the knowledge bases it read or changed.
            via: ``"cli"`` or ``"page"``.
            query: the question, topic or search words.
            file: the file uploaded or the document deleted.
            doc_ids: the documents cited or shown.
            address: the client's address (the page).
            detail: anything else worth keeping (JSON-serialisable), e.g. what an admin changed.

        Raises:
            ValueError: an action or ``via`` not in the lists above (a mistake in the caller).
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}: one of {', '.join(ACTIONS)}")
        if via not in VIA:
            raise ValueError(f"unknown audit via {via!r}: one of {', '.join(VIA)}")
        if not self.enabled:
            return
        entry = {"time": self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "user": user, "via": via, "action": action, "kbs": list(kbs), "query": query,
                 "file": file, "doc_ids": list(doc_ids), "address": address, "detail": detail}
        # default=str: an odd value in detail is kept as text rather than losing the entry.
        line = json.dumps({k: v for k, v in entry.items() if v is not None}, ensure_ascii=False, default=str) + "\n"
        try:
            self._append(line.encode("utf-8"))
        except OSError as e:
            log.error("the access log %s could NOT be written (%s); the entry was: %s",
                      self.path, e, line.rstrip("\n"))

    def _append(self, data: bytes) -> None:
        self._make_folder()
        lock = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with _locked(lock, fcntl.LOCK_EX):
                self._rotate_if_full(len(data))
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    written = os.write(fd, data)
                finally:
                    os.close(fd)
                if written != len(data):  # a full disk can cut a write short
                    raise OSError(f"only {written} of {len(data)} bytes written")
        finally:
            os.close(lock)

    def _make_folder(self) -> None:
        if self.folder.is_dir():
            return
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first
            self.folder.mkdir(mode=0o700)
            os.chmod(self.folder, 0o700)  # mkdir's mode passes through the umask

    def _rotate_if_full(self, incoming: int) -> None:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target, n = self.folder / f"audit-{stamp}.log", 0
        while target.exists():
            n += 1
            target = self.folder / f"audit-{stamp}-{n}.log"
        os.rename(self.path, target)
        log.info("the access log passed %d bytes: moved to %s", self.max_bytes, target.name)

    def files(self) -> list[Path]:
        """The log's files, oldest first: the rotated ones by the time in their names, then ``audit.log``."""
        if not self.folder.is_dir():
            return []
        rotated = []
        for path in self.folder.iterdir():
            match = _ROTATED.fullmatch(path.name)
            if match:
                rotated.append(((match.group(1), int(match.group(2) or 0)), path))
        current = [self.path] if self.path.exists() else []
        return [path for _, path in sorted(rotated)] + current

    def entries(self, user: str | None = None, since: date | datetime | None = None) -> Iterator[dict]:
        """Every entry, oldest first, across the rotated files and the current one.

        Args:
            user: only this user's entries.
            since: only entries at or after it (a date: from its local midnight; a naive time: local).

        A line that is not a JSON entry with a time is skipped with a warning naming the file and line.
        """
        start = _as_utc(since) if since is not None else None
        rotated, current = self._snapshot()
        with contextlib.ExitStack() as stack:
            handles = [(path, None) for path in rotated]
            if current is not None:
                handles.append((self.path, stack.enter_context(os.fdopen(current, "rb"))))
            for path, handle in handles:
                for moment, entry in self._read(path, handle):
                    if (user is None or entry.get("user") == user) and (start is None or moment >= start):
                        yield entry

    def _snapshot(self) -> tuple[list[Path], int | None]:
        """The rotated files and a descriptor of ``audit.log``, taken while no writer moves a file: the
        descriptor follows the file if it is rotated while it is read, so nothing is read twice."""
        try:
            lock = os.open(self.folder / LOCK, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            lock = None  # nothing was ever written here by this program
        try:
            with _locked(lock, fcntl.LOCK_SH) if lock is not None else contextlib.nullcontext():
                files = self.files()
                current = None
                if files and files[-1].name == CURRENT:
                    current = os.open(files.pop(), os.O_RDONLY | os.O_CLOEXEC)
        finally:
            if lock is not None:
                os.close(lock)
        return files, current

    def _read(self, path: Path, handle: BinaryIO | None) -> Iterator[tuple[datetime, dict]]:
        """(time, entry) for each good line of one file (opened here unless ``handle`` is given)."""
        with contextlib.ExitStack() as stack:
            if handle is None:
                try:
                    handle = stack.enter_context(open(path, "rb"))
                except FileNotFoundError:
                    log.warning("%s went away while the access log was read (moved or deleted by hand)", path)
                    return
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw.decode("utf-8"))
                    moment = datetime.fromisoformat(entry["time"]).astimezone(UTC)
                except (ValueError, KeyError, TypeError) as e:
                    log.warning("%s line %d is not an access-log entry (skipped): %s", path, number, e)
                    continue
                yield moment, entry


def audit_log(settings: Settings) -> AuditLog:
    """The access log the settings describe: under ``settings.audit_dir``, off only if ``audit`` is "off"."""
    return AuditLog(settings.audit_dir, enabled=settings.audit != "off",
                    max_bytes=max(1, int(settings.audit_max_mb * MB)))
