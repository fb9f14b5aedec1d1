"""What `fab token add|list|revoke|push` does: change the controller's auth file (cloudpypi.tokens),
then push its hashes to the edge's CloudFront KeyValueStore (``push``: playbooks/tokens.yml, passed
in by the fab task so that this module runs no process of its own and is tested without one).

The new token is printed after the push (so that it is the last line the operator sees), and
printed all the same when the push fails, because it exists nowhere else: `fab token push` then
finishes the job.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from cloudpypi.errors import CloudPyPIError
from cloudpypi.tokens import AuthFile, TokenError

ACTIONS = ("add", "list", "revoke", "push")


class PushFailed(CloudPyPIError):
    """The auth file changed but the KeyValueStore did not: the edge still has the old hashes."""


def manage(action: str, name: str | None, auth_file: str, push: Callable[[], None], *, enabled: bool,
           out: TextIO | None = None, err: TextIO | None = None) -> None:
    """Run one `fab token` action; TokenError (bad input, exit 2) or PushFailed (exit 1) on failure."""
    out = out or sys.stdout
    err = err or sys.stderr
    if action not in ACTIONS:
        raise TokenError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
    if not auth_file:
        raise TokenError("the inventory names no auth file (cloudpypi_tokens_auth_file)")
    auth = AuthFile(auth_file)
    if action == "list":
        for entry in auth.read():
            print(f"{entry.name}\t{entry.created}", file=out)
        return
    if action in ("add", "revoke") and not name:
        raise TokenError(f"`fab token {action}` needs a NAME")
    if not enabled:
        raise TokenError("edge tokens are off in this inventory: set cloudpypi_tokens_enabled: true and "
                         "run `fab deploy`, then manage tokens")
    if action == "add":
        assert name is not None
        token = auth.add(name)
        print(f"added {name!r} to {auth.path}; pushing it to CloudFront", file=err)
        what = f"the new token {name!r} (above) works on `cloudpypi serve` but not yet at CloudFront"
    elif action == "revoke":
        assert name is not None
        token = ""
        auth.revoke(name)
        print(f"revoked {name!r} in {auth.path}; pushing the change to CloudFront", file=err)
        what = f"CloudFront still accepts {name!r}"
    else:
        token = ""
        what = "CloudFront may hold other tokens than the auth file"
    try:
        push()
    except Exception as exc:
        raise PushFailed(f"the push to CloudFront failed ({exc}): {what}. Fix the cause and run "
                         "`fab token push`.") from None
    finally:
        if action == "add":
            print(token, file=out, flush=True)
