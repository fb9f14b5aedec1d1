"""Fixtures for the AWS-side Ansible tests: a moto server of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.motoserver import MotoServer, moto_server


@pytest.fixture(scope="module")
def aws_moto() -> Iterator[MotoServer]:
    """A moto server of this test module alone (the playbooks create account-wide resources)."""
    with moto_server() as server:
        yield server
