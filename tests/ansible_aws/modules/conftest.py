"""Fixtures of the Stubber tests: a stubbed client per AWS service, checked for unused answers after each test."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from ansible_aws.modules.stubbed import make_client


@pytest.fixture
def cloudfront():
    client = make_client("cloudfront")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def budgets():
    client = make_client("budgets")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()
