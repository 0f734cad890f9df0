"""The access log: real files in tmp_path, real processes writing at once, the real `xunshi audit`."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from assistant.audit import AuditLog, audit_log, system_user
from assistant.settings import Settings

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 12, 2, 10, 31, 5, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def lines_on_disk(folder: Path) -> list[str]:
    return [line for path in sorted(folder.glob("audit*.log")) for line in path.read_text("utf-8").splitlines()]


def test_entries_are_appended_and_read_back_with_filters(tmp_path):
    clock = Clock(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    access = AuditLog(tmp_path / "audit", clock=clock)
    access.record("ask", "张三", ["default", "2024第一轮"], via="page", query="巡审联动怎么开展？",
                  doc_ids=["d1", "d2"], address="10.0.0.7")
    clock.now = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    access.record("upload", "root", ["default"], file="报告.docx", doc_ids=["d3"])
    access.record("delete", "张三", ["default"], file="d3", doc_ids=["d3"])

    raw = (tmp_path / "audit" / "audit.log").read_text("utf-8").splitlines()
    assert len(raw) == 3 and "张三" in raw[0]  # not \u escapes: grep finds the names
    assert json.loads(raw[0]) == {"time": "2026-12-01T00:00:00Z", "user": "张三", "via": "page", "action": "ask",
                                  "kbs": ["default", "2024第一轮"], "query": "巡审联动怎么开展？",
                                  "doc_ids": ["d1", "d2"], "address": "10.0.0.7"}
    assert json.loads(raw[1]) == {"time": "2026-12-03T00:00:00Z", "user": "root", "via": "cli", "action": "upload",
                                  "kbs": ["default"], "file": "报告.docx", "doc_ids": ["d3"]}

    assert [e["action"] for e in access.entries()] == ["ask", "upload", "delete"]
    assert [e["action"] for e in access.entries(user="张三")] == ["ask", "delete"]
    assert [e["action"] for e in access.entries(user="nobody")] == []
    # A date means its local midnight: 2026-12-02 falls between the two times in any time zone.
    assert [e["action"] for e in access.entries(since=date(2026, 12, 2))] == ["upload", "delete"]
    assert [e["action"] for e in access.entries(user="张三", since=date(2026, 12, 2))] == ["delete"]
    assert len(list(access.entries(since=datetime(2026, 12, 3, 0, 0, tzinfo=UTC)))) == 2
    assert len(list(access.entries(since=datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC)))) == 0


def test_files_and_folder_are_for_the_owner_only(tmp_path):
    old = os.umask(0)  # the modes come from the program, not from a lenient umask
    try:
        AuditLog(tmp_path / "home" / "audit").record("search", "u", ["default"], query="q")
    finally:
        os.umask(old)
    folder = tmp_path / "home" / "audit"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "audit.log").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "audit.lock").stat().st_mode) == 0o600


def test_rotation_keeps_every_entry_in_order_and_leaves_older_files_untouched(tmp_path):
    folder = tmp_path / "audit"
    clock = Clock()
    access = AuditLog(folder, max_bytes=500, clock=clock)
    line_size = None
    for i in range(4):
        access.record("ask", "u", ["default"], query=f"q{i:03d}")
        line_size = line_size or (folder / "audit.log").stat().st_size
    first = sorted(folder.glob("audit-*.log"))
    assert [p.name for p in first] == ["audit-20261202T103105Z.log"]
    kept = first[0].read_bytes()
    assert len(kept) <= 500 and (folder / "audit.log").stat().st_size <= 500

    for i in range(4, 40):  # many more moves within the same second: -1, -2, … -10, -11
        access.record("ask", "u", ["default"], query=f"q{i:03d}")
    clock.now = T0 + timedelta(seconds=1)
    for i in range(40, 50):
        access.record("ask", "u", ["default"], query=f"q{i:03d}")

    assert first[0].read_bytes() == kept
    names = [p.name for p in access.files()]
    assert names[:3] == ["audit-20261202T103105Z.log", "audit-20261202T103105Z-1.log", "audit-20261202T103105Z-2.log"]
    assert "audit-20261202T103105Z-10.log" in names and names[-1] == "audit.log"
    assert names[-2].startswith("audit-20261202T103106Z")
    assert all(p.stat().st_size <= 500 for p in access.files())
    assert [e["query"] for e in access.entries()] == [f"q{i:03d}" for i in range(50)]
    assert len(lines_on_disk(folder)) == 50


def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(tmp_path):
    access = AuditLog(tmp_path / "audit", max_bytes=100, clock=Clock())
    access.record("ask", "u", [], query="短")
    access.record("ask", "u", [], query="长" * 200)
    access.record("ask", "u", [], query="短2")
    assert [e["query"] for e in access.entries()] == ["短", "长" * 200, "短2"]
    assert len(access.files()) == 3


_WRITER = """
import sys, time
from pathlib import Path
from assistant.audit import AuditLog
folder, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
access = AuditLog(folder, max_bytes=4096)
while not go.exists():
    time.sleep(0.005)
