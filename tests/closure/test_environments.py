"""Target environments: platform expansion, tag order (as pip ranks wheels), markers."""

from __future__ import annotations

import pytest

from cloudpypi.closurespec import parse_closure
from cloudpypi.errors import ConfigError
from cloudpypi.platforms import Environment, platform_tags


def test_manylinux_2_28_accepts_older_glibc_tags_and_legacy_aliases_newest_first() -> None:
    tags = platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64", f"expected the named tag first, got {tags[:3]}"
    for older in ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"):
        assert older in tags, f"expected {older} accepted by a glibc 2.28 host, got {tags}"
    assert tags.index("manylinux_2_17_x86_64") + 1 == tags.index("manylinux2014_x86_64"), (
        f"expected manylinux2014 right after its PEP 600 twin manylinux_2_17, got {tags}")
    assert "manylinux_2_29_x86_64" not in tags, "a newer glibc tag must not fit"


def test_aarch64_manylinux_stops_at_2_17_and_legacy_2014_means_2_17() -> None:
    tags = platform_tags("manylinux_2_28_aarch64")
    assert tags[-1] == "manylinux2014_aarch64", f"expected manylinux2014_aarch64 last, got {tags[-3:]}"
    assert not any("2_16" in t or "2010" in t for t in tags), f"aarch64 has no wheels below 2_17, got {tags}"
    assert platform_tags("manylinux2014_x86_64")[0] == "manylinux_2_17_x86_64"


def test_wheel_rank_prefers_the_specific_wheel_pip_would_install() -> None:
    env = Environment("3.13", "manylinux_2_28_x86_64")
    best = env.wheel_rank("x-1.0-cp313-cp313-manylinux_2_28_x86_64.whl")
    older = env.wheel_rank("x-1.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    abi3 = env.wheel_rank("x-1.0-cp311-abi3-manylinux_2_28_x86_64.whl")
    pure = env.wheel_rank("x-1.0-py3-none-any.whl")
    assert best is not None and older is not None and abi3 is not None and pure is not None
    assert best < older < abi3 < pure, f"expected cp313 2_28 < cp313 2_17 < abi3 < pure, got {best, older, abi3, pure}"
    assert env.wheel_rank("x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl") is None, "another CPython's ABI fits"
    assert env.wheel_rank("x-1.0-cp313-cp313-manylinux_2_28_aarch64.whl") is None, "another architecture fits"
    assert env.wheel_rank("x-1.0-cp313-cp313-win_amd64.whl") is None, "a Windows wheel fits Linux"


def test_markers_describe_the_target_not_this_machine() -> None:
    env = Environment("3.11", "manylinux_2_28_aarch64")
    assert env.markers["python_version"] == "3.11" and env.markers["python_full_version"] == "3.11.0"
    assert env.markers["platform_machine"] == "aarch64" and env.markers["sys_platform"] == "linux"
    windows = Environment("3.12.4", "win_amd64")
    assert windows.markers["sys_platform"] == "win32" and windows.markers["python_full_version"] == "3.12.4"
    assert windows.python_fits(">=3.12.3") and not Environment("3.12", "win_amd64").python_fits(">=3.12.3")


@pytest.mark.parametrize(("table", "message"), [
    ({"requirements": ["a"], "pythons": ["3.12"], "platforms": ["manylinux_2_28_x86_64"], "bogus": 1},
     "unknown key"),
    ({"requirements": ["a"], "pythons": ["3.12"], "platforms": ["solaris"]}, "not a wheel platform tag"),
    ({"requirements": ["a"], "pythons": ["python3"], "platforms": ["win32"]}, "not a Python 3 version"),
    ({"requirements": ["a"], "pythons": [], "platforms": ["win32"]}, "pythons"),
    ({"requirements": [], "pythons": ["3.12"], "platforms": ["win32"]}, "no requirements"),
    ({"requirements": ["a @ https://example.com/a.whl"], "pythons": ["3.12"], "platforms": ["win32"]}, "URL"),
    ({"requirements": ["a>="], "pythons": ["3.12"], "platforms": ["win32"]}, "not a PEP 508 requirement"),
    ({"requirements": ["a"], "pythons": ["3.12"], "platforms": ["win32"], "releases": "all"}, "releases"),
    ({"requirements": ["a"], "pythons": ["3.12"], "platforms": ["win32"], "sdists": "yes"}, "sdists"),
])
def test_invalid_closure_config_is_a_config_error_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_closure(table)
    assert message in str(caught.value), f"expected {message!r} in the error, got {caught.value}"
    assert caught.value.exit_code == 2
