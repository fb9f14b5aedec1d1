"""The report in a real headless Chromium (Debian's package), driven over the DevTools protocol: it renders
with no console error, asks for nothing but the file itself, and its charts are in the DOM with their data
points.  The first test proves the harness sees errors and requests at all, so a pass means something."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from report.sample import Sample
from support.cli import run_cli
from support.headless import Browser, browser, find_chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable, reason = find_chromium()
    if executable is None:
        pytest.skip(reason)
    with browser(executable) as instance:
        yield instance


@pytest.fixture(scope="module")
def report_page(sample: Sample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    proc = run_cli("report", "--target", str(sample.mirror), "--reports", str(sample.reports),
                   "--origin", sample.origin.url, "--html", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_harness_sees_console_errors_and_network_requests(chromium: Browser, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("boom")</script></body></html>')
    load = chromium.load(bad.as_uri())
    assert "boom" in " ".join(load.errors), f"expected the console error, saw {load.console}"
    assert "http://127.0.0.1:9/pixel.png" in load.requests, f"expected the image request, saw {load.requests}"


def test_the_report_renders_with_no_console_error_and_no_request_but_itself(chromium: Browser,
                                                                            report_page: Path) -> None:
    load = chromium.load(report_page.as_uri())
    assert load.errors == [], f"console errors: {load.errors}"
    assert load.requests == [report_page.as_uri()], f"expected only the file itself, saw {load.requests}"


def test_the_charts_are_in_the_dom_with_their_data_points(chromium: Browser, report_page: Path) -> None:
    chromium.load(report_page.as_uri())
    counts = chromium.evaluate("""(() => {
        const n = (sel) => document.querySelectorAll(sel).length;
        const visible = [...document.querySelectorAll('svg.chart')].every(
            (svg) => svg.getBoundingClientRect().width > 300 && svg.getBoundingClientRect().height > 40);
        return {charts: n('svg.chart'), sizePoints: n('#size circle.point'), runBars: n('#runs rect.bar'),
                lagPoints: n('#lag circle.point'), projects: n('#largest rect.bar'), visible: visible,
                title: document.title};
    })()""")
    assert counts["charts"] == 8, counts  # 2 size, 3 runs, 1 lag, 1 spend (empty), 1 largest
    assert counts["sizePoints"] == 10 and counts["runBars"] == 12 and counts["lagPoints"] == 5, counts
    assert counts["projects"] == 5 and counts["visible"], counts
    assert counts["title"].startswith("CloudPyPI mirror report"), counts
