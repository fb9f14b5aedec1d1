"""`cloudpypi status`: the mirror's serial, lag behind the origin, counts, last run and the run in flight."""

from __future__ import annotations

import argparse
import json
import time

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import CloudPyPIError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help="serial, lag behind the origin, counts, last run, run in flight",
                                   description="Show the mirror's state. The origin is asked for its serial; "
                                               "if it cannot be reached the lag is shown as unknown. A sync "
                                               "in flight is shown with its progress (JSON: the `running` "
                                               "member, null when no sync holds the lock).")
    add_target_options(parser)
    parser.add_argument("--offline", action="store_true", help="do not contact the origin")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _origin_serial(config) -> tuple[int | None, str]:  # type: ignore[no-untyped-def]
    from cloudpypi.origin import OriginClient

    client = OriginClient.from_config(config, retries=1, timeout=10)
    try:
        serial = client.changelog_last_serial()
        if serial is None:
            serial = client.head_serial()  # pypi.org answers this without sending its whole index
        if serial is None:
            serial = client.root_index().serial  # a static mirror: its root JSON carries the serial
        return serial, "" if serial is not None else "the origin publishes no serial"
    except (CloudPyPIError, OSError) as exc:
        return None, str(exc)
    finally:
        client.close()


def run(args: argparse.Namespace) -> int:
    from cloudpypi import runrecord
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    config = config_from_args(args)
    storage = open_target(config)
    state = State.open(storage, config.state_dir or None, read_only=True)
    try:
        origin = args.origin or state.get("origin") or config.origin
        info = {"target": storage.url, "origin": origin, "serial": state.serial, **state.counts()}
        for key in ("last_run", "last_success"):
            value = state.get(key)
            info[key] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value))) if value else None
        info["last_result"] = state.get("last_result")
        info["running"] = runrecord.running(storage)
    finally:
        state.close()
    if args.offline:
        info["origin_serial"], info["lag"], info["lag_reason"] = None, None, "not asked (--offline)"
    else:
        origin_serial, reason = _origin_serial(config.with_overrides(origin=info["origin"]))
        info["origin_serial"] = origin_serial
        known = origin_serial is not None and info["serial"] is not None
        info["lag"] = origin_serial - info["serial"] if known else None
        info["lag_reason"] = reason
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    lag = info["lag"] if info["lag"] is not None else f"unknown ({info['lag_reason'] or 'mirror has no serial yet'})"
    print(f"mirror       {info['target']}")
    print(f"origin       {info['origin']}")
    print(f"serial       {info['serial']}  (origin {info['origin_serial']}, lag {lag})")
    print(f"projects     {info['projects']}")
    print(f"files        {info['files']}  ({info['bytes'] / 2**30:.2f} GiB)")
    print(f"to retry     {info['projects_to_retry']}")
    print(f"deletions    {info['pending_deletions']} pending (grace period)")
    print(f"last run     {info['last_run']}  result {info['last_result']}  last success {info['last_success']}")
    running = info["running"]
    if running is None:
        print("running      no sync in flight")
    else:
        print(f"running      {running['command']} pid {running['pid']} on {running['host']} since {running['started']}"
              f" (record updated {running['updated']})")
        print(f"             {running['summary']}")
    return 0
