"""``xunshi audit``: print the access log, for the security officer who asks who read what."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import deque
from collections.abc import Callable
from datetime import date, datetime

from assistant.audit import audit_log
from assistant.cli import EXIT_OK, _emit_json
from assistant.settings import Settings
from ingest.errors import UsageError

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_since(text: str) -> date | datetime:
    """``2026-12-02`` (from that local midnight) or a full ISO time (local unless it has an offset).

    Raises:
        UsageError: neither.
    """
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise UsageError(f"--since must be a date YYYY-MM-DD or an ISO time such as 2026-12-02T10:30 "
                         f"(got {text!r}: {e})") from e


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_entry(entry: dict) -> str:
    """``2026-12-02 10:31:05  张三  page  ask  [default, 2024第一轮]  “问题”  → doc_id1, doc_id2``
    (the time in this machine's time zone)."""
    when = datetime.fromisoformat(entry["time"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    parts = [when, str(entry.get("user", "?")), str(entry.get("via", "?")), str(entry.get("action", "?")),
             "[" + ", ".join(map(str, entry.get("kbs") or [])) + "]"]
    if entry.get("query") is not None:
        parts.append(f"“{_one_line(entry['query'])}”")
    if entry.get("file") is not None:
        parts.append(_one_line(entry["file"]))
    if entry.get("address") is not None:
        parts.append(f"from {entry['address']}")
    if entry.get("detail") is not None:
        detail = entry["detail"]
        parts.append(_one_line(detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)))
    line = "  ".join(parts)
    if entry.get("doc_ids"):
        line += "  → " + ", ".join(map(str, entry["doc_ids"]))
    return line


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    since = parse_since(args.since) if args.since else None
    if args.limit < 0:
        raise UsageError(f"--limit must be 0 (all) or more (got {args.limit}): the number of latest entries")
    access = audit_log(settings)
    if not access.enabled:
        print("xunshi: the access log is off (XUNSHI_AUDIT=off): nothing new is recorded; "
              f"showing what is already in {access.folder}", file=sys.stderr)
    found = access.entries(user=args.user, since=since)
    entries = list(deque(found, maxlen=args.limit) if args.limit else found)
    if args.json:
        _emit_json({"entries": entries, "count": len(entries)})
        return EXIT_OK
    if not entries:
        print(f"xunshi: no entries in the access log under {access.folder}"
              + (" for these filters" if args.user or since else ""), file=sys.stderr)
    for entry in entries:
        print(format_entry(entry))
    return EXIT_OK


def register(sub: argparse._SubParsersAction, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``xunshi audit`` to the CLI's sub-commands."""
    p = sub.add_parser("audit", help="the access log: who asked, drafted, searched, uploaded or deleted what, "
                       "and which documents they were shown (times in this machine's time zone)")
    p.add_argument("--user", metavar="U", help="only this user (the page's login, or the system user for the CLI)")
    p.add_argument("--since", metavar="DATE", help="only from this date (YYYY-MM-DD) or time (2026-12-02T10:30)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="only the latest N entries (default all)")
    json_flag(p)
    p.set_defaults(func=cmd_audit)
