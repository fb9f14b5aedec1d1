"""`cloudpypi report`: a picture of the mirror, as one self-contained HTML page."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudpypi.commands import add_target_options, config_from_args
from cloudpypi.errors import ConfigError
from cloudpypi.report import DEFAULT_REPORT_DIR


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="an HTML page with the mirror's size, runs, lag, spend and largest projects",
        description="Write one self-contained HTML page (inline SVG charts, no script, nothing fetched when "
                    "it is opened): the mirror's size and file count over time and each run's duration, bytes "
                    "and failures (from the sync reports), its lag behind the origin, spend against the budget "
                    "(from `cloudpypi costs --json` output, when given) and its largest projects (from the "
                    "state).")
    add_target_options(parser)
    parser.add_argument("--html", required=True, metavar="FILE",
                        help="where to write the page; '-' writes it to standard output")
    parser.add_argument("--reports", metavar="DIR", default=DEFAULT_REPORT_DIR,
                        help=f"the sync reports to draw the history from (default {DEFAULT_REPORT_DIR}, where "
                             "the sync service writes them)")
    parser.add_argument("--days", type=int, default=90, metavar="N",
                        help="how many days of history to show (default 90)")
    parser.add_argument("--costs", metavar="FILE",
                        help="`cloudpypi costs --json` output, for spend against the budget ('-': standard input)")
    parser.add_argument("--top", type=int, default=15, metavar="N",
                        help="how many of the largest projects to show (default 15)")
    parser.add_argument("--offline", action="store_true", help="do not ask the origin for its serial")
    parser.set_defaults(run=run)


def _utc(epoch: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(epoch), UTC) if epoch else None


def write_atomically(path: Path, text: str) -> None:
    """The whole page or nothing: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from cloudpypi.htmlreport.model import Mirror, Project, ReportModel
    from cloudpypi.htmlreport.page import render_page
    from cloudpypi.htmlreport.sources import read_costs, read_runs
    from cloudpypi.state import State
    from cloudpypi.storage import open_target

    if args.days < 1:
        raise ConfigError("--days: at least 1")
    if args.top < 0:
        raise ConfigError("--top: 0 or more")
    spend = read_costs(args.costs) if args.costs else None  # a bad file fails before any other work
    config = config_from_args(args)
    now = datetime.now(UTC)
    storage = open_target(config)
    try:
        state = State.open(storage, config.state_dir or None, read_only=True)
        try:
            counts = state.counts()
            mirror = Mirror(
                target=storage.url, origin=args.origin or state.get("origin") or config.origin,
                serial=state.serial, projects=counts["projects"], files=counts["files"], bytes=counts["bytes"],
                projects_to_retry=counts["projects_to_retry"], pending_deletions=counts["pending_deletions"],
                last_run=_utc(state.get("last_run")), last_success=_utc(state.get("last_success")),
                last_result=state.get("last_result"))
            largest = tuple(Project(*row) for row in state.largest_projects(args.top)) if args.top else ()
        finally:
            state.close()
    finally:
        storage.close()
    runs, notes = read_runs(Path(args.reports), now - timedelta(days=args.days))
    origin_serial, origin_note = None, "not asked (--offline)"
    if not args.offline:
        from cloudpypi.commands.status import _origin_serial

        origin_serial, origin_note = _origin_serial(config.with_overrides(origin=mirror.origin))
    model = ReportModel(generated=now, mirror=mirror, runs=tuple(runs), origin_serial=origin_serial,
                        origin_note=origin_note, largest=largest, spend=spend, notes=tuple(notes))
    page = render_page(model)
    if args.html == "-":  # the page says it is UTF-8, whatever the locale of the caller
        sys.stdout.flush()
        sys.stdout.buffer.write(page.encode("utf-8"))
        sys.stdout.buffer.flush()
    else:
        write_atomically(Path(args.html), page)
        print(f"report written to {args.html} ({len(runs)} runs, {len(page) // 1024} KiB)", file=sys.stderr)
    return 0
