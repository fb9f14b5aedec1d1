"""Access control at the edge: the function as deployed with tokens on (the rendered prologue + the
function file, as an ES module under node, with a stand-in for the `cloudfront` KeyValueStore module)
AND scripts/cloudpypi/edge/auth.py + rules.py, against one table (auth_cases.json)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudpypi.edge import auth

from .conftest import CASES_JSON, FUNCTION_JS, HARNESS_JS, ROOT
from .test_rules import python_result

AUTH_CASES_JSON = Path(__file__).with_name("auth_cases.json")
PROLOGUE_J2 = ROOT / "roles" / "mirror_cdn" / "templates" / "viewer-request-auth.js.j2"
AUTH_CASES: list[dict[str, Any]] = json.loads(AUTH_CASES_JSON.read_text())["cases"]
KVS_ID = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def render_prologue(tmp: Path, kvs_id: str = KVS_ID) -> Path:
    template = jinja2.Template(PROLOGUE_J2.read_text(), undefined=jinja2.StrictUndefined)
    path = tmp / "prologue.js"
    path.write_text(template.render(mirror_cdn_tokens_kvs_id=kvs_id, mirror_cdn_tokens_kvs_name="test-tokens"))
    return path


def node_command(node: str, prologue: Path, *rest: str, kvs_id: str = KVS_ID) -> list[str]:
    return [node, "--experimental-vm-modules", "--no-warnings", str(HARNESS_JS), str(FUNCTION_JS), *rest,
            "--prologue", str(prologue), "--kvs-id", kvs_id]


def node_results(node: str, prologue: Path, cases: list[dict[str, Any]], kvs_id: str = KVS_ID) -> list[dict[str, Any]]:
    completed = subprocess.run(node_command(node, prologue, "--stdin", kvs_id=kvs_id), input=json.dumps(cases),
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, f"harness failed: {completed.stderr}"
    return json.loads(completed.stdout)


def python_auth_result(case: dict[str, Any]) -> dict[str, Any]:
    header = case.get("headers", {}).get("authorization")
    if isinstance(header, list):
        header = header[0]  # the first of several, as CloudFront's headers.authorization.value
    store: dict[str, str] = case.get("store", {})
    reads = 0

    def lookup(name: str) -> str | None:
        nonlocal reads
        reads += 1
        return store.get(name)

    result = python_result(case) if auth.authorized(header, lookup) else {"status": 401}
    if "kvs_reads" in case:
        result["kvs_reads"] = reads
    return result


@pytest.fixture(scope="module")
def prologue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_prologue(tmp_path_factory.mktemp("prologue"))


@pytest.fixture(scope="module")
def function_results(node: str, prologue: Path) -> dict[str, dict[str, Any]]:
    got = node_results(node, prologue, AUTH_CASES)
    return {case["name"]: result for case, result in zip(AUTH_CASES, got, strict=True)}


def test_the_auth_table_covers_both_answers_and_names_are_unique() -> None:
    names = [case["name"] for case in AUTH_CASES]
    assert len(set(names)) == len(names), "expected unique case names"
    statuses = {case["expect"].get("status") for case in AUTH_CASES}
    assert {401, None} <= statuses, "expected refused and served cases"


@pytest.mark.parametrize("case", AUTH_CASES, ids=[c["name"] for c in AUTH_CASES])
def test_deployed_function_matches_the_auth_table(case: dict[str, Any], function_results: dict[str, Any]) -> None:
    got = function_results[case["name"]]
    assert got == case["expect"], f"{case['name']}: expected {case['expect']}, got {got}"


@pytest.mark.parametrize("case", AUTH_CASES, ids=[c["name"] for c in AUTH_CASES])
def test_python_twin_matches_the_auth_table(case: dict[str, Any]) -> None:
    got = python_auth_result(case)
    assert got == case["expect"], f"{case['name']}: expected {case['expect']}, got {got}"


def test_a_refusal_carries_a_basic_challenge_and_is_not_cached(node: str, prologue: Path) -> None:
    case = {"method": "GET", "uri": "/simple/", "querystring": "", "headers": {}, "store": {}}
    completed = subprocess.run(node_command(node, prologue, "--stdin", "--raw"), input=json.dumps([case]),
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)[0]
    assert answer["statusCode"] == 401 and answer["statusDescription"] == "Unauthorized", answer
    assert answer["headers"]["www-authenticate"]["value"] == auth.CHALLENGE
    assert answer["headers"]["cache-control"]["value"] == "no-store"


def test_with_credentials_every_routing_case_is_unchanged(node: str, prologue: Path) -> None:
    routing = json.loads(CASES_JSON.read_text())["cases"]
    token = "routing-token-0123456789"  # noqa: S105 (a test token)
    credentials = "Basic " + base64.b64encode(f"ci:{token}".encode()).decode()
    cases = [dict(c, headers=dict(c.get("headers", {}), authorization=credentials),
                  store={"ci": hashlib.sha256(token.encode()).hexdigest()}) for c in routing]
    for case, got in zip(cases, node_results(node, prologue, cases), strict=True):
        assert got == case["expect"], f"{case['name']}: expected {case['expect']} with credentials, got {got}"


def test_without_credentials_every_routing_case_is_refused(node: str, prologue: Path) -> None:
    routing = json.loads(CASES_JSON.read_text())["cases"]
    for case, got in zip(routing, node_results(node, prologue, routing), strict=True):
        assert got == {"status": 401}, f"{case['name']}: expected 401 without credentials, got {got}"


def test_the_function_reads_the_store_it_was_rendered_for(node: str, prologue: Path) -> None:
    completed = subprocess.run(node_command(node, prologue, "--stdin", kvs_id="another-store"), input="[]",
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2, f"expected the stand-in to refuse cf.kvs({KVS_ID!r}), got {completed}"
    assert "another-store" in completed.stderr, completed.stderr


def test_harness_checks_the_auth_table_standalone(node: str, prologue: Path) -> None:
    completed = subprocess.run(node_command(node, prologue, str(AUTH_CASES_JSON)),
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"{len(AUTH_CASES)}/{len(AUTH_CASES)} cases pass" in completed.stdout


def test_deployed_function_fits_cloudfront_limits_and_imports_first(prologue: Path) -> None:
    code = prologue.read_text() + "\n" + FUNCTION_JS.read_text()
    assert len(code.encode()) < 10 * 1024, f"expected the deployed code under 10 KB, got {len(code.encode())}"
    lines = code.splitlines()
    imports = [i for i, line in enumerate(lines) if re.match(r"\s*import\s", line)]
    assert imports == [0, 1], f"expected the two imports on the first lines only, got lines {imports}"
    assert "require(" not in code and "process." not in code


TOKEN_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10F), max_size=20)
HEADERS = st.one_of(
    st.builds(lambda n, t: "Basic " + base64.b64encode(f"{n}:{t}".encode("utf-8", "replace")).decode(),
              st.sampled_from(["ci", "bob", "", "c i", "x" * 64]), TOKEN_TEXT),
    st.builds(lambda s, p: f"{s} {p}", st.sampled_from(["Basic", "basic", "Bearer", ""]), st.text(max_size=30)),
    st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(HEADERS, TOKEN_TEXT), min_size=20, max_size=20))
def test_function_and_python_agree_on_random_credentials(node: str, prologue: Path,
                                                         pairs: list[tuple[str, str]]) -> None:
    cases = [{"method": "GET", "uri": "/simple/foo/", "querystring": "", "kvs_reads": True,
              "headers": {"authorization": header},
              "store": {"ci": hashlib.sha256(token.encode()).hexdigest(), "bob": "not-a-hash"}}
             for header, token in pairs]
    for case, got in zip(cases, node_results(node, prologue, cases), strict=True):
        expected = python_auth_result(case)
        assert got == expected, f"{case['headers']}: python says {expected}, the function says {got}"
