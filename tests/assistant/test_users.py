"""Users: salted password hashes, the users file, rights per knowledge base, the login limiter, and
`xunshi users ...` run as a real process on a temp home."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.settings import Settings
from assistant.users import (
    LoginLimiter,
    UserStore,
    hash_password,
    refuse_old_auth,
    verify_password,
)
from ingest.errors import ConfigError, UsageError

ROOT = Path(__file__).parents[2]
PASSWORD = "巡察-secret-8"


@pytest.fixture
def store(tmp_path) -> UserStore:
    return UserStore(tmp_path / "home" / "users.json")


def _fastest(call, times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


# Hashes


def test_hashes_are_salted_and_verify():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second
    for stored in (first, second):
        assert PASSWORD not in stored
        scheme, n, r, p, salt, key = stored.split("$")
        assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
        assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(key)) == 32
        assert verify_password(PASSWORD, stored)
        assert not verify_password(PASSWORD + "x", stored)
        assert not verify_password("", stored)


def test_a_malformed_or_unsalted_hash_never_verifies():
    import hashlib

    assert not verify_password(PASSWORD, hashlib.sha256(PASSWORD.encode()).hexdigest())
    assert not verify_password(PASSWORD, "scrypt$abc$8$1$AAAA$AAAA")
    # A damaged file asking for far more memory than any hash needs is refused, not attempted.
    salt = base64.b64encode(b"s" * 16).decode()
    assert not verify_password(PASSWORD, f"scrypt${2**40}$8$1${salt}${salt}")


# The users file


def test_add_and_verify(store):
    assert not store.exists() and store.users() == []
    user = store.add("张三", PASSWORD)
    assert user.name == "张三" and not user.admin and user.rights == {} and user.created
    assert store.exists()
    assert store.verify("张三", PASSWORD)
    assert not store.verify("张三", "wrong-password")
    assert not store.verify("李四", PASSWORD)
    assert store.get("李四") is None


def test_an_unknown_user_costs_a_hash_as_a_known_one_does(store):
    store.add("zhang", PASSWORD)
    known = _fastest(lambda: store.verify("zhang", "wrong-password"))
    unknown = _fastest(lambda: store.verify("nobody", "wrong-password"))
    assert unknown > known / 3, (known, unknown)


def test_the_file_is_private_and_holds_no_password(store):
    store.add("zhang", PASSWORD, admin=True)
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    text = store.path.read_text(encoding="utf-8")
    assert PASSWORD not in text
    data = json.loads(text)
    assert data["version"] == 1
    record = data["users"]["zhang"]
    assert record["password"].startswith("scrypt$") and record["admin"] is True and record["rights"] == {}
    # Written whole through a temp file: nothing is left beside it but the lock.
    assert sorted(p.name for p in store.path.parent.iterdir()) == [".users.json.lock", "users.json"]


@pytest.mark.parametrize("name", ["", "   ", "zhang san", "zhang\tsan", "zhang\x00", "zhang\u200b", "x" * 65])
def test_a_bad_name_is_refused(store, name):
    with pytest.raises(UsageError, match="name"):
        store.add(name, PASSWORD)
    assert not store.path.exists()


def test_a_short_password_or_a_taken_name_is_refused(store):
    with pytest.raises(UsageError, match="at least 8 characters"):
        store.add("zhang", "1234567")
    store.add("zhang", "12345678")
    with pytest.raises(UsageError, match="exists already"):
        store.add("zhang", PASSWORD)
    assert store.verify("zhang", "12345678")


def test_rights_admin_and_readable(store):
    store.add("reader", PASSWORD)
    store.add("boss", PASSWORD, admin=True)
    store.grant("reader", "default", "read")
    store.grant("reader", "法规制度", "write")
    assert store.can_read("reader", "default") and not store.can_write("reader", "default")
    assert store.can_read("reader", "法规制度") and store.can_write("reader", "法规制度")  # write implies read
    assert store.readable("reader", ["default", "2024第一轮巡视", "法规制度"]) == ["default", "法规制度"]
    assert store.readable("boss", ["default", "2024第一轮巡视"]) == ["default", "2024第一轮巡视"]
    assert store.can_write("boss", "anything")
    assert not store.can_read("nobody", "default") and store.readable("nobody", ["default"]) == []
    with pytest.raises(UsageError, match="read, write"):
        store.grant("reader", "default", "delete")

    assert store.revoke("reader", "default") is True
    assert store.revoke("reader", "default") is False
    assert not store.can_read("reader", "default")
    store.set_admin("boss", False)
    assert not store.can_read("boss", "default")

    store.grant("boss", "法规制度", "read")
    assert store.drop_kb("法规制度") == ["boss", "reader"]
    assert all(u.rights == {} for u in store.users())
    assert [u.name for u in store.users()] == ["boss", "reader"]


def test_unknown_users_are_refused_with_the_names_there_are(store):
    store.add("zhang", PASSWORD)
    for change in (lambda: store.grant("li", "default", "read"), lambda: store.revoke("li", "default"),
                   lambda: store.set_admin("li", True), lambda: store.remove("li"), lambda: store.require("li")):
        with pytest.raises(UsageError, match=r"no user named 'li' \(there are: zhang\)"):
            change()
    store.remove("zhang")
    assert store.get("zhang") is None and not store.exists()


def test_a_change_made_by_another_process_is_seen(store):
    store.add("zhang", PASSWORD)
    assert not store.can_read("zhang", "default")
    other = UserStore(store.path)  # as `xunshi users grant` is, while the page runs
    other.grant("zhang", "default", "read")
    assert store.can_read("zhang", "default")
    other.revoke("zhang", "default")  # at once, maybe within one tick of the file system's clock
    assert not store.can_read("zhang", "default")
    other.add("li", PASSWORD)
    assert [u.name for u in store.users()] == ["li", "zhang"]
    other.remove("zhang")
    other.add("wang", PASSWORD)  # a file of the same size as before
    assert [u.name for u in store.users()] == ["li", "wang"]
    assert not store.verify("zhang", PASSWORD) and store.verify("wang", PASSWORD)


def test_writers_at_the_same_time_lose_nothing(store):
    names = [f"user{i}" for i in range(4)]
    threads = [threading.Thread(target=lambda n=n: UserStore(store.path).add(n, PASSWORD)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [u.name for u in store.users()] == names


PLAIN = {"version": 1, "users": {"zhang": {"password": "hunter22", "admin": False, "rights": {}, "created": ""}}}


@pytest.mark.parametrize("content", ["{not json", '{"users": {}}', '{"version": 1, "users": []}', json.dumps(PLAIN)])
def test_a_damaged_file_is_a_config_error_naming_it(store, content):
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=str(store.path)):
        store.verify("zhang", PASSWORD)


def test_the_old_auth_setting_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"XUNSHI_AUTH.*xunshi users add NAME"):
        refuse_old_auth(Settings(home=tmp_path, auth="admin:" + "0" * 64))
    refuse_old_auth(Settings(home=tmp_path, auth=None))


# The login limiter


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_in_a_minute_mean_a_wait():
    clock = Clock()
    limiter = LoginLimiter(attempts=5, wait=60.0, clock=clock)
    for _ in range(4):
        limiter.failed("zhang", "10.0.0.1")
        clock.now += 1
    assert limiter.blocked("zhang", "10.0.0.1") == 0
    limiter.failed("zhang", "10.0.0.1")
    assert limiter.blocked("zhang", "10.0.0.1") == pytest.approx(60.0)
    assert limiter.blocked("zhang", "10.0.0.2") == 0  # another address
    assert limiter.blocked("li", "10.0.0.1") == 0  # another user
    clock.now += 59
    assert limiter.blocked("zhang", "10.0.0.1") == pytest.approx(1.0)
    clock.now += 1
    assert limiter.blocked("zhang", "10.0.0.1") == 0
    limiter.failed("zhang", "10.0.0.1")  # the count starts afresh after the wait
    assert limiter.blocked("zhang", "10.0.0.1") == 0


def test_the_window_slides_and_a_success_clears():
    clock = Clock()
    limiter = LoginLimiter(attempts=5, wait=60.0, clock=clock)
    for _ in range(4):
        limiter.failed("zhang", "10.0.0.1")
    clock.now += 61  # those four are more than a minute old
    limiter.failed("zhang", "10.0.0.1")
    assert limiter.blocked("zhang", "10.0.0.1") == 0
    for _ in range(3):
        limiter.failed("zhang", "10.0.0.1")
    limiter.succeeded("zhang", "10.0.0.1")
    limiter.failed("zhang", "10.0.0.1")
    assert limiter.blocked("zhang", "10.0.0.1") == 0
    for _ in range(5):
        limiter.failed("li", "10.0.0.1")
    limiter.succeeded("li", "10.0.0.1")
    assert limiter.blocked("li", "10.0.0.1") == 0


def test_the_limiter_forgets_old_pairs():
    clock = Clock()
    limiter = LoginLimiter(attempts=2, wait=60.0, clock=clock)
    limiter.MAX_ENTRIES = 100
    for i in range(1000):
        limiter.failed(f"user{i}", "10.0.0.1")
        limiter.failed(f"user{i}", "10.0.0.1")  # blocked
        limiter.failed(f"other{i}", "10.0.0.2")
    assert len(limiter._failures) + len(limiter._until) <= 100 + 1
    assert limiter.blocked("user999", "10.0.0.1") > 0  # the newest are kept


# The command line


def run(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``xunshi --home HOME ARGS`` as a process, stdin a pipe with ``stdin`` or else /dev/null (no terminal)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("XUNSHI_USERS_FILE", "XUNSHI_AUTH", "XUNSHI_HOME")}
    return subprocess.run([sys.executable, "-m", "assistant", "--home", str(home), *args], check=False,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=ROOT, env={**clean, **(env or {})}, timeout=300)


def xunshi(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``xunshi --home HOME users ARGS``."""
    return run(home, "users", *args, stdin=stdin, env=env)


