"""`cloudpypi token add|list|revoke`: the names and token hashes that `serve --auth-file` checks."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "token", help="manage the access tokens of an auth file",
        description="Manage an auth file: token names with the SHA-256 of each token. `add` prints the "
                    "new token alone on stdout, once; only its hash is stored. Clients send NAME:TOKEN "
                    "as HTTP Basic credentials (https://NAME:TOKEN@host/simple/).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("add", "create a token and print it (only its hash is stored)"),
                         ("list", "list the token names and when they were created"),
                         ("revoke", "delete a token: its holder is refused from then on")):
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("--auth-file", required=True, metavar="FILE",
                         help="the auth file (JSON, created with mode 0600 when missing)")
        if action == "list":
            sub.add_argument("--json", action="store_true", help="machine-readable output")
            sub.add_argument("--show-hashes", action="store_true", help="include each token's SHA-256")
        else:
            sub.add_argument("name", metavar="NAME", help="the token's name (the user part of NAME:TOKEN)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cloudpypi.tokens import AuthFile

    auth = AuthFile(args.auth_file)
    if args.action == "add":
        token = auth.add(args.name)
        print(token, flush=True)
        print(f"added token {args.name!r} to {auth.path}: keep it now, it is not stored", file=sys.stderr)
        return 0
    if args.action == "revoke":
        auth.revoke(args.name)
        print(f"revoked token {args.name!r} in {auth.path}", file=sys.stderr)
        return 0
    entries = auth.read()
    rows = [{"name": e.name, "created": e.created, **({"sha256": e.sha256} if args.show_hashes else {})}
            for e in entries]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print("\t".join(row.values()))
    return 0
