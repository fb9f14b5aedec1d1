"""S3 faults: throttling (503 SlowDown) and 500s on PutObject and on multipart UploadPart, injected by a
loopback proxy in front of moto (the engine's AWS_ENDPOINT_URL points at the proxy).  Same rule as
for origin faults: complete and correct, or non-zero naming the failures; never a page linking a
missing or wrong object."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.fakeorigin import Corpus, OriginServer, running_origin
from support.faultproxy import FaultProxy, running_fault_proxy
from support.motoserver import MotoServer

from .checker import assert_mirror_consistent
from .conftest import S3Target
from .harness import Cli, assert_outcome, known_good, project_names, record, small_corpus

pytestmark = pytest.mark.moto

MULTIPART_FILE = 20 * 2**20  # over the engine's 16 MiB multipart threshold: two UploadPart calls

CASES: dict[str, list[tuple[Any, ...]]] = {  # (status, code, operations[, after: the write happened])
    "slowdown_503_on_put": [(503, "SlowDown", "put_object")],
    "internal_error_500_on_put": [(500, "InternalError", "put_object")],
    "slowdown_503_on_upload_part": [(503, "SlowDown", "upload_part")],
    "internal_error_500_on_upload_part": [(500, "InternalError", "upload_part")],
    "mixed_on_every_call": [(503, "SlowDown", "any"), (500, "InternalError", "any")],
    "internal_error_500_after_the_write": [(500, "InternalError", ("put_object", "upload_part", "complete_multipart"),
                                            True)],
}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    corpus = small_corpus(2)
    corpus.add_project("huge-wheel", [{"version": "1.0", "files": [("py3-none-any", MULTIPART_FILE)]}])
    corpus.build_all()
    return corpus


@pytest.fixture(scope="module")
def origin(corpus: Corpus) -> Iterator[OriginServer]:
    with running_origin(corpus) as server:
        yield server


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(moto.url, seed=7) as server:
        yield server


@pytest.mark.parametrize("case", sorted(CASES))
def test_s3_sync_under_s3_fault_is_complete_or_names_failures(
        case: str, origin: OriginServer, corpus: Corpus, proxy: FaultProxy, s3_cli: Cli, s3: S3Target) -> None:
    target, view = s3.new(f"s3fault-{case.replace('_', '-')}")
    rate = 0.3 / len(CASES[case])  # the total fault rate stays at 30%
    rules = [proxy.add(status, code, op=op, rate=rate, after=bool(after and after[0]))
             for status, code, op, *after in CASES[case]]
    if "upload_part" in case:  # only two parts: make sure one is refused, whatever the draw
        rules.insert(0, proxy.add(CASES[case][0][0], CASES[case][0][1], op="upload_part", first_n=1))
    # the 20 MiB file goes up in parts (a single PUT would carry it whole below S3's 5 GiB limit)
    result = s3_cli.sync(origin.url, target, config=s3_cli.config({"workers": 4}),
                         env={"AWS_ENDPOINT_URL": proxy.url, "CLOUDPYPI_S3_MULTIPART_THRESHOLD": str(16 * 2**20)})
    record("s3_fault", case=case, exit=result.returncode, fired=proxy.fired, ops=dict(proxy.ops))
    assert_outcome(result, project_names(corpus))
    assert proxy.ops["upload_part"] >= 2, f"expected the 20 MiB file uploaded in parts, saw {dict(proxy.ops)}"
    assert sum(rule.fired for rule in rules) > 0, f"expected the {case} faults to fire, got {rules}"
    summary = assert_mirror_consistent(view, known_good=known_good(corpus), check_s3_metadata=True)
    if result.returncode == 0:
        assert set(summary.links) == set(known_good(corpus)), "exit 0 but not every file is linked"
        head = view.head(next(k for k in summary.links if "huge_wheel" in k))
        assert head["ContentLength"] == MULTIPART_FILE, f"expected the whole multipart object, got {head}"
        return
    proxy.clear()
    clean = s3_cli.sync(origin.url, target, config=s3_cli.config({"workers": 4}), env={"AWS_ENDPOINT_URL": proxy.url})
    assert clean.returncode == 0, f"expected a clean run to converge, got {clean.describe()}"
    summary = assert_mirror_consistent(view, known_good=known_good(corpus), check_s3_metadata=True)
    assert set(summary.links) == set(known_good(corpus)), "expected every file linked after the clean run"


def test_lock_create_that_succeeded_but_answered_500_is_recognised_as_ours(
        origin: OriginServer, corpus: Corpus, proxy: FaultProxy, s3_cli: Cli, s3: S3Target) -> None:
    """S3 stored the lock, the client heard 500 and retried the If-None-Match PUT: 412.  The lock is ours."""
    target, view = s3.new("s3fault-lock-after")
    rule = proxy.add(500, "InternalError", op="put_object", first_n=1, after=True)  # the first PUT is the lock
    result = s3_cli.sync(origin.url, target, config=s3_cli.config({"workers": 4}), env={"AWS_ENDPOINT_URL": proxy.url})
    assert rule.fired == 1, f"expected the lock PUT answered 500 after it succeeded, got {rule}"
    assert result.returncode == 0, f"expected the run to recognise its own lock, got {result.describe()}"
    assert view.read(".cloudpypi/lock") is None, "expected the lock released at the end"
    assert_mirror_consistent(view, known_good=known_good(corpus), check_s3_metadata=True)