def listed(home: Path) -> dict:
    result = xunshi(home, "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_add_list_admin_and_remove(tmp_path):
    home = tmp_path / "home"
    added = xunshi(home, "add", "zhang", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "zhang" in added.stdout
    assert UserStore(home / "users.json").verify("zhang", PASSWORD)  # the newline is not part of it
    assert xunshi(home, "add", "boss", "--admin", "--password-stdin", stdin=PASSWORD).returncode == 0

    payload = listed(home)
    assert payload["count"] == 2 and [u["name"] for u in payload["users"]] == ["boss", "zhang"]
    for u in payload["users"]:
        assert set(u) == {"name", "admin", "rights", "created"}
    assert [u["admin"] for u in payload["users"]] == [True, False]
    assert "scrypt" not in json.dumps(payload) and PASSWORD not in json.dumps(payload)
    text = xunshi(home, "list")
    assert text.returncode == 0 and "zhang" in text.stdout and "scrypt" not in text.stdout

    assert xunshi(home, "admin", "zhang", "on").returncode == 0
    assert [u["admin"] for u in listed(home)["users"]] == [True, True]
    assert xunshi(home, "admin", "boss", "off").returncode == 0
    assert [u["admin"] for u in listed(home)["users"]] == [False, True]

    assert xunshi(home, "remove", "boss").returncode == 0
    assert [u["name"] for u in listed(home)["users"]] == ["zhang"]
    missing = xunshi(home, "remove", "boss")
    assert missing.returncode == 2 and "no user named 'boss'" in missing.stderr


def test_cli_grant_and_revoke(tmp_path):
    home = tmp_path / "home"
    assert xunshi(home, "add", "zhang", "--password-stdin", stdin=PASSWORD).returncode == 0
    granted = xunshi(home, "grant", "zhang", "default", "read")
    assert granted.returncode == 0, granted.stderr
    assert listed(home)["users"][0]["rights"] == {"default": "read"}
    assert xunshi(home, "grant", "zhang", "default", "write").returncode == 0
    assert listed(home)["users"][0]["rights"] == {"default": "write"}
    assert UserStore(home / "users.json").can_write("zhang", "default")
    revoked = xunshi(home, "revoke", "zhang", "default")
    assert revoked.returncode == 0, revoked.stderr
    assert listed(home)["users"][0]["rights"] == {}

    unknown_user = xunshi(home, "grant", "li", "default", "read")
    assert unknown_user.returncode == 2 and "no user named 'li'" in unknown_user.stderr
    bad_right = xunshi(home, "grant", "zhang", "default", "delete")
    assert bad_right.returncode == 2


def test_cli_grant_refuses_a_knowledge_base_that_does_not_exist(tmp_path):
    home = tmp_path / "home"
    assert xunshi(home, "add", "zhang", "--password-stdin", stdin=PASSWORD).returncode == 0
    refused = xunshi(home, "grant", "zhang", "nosuch", "read")
    assert refused.returncode == 2
    assert "no knowledge base named 'nosuch'" in refused.stderr and "there are: default" in refused.stderr
    assert listed(home)["users"][0]["rights"] == {}


def test_cli_grant_on_a_created_knowledge_base(tmp_path):
    home = tmp_path / "home"
    assert xunshi(home, "add", "zhang", "--password-stdin", stdin=PASSWORD).returncode == 0
    created = run(home, "kb", "create", "法规制度")
    assert created.returncode == 0, created.stderr
    granted = xunshi(home, "grant", "zhang", "法规制度", "write")
    assert granted.returncode == 0, granted.stderr
    assert listed(home)["users"][0]["rights"] == {"法规制度": "write"}
    refused = xunshi(home, "grant", "zhang", "nosuch", "read")
    assert refused.returncode == 2 and "default, 法规制度" in refused.stderr


def test_cli_refuses_a_short_password_and_a_missing_terminal(tmp_path):
    home = tmp_path / "home"
    short = xunshi(home, "add", "zhang", "--password-stdin", stdin="1234567\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    no_tty = xunshi(home, "add", "zhang")  # stdin is /dev/null: no terminal to ask on
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    empty = xunshi(home, "add", "zhang", "--password-stdin", stdin="")
    assert empty.returncode == 2
    bad_name = xunshi(home, "add", "zhang san", "--password-stdin", stdin=PASSWORD)
    assert bad_name.returncode == 2 and "spaces" in bad_name.stderr
    assert not (home / "users.json").exists()


def test_cli_uses_the_configured_users_file(tmp_path):
    elsewhere = tmp_path / "shared" / "people.json"
    added = xunshi(tmp_path / "home", "add", "zhang", "--password-stdin", stdin=PASSWORD,
                   env={"XUNSHI_USERS_FILE": str(elsewhere)})
    assert added.returncode == 0, added.stderr
    assert UserStore(elsewhere).verify("zhang", PASSWORD)
    assert not (tmp_path / "home" / "users.json").exists()
