"""One writer per embedded store, and readers that never see it half-changed.

An embedded Chroma store is files under the home that one process writes at a time: a second
writer's records never reach the first one's in-memory vector index, and a process that loads the
index while another rewrites it can read a torn file. Two lock files in the home (``flock``, so the
kernel drops a lock when its process dies, however it dies) keep that from happening:

- ``writer.lock``: the right to write, held for its whole run by ``ingest``, ``docs remove``,
  ``reindex`` and ``serve``. A second writer stops at once and is told who holds it: the file
  names the holder (JSON: pid, command, started, host). A holder killed with -9 leaves the file
  but no lock; the next writer takes over and says whose lock it was.
- ``store.lock``: held shared by reading commands while they open and read the store, and
  exclusively by the writer only while it changes the store (an ingest run, an upload, a removal,
  a reindex, serve's start-up). Either side waits a bounded time for the other, naming whom it
  waits for, then gives up saying why.

With a Chroma server (``XUNSHI_CHROMA_URL``) none of this is used: the server orders the writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from ingest.errors import StoreBusyError

log = logging.getLogger(__name__)

WRITER_FILE = "writer.lock"
STORE_FILE = "store.lock"
DEFAULT_WAIT = 60.0
POLL = 0.1
# A holder that is starting or ending leaves writer.lock empty for a moment: look again this often.
EMPTY_RETRIES = 10
SERVER_WAY = "run a Chroma server and set XUNSHI_CHROMA_URL so several processes can write"


@dataclass
class Holder:
    """The process that holds (or held, if it died holding) a home's writer lock."""

    pid: int
    command: str
    started: str
    host: str
    page: str | None = None

    def describe(self) -> str:
        """``pid 1234 (xunshi serve, since 2026-12-01 17:50)``."""
        try:
            since = datetime.fromisoformat(self.started).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            since = self.started
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where} ({self.command}, since {since})"


def _parse(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["command"]), str(data["started"]), str(data["host"]),
                      data.get("page"))
    except (ValueError, KeyError, TypeError):
        return None


def _read(fd: int) -> str:
    return os.pread(fd, 1 << 16, 0).decode("utf-8", errors="replace")


def read_holder(home: Path) -> Holder | None:
    """Who holds ``home``'s writer lock (or held it and died without releasing it); None if nobody."""
    try:
        return _parse((home / WRITER_FILE).read_text(encoding="utf-8"))
    except OSError:
        return None


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _wait_for(fd: int, mode: int, wait: float, waiting: Callable[[], str], busy: Callable[[], str]) -> None:
    """Take the lock, waiting up to ``wait`` seconds (saying once whom for); StoreBusyError after."""
    if _try(fd, mode):
        return
    log.info(waiting())
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(POLL)
        if _try(fd, mode):
            return
    raise StoreBusyError(busy())


def _lock_holders(fd: int) -> list[int]:
    """Pids of the other processes holding a flock on the file open as ``fd`` (Linux /proc/locks)."""
    inode = f":{os.fstat(fd).st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    pids = []
    for line in lines:
        # "3: FLOCK  ADVISORY  READ  8054 fe:00:2147127 0 EOF"; waiters have "->" after the number.
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].endswith(inode) and parts[4].isdigit():
            pids.append(int(parts[4]))
    return sorted({p for p in pids if p != os.getpid()})


def _process(pid: int) -> str:
    """``pid 55 (xunshi eval qa.jsonl)`` from /proc, or ``pid 55``."""
    try:
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return f"pid {pid}"
    for i, arg in enumerate(argv):
        if (arg == "assistant" and i and argv[i - 1] == "-m") or Path(arg).name == "xunshi":
            argv = ["xunshi", *argv[i + 1:]]
            break
    text = " ".join(" ".join(argv).split())
    return f"pid {pid} ({text[:100]})" if text else f"pid {pid}"