for i in range(200):
    access.record("ask", name, ["default", "2024第一轮"], via="page", query=f"{name} {i} " + "问" * (i % 37),
                  doc_ids=[f"doc-{i}"])
"""


def test_two_processes_appending_at_once_leave_whole_lines(tmp_path):
    folder, go = tmp_path / "audit", tmp_path / "go"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), name, str(go)], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for name in ("web", "cli")]
    time.sleep(0.3)  # both started and waiting: they begin together
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
        writer.stderr.close()

    raw = lines_on_disk(folder)
    assert len(raw) == 400
    parsed = [json.loads(line) for line in raw]  # every line whole
    assert all(e["doc_ids"] == [f"doc-{e['query'].split()[1]}"] for e in parsed)
    assert len(list(folder.glob("audit-*.log"))) >= 2  # rotated while both were writing
    entries = list(AuditLog(folder).entries())
    assert len(entries) == 400
    for name in ("web", "cli"):  # each writer's lines in the order it wrote them, across the files
        assert [int(e["query"].split()[1]) for e in entries if e["user"] == name] == list(range(200))


def test_off_writes_nothing_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("XUNSHI_AUDIT", raising=False)
    off = audit_log(Settings(home=tmp_path / "home", audit="off"))
    assert not off.enabled
    off.record("ask", "u", ["default"], query="q", doc_ids=["d"])
    off.record("login_failed", "u", [], via="page", address="10.0.0.9")
    assert not (tmp_path / "home").exists()

    on = audit_log(Settings(home=tmp_path / "home", audit_max_mb=0.5))
    assert on.enabled and on.folder == (tmp_path / "home" / "audit").resolve() and on.max_bytes == 512 * 1024


def test_a_failed_write_is_logged_with_the_entry_and_not_raised(tmp_path, caplog):
    blocked = tmp_path / "audit"
    blocked.write_text("a file where the folder should be")
    with caplog.at_level(logging.ERROR, logger="assistant.audit"):
        AuditLog(blocked).record("ask", "张三", ["default"], query="谁看了这份报告", doc_ids=["d1"])
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "could NOT be written" in message and "谁看了这份报告" in message and "d1" in message


def test_a_malformed_line_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    access = AuditLog(tmp_path / "audit", clock=Clock())
    access.record("ask", "u", [], query="one")
    with open(access.path, "a", encoding="utf-8") as f:
        f.write('{"user": "no time"}\nnot json\n')
    access.record("ask", "u", [], query="two")
    with caplog.at_level(logging.WARNING, logger="assistant.audit"):
        assert [e["query"] for e in access.entries()] == ["one", "two"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert "audit.log line 2" in warnings[0] and "audit.log line 3" in warnings[1]


def test_an_unknown_action_or_channel_is_a_mistake_in_the_caller(tmp_path):
    access = AuditLog(tmp_path / "audit")
    with pytest.raises(ValueError, match="unknown audit action 'asks'"):
        access.record("asks", "u", [])
    with pytest.raises(ValueError, match="unknown audit via 'web'"):
        access.record("ask", "u", [], via="web")
    assert not (tmp_path / "audit").exists()


def test_system_user_is_a_name():
    assert system_user().strip()


def run_audit(home: Path, *args: str, tz: str = "UTC", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XUNSHI_")}
    return subprocess.run([sys.executable, "-m", "assistant", "--home", str(home), "audit", *args],
                          check=False, capture_output=True, text=True, cwd=ROOT, env={**clean, "TZ": tz, **env},
                          timeout=60)


@pytest.fixture
def written(tmp_path) -> Path:
    home = tmp_path / "home"
    clock = Clock()
    access = AuditLog(home / "audit", clock=clock)
    access.record("ask", "张三", ["default", "2024第一轮"], via="page", query="巡审联动\n怎么开展？",
                  doc_ids=["doc_id1", "doc_id2"], address="10.0.0.7")
    clock.now = T0 + timedelta(days=1)
    access.record("upload", "root", ["default"], file="报告.docx", doc_ids=["doc_id3"])
    access.record("users", "admin", [], via="page", detail={"added": "李四"})
    return home


def test_detail_that_json_cannot_write_is_kept_as_text(tmp_path):
    access = AuditLog(tmp_path / "audit", clock=Clock())
    access.record("kb_create", "admin", ["2025第二轮"], detail={"folder": tmp_path / "kb"})
    assert next(access.entries())["detail"] == {"folder": str(tmp_path / "kb")}


def test_cli_prints_the_log_as_json_and_text(written):
    result = run_audit(written, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["count"] == 3
    assert payload["entries"] == list(AuditLog(written / "audit").entries())

    text = run_audit(written)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "2026-12-02 10:31:05  张三  page  ask  [default, 2024第一轮]  “巡审联动 怎么开展？”  from 10.0.0.7  → doc_id1, doc_id2",
        "2026-12-03 10:31:05  root  cli  upload  [default]  报告.docx  → doc_id3",
        '2026-12-03 10:31:05  admin  page  users  []  {"added": "李四"}',
    ]
    # Shown in the machine's time zone: Beijing is 8 hours ahead.
    assert run_audit(written, tz="Asia/Shanghai").stdout.startswith("2026-12-02 18:31:05  张三")


def test_cli_filters_and_limit(written):
    by_user = json.loads(run_audit(written, "--json", "--user", "张三").stdout)
    assert [e["action"] for e in by_user["entries"]] == ["ask"]
    since = json.loads(run_audit(written, "--json", "--since", "2026-12-03").stdout)
    assert [e["action"] for e in since["entries"]] == ["upload", "users"]
    since_time = json.loads(run_audit(written, "--json", "--since", "2026-12-03T10:31:06+00:00").stdout)
    assert since_time["count"] == 0
    latest = run_audit(written, "--limit", "1")
    assert latest.stdout.splitlines() == ['2026-12-03 10:31:05  admin  page  users  []  {"added": "李四"}']


def test_cli_bad_since_is_a_usage_error(written):
    result = run_audit(written, "--since", "2026-13-01", "--json")
    assert result.returncode == 2
    assert "--since must be a date YYYY-MM-DD" in result.stderr and result.stdout == ""


def test_cli_with_the_log_off_says_so_and_still_prints_it(written, tmp_path):
    result = run_audit(written, "--json", XUNSHI_AUDIT="off")
    assert result.returncode == 0
    assert "the access log is off" in result.stderr
    assert json.loads(result.stdout)["count"] == 3

    empty = run_audit(tmp_path / "nothing-here")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "no entries in the access log" in empty.stderr
