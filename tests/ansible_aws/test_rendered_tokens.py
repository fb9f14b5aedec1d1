"""With edge tokens on, the production distribution runs the viewer-request function on package files too
(every path needs credentials); off (the default), files stay without a function.  Rendered from the
shipped AWS inventory with no AWS call (moto drops function associations)."""

from __future__ import annotations

import pytest

from ansible_aws.test_rendered_documents import behaviours, render

FUNCTION = [{"EventType": "viewer-request",
             "FunctionARN": "arn:aws:cloudfront::111122223333:function/cloudpypi-viewer-request"}]


@pytest.fixture(scope="module")
def tokens_rendered(tmp_path_factory):
    return render(tmp_path_factory, "inventory/aws/hosts.yml", "-e", "cloudpypi_tokens_enabled=true")


def test_with_tokens_on_every_behaviour_runs_the_function(tokens_rendered) -> None:
    found = behaviours(tokens_rendered["distribution-config"])
    for name in ("default", "/simple/*", "/packages/*"):
        assert found[name]["FunctionAssociations"]["Items"] == FUNCTION, f"{name}: got {found[name]}"
