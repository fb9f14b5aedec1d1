"""The [closure] table and `processes` from the inventory: roles/sync_service renders them into mirror.toml
(rendered here by Ansible itself, from the role's defaults plus inventory values), the package's own parser
accepts the result, and bad values fail at deploy time with a message that names the setting: the role's
argument_specs for types and choices, the package's parser for everything else.

The shipped AWS inventory mirrors a closure of an example requirements file shipped in the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloudpypi.config import load_config
from cloudpypi.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "sync_service"
TEMPLATE = ROLE / "templates" / "etc" / "cloudpypi" / "mirror.toml.j2"


def ansible_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def render(tmp_path: Path, settings: dict[str, object]) -> str:
    """mirror.toml as roles/sync_service renders it for these inventory settings."""
    extra = tmp_path / "settings.json"
    extra.write_text(json.dumps({"sync_service_target": "s3://bucket", **settings}))
    expression = "{{ lookup('ansible.builtin.template', '" + str(TEMPLATE) + "') }}"
    proc = subprocess.run(["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug",
                           "-a", f"msg={expression}", "-e", f"@{ROLE / 'defaults' / 'main.yml'}", "-e", f"@{extra}",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"rendering failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return str(result["msg"])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "etc" / "mirror.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_closure_settings_and_processes_are_rendered_and_the_package_accepts_them(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    (config_dir / "closure").mkdir(parents=True)
    (config_dir / "closure" / "requirements.txt").write_text("requests\n")
    (config_dir / "closure" / "pylock.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "idna"\nversion = "3.10"\n')
    text = render(tmp_path, {
        "sync_service_config_dir": str(config_dir),
        "sync_service_processes": 2,
        "sync_service_closure_requirements": ["django>=5,<6", "celery[redis]"],
        "sync_service_closure_requirements_files": ["inventory/x/files/requirements.txt", "/abs/pylock.toml"],
        "sync_service_closure_pythons": ["3.11", "3.12"],
        "sync_service_closure_platforms": ["manylinux_2_28_x86_64"],
        "sync_service_closure_sdists": True,
        "sync_service_closure_releases": "matching",
    })
    config = load_config(write(tmp_path, text))
    assert config.processes == 2
    assert config.closure == {
        "requirements": ["django>=5,<6", "celery[redis]"],
        "requirements_files": [str(config_dir / "closure" / "requirements.txt"),
                               str(config_dir / "closure" / "pylock.toml")],
        "pythons": ["3.11", "3.12"], "platforms": ["manylinux_2_28_x86_64"], "sdists": True, "releases": "matching",
    }, "the files are read from the config folder's closure/, where the role ships them"


def test_no_requirements_renders_no_closure_table(tmp_path: Path) -> None:
    text = render(tmp_path, {"sync_service_closure_pythons": ["3.12"]})
    assert "[closure]" not in text
    assert load_config(write(tmp_path, text)).closure == {}


@pytest.mark.parametrize(("settings", "message"), [
    ({"sync_service_closure_pythons": ["2.7"]}, "[closure].pythons: '2.7' is not a Python 3 version"),
    ({"sync_service_closure_pythons": [3.12]}, "[closure].pythons: expected a list of strings"),
    ({"sync_service_closure_requirements": "requests"}, "[closure].requirements: expected a list of strings"),
    ({"sync_service_closure_platforms": ["linux-foo"]}, "linux-foo"),
    ({"sync_service_closure_requirements": ["requests @ https://example.com/r.whl"]}, "points at a URL"),
    ({"sync_service_closure_platforms": []}, "[closure].platforms: list the target platforms"),
])
def test_bad_closure_settings_are_refused_by_the_package_naming_the_key(tmp_path: Path, settings, message) -> None:
    base = {"sync_service_closure_requirements": ["requests"], "sync_service_closure_pythons": ["3.12"],
            "sync_service_closure_platforms": ["manylinux_2_28_x86_64"]}
    text = render(tmp_path, {**base, **settings})
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value), caught.value


ARGSPEC_PLAY = """---
- name: The sync service's argument checks alone
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Validate the role's settings
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ (lookup('ansible.builtin.file', spec_file) | from_yaml).argument_specs.main.options }}"
"""


@pytest.mark.parametrize(("settings", "message"), [
    ({"sync_service_closure_releases": "newest"}, "sync_service_closure_releases must be one of: resolved, matching"),
    ({"sync_service_closure_sdists": "maybe"}, "sync_service_closure_sdists"),
    ({"sync_service_processes": "many"}, "sync_service_processes"),
])
def test_the_roles_argument_specs_refuse_wrong_types_and_choices(tmp_path: Path, settings, message) -> None:
    play = tmp_path / "check.yml"
    play.write_text(ARGSPEC_PLAY)
    extra = tmp_path / "settings.json"
    extra.write_text(json.dumps({"sync_service_target": "s3://bucket", **settings,
                                 "spec_file": str(ROLE / "meta" / "argument_specs.yml")}))
    env = {**ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", str(play), "-e", f"@{extra}",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert message in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_the_shipped_aws_inventory_mirrors_a_closure_of_the_example_requirements_file() -> None:
    settings_file = ROOT / "inventory" / "aws" / "group_vars" / "devserver" / "sync_service.yml"
    settings = yaml.safe_load(settings_file.read_text())
    files = settings["sync_service_closure_requirements_files"]
    assert files == ["inventory/aws/files/requirements.txt"], files
    assert (ROOT / files[0]).is_file(), "the example requirements file is shipped (paths from the checkout's root)"
    assert settings["sync_service_closure_pythons"] and settings["sync_service_closure_platforms"]
    assert all(isinstance(p, str) for p in settings["sync_service_closure_pythons"]), "versions are quoted"
    from cloudpypi.closurespec import parse_closure

    spec = parse_closure({"requirements_files": [str(ROOT / files[0])],
                          "pythons": settings["sync_service_closure_pythons"],
                          "platforms": settings["sync_service_closure_platforms"]})
    assert len(spec.requirements) >= 3
