"""``langrl annotate``: serve the annotation app, load items, add annotators, export feedback, show stats.

    langrl annotate load --db sqlite:///feedback.db --items items.jsonl
    langrl annotate add-annotator --db sqlite:///feedback.db --name alice      # prints alice's token last
    langrl annotate revoke-annotator --db sqlite:///feedback.db alice         # more in cli_accounts.py
    langrl annotate serve --db sqlite:///feedback.db --port 8000
    langrl annotate export --db sqlite:///feedback.db --kind comparison --out prefs.jsonl
    langrl annotate stats --db sqlite:///feedback.db
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from langrl.annotate import cli_accounts
from langrl.annotate.accounts import DEFAULT_SESSION_TTL_S
from langrl.annotate.select import SELECTS
from langrl.annotate.validate import DEFAULT_CATEGORIES, KINDS, read_items
from langrl.errors import InputError

DEFAULT_DB = "sqlite:///feedback.db"


def _csv(allowed=None):
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; expected some of {list(allowed)}")
        return values
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="langrl annotate", description="Collect human feedback in a web app.")
    p.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--db", default=DEFAULT_DB, help=f"database URL: sqlite:///FILE or postgresql://USER@HOST/DB "
                                                        f"(default {DEFAULT_DB})")
        c.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        return c

    s = command("serve", "run the web app and its JSON API")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--select", choices=SELECTS, default="round-robin",
                   help="what to ask next: round-robin (default), random, or uncertainty (needs --rm)")
    s.add_argument("--rm", metavar="DIR", help="reward model (ensemble) directory for --select uncertainty")
    s.add_argument("--target", type=int, default=1, help="judgements wanted per unit on overlapping items (default 1)")
    s.add_argument("--overlap", type=float, default=1.0,
                   help="share of items that get --target judgements from different annotators; the rest get one "
                        "(default 1.0)")
    s.add_argument("--lease-s", type=float, default=600.0,
                   help="seconds a served question stays reserved for its annotator (default 600)")
    s.add_argument("--kinds", type=_csv(KINDS), default=KINDS, help=f"task kinds offered (default {','.join(KINDS)})")
    s.add_argument("--categories", type=_csv(), default=DEFAULT_CATEGORIES,
                   help=f"span categories (default {','.join(DEFAULT_CATEGORIES)})")
    s.add_argument("--seed", type=int, default=None, help="seed for --select random")
    s.add_argument("--session-ttl", type=cli_accounts.duration, default=DEFAULT_SESSION_TTL_S, metavar="TTL",
                   help="how long a browser login lasts: 12h, 90m, 1d, ... (default 12h; never past the token's expiry)")
    s.add_argument("--secure-cookies", action="store_true",
                   help="mark the session cookie Secure and accept https:// form posts: the server is reached over "
                        "HTTPS (behind a TLS proxy)")
    s.add_argument("--origin", action="append", default=[], metavar="URL",
                   help="another origin to accept form posts from, e.g. https://annotate.example.org when a proxy "
                        "rewrites the Host header (repeatable)")

    ld = command("load", "add items (a prompt and candidate responses) to annotate")
    ld.add_argument("--items", metavar="FILE", help='JSONL of {"id"?, "prompt", "responses": [...]}')
    ld.add_argument("--from-policy", metavar="SPEC", help="sample the responses from this policy (a model spec or dir)")
    ld.add_argument("--prompts", metavar="FILE", help='prompts for --from-policy: JSONL of {"id"?, "prompt"} or .txt')
    ld.add_argument("--n", type=int, default=4, help="responses sampled per prompt with --from-policy (default 4)")
    ld.add_argument("--max-new-tokens", type=int, default=64, help="token budget per sampled response (default 64)")
    ld.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    ld.add_argument("--chat-template", default="true", choices=("true", "false"),
                    help="--from-policy: put each prompt through the model's chat template when it has one (default "
                         "true)")
    ld.add_argument("--system-prompt", default=None, help="--from-policy: a system message before each prompt")
    ld.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ld.add_argument("--json", action="store_true", help="print the summary as JSON")

    cli_accounts.add_commands(command)  # add-annotator, disable-annotator, revoke-annotator, rotate-token, ...

    e = command("export", "write the feedback of one kind as JSONL for langrl rm train")
    e.add_argument("--kind", required=True, choices=KINDS)
    e.add_argument("--out", required=True, metavar="FILE")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")

    st = command("stats", "counts per kind and annotator, and inter-annotator agreement")
    st.add_argument("--categories", type=_csv(), default=DEFAULT_CATEGORIES, help="span categories")
    st.add_argument("--json", action="store_true", help="print the statistics as JSON")
    return p


def _check_serve(args) -> None:
    if args.select == "uncertainty" and not args.rm:
        raise InputError("--select uncertainty needs --rm DIR (a reward model or ensemble)", field="rm")
    if args.rm and args.select != "uncertainty":
        raise InputError("--rm is only used with --select uncertainty", field="rm")
    if args.target < 1:
        raise InputError(f"expected an integer >= 1, got {args.target}", field="target")
    if not 0.0 <= args.overlap <= 1.0:
        raise InputError(f"expected a share between 0 and 1, got {args.overlap}", field="overlap")
    if args.lease_s <= 0:
        raise InputError(f"expected seconds > 0, got {args.lease_s}", field="lease-s")
    if len(args.categories) > 9 or any(len(c) > 40 for c in args.categories):
        raise InputError("expected at most 9 span categories (keys 1-9) of at most 40 characters each",
                         field="categories")
    for origin in args.origin:
        if not re.fullmatch(r"https?://[^/\s]+/?", origin):
            raise InputError(f"expected an origin like https://annotate.example.org, got {origin!r}", field="origin")
    if not 1 <= args.port <= 65535:
        raise InputError(f"expected a port in 1..65535, got {args.port}", field="port")


def _serve(args) -> int:
    _check_serve(args)
    import uvicorn

    from langrl.annotate.select import load_scorer, scorer_name
    from langrl.annotate.server import create_app
    from langrl.annotate.store import Storage

    scorer = load_scorer(args.rm) if args.rm else None
    name = scorer_name(args.rm) if args.rm else "rm"
    storage = Storage(args.db)
    if scorer is not None:
        print(f"scored {storage.ensure_scores(scorer, name)} new responses with {args.rm}", file=sys.stderr)
    app = create_app(storage, select=args.select, target=args.target, overlap=args.overlap, lease_s=args.lease_s,
                     scorer=scorer, scorer_name=name, kinds=args.kinds, categories=args.categories, seed=args.seed,
                     session_ttl_s=args.session_ttl, secure_cookies=args.secure_cookies, origins=args.origin)
    if not any(a["admin"] for a in storage.annotators_list()):
        print("note: no annotator is an admin, so nobody can export or see stats in the app "
              "(langrl annotate set-role --name NAME --role admin; langrl annotate export works regardless)",
              file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"note: listening on {args.host}; traffic is plain HTTP, so put it behind TLS on a shared network",
              file=sys.stderr)
    print(f"langrl annotate: http://{args.host}:{args.port}/ (database {args.db})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    storage.close()
    return 0


def _load(args) -> int:
    from langrl.annotate.store import Storage

    if bool(args.items) == bool(args.from_policy):
        raise InputError("give either --items FILE or --from-policy SPEC --prompts FILE", field="items")
    if args.items:
        from langrl.jsonl import input_flag

        with input_flag("--items"):
            new, source = read_items(args.items), args.items
    else:
        from langrl.annotate.sampling import read_prompts, sample_items

        if not args.prompts:
            raise InputError("--from-policy needs --prompts FILE", field="prompts")
        if args.n < 1 or args.max_new_tokens < 1 or args.temperature <= 0:
            raise InputError("expected --n >= 1, --max-new-tokens >= 1 and --temperature > 0", field="n")
        from langrl.jsonl import input_flag

        with input_flag("--prompts"):
            prompts = read_prompts(args.prompts)
        new = sample_items(args.from_policy, prompts, n=args.n,
                           max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed,
                           chat_template=args.chat_template == "true", system=args.system_prompt)
        source = f"policy:{args.from_policy}"
    storage = Storage(args.db)
    try:
        added, present = storage.add_items(new, source=source)
    finally:
        storage.close()
    summary = {"added": added, "already_present": present, "db": args.db}
    print(json.dumps(summary) if args.json else f"loaded {added} items ({present} already present) into {args.db}")
    return 0


def _export(args) -> int:
    from langrl.annotate.export import export_records
    from langrl.annotate.store import Storage
    from langrl.io import atomic_write_jsonl

    storage = Storage(args.db)
    try:
        records = export_records(storage, args.kind)
    finally:
        storage.close()
    atomic_write_jsonl(args.out, records)
    summary = {"kind": args.kind, "records": len(records), "out": args.out}
    print(json.dumps(summary) if args.json else f"wrote {len(records)} {args.kind} records to {args.out}")
    return 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _stats(args) -> int:
    from langrl.annotate.agreement import stats
    from langrl.annotate.store import Storage

    storage = Storage(args.db)
    try:
        out = stats(storage, KINDS, args.categories)
    finally:
        storage.close()
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{out['items']} items, {out['annotators']} annotators")
    print("agreement: Krippendorff's alpha (nominal) and pairwise agreement, on units judged by 2+ annotators")
    for kind, k in out["kinds"].items():
        who = ", ".join(f"{name} {n}" for name, n in k["by_annotator"].items()) or "-"
        line = f"  {kind:<10} {k['judgements']:>6} judgements ({who})"
        if k["median_time_s"] is not None:
            line += f", median {k['median_time_s']} s"
        ag = k["agreement"]
        if ag and "alpha" in ag:
            line += f"; {ag['units']} shared units, alpha {_fmt(ag['alpha'])}, pairwise {_fmt(ag['pairwise'])}"
        elif ag and "alpha_by_category" in ag:
            per = ", ".join(f"{c} {_fmt(v)}" for c, v in ag["alpha_by_category"].items())
            line += f"; {ag['units']} shared units, character alpha: {per or 'n/a'}"
        print(line)
    return 0


HANDLERS = {"serve": _serve, "load": _load, "export": _export, "stats": _stats, **cli_accounts.HANDLERS}


def main(argv: list[str]) -> int:
    """Entry point for ``langrl annotate ...``. Bad input prints one line and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        from langrl.annotate.db import normalise_url

        normalise_url(args.db)  # a bad URL is reported before any other work
        return HANDLERS[args.command](args)
    except InputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
