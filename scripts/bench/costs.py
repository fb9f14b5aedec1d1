"""Monthly cost forecasts from the project's own cost model (cloudpypi.costs), for the report."""

from __future__ import annotations

from dataclasses import dataclass

TB = 10**12
GB = 10**9

# A full PyPI mirror, as the issue sizes it.
PYPI_BYTES = 24 * TB
PYPI_FILES = 10_000_000
PYPI_PROJECTS = 700_000


@dataclass(frozen=True)
class FilterCase:
    label: str
    bytes_share: float  # assumed share of PyPI's bytes that passes the filters
    files_share: float
    projects_share: float


# Shares are stated assumptions (not measurements of PyPI): they show how the bill scales with filters.
PYPI_FILTER_CASES = (
    FilterCase("no filters (everything)", 1.0, 1.0, 1.0),
    FilterCase("exclude Windows and macOS wheels (assumed 55% of bytes, 60% of files)", 0.55, 0.60, 1.0),
    FilterCase("latest 3 releases, no prereleases (assumed 15% of bytes, 12% of files)", 0.15, 0.12, 1.0),
    FilterCase("allowlist of 5,000 projects, latest 3 releases (assumed 2% of bytes, 0.5% of files)",
               0.02, 0.005, 5_000 / PYPI_PROJECTS),
)


@dataclass(frozen=True)
class Forecast:
    label: str
    total_bytes: int
    files: int
    projects: int
    egress_bytes: int
    monthly_usd: float
    one_time_usd: float
    top_lines: str


def forecast(label: str, total_bytes: int, files: int, projects: int, egress_bytes: int) -> Forecast:
    from cloudpypi.costs.model import forecast_mirror_cost
    from cloudpypi.costs.prices import load_prices

    estimate = forecast_mirror_cost(total_bytes, files, projects, egress_bytes, prices=load_prices())
    by_service = sorted(estimate.by_service().items(), key=lambda item: -item[1])
    top = ", ".join(f"{service} ${float(usd):,.2f}" for service, usd in by_service[:3])
    return Forecast(label, total_bytes, files, projects, egress_bytes, float(estimate.monthly_total),
                    float(estimate.one_time_total), top)


def all_forecasts(corpus_bytes: int, corpus_files: int, corpus_projects: int) -> tuple[list[Forecast], str]:
    """The bench corpus and the PyPI-sized cases; or ([], why) when the cost model is missing."""
    try:
        import cloudpypi.costs.model
        import cloudpypi.costs.prices  # noqa: F401
    except ImportError as exc:
        return [], f"the cost model (cloudpypi.costs) is not importable: {exc}"
    rows = [forecast("bench corpus (100 GB/month egress)", corpus_bytes, corpus_files, corpus_projects, 100 * GB)]
    for case in PYPI_FILTER_CASES:
        rows.append(forecast(f"PyPI-sized, {case.label}, 1 TB/month egress",
                             int(PYPI_BYTES * case.bytes_share), int(PYPI_FILES * case.files_share),
                             max(1, int(PYPI_PROJECTS * case.projects_share)), TB))
    return rows, ""
