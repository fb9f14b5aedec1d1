"""Resolving the graph per environment, in process, against the fake origin (no mirror written)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from closure.graph import build_corpus, closure_table
from cloudpypi.closure import Computation, compute, parse_closure
from cloudpypi.origin import OriginClient
from support.fakeorigin import Corpus, OriginServer, running_origin


@pytest.fixture()
def client(origin: OriginServer) -> Iterator[OriginClient]:
    client = OriginClient(origin.url, allowed_hosts=frozenset({"127.0.0.1"}), retries=1)
    yield client
    client.close()


def run(client: OriginClient, **overrides: object) -> Computation:
    return compute(parse_closure(closure_table(**overrides)), client, workers=4)


def pins(computation: Computation) -> dict[str, dict[str, list[str]]]:
    return {env.key: env.pins for env in computation.record.environments}


def test_each_environment_gets_the_newest_release_its_constraints_allow(client: OriginClient) -> None:
    got = pins(run(client))
    assert len(got) == 6, f"expected 3 Pythons x 2 platforms, got {sorted(got)}"
    for key, env_pins in got.items():
        assert env_pins["app"] == ["2.0"], f"{key}: expected app 2.0 (newest), got {env_pins.get('app')}"
        # liba: 2.0 is outside <2, 1.9rc1 is a prerelease, 1.6 is yanked: 1.5
        assert env_pins["liba"] == ["1.5"], f"{key}: expected liba 1.5, got {env_pins.get('liba')}"
        assert env_pins["speedup"] == ["1.1"], f"{key}: the [fast] extra should bring speedup 1.1"
        assert {"cyc-a", "cyc-b"} <= set(env_pins), f"{key}: the cycle cyc-a <-> cyc-b should resolve"
        assert "slowdep" not in env_pins, f"{key}: libb's [slow] extra was not requested"
        assert "winonly" not in env_pins, f"{key}: sys_platform == 'win32' is false on Linux"
        assert "unrelated" not in env_pins
        python = key.split("/")[0]
        assert ("oldpy-compat" in env_pins) == (python == "3.11"), f"{key}: python_version < '3.12' marker"
        assert env_pins["modern"] == (["1.0"] if python == "3.11" else ["2.0"]), (
            f"{key}: modern 2.0 requires Python >= 3.12, got {env_pins['modern']}")


def test_only_the_best_wheel_per_environment_is_selected(client: OriginClient) -> None:
    files = set(run(client).record.files["liba"])
    expected = {
        "liba-1.5-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "liba-1.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "liba-1.5-cp313-cp313-manylinux_2_28_x86_64.whl",  # beats the 2_17 one for 3.13 x86_64
        "liba-1.5-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "liba-1.5-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "liba-1.5-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",  # beats abi3
    }
    assert files == expected, f"expected one wheel per environment, got extra {files - expected}, " \
                              f"missing {expected - files}"


def test_missing_dependency_is_reported_by_name_with_reason_and_the_rest_resolves(client: OriginClient) -> None:
    computation = run(client)
    failures = dict(computation.record.failures)
    assert "ghost>=1" in failures, f"expected ghost>=1 reported, got {failures}"
    assert "required by broken 1.0" in failures["ghost>=1"] and "not found on the origin" in failures["ghost>=1"]
    assert "all 6 environments" in failures["ghost>=1"], f"expected the environments named: {failures['ghost>=1']}"
    assert "broken" in computation.record.files, "the parent of a missing dependency is still mirrored"


def test_top_level_requirement_with_no_fitting_file_fails_per_environment(client: OriginClient) -> None:
    computation = run(client, requirements=["app", "winonly"])
    failures = dict(computation.record.failures)
    assert "winonly" in failures, f"expected winonly reported, got {failures}"
    assert "no release has a wheel for" in failures["winonly"], failures["winonly"]
    assert "app" in computation.record.files and "winonly" not in computation.record.files


def test_resolver_backtracks_to_an_older_release_when_the_newest_conflicts(client: OriginClient) -> None:
    computation = run(client, requirements=["app", "liba>=2"])
    assert computation.record.failures == [], f"expected no failure, got {computation.record.failures}"
    for env in computation.record.environments:
        assert env.pins["app"] == ["1.0"] and env.pins["liba"] == ["2.0"], (
            f"{env.key}: app 2.0 needs liba<2, so app 1.0 with liba 2.0, got {env.pins}")


def test_conflicting_requirements_are_reported_and_each_closure_still_mirrors(client: OriginClient) -> None:
    computation = run(client, requirements=["app==2.0", "liba>=2"])
    reasons = " ".join(r for _s, r in computation.record.failures)
    assert "conflict" in reasons and "liba<2,>=1 (required by app 2.0)" in reasons, (
        f"expected the conflict and its cause reported, got {computation.record.failures}")
    versions = {f.split("-")[1] for f in computation.record.files["liba"]}
    assert versions == {"1.5", "2.0"}, f"expected app's liba 1.5 and the top-level liba 2.0, got {versions}"


def test_matching_mode_mirrors_every_release_the_specifier_allows(client: OriginClient) -> None:
    computation = run(client, requirements=["liba>=1,<2"], releases="matching")
    versions = {f.split("-")[1] for f in computation.record.files["liba"]}
    assert versions == {"1.0", "1.5"}, f"expected 1.0 and 1.5 (not yanked 1.6, rc, or 2.0), got {versions}"


def test_sdists_true_adds_the_sdists_of_the_chosen_releases(client: OriginClient) -> None:
    files = run(client, sdists=True).record.files
    assert "app-2.0.tar.gz" in files["app"] and "liba-1.5.tar.gz" in files["liba"], f"got {files['app']}"
    assert "app-1.0.tar.gz" not in files["app"], "only the chosen release's sdist"


def test_pages_and_metadata_are_fetched_once_per_run_for_all_environments(client: OriginClient,
                                                                          origin: OriginServer) -> None:
    computation = run(client)
    pages = computation.fetched["pages"]
    assert pages == len(computation.record.touched), f"expected one fetch per project, got {computation.fetched}"
    assert client.requests["project"] == pages, f"origin saw {client.requests['project']} page requests"
    assert client.requests["metadata"] == computation.fetched["metadata_files"]
    assert len(computation.record.environments) == 6


def test_metadata_is_read_from_the_wheel_when_the_origin_has_no_pep658_file() -> None:
    corpus: Corpus = build_corpus()
    for filename in ("app-2.0-py3-none-any.whl", "libb-1.0-py3-none-any.whl"):
        project = filename.split("-")[0]
        corpus.patch_file_entry(project, filename, {"core-metadata": False, "data-dist-info-metadata": False})
    with running_origin(corpus) as server:
        client = OriginClient(server.url, allowed_hosts=frozenset({"127.0.0.1"}), retries=1)
        try:
            computation = compute(parse_closure(closure_table(pythons=["3.12"])), client)
        finally:
            client.close()
    assert computation.fetched["wheels_for_metadata"] == 2, f"expected 2 wheels read, got {computation.fetched}"
    env_pins = computation.record.environments[0].pins
    assert env_pins.get("liba") == ["1.5"] and env_pins.get("speedup") == ["1.1"], (
        f"app's and libb's dependencies should come from the wheels' METADATA, got {env_pins}")


def test_windows_target_takes_the_win32_marker_and_falls_back_to_a_release_with_a_fitting_wheel(
        client: OriginClient) -> None:
    computation = run(client, requirements=["app"], pythons=["3.12"], platforms=["win_amd64"])
    env_pins = computation.record.environments[0].pins
    assert env_pins.get("winonly") == ["1.0"], f"sys_platform == 'win32' holds on win_amd64: {env_pins}"
    assert "oldpy-compat" not in env_pins
    # liba 1.5 has a Windows wheel for cp311 only; 1.6 is yanked and 1.9rc1 a prerelease: 1.0 (pure) it is
    assert env_pins.get("liba") == ["1.0"], f"expected liba 1.0, got {env_pins.get('liba')}"
    assert computation.record.files["winonly"] == ["winonly-1.0-cp312-cp312-win_amd64.whl"]
