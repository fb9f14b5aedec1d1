"""The routing table runs through the real CloudFront function (node) AND rules.py: they cannot drift."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from cloudpypi.edge import rules

from .conftest import CASES_JSON, FUNCTION_JS, HARNESS_JS

CASES: list[dict[str, Any]] = json.loads(CASES_JSON.read_text())["cases"]
PAGES = {None, "index.v1_json", "index.v1_html", "index.html"}


def python_result(case: dict[str, Any]) -> dict[str, Any]:
    accept = case.get("headers", {}).get("accept")
    if isinstance(accept, list):
        accept = ",".join(accept)  # several Accept headers mean one comma-joined list (RFC 9110)
    decision = rules.decide(case.get("method", "GET"), case["uri"], case.get("querystring", ""), accept)
    if isinstance(decision, rules.Rewrite):
        return {"uri": decision.uri, "querystring": decision.query}
    result: dict[str, Any] = {"status": decision.status}
    if decision.location is not None:
        result["location"] = decision.location
    return result


def node_results(node: str, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    completed = subprocess.run([node, str(HARNESS_JS), str(FUNCTION_JS), "--stdin"], input=json.dumps(cases),
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, f"harness failed: {completed.stderr}"
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def function_results(node: str) -> dict[str, dict[str, Any]]:
    return {case["name"]: got for case, got in zip(CASES, node_results(node, CASES), strict=True)}


def test_the_table_is_big_and_names_are_unique() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) >= 40, f"expected at least 40 cases, got {len(names)}"
    assert len(set(names)) == len(names), "expected unique case names"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cloudfront_function_matches_the_table(case: dict[str, Any],
                                               function_results: dict[str, Any]) -> None:
    got = function_results[case["name"]]
    assert got == case["expect"], f"{case['uri']}?{case['querystring']}: expected {case['expect']}, got {got}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_python_rules_match_the_table(case: dict[str, Any]) -> None:
    got = python_result(case)
    assert got == case["expect"], f"{case['uri']}?{case['querystring']}: expected {case['expect']}, got {got}"


def test_harness_checks_the_table_standalone(node: str) -> None:
    completed = subprocess.run([node, str(HARNESS_JS), str(FUNCTION_JS), str(CASES_JSON)],
                               capture_output=True, text=True, timeout=60, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"expected every case to pass, got:\n{output}"
    assert f"{len(CASES)}/{len(CASES)} cases pass" in completed.stdout


def test_function_fits_cloudfront_js_limits() -> None:
    source = FUNCTION_JS.read_text()
    size = len(source.encode())
    assert size < 10 * 1024, f"expected the function under 10 KB (CloudFront's limit), got {size} bytes"
    assert re.search(r"\bfunction handler\(event\)", source), "expected a top-level function handler(event)"
    for forbidden in ("require(", "import ", "fetch(", "XMLHttpRequest", "setTimeout", "process."):
        assert forbidden not in source, f"cloudfront-js-2.0 offers no {forbidden!r}"


def test_harness_reports_a_wrong_expectation(node: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = {"cases": [{"name": "deliberately wrong", "uri": "/", "expect": {"status": 200}}]}
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(table))
    completed = subprocess.run([node, str(HARNESS_JS), str(FUNCTION_JS), str(path)],
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 1, f"expected exit 1 on a failing case, got {completed.returncode}"
    assert "FAIL deliberately wrong" in completed.stdout


# -- property tests -----------------------------------------------------------------------------

MEDIA = st.sampled_from([
    "application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.v1+html", "text/html",
    "application/vnd.pypi.simple.latest+json", "*/*", "application/*", "text/*", "image/png",
    "application/json", "TEXT/HTML", "garbage", "", "a/b/c",
])
Q = st.one_of(st.just(""), st.sampled_from([";q=0", ";q=1", ";q=0.5", ";q=0.001", ";q=1.0", ";q=2", ";q=x",
                                            "; q = 0.3", ";level=1;q=0.2", ";Q=.5", ";q="]))
ACCEPTS = st.one_of(
    st.lists(st.tuples(MEDIA, Q).map("".join), max_size=6).map(", ".join),
    st.text(max_size=60),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(ACCEPTS)
def test_accept_parser_never_crashes_and_answers_a_known_page_or_406(accept: str) -> None:
    page = rules.negotiate(accept)
    assert page in PAGES, f"expected one of {PAGES}, got {page!r}"


@settings(max_examples=300)
@given(st.lists(st.tuples(MEDIA, Q).map("".join), min_size=1, max_size=5).map(",".join))
def test_negotiation_never_picks_a_refused_type(accept: str) -> None:
    page = rules.negotiate(accept)
    if page is None or accept.strip(" \t") == "":  # an empty Accept states no preference: text/html
        return
    offer = {p: t for t, p in rules.OFFERS}[page]
    major = offer.split("/")[0]
    ranges = rules.parse_accept(accept)
    for candidates in ([offer], [f"{major}/*"], ["*/*"]):  # the most specific range present decides
        matching = [q for t, q in ranges if t in candidates]
        if matching:
            assert matching[0] > 0, f"{accept!r}: chose {page} although its deciding range has q=0"
            return
    raise AssertionError(f"{accept!r}: chose {page} although no range matches it")


NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True)


@given(st.text(max_size=40))
def test_normalization_matches_packaging_for_any_text(name: str) -> None:
    assert rules.normalize_name(name) == canonicalize_name(name), f"{name!r}: expected packaging's answer"


@given(NAMES)
def test_normalization_is_idempotent(name: str) -> None:
    once = rules.normalize_name(name)
    assert rules.normalize_name(once) == once, f"{name!r} -> {once!r} is not stable"
    assert rules.is_valid_name(once), f"{name!r} normalizes to an invalid name {once!r}"


@given(NAMES)
def test_any_valid_name_either_serves_its_normal_form_or_redirects_to_it(name: str) -> None:
    decision = rules.decide("GET", f"/simple/{name}/", "", None)
    normal = canonicalize_name(name)
    if name == normal:
        assert decision == rules.Rewrite(f"/simple/{normal}/index.html", ""), f"{name!r}: got {decision}"
    else:
        assert decision == rules.Reply(301, {"location": f"/simple/{normal}/"}), f"{name!r}: got {decision}"
        target = rules.decide("GET", f"/simple/{normal}/", "", None)
        assert isinstance(target, rules.Rewrite), f"redirect target {normal!r} must be served, got {target}"


REQUEST_PATHS = st.one_of(
    st.builds(lambda n, s: f"/simple/{n}{s}", NAMES, st.sampled_from(["/", "", "/x", "//"])),
    st.builds(lambda p: f"/packages/{p}", st.text(alphabet="abc./%2e5cE0-_+", max_size=20)),
    st.text(alphabet="/.%2eEfsimplepackages\\", max_size=30).map(lambda p: "/" + p),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(REQUEST_PATHS, ACCEPTS, st.sampled_from(["", "format=text/html", "a=1&format=x/y",
                                                                  "format=%zz", "b=2&b=3"])),
                min_size=20, max_size=20))
def test_function_and_python_agree_on_random_requests(node: str,
                                                      requests: list[tuple[str, str, str]]) -> None:
    cases = [{"method": "GET", "uri": uri, "querystring": query, "headers": {"accept": accept}}
             for uri, accept, query in requests]
    for case, got in zip(cases, node_results(node, cases), strict=True):
        expected = python_result(case)
        assert got == expected, f"{case}: python says {expected}, the function says {got}"


def test_no_rewrite_ever_reaches_state_or_escapes() -> None:
    for uri in ["/.cloudpypi/state.sqlite", "/packages/../.cloudpypi/lock", "/packages/%2e%2e/%2e%2e/x",
                "/simple/..%2f.cloudpypi/", "/packages/a/%2e%2e%2f%2e%2e%2f.cloudpypi/state.sqlite"]:
        decision = rules.decide("GET", uri, "", None)
        assert decision == rules.NOT_FOUND, f"{uri}: expected 404, got {decision}"


@settings(max_examples=500)
@given(st.sampled_from(["GET", "HEAD", "POST"]), st.text(max_size=50).map(lambda p: "/" + p),
       st.text(max_size=30), st.one_of(st.none(), st.text(max_size=40)))
def test_decide_never_crashes_and_never_serves_outside_simple_or_packages(
        method: str, uri: str, query: str, accept: str | None) -> None:
    decision = rules.decide(method, uri, query, accept)
    if isinstance(decision, rules.Reply):
        assert decision.status in (301, 404, 405, 406), f"{uri!r}: unexpected status {decision.status}"
        if decision.status == 301:
            assert decision.location is not None and decision.location.startswith(("/simple/", "/pypi/"))
        return
    key = decision.key
    assert key is not None and key.startswith(("simple/", "packages/", "pypi/")), f"{uri!r} -> {key!r}"
    if key.startswith("pypi/"):
        assert key.count("/") == 2 and key.endswith("/json"), f"{uri!r} -> {key!r}: only JSON API documents"
    assert ".." not in key.split("/") and "" not in key.split("/"), f"{uri!r} -> unsafe key {key!r}"