class WriterLock:
    """The right to write an embedded store, held by one process at a time (a context manager).

    Args:
        home: The xunshi home whose store is written.
        command: What the holder runs, shown to a refused writer (``xunshi serve --port 7860``).
        wait: Seconds ``changing`` waits for reading commands to finish.
        page: The page's address when the holder is ``xunshi serve``.

    Raises:
        StoreBusyError: (on entering) another live process holds the lock; nothing was changed.
    """

    def __init__(self, home: Path, command: str, wait: float = DEFAULT_WAIT, page: str | None = None) -> None:
        self.home = home
        self.command = command
        self.wait = wait
        self.page = page
        self._fd: int | None = None
        self._store_fd: int | None = None

    def __enter__(self) -> WriterLock:
        self.home.mkdir(parents=True, exist_ok=True)
        fd = _open(self.home / WRITER_FILE)
        try:
            self._acquire(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _acquire(self, fd: int) -> None:
        for _ in range(EMPTY_RETRIES):
            if _try(fd, fcntl.LOCK_EX):
                break
            holder = _parse(_read(fd))
            if holder is not None:
                raise StoreBusyError(self._refusal(holder))
            time.sleep(POLL)
        else:
            raise StoreBusyError(self._refusal(None))
        previous = _parse(_read(fd))
        if previous is not None:
            # A clean release empties the file: whoever is named here died holding the lock.
            log.warning("took over the writer lock of %s from %s, which ended without releasing it",
                        self.home, previous.describe())
        me = Holder(os.getpid(), self.command, datetime.now().astimezone().isoformat(timespec="seconds"),
                    socket.gethostname(), self.page)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(me), ensure_ascii=False).encode("utf-8"), 0)

    def _refusal(self, holder: Holder | None) -> str:
        who = holder.describe() if holder else "another process"
        if holder and holder.page:
            ways = f"add files through the 知识库 tab of its page ({holder.page}), stop that process first, or "
        else:
            ways = "wait until it has finished, or "
        return f"{self.home} is being written by {who}: {ways}{SERVER_WAY}"

    def __exit__(self, *exc: object) -> None:
        if self._store_fd is not None:
            os.close(self._store_fd)
            self._store_fd = None
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the store exclusively while it is changed: reading commands wait, and this waits
        (up to ``wait`` seconds) for those already reading.

        Raises:
            StoreBusyError: readers still held the store after ``wait`` seconds; nothing was changed.
        """
        if self._fd is None:
            raise RuntimeError("changing() needs the writer lock: use it inside `with WriterLock(...)`")
        if self._store_fd is None:
            self._store_fd = _open(self.home / STORE_FILE)
        fd = self._store_fd

        def readers() -> str:
            return ", ".join(_process(pid) for pid in _lock_holders(fd)) or "another process"

        _wait_for(fd, fcntl.LOCK_EX, self.wait,
                  lambda: f"waiting for {readers()} to finish reading {self.home} (up to {self.wait:g} s)",
                  lambda: f"{self.home} is being read by {readers()}, which did not finish within {self.wait:g} s: "
                          "try again when it has finished")
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def reading(home: Path, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold ``home``'s store shared while a command opens and reads it: if the writer is changing
    it, wait up to ``wait`` seconds (saying once for whom).

    Raises:
        StoreBusyError: the store was still being changed after ``wait`` seconds.
    """
    path = home / STORE_FILE
    try:
        fd = _open(path)
    except PermissionError:
        if not path.exists():
            # A home this user cannot write, where no writer ever took the lock: nothing to wait for.
            log.debug("%s cannot be created: reading without it", path)
            yield
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def writer() -> str:
        holder = read_holder(home)
        return holder.describe() if holder else "another process"

    try:
        _wait_for(fd, fcntl.LOCK_SH, wait,
                  lambda: f"waiting for {writer()} to finish changing {home} (up to {wait:g} s)",
                  lambda: f"{home} is being changed by {writer()}, which did not finish within {wait:g} s: "
                          "try again when it has finished")
        yield
    finally:
        os.close(fd)


class ServerWrites:
    """What stands for ``WriterLock`` with a Chroma server: it orders the writes itself, so several
    processes may write and nothing is locked."""

    def __enter__(self) -> ServerWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def changing(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to hold."""
        return contextlib.nullcontext()
