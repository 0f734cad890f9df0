"""``xunshi kb create|list|remove``: the knowledge bases of a deployment."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from assistant.cli import _emit_json
from assistant.settings import Settings
from ingest.errors import UsageError

EXIT_OK = 0


def cmd_kb_create(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli import _record, _writer
    from assistant.kbs import create_kb

    with _writer(settings, args) as writer, writer.changing():
        kb = create_kb(settings, args.name, args.description or "")
    _record(settings, "kb_create", [kb.name], detail={"description": kb.description})
    if args.json:
        _emit_json(kb.as_dict())
    else:
        print(f"created the knowledge base {kb.name}: add files with `xunshi ingest PATH --kb {kb.name}`")
    return EXIT_OK


def cmd_kb_list(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.kbs import list_kbs

    kbs = list_kbs(settings)
    if args.json:
        _emit_json({"knowledge_bases": [kb.as_dict() for kb in kbs], "count": len(kbs)})
        return EXIT_OK
    for kb in kbs:
        print(f"{kb.name}  {kb.chunks} chunks" + (f"  {kb.description}" if kb.description else ""))
    return EXIT_OK


def cmd_kb_remove(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.cli import _record, _writer
    from assistant.kbs import removable_chunks, remove_kb
    from vectorstore.knowledge_bases import check_name

    name = check_name(args.name)
    held = removable_chunks(settings, name)  # default and unknown names refused before anything is asked
    if not args.yes:
        _confirm(name, held)
    with _writer(settings, args) as writer, writer.changing():
        chunks = remove_kb(settings, name)
    _record(settings, "kb_remove", [name], detail={"chunks": chunks})
    if args.json:
        _emit_json({"removed": name, "chunks": chunks})
    else:
        print(f"removed the knowledge base {name} ({chunks} chunks)")
    return EXIT_OK


def _confirm(name: str, chunks: int) -> None:
    """Ask before deleting; a script must say ``--yes``."""
    if not sys.stdin.isatty():
        raise UsageError(f"removing the knowledge base '{name}' deletes its {chunks} chunks: confirm with --yes")
    print(f"删除知识库“{name}”及其 {chunks} 个片段？此操作不可撤销。输入知识库名称确认：", end="", file=sys.stderr,
          flush=True)
    if sys.stdin.readline().strip() != name:
        raise UsageError(f"not removed: the name typed was not '{name}'")



def register(sub: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``kb create|list|remove`` to the command line's sub-commands."""
    kb = sub.add_parser("kb", help="knowledge bases: separate collections of documents").add_subparsers(
        dest="kb_command", required=True, metavar="ACTION")
    p = kb.add_parser("create", help="create an empty knowledge base")
    p.add_argument("name", metavar="NAME", help="its name, e.g. 2024第一轮巡视 (no spaces, commas or slashes)")
    p.add_argument("--description", metavar="TEXT", help="what it holds, shown in lists")
    json_flag(p)
    p.set_defaults(func=cmd_kb_create)
    p = kb.add_parser("list", help="the knowledge bases and how many chunks each holds")
    json_flag(p)
    p.set_defaults(func=cmd_kb_list, reads_store=True)
    p = kb.add_parser("remove", help="delete a knowledge base and all its documents (asks first)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    json_flag(p)
    p.set_defaults(func=cmd_kb_remove)
