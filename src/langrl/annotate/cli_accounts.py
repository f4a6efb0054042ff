"""``langrl annotate`` commands for annotators: add, list, disable, revoke, rotate a token, set a role.

    langrl annotate add-annotator --db sqlite:///feedback.db --name alice --admin --token-ttl 30d
    langrl annotate revoke-annotator --db sqlite:///feedback.db bob      # token and sessions stop working
    langrl annotate rotate-token --db sqlite:///feedback.db --name bob   # a new token (prints it last)
    langrl annotate set-role --db sqlite:///feedback.db --name alice --role admin
    langrl annotate annotators --db sqlite:///feedback.db
"""
from __future__ import annotations

import argparse
import json
import re
import time

from langrl.annotate.accounts import DEFAULT_TOKEN_TTL_S
from langrl.errors import InputError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"`` or plain seconds → seconds (> 0)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration > 0 like 30d, 12h, 90m or 45s, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def token_ttl(text: str) -> float | None:
    """A :func:`duration`, or ``never`` (None)."""
    return None if text.strip().lower() == "never" else duration(text)


def add_commands(command) -> None:
    """Add the annotator commands; ``command(name, help)`` makes a subparser with ``--db``."""
    ttl_help = "how long the token works: 30d, 12h, 90m, 45s or never (default 30d)"
    a = command("add-annotator", "create an annotator; prints their login token on the last line")
    a.add_argument("--name", required=True, help="the annotator's name (unique)")
    a.add_argument("--admin", action="store_true", help="may export everyone's feedback and see stats in the app")
    a.add_argument("--token-ttl", type=token_ttl, default=DEFAULT_TOKEN_TTL_S, metavar="TTL", help=ttl_help)

    d = command("disable-annotator", "stop an annotator's token and sessions from working (their judgements stay)")
    d.add_argument("--name", required=True)

    r = command("revoke-annotator", "revoke an annotator's token and end their sessions (rotate-token gives a new one)")
    r.add_argument("name", nargs="?", metavar="NAME", help="the annotator (or --name NAME)")
    r.add_argument("--name", dest="name_opt", metavar="NAME", help=argparse.SUPPRESS)

    t = command("rotate-token", "issue a new token for an annotator (the old one and their sessions stop working)")
    t.add_argument("--name", required=True)
    t.add_argument("--token-ttl", type=token_ttl, default=DEFAULT_TOKEN_TTL_S, metavar="TTL", help=ttl_help)

    s = command("set-role", "make an annotator an admin (export and stats in the app) or a plain annotator")
    s.add_argument("--name", required=True)
    s.add_argument("--role", required=True, choices=("admin", "annotator"))

    ls = command("annotators", "list annotators with their role and token state")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")


def _storage(args):
    from langrl.annotate.store import Storage

    return Storage(args.db)


def _print_token(token: str, what: str) -> None:
    print(f"{what}; their login token (shown once) is:")
    print(token)


def _add_annotator(args) -> int:
    storage = _storage(args)
    try:
        token = storage.add_annotator(args.name, admin=args.admin, token_ttl_s=args.token_ttl)
    finally:
        storage.close()
    role = "admin" if args.admin else "annotator"
    _print_token(token, f"{role} {args.name.strip()!r} added ({_ttl_text(args.token_ttl)})")
    return 0


def _ttl_text(ttl: float | None) -> str:
    if ttl is None:
        return "the token never expires"
    return f"the token expires {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(time.time() + ttl))}"


def _disable_annotator(args) -> int:
    storage = _storage(args)
    try:
        storage.set_disabled(args.name, True)
    finally:
        storage.close()
    print(f"annotator {args.name!r} disabled")
    return 0


def _revoke_annotator(args) -> int:
    name = args.name or args.name_opt
    if not name or (args.name and args.name_opt and args.name != args.name_opt):
        raise InputError("expected one annotator name: revoke-annotator NAME", field="name")
    storage = _storage(args)
    try:
        storage.revoke_token(name)
    finally:
        storage.close()
    print(f"annotator {name!r}: token revoked and sessions ended (langrl annotate rotate-token gives a new token)")
    return 0


def _rotate_token(args) -> int:
    storage = _storage(args)
    try:
        token = storage.rotate_token(args.name, args.token_ttl)
    finally:
        storage.close()
    _print_token(token, f"annotator {args.name!r} has a new token ({_ttl_text(args.token_ttl)}; the old one and "
                        "their sessions no longer work)")
    return 0


def _set_role(args) -> int:
    storage = _storage(args)
    try:
        storage.set_admin(args.name, args.role == "admin")
    finally:
        storage.close()
    print(f"annotator {args.name!r} is now {'an admin' if args.role == 'admin' else 'a plain annotator'}")
    return 0


def _annotators(args) -> int:
    storage = _storage(args)
    try:
        rows, now = storage.annotators_list(), storage.clock()
    finally:
        storage.close()
    for r in rows:
        r["state"] = ("disabled" if r["disabled"] else "revoked" if r["revoked"] else
                      "expired" if r["expires_at"] is not None and r["expires_at"] <= now else "active")
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        until = "never" if r["expires_at"] is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r["expires_at"]))
        print(f"{r['name']:<24} {'admin' if r['admin'] else 'annotator':<9} {r['state']:<8} token expires {until}")
    if not any(r["admin"] for r in rows):
        print("no admin: the app's export and stats need one (langrl annotate set-role --name NAME --role admin)")
    return 0


HANDLERS = {"add-annotator": _add_annotator, "disable-annotator": _disable_annotator,
            "revoke-annotator": _revoke_annotator, "rotate-token": _rotate_token, "set-role": _set_role,
            "annotators": _annotators}
