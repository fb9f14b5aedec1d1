"""cloudpypi.ops.hostdefaults: the dev server's service settings come from the roles' defaults files, with
the inventory's values winning, and nothing else (no copy in Python)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from cloudpypi.ops import hostdefaults  # noqa: E402
from cloudpypi.ops.devserver import Devserver  # noqa: E402


def roles(tmp_path: Path, sync_service: str, mirror_iam: str = "mirror_iam_budget_name: b\n") -> Path:
    """A roles/ directory with the two defaults files the settings come from."""
    for role, text in (("sync_service", sync_service), ("mirror_iam", mirror_iam)):
        path = tmp_path / role / "defaults" / "main.yml"
        path.parent.mkdir(parents=True)
        path.write_text("---\n" + text)
    hostdefaults.role_defaults.cache_clear()
    return tmp_path


SYNC = """\
sync_service_user: svc
sync_service_prefix: /opt/x
sync_service_runner: "{{ sync_service_prefix }}/bin/run"
sync_service_config_dir: /etc/x
sync_service_state_dir: /var/lib/x
sync_service_report_dir: "{{ sync_service_state_dir }}/reports"
"""


def test_the_real_roles_defaults_give_the_settings_the_host_is_deployed_with() -> None:
    hostdefaults.role_defaults.cache_clear()
    assert hostdefaults.host_settings() == {
        "service_user": "cloudpypi", "runner": "/opt/cloudpypi/bin/cloudpypi-service", "config_dir": "/etc/cloudpypi",
        "report_dir": "/var/lib/cloudpypi/reports", "budget_name": "cloudpypi-monthly"}


def test_a_devserver_given_no_settings_takes_them_from_the_defaults_files() -> None:
    server = Devserver(name="d", host="d")
    settings = hostdefaults.default_settings()
    assert (server.service_user, server.runner, server.config_dir, server.report_dir, server.budget_name) == (
        settings["service_user"], settings["runner"], settings["config_dir"], settings["report_dir"],
        settings["budget_name"])


def test_a_changed_defaults_file_changes_the_settings(tmp_path: Path) -> None:
    base = roles(tmp_path, SYNC)
    assert hostdefaults.host_settings(roles_dir=base) == {
        "service_user": "svc", "runner": "/opt/x/bin/run", "config_dir": "/etc/x", "report_dir": "/var/lib/x/reports",
        "budget_name": "b"}


def test_the_inventorys_values_win_and_defaults_that_refer_to_them_follow(tmp_path: Path) -> None:
    base = roles(tmp_path, SYNC, "mirror_iam_budget_name: \"{{ cloudpypi_budget_name | default('monthly') }}\"\n")
    settings = hostdefaults.host_settings({"sync_service_prefix": "/srv/cp", "sync_service_user": None,
                                           "cloudpypi_budget_name": "team-budget"}, roles_dir=base)
    assert settings["runner"] == "/srv/cp/bin/run", "the runner moves with the inventory's prefix"
    assert settings["service_user"] == "svc", "a variable the inventory does not set (None) keeps its default"
    assert settings["budget_name"] == "team-budget"
    assert hostdefaults.host_settings(roles_dir=base)["budget_name"] == "monthly", "the inline default otherwise"


def test_the_variables_to_ask_the_inventory_for_include_the_ones_defaults_refer_to(tmp_path: Path) -> None:
    base = roles(tmp_path, SYNC, "mirror_iam_budget_name: \"{{ cloudpypi_budget_name | default('m') }}\"\n")
    needed = hostdefaults.variables_needed(base)
    assert {"sync_service_runner", "sync_service_prefix", "sync_service_state_dir", "cloudpypi_budget_name"} <= set(
        needed), needed


@pytest.mark.parametrize(("runner", "expected"), [
    ("\"{{ sync_service_prefix ~ '/bin' }}\"", "uses a template fab does not evaluate"),
    ("\"{% if x %}a{% endif %}\"", "uses a template fab does not evaluate"),
    ("\"{{ sync_service_runner }}/x\"", "refers to itself"),
    ("\"{{ nowhere_set }}/x\"", "needs nowhere_set, which neither the inventory nor the roles' defaults"),
])
def test_a_default_fab_cannot_work_out_is_refused_naming_it(tmp_path: Path, runner: str, expected: str) -> None:
    base = roles(tmp_path, SYNC.replace('"{{ sync_service_prefix }}/bin/run"', runner))
    with pytest.raises(hostdefaults.DefaultsError, match=expected) as caught:
        hostdefaults.host_settings(roles_dir=base)
    if "template" in expected:
        assert "sync_service/defaults/main.yml: sync_service_runner" in str(caught.value), caught.value


def test_a_missing_defaults_file_is_one_sentence(tmp_path: Path) -> None:
    hostdefaults.role_defaults.cache_clear()
    with pytest.raises(hostdefaults.DefaultsError, match=r"Cannot read .*sync_service/defaults/main.yml"):
        hostdefaults.host_settings(roles_dir=tmp_path)
