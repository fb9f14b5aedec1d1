"""`cloudpypi forecast`: the monthly cost of a mirror before it is built, against a budget.

Published totals for an unfiltered pypi.org mirror (no request at all), a dry-run plan against the fake origin
for a closure or a filtered mirror (cached, keyed by the config), an existing mirror's state, and S3
Intelligent-Tiering in the cost model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from closure.graph import build_corpus, closure_table
from cloudpypi.config import Config, Filters, parse_config
from cloudpypi.costs.forecast import Deployment, MirrorSize, forecast, render_lines
from cloudpypi.costs.model import forecast_mirror_cost, intelligent_tiering_storage, to_gb
from cloudpypi.costs.prices import load_prices
from cloudpypi.costs.sizing import PlanCache, cache_key, mirror_size, plan_filtered
from support.cli import run_cli
from support.fakeorigin import OriginServer, running_origin

ROOT = Path(__file__).resolve().parents[2]
PRICES = load_prices()


@pytest.fixture(scope="module")
def origin() -> Iterator[OriginServer]:
    with running_origin(build_corpus(), host="127.0.0.1") as server:
        yield server


def toml(origin: str, target: str, *, closure: dict[str, object] | None = None,
         filters: dict[str, object] | None = None) -> str:
    lines = ["[mirror]", f"origin = {json.dumps(origin)}", f"target = {json.dumps(target)}",
             'allowed_hosts = ["127.0.0.1"]', "workers = 4"]
    for name, table in (("filters", filters), ("closure", closure)):
        if table:
            lines += ["", f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ published totals


def test_an_unfiltered_pypi_mirror_is_priced_from_the_published_totals_without_a_request(monkeypatch) -> None:
    import cloudpypi.origin

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unfiltered pypi.org mirror must be forecast without asking the origin")

    monkeypatch.setattr(cloudpypi.origin.OriginClient, "__init__", no_network)
    size = mirror_size(Config(origin="https://pypi.org", target="s3://nowhere"), PRICES.pypi, use_state=False)
    assert size.source == "published totals"
    assert PRICES.pypi is not None and PRICES.pypi.as_of in size.detail, "the totals carry their date"
    assert size.bytes == 36_000_000_000_000 and size.projects == 736_000
    assert size.files_added_per_month == 10_700 * 30
    result = forecast(size, PRICES, Deployment(), Decimal(500))
    assert result.over_budget and result.monthly > 700, f"36 TB in S3 Standard alone is over $500: {result.monthly}"
    lines = render_lines(result)
    assert lines[0].startswith("forecast $") and "over the budget of $500.00" in lines[0], lines
    assert "  S3 storage: $771.14" in lines, "the largest cost line is named"


def test_a_pypi_mirror_with_filters_but_no_project_list_is_priced_at_the_totals_as_an_upper_bound() -> None:
    config = Config(origin="https://pypi.org/", filters=Filters(exclude_platforms=("win*",)))
    size = mirror_size(config, PRICES.pypi, use_state=False)
    assert size.source == "published totals" and "upper bound" in size.detail


def test_the_cli_exits_3_over_the_budget_and_0_within_it(tmp_path: Path) -> None:
    config = tmp_path / "full.toml"
    config.write_text('[mirror]\norigin = "https://pypi.org"\ntarget = "./nowhere"\n')
    over = run_cli("forecast", "--config", str(config), "--budget", "500", "--no-state")
    assert over.returncode == 3, over.stderr
    assert "is over the budget of $500.00 a month (USD)" in over.stdout
    within = run_cli("forecast", "--config", str(config), "--budget", "2000", "--no-state", "--json")
    assert within.returncode == 0, within.stderr
    data = json.loads(within.stdout)
    assert data["over_budget"] is False and data["budget_usd"] == "2000.00"
    assert Decimal(data["monthly_usd"]) > 500 and data["size"]["source"] == "published totals"
    bad = run_cli("forecast", "--config", str(config), "--budget", "lots")
    assert bad.returncode == 2 and "--budget: expected a number of USD" in bad.stderr


# ------------------------------------------------------------------------------------------ dry-run plans


def test_a_closure_is_forecast_from_a_dry_run_plan_that_is_cached_by_config(origin: OriginServer,
                                                                           tmp_path: Path) -> None:
    text = toml(origin.url, str(tmp_path / "mirror"), closure=closure_table())
    dry = run_cli("closure", "--dry-run", "--json", "--config", _write(tmp_path, text))
    expected = json.loads(dry.stdout)["totals"]
    origin.reset_counters()
    cache = tmp_path / "cache"
    first = run_cli("forecast", "--config", "-", "--budget", "500", "--cache-dir", str(cache), "--json",
                    input=text)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["size"]["source"] == "plan" and "dry-run plan of the closure" in data["size"]["detail"]
    assert (data["size"]["files"], data["size"]["bytes"], data["size"]["projects"]) == \
        (expected["files"], expected["bytes"], expected["projects"]), "the same plan as `closure --dry-run`"
    assert any("ghost" in note for note in data["size"]["notes"]), "unresolvable requirements are named"
    assert origin.counters.total("project") > 0 and origin.counters.total("file") == 0, \
        "a dry run reads pages and metadata, never a distribution file"
    assert len(list(cache.glob("*.json"))) == 1

    origin.reset_counters()
    again = run_cli("forecast", "--config", "-", "--budget", "500", "--cache-dir", str(cache), "--json",
                    input=text)
    cached = json.loads(again.stdout)
    assert origin.counters.total() == 0, "the second forecast of the same config reads the cache, not the origin"
    assert "cached" in cached["size"]["detail"] and cached["size"]["bytes"] == expected["bytes"]

    changed = text.replace('"3.11", ', "")
    run_cli("forecast", "--config", "-", "--cache-dir", str(cache), input=changed)
    assert origin.counters.total("project") > 0, "another closure is planned again"
    assert len(list(cache.glob("*.json"))) == 2

    origin.reset_counters()
    run_cli("forecast", "--config", "-", "--cache-dir", str(cache), "--refresh", input=text)
    assert origin.counters.total("project") > 0, "--refresh plans again"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "closure.toml"
    path.write_text(text)
    return str(path)


def test_closure_files_given_on_the_command_line_replace_the_configs_paths(origin: OriginServer,
                                                                           tmp_path: Path) -> None:
    requirements = tmp_path / "controller" / "requirements.txt"
    requirements.parent.mkdir()
    requirements.write_text("app\n")
    table = closure_table(requirements=[], requirements_files=["/etc/cloudpypi/closure/requirements.txt"])
    text = toml(origin.url, str(tmp_path / "mirror"), closure=table)
    run = run_cli("forecast", "--config", "-", "--closure-file", str(requirements), "--cache-dir",
                  str(tmp_path / "cache"), "--json", input=text)
    assert run.returncode == 0, run.stderr
    size = json.loads(run.stdout)["size"]
    assert size["projects"] > 3 and not any("ghost" in n for n in size["notes"]), \
        "only app's closure (broken is not in this file)"
    missing = run_cli("forecast", "--config", "-", "--cache-dir", str(tmp_path / "cache"), input=text)
    assert missing.returncode == 2 and "cannot read /etc/cloudpypi/closure/requirements.txt" in missing.stderr


def test_a_filtered_mirror_with_a_project_list_reads_only_those_pages(origin: OriginServer, tmp_path: Path) -> None:
    config = parse_config({"mirror": {"origin": origin.url, "target": str(tmp_path / "m"),
                                      "allowed_hosts": ["127.0.0.1"]},
                           "filters": {"allow": ["liba", "app", "not-there"], "exclude_platforms": ["win*"]}})
    origin.reset_counters()
    size = plan_filtered(config)
    assert origin.counters.total("root") == 0 and origin.counters.total("project") == 3
    assert size.projects == 2 and size.files > 0 and size.bytes > 0, size
    assert "not-there" in " ".join(size.notes)


def test_a_filtered_mirror_of_many_projects_is_sampled_and_scaled(origin: OriginServer, tmp_path: Path) -> None:
    config = parse_config({"mirror": {"origin": origin.url, "target": str(tmp_path / "m"),
                                      "allowed_hosts": ["127.0.0.1"]}, "filters": {"block": ["unrelated"]}})
    full = plan_filtered(config)
    origin.reset_counters()
    sampled = plan_filtered(config, max_pages=4, sample=3)
    listed = len(build_corpus().project_serials()) - 1  # every project but the blocked one
    assert full.source == "plan" and full.projects == listed, full
    assert sampled.source == "sampled plan" and f"3 of its {listed} projects sampled" in sampled.detail
    assert origin.counters.total("project") == 3
    assert sampled.projects == listed, "scaled up to the projects the filters keep"


def test_an_existing_mirror_of_the_same_config_is_forecast_from_its_state(origin: OriginServer,
                                                                         tmp_path: Path) -> None:
    target = tmp_path / "mirror"
    text = toml(origin.url, str(target), filters={"allow": ["liba", "speedup"]})
    config_path = tmp_path / "mirror.toml"
    config_path.write_text(text)
    sync = run_cli("sync", "--config", str(config_path))
    assert sync.returncode == 0, sync.stderr
    status = json.loads(run_cli("status", "--config", str(config_path), "--offline", "--json").stdout)
    origin.reset_counters()
    run = run_cli("forecast", "--config", str(config_path), "--cache-dir", str(tmp_path / "cache"), "--json")
    size = json.loads(run.stdout)["size"]
    assert size["source"] == "state", size
    assert (size["projects"], size["files"], size["bytes"]) == (status["projects"], status["files"], status["bytes"])
    assert origin.counters.total() == 0, "the state answers; the origin is not asked"
    other = toml(origin.url, str(target), filters={"allow": ["liba"]})
    planned = json.loads(run_cli("forecast", "--config", "-", "--cache-dir", str(tmp_path / "cache"), "--json",
                                 input=other).stdout)["size"]
    assert planned["source"] == "plan", "a state made with other filters does not describe this config"


def test_the_cache_key_follows_origin_filters_and_closure_and_stale_plans_are_ignored(tmp_path: Path) -> None:
    base = Config(origin="http://o.test")
    keys = {cache_key(base), cache_key(base.with_overrides(origin="http://p.test")),
            cache_key(Config(origin="http://o.test", filters=Filters(allow=frozenset({"a"})))),
            cache_key(Config(origin="http://o.test", closure=closure_table()))}
    assert len(keys) == 4
    assert cache_key(base.with_overrides(target="s3://elsewhere", workers=3)) == cache_key(base), \
        "the target and the tuning do not change the plan"
    cache = PlanCache(tmp_path, max_age=3600)
    size = MirrorSize(1, 2, 3, "plan", "a test plan")
    cache.store("k", size, now=1000.0)
    assert cache.load("k", now=1000.0 + 3599) is not None
    assert cache.load("k", now=1000.0 + 3601) is None, "an old plan is planned again"
    (tmp_path / "bad.json").write_text("{not json")
    assert cache.load("bad") is None


# ------------------------------------------------------------------------------------------ Intelligent-Tiering


def test_intelligent_tiering_is_standard_in_the_first_month_then_cheaper_for_the_cold_share() -> None:
    tb = 10**12
    standard = forecast_mirror_cost(tb, 1000, 10, 0, prices=PRICES)
    first = forecast_mirror_cost(tb, 1000, 10, 0, prices=PRICES, storage_class="INTELLIGENT_TIERING", month=1)
    steady = forecast_mirror_cost(tb, 1000, 10, 0, prices=PRICES, storage_class="INTELLIGENT_TIERING", month=4,
                                  frequent_share=0.2)
    storage = {e: next(line for line in e.monthly if line.item.startswith("storage"))
               for e in (standard, first, steady)}
    assert storage[first].usd == storage[standard].usd, "Frequent Access costs what S3 Standard costs"
    gb = to_gb(tb, PRICES)
    tiering = PRICES.s3_intelligent_tiering
    assert tiering is not None
    expected = gb * Decimal("0.2") * Decimal("0.023") + gb * Decimal("0.8") * tiering.archive_instant_per_gb_month
    assert abs(storage[steady].usd - expected) < Decimal("0.000001")
    month2, note = intelligent_tiering_storage(tb, PRICES, 0.2, 2)
    assert "Infrequent Access" in note and storage[steady].usd < month2 < storage[first].usd
    monitoring = next(line for line in steady.monthly if line.item == "Intelligent-Tiering monitoring")
    assert monitoring.usd == Decimal(1000) / 1000 * tiering.monitoring_per_1000_objects
    assert any("transitions" in line.item for line in steady.one_time)


def test_the_forecast_compares_the_dearest_month_with_the_budget() -> None:
    size = MirrorSize(100, 200_000, 8 * 10**12, "plan", "a test")
    result = forecast(size, PRICES, Deployment(storage_class="INTELLIGENT_TIERING"), Decimal(150))
    assert result.first_month.monthly_total > result.steady.monthly_total
    assert result.monthly == result.first_month.monthly_total
    assert result.over_budget, "the first month, all in Frequent Access, is over the budget"
    assert any("from month 4" in line for line in render_lines(result))
