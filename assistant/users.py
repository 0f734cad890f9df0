"""Who may log in to the page, with salted password hashes, and which knowledge bases each may read or change.

The users live in one JSON file (``XUNSHI_USERS_FILE``, by default ``HOME/users.json``)::

    {"version": 1, "users": {"张三": {"password": "scrypt$32768$8$1$<salt>$<hash>", "admin": false,
                                     "rights": {"default": "read"}, "created": "2025-01-01T00:00:00+00:00"}}}

Passwords are kept only as scrypt hashes with their own random salt and parameters, so the parameters
can be raised later without invalidating the stored ones. The file is written atomically, readable by
its owner only, and re-read whenever it changes on disk: ``xunshi users grant`` takes effect on a
running page at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.login_limiter import LoginLimiter
from assistant.passwords import (
    SALT_BYTES,
    hash_password,
    parse_hash,
    scrypt_key,
    verify_password,
)
from ingest.errors import ConfigError, UsageError

__all__ = ["LoginLimiter", "User", "UserStore", "check_user_name", "hash_password", "refuse_old_auth",
           "verify_password"]

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_NAME = 64
RIGHTS = ("read", "write")
FILE_VERSION = 1
RACY_SECONDS = 3.0  # coarser than any file system's time stamps (FAT's are 2 s)


def check_user_name(name: str) -> str:
    """A user name, checked and NFC-normalised: 1–64 characters, no spaces or control characters.

    Raises:
        UsageError: the name cannot be used, with the reason.
    """
    name = unicodedata.normalize("NFC", name or "")
    if not name:
        raise UsageError("a user needs a name, e.g. `xunshi users add zhangsan`")
    if len(name) > MAX_NAME:
        raise UsageError(f"the user name '{name[:20]}…' is longer than {MAX_NAME} characters")
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in name):
        raise UsageError(f"the user name {name!r} may not hold spaces or control characters (e.g. zhangsan, 张三)")
    return name


@dataclass
class User:
    """A user as stored, without the password hash: ``rights`` maps a knowledge base to "read" or "write"."""

    name: str
    admin: bool = False
    rights: dict[str, str] = field(default_factory=dict)
    created: str = ""

    def can_read(self, kb: str) -> bool:
        """Whether the user may search and ask in ``kb`` ("write" implies read; an admin reads all)."""
        return self.admin or self.rights.get(kb) in RIGHTS

    def can_write(self, kb: str) -> bool:
        """Whether the user may upload to and delete from ``kb`` (an admin writes all)."""
        return self.admin or self.rights.get(kb) == "write"

    def as_dict(self) -> dict[str, Any]:
        """The fields shown by ``users list --json`` (never the hash)."""
        return {"name": self.name, "admin": self.admin, "rights": dict(sorted(self.rights.items())),
                "created": self.created}


class UserStore:
    """The users file: read when it changed on disk, changed under a file lock, written atomically (0600)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._records: dict[str, dict[str, Any]] = {}
        self._racy = False

    # Reading

    def users(self) -> list[User]:
        """Every user, sorted by name."""
        return [self._user(name, rec) for name, rec in sorted(self._current().items())]

    def get(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        rec = self._current().get(unicodedata.normalize("NFC", name or ""))
        return self._user(unicodedata.normalize("NFC", name), rec) if rec is not None else None

    def require(self, name: str) -> User:
        """The user called ``name``.

        Raises:
            UsageError: there is none, naming the users there are.
        """
        records = self._current()
        name = self._known(records, name)
        return self._user(name, records[name])

    def check_new(self, name: str) -> str:
        """``name`` checked and NFC-normalised as a new user's name.

        Raises:
            UsageError: the name is not valid, or taken.
        """
        name = check_user_name(name)
        if name in self._current():
            raise UsageError(_taken(name))
        return name

    def exists(self) -> bool:
        """Whether any user has been added."""
        return bool(self._current())

    def verify(self, name: str, password: str) -> bool:
        """Whether ``name`` is a user and ``password`` is theirs; as slow for an unknown name as for a known one."""
        rec = self._current().get(unicodedata.normalize("NFC", name or ""))
        if rec is None:
            # One scrypt all the same, so the time taken does not tell which names exist.
            scrypt_key(password, secrets.token_bytes(SALT_BYTES))
            return False
        return verify_password(password, rec["password"])

    def can_read(self, name: str, kb: str) -> bool:
        """Whether user ``name`` may read knowledge base ``kb`` (False for an unknown user)."""
        user = self.get(name)
        return user is not None and user.can_read(kb)

    def can_write(self, name: str, kb: str) -> bool:
        """Whether user ``name`` may change knowledge base ``kb`` (False for an unknown user)."""
        user = self.get(name)
        return user is not None and user.can_write(kb)

    def readable(self, name: str, kbs: list[str]) -> list[str]:
        """Those of ``kbs`` that user ``name`` may read, in the given order."""
        user = self.get(name)
        return [kb for kb in kbs if user is not None and user.can_read(kb)]

    # Changing

    def add(self, name: str, password: str, admin: bool = False) -> User:
        """Add a user with a password of at least 8 characters.

        Raises:
            UsageError: the name is taken or not valid, or the password is too short.
        """
        name = self.check_new(name)  # before the slow hash; checked again under the lock
        if len(unicodedata.normalize("NFC", password or "")) < MIN_PASSWORD:
            raise UsageError(f"the password is too short: use at least {MIN_PASSWORD} characters")
        hashed = hash_password(password)
        created = datetime.now(UTC).isoformat(timespec="seconds")

        def change(records: dict[str, dict[str, Any]]) -> None:
            if name in records:
                raise UsageError(_taken(name))
            records[name] = {"password": hashed, "admin": bool(admin), "rights": {}, "created": created}

        self._change(change)
        log.info("added user %s%s", name, " (admin)" if admin else "")
        return self._user(name, self._current()[name])

    def remove(self, name: str) -> None:
        """Remove a user (UsageError if there is none of that name)."""
        self._change(lambda records: records.pop(self._known(records, name)))
        log.info("removed user %s", name)

    def set_admin(self, name: str, admin: bool) -> User:
        """Make a user an administrator, or no longer one."""
        return self._change_user(name, lambda rec: rec.update(admin=bool(admin)))

    def grant(self, name: str, kb: str, right: str) -> User:
        """Give a user "read" or "write" on knowledge base ``kb`` (replacing the right held before).

        Raises:
            UsageError: an unknown user, an empty knowledge base name, or a right other than read or write.
        """
        if right not in RIGHTS:
            raise UsageError(f"the right must be one of {', '.join(RIGHTS)} (got {right!r})")
        kb = _kb_name(kb)
        return self._change_user(name, lambda rec: rec["rights"].__setitem__(kb, right))

    def revoke(self, name: str, kb: str) -> bool:
        """Take away a user's right on ``kb``; returns whether there was one."""
        kb = _kb_name(kb)
        had = []
        self._change_user(name, lambda rec: had.append(rec["rights"].pop(kb, None) is not None))
        return had[0]

    def drop_kb(self, kb: str) -> list[str]:
        """Remove every grant on a knowledge base that is being deleted; returns the users that had one."""
        dropped: list[str] = []

        def change(records: dict[str, dict[str, Any]]) -> None:
            for name, rec in records.items():
                if rec["rights"].pop(kb, None) is not None:
                    dropped.append(name)

        if self.path.exists():
            self._change(change)
        return sorted(dropped)

    def _change_user(self, name: str, edit: Callable[[dict[str, Any]], None]) -> User:
        known: list[str] = []

        def change(records: dict[str, dict[str, Any]]) -> None:
            known.append(self._known(records, name))
            edit(records[known[0]])

        self._change(change)
        return self._user(known[0], self._current()[known[0]])

    @staticmethod
    def _known(records: dict[str, dict[str, Any]], name: str) -> str:
        name = unicodedata.normalize("NFC", name or "")
        if name not in records:
            there = ", ".join(sorted(records)) or "none yet"
            raise UsageError(f"no user named '{name}' (there are: {there}); add one with `xunshi users add {name}`")
        return name

    # The file

    def _current(self) -> dict[str, dict[str, Any]]:
        """The records as on disk now, read again only if the file changed."""
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp or self._racy:
                self._records = self._read() if stamp is not None else {}
                self._stamp = stamp
                # Read within a time-stamp tick of the last write, a later write could leave the same stamp
                # (size alike, inode reused): such a read is not trusted, and the file is read again next time.
                self._racy = stamp is not None and time.time() - stamp[1] / 1e9 < RACY_SECONDS
            return self._records

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        # Every write replaces the file, so its inode changes even when size and time stamp do not.
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read the users file {self.path}: {e}") from e
        except ValueError as e:
            raise _corrupt(self.path, f"not JSON ({e})") from e
        if not isinstance(data, dict) or data.get("version") != FILE_VERSION or not isinstance(data.get("users"), dict):
            raise _corrupt(self.path, f'expected {{"version": {FILE_VERSION}, "users": {{...}}}}')
        for name, rec in data["users"].items():
            problem = _record_problem(rec)
            if problem:
                raise _corrupt(self.path, f"user '{name}': {problem}")
        return data["users"]

    def _change(self, change: Callable[[dict[str, dict[str, Any]]], None]) -> None:
        """Apply ``change`` to the records as on disk now and write them, with other writers kept out."""
        with self._exclusive():
            with self._lock:
                self._stamp = None  # read afresh: another process may have written since
            records = json.loads(json.dumps(self._current()))  # a copy: the cache stays as it was on failure
            change(records)
            self._write(records)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The lock file beside the users file, held while one process reads, changes and writes it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, records: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": FILE_VERSION, "users": records}, ensure_ascii=False, indent=2) + "\n"
        # mkstemp creates the file 0600; os.replace swaps it in whole, so a reader never sees half of it.
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    @staticmethod
    def _user(name: str, rec: dict[str, Any]) -> User:
        return User(name, bool(rec["admin"]), dict(rec["rights"]), str(rec.get("created", "")))


def _taken(name: str) -> str:
    return f"a user named '{name}' exists already (see `xunshi users list`)"


def _kb_name(kb: str) -> str:
    kb = unicodedata.normalize("NFC", (kb or "").strip())
    if not kb:
        raise UsageError("name a knowledge base, e.g. `xunshi users grant zhangsan default read` (see `xunshi kb list`)")
    return kb


def _record_problem(rec: Any) -> str:
    """What is wrong with one user's record, or ''."""
    if not isinstance(rec, dict):
        return "not an object"
    try:
        parse_hash(rec.get("password"))
    except ValueError as e:
        return f"password: {e}"
    if not isinstance(rec.get("admin"), bool):
        return "admin must be true or false"
    rights = rec.get("rights")
    if not isinstance(rights, dict) or not all(isinstance(k, str) and v in RIGHTS for k, v in rights.items()):
        return 'rights must map knowledge bases to "read" or "write"'
    return ""


def _corrupt(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"the users file {path} is damaged: {reason}; restore it from a backup, or move it away "
                       "and add the users again with `xunshi users add NAME`")


def refuse_old_auth(settings: Any) -> None:
    """Refuse to start while the retired ``XUNSHI_AUTH`` is set.

    Raises:
        UsageError: ``settings.auth`` is set, with what to do instead (a refusal: exit 2).
    """
    if settings.auth:
        raise UsageError("the old XUNSHI_AUTH logins (unsalted sha256) are no longer accepted: unset XUNSHI_AUTH "
                          "and add each user with `xunshi users add NAME` (then `xunshi users grant NAME KB read`)")
