"""Write docs/report-example.png: the report of a sample mirror, as Chromium renders it.

    PYTHONPATH=scripts:tests python tests/report/make_example.py docs/report-example.png

The mirror is the tests' sample (report/sample.py: four real runs from the fake origin, one failing).  The
cost data is real `cloudpypi costs --json` output against a moto server holding a 500 USD budget and nine
days of preloaded Cost Explorer spend.  Needs chromium and moto_server.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from costs.conftest import create_budget, daily_by_service, preload_cost_and_usage
from report.sample import build_sample, sample_corpus
from support.cli import run_cli
from support.fakeorigin import running_origin
from support.headless import browser, find_chromium
from support.motoserver import moto_server


def main(out: Path) -> int:
    executable, reason = find_chromium()
    if executable is None:
        print(reason, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp, running_origin(sample_corpus()) as origin, moto_server() as aws:
        sample = build_sample(Path(tmp), origin)
        preload_cost_and_usage(aws, daily_by_service(
            {f"2026-11-{d:02d}": {"Amazon Simple Storage Service": "0.40", "Amazon EC2": "0.55",
                                  "Amazon CloudFront": "0.12"} for d in range(1, 10)}))
        create_budget(aws, "500")
        os.environ.update(aws.env())
        costs = run_cli("costs", "--today", "2026-11-10", "--target", str(sample.mirror), "--report-dir",
                        str(sample.reports), "--budget", "cloudpypi-monthly", "--json")
        if costs.returncode not in (0, 3):
            print(costs.stderr, file=sys.stderr)
            return 1
        (Path(tmp) / "costs.json").write_text(costs.stdout)
        page = Path(tmp) / "report.html"
        proc = run_cli("report", "--target", str(sample.mirror), "--reports", str(sample.reports), "--origin",
                       origin.url, "--costs", str(Path(tmp) / "costs.json"), "--html", str(page))
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        with browser(executable) as chromium:
            load = chromium.load(page.as_uri())
            if load.errors:
                print(f"console errors: {load.errors}", file=sys.stderr)
                return 1
            chromium.screenshot(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report-example.png")))
