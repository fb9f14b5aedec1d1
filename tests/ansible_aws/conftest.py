"""Fixtures for the AWS-side Ansible tests: a moto server of their own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.motoserver import MotoServer, moto_server

COLLECTIONS = Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    # The Stubber tests import the cloudpypi.aws modules as ansible_collections.cloudpypi.aws...
    sys.path.insert(0, str(COLLECTIONS))


@pytest.fixture(scope="module")
def aws_moto() -> Iterator[MotoServer]:
    """A moto server of this test module alone (the playbooks create account-wide resources)."""
    with moto_server() as server:
        yield server
