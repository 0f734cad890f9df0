"""``xunshi users add|remove|list|grant|revoke|admin``: who may log in to the page, and what each may read."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

from assistant.cli import _emit_json
from assistant.settings import Settings
from assistant.users import User, UserStore
from ingest.errors import UsageError

log = logging.getLogger(__name__)

EXIT_OK = 0
DEFAULT_KB = "default"



def _store(settings: Settings) -> UserStore:
    return UserStore(settings.users_path)


def _rights(user: User) -> str:
    if user.admin:
        return "admin: reads and changes every knowledge base"
    return ", ".join(f"{kb}:{right}" for kb, right in sorted(user.rights.items())) or "no knowledge base yet"


def _read_password(args: argparse.Namespace) -> str:
    """The new password: one line of stdin with ``--password-stdin``, else asked twice on the terminal.

    Raises:
        UsageError: no terminal and no ``--password-stdin``, an empty line, or two different answers.
    """
    if args.password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise UsageError("--password-stdin read no password: give it as one line on stdin")
        return password
    if not sys.stdin.isatty():
        raise UsageError("stdin is not a terminal, so the password cannot be asked for: pipe it in with "
                         f"--password-stdin, e.g. `printf '%s\\n' \"$PASSWORD\" | xunshi users add {args.name} "
                         "--password-stdin`")
    password = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("the same password again: ") != password:
        raise UsageError("the two passwords differ; nothing was changed")
    return password


def _known_kbs(settings: Settings) -> list[str]:
    """The names of the knowledge bases that exist, ``default`` first."""
    from assistant.kbs import knowledge_base_names

    if settings.chroma_url:
        return knowledge_base_names(settings)
    if not (settings.home_dir / "chroma").exists():
        return [DEFAULT_KB]  # nothing stored in this home yet: opening it would create an empty store
    from vectorstore.writelock import reading

    with reading(settings.home_dir, settings.store_wait):
        return knowledge_base_names(settings)


def _changed(settings: Settings, change: str, name: str, kbs: list[str] | None = None, **detail: Any) -> None:
    """An administrator's change to the users, in the access log."""
    from assistant.cli import _record

    _record(settings, "users", kbs or [], detail={"change": change, "user": name, **detail})


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    store.check_new(args.name)  # a taken or invalid name is said before the password is asked for
    user = store.add(args.name, _read_password(args), admin=args.admin)
    _changed(settings, "add", user.name, admin=user.admin)
    if args.json:
        _emit_json({"user": user.as_dict()})
    elif user.admin:
        print(f"added {user.name}, an administrator: reads and changes every knowledge base")
    else:
        print(f"added {user.name}: let them read with `xunshi users grant {user.name} KB read` (see `xunshi kb list`)")
    return EXIT_OK


def cmd_users_remove(args: argparse.Namespace, settings: Settings) -> int:
    _store(settings).remove(args.name)
    _changed(settings, "remove", args.name)
    if args.json:
        _emit_json({"removed": args.name})
    else:
        print(f"removed {args.name}")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    users = _store(settings).users()
    if args.json:
        _emit_json({"users": [u.as_dict() for u in users], "count": len(users)})
        return EXIT_OK
    if not users:
        print(f"no users yet in {settings.users_path}: add one with `xunshi users add NAME`")
    for u in users:
        print(f"{u.name}  {_rights(u)}  (added {u.created[:19].replace('T', ' ')})")
    return EXIT_OK


def cmd_users_grant(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    store.require(args.name)
    kb = unicodedata.normalize("NFC", args.kb.strip())
    known = _known_kbs(settings)
    if kb not in known:
        raise UsageError(f"no knowledge base named '{kb}' (there are: {', '.join(known)}); create it with "
                         f"`xunshi kb create {kb}`")
    user = store.grant(args.name, kb, args.right)
    _changed(settings, "grant", user.name, [kb], right=args.right)
    if args.json:
        _emit_json({"user": user.as_dict()})
    else:
        print(f"{user.name} may now {'read and change' if args.right == 'write' else 'read'} {kb}")
    return EXIT_OK


def cmd_users_revoke(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    had = store.revoke(args.name, args.kb)
    _changed(settings, "revoke", args.name, [args.kb])
    user = store.get(args.name)
    if args.json:
        _emit_json({"user": user.as_dict(), "revoked": had})
        return EXIT_OK
    print(f"{args.name} may no longer use {args.kb}" if had else f"{args.name} had no right on {args.kb}")
    if user.admin:
        print(f"{args.name} is an administrator and still reads and changes every knowledge base "
              f"(`xunshi users admin {args.name} off`)", file=sys.stderr)
    return EXIT_OK


def cmd_users_admin(args: argparse.Namespace, settings: Settings) -> int:
    user = _store(settings).set_admin(args.name, args.state == "on")
    _changed(settings, "admin", user.name, admin=user.admin)
    if args.json:
        _emit_json({"user": user.as_dict()})
    else:
        print(f"{user.name} is {'now' if user.admin else 'no longer'} an administrator; {_rights(user)}")
    return EXIT_OK


def register(sub: Any, json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``users add|remove|list|grant|revoke|admin`` to the command line's sub-commands."""
    users = sub.add_parser("users", help="who may log in to the page, and which knowledge bases each may use")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    p = actions.add_parser("add", help="add a user (the password is asked twice, or read from stdin)")
    p.add_argument("name", metavar="NAME", help="the login name, e.g. zhangsan or 张三 (no spaces)")
    p.add_argument("--admin", action="store_true", help="an administrator: every knowledge base, and managing them")
    p.add_argument("--password-stdin", action="store_true", help="read the password as one line of stdin (scripts)")
    json_flag(p)
    p.set_defaults(func=cmd_users_add)

    p = actions.add_parser("remove", help="remove a user")
    p.add_argument("name", metavar="NAME")
    json_flag(p)
    p.set_defaults(func=cmd_users_remove)

    p = actions.add_parser("list", help="the users, their rights and when they were added (never a password)")
    json_flag(p)
    p.set_defaults(func=cmd_users_list)

    p = actions.add_parser("grant", help="let a user read (or read and change) a knowledge base")
    p.add_argument("name", metavar="NAME")
    p.add_argument("kb", metavar="KB", help="a knowledge base (see `xunshi kb list`)")
    p.add_argument("right", choices=["read", "write"], help="read: search and ask; write: also upload and delete")
    json_flag(p)
    p.set_defaults(func=cmd_users_grant)

    p = actions.add_parser("revoke", help="take away a user's right on a knowledge base")
    p.add_argument("name", metavar="NAME")
    p.add_argument("kb", metavar="KB")
    json_flag(p)
    p.set_defaults(func=cmd_users_revoke)

    p = actions.add_parser("admin", help="make a user an administrator (on) or no longer one (off)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("state", choices=["on", "off"])
    json_flag(p)
    p.set_defaults(func=cmd_users_admin)
