"""The [private] table: as the sync_service role renders it from its defaults and from an operator's
settings, and as the engine parses it (bad values are refused at load, exit 2)."""

from __future__ import annotations

import tomllib

import pytest

from cloudpypi.config import parse_config
from cloudpypi.errors import ConfigError
from test_sync_unit_files import render


def test_the_role_renders_a_private_table_that_keeps_private_names_apart_by_default(tmp_path):
    config = parse_config(tomllib.loads(render(tmp_path, "cloudpypi/mirror.toml.j2")), "mirror.toml")
    assert config.max_upload_size == 100 * 2**20
    assert config.private_track_origin == frozenset(), "by default no private project gets the origin's files"


def test_track_origin_names_are_normalized_and_bad_values_refused():
    config = parse_config({"private": {"track_origin": ["Acme_Utils"], "max_upload_size": "5MiB"}})
    assert config.private_track_origin == frozenset({"acme-utils"}) and config.max_upload_size == 5 * 2**20
    for bad in ({"track_origin": "acme-utils"}, {"max_upload_size": "lots"}, {"max_upload_size": 10},
                {"tracks": []}):
        with pytest.raises(ConfigError):
            parse_config({"private": bad})
