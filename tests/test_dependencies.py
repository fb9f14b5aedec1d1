"""Dependencies say what the code uses, and the dev server's lock says exactly what it installs.

- requirements/runtime-pyX.Y.txt (`make lock`) is the hash-pinned lock the dev server installs from with
  `pip install --require-hashes` (roles/sync_service): one per Python the dev server may run.  Every
  runtime dependency in pyproject.toml must be pinned there, to a version its specifier allows, and every
  pin must carry hashes.
- Every third-party module the engine imports is a declared runtime dependency, and every one the
  operator's side imports (fabfile.py and scripts/cloudpypi/ops/, the sandbox script, the roles'
  controller scripts, the Ansible collection) is a declared runtime or dev dependency: declared
  directly, never only through another package's dependencies.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# The operator's side inside the package (fab's modules): never imported by the engine, so it may use the
# dev dependencies (Fabric, Invoke, ruamel.yaml).
OPS = ROOT / "scripts" / "cloudpypi" / "ops"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCK_PYTHONS = re.search(r"^LOCK_PYTHONS \?= (.+)$", (ROOT / "mk" / "lock.mk").read_text(), re.M).group(1).split()
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# Modules of this repository, not distributions.
LOCAL_MODULES = {"cloudpypi", "fabfile", "support", "bench", "sandbox"}
# Distributions that bring another one by design: the `ansible` package is ansible-core plus its
# collections, at a version it pins.
PROVIDED_BY = {"ansible-core": "ansible"}


def declared(*groups: str) -> set[str]:
    specs = list(PYPROJECT["dependencies"])
    for group in groups:
        specs += PYPROJECT["optional-dependencies"][group]
    return {canonicalize_name(Requirement(spec).name) for spec in specs}


def parse_lock(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every pin of a `pip-compile --generate-hashes` style file."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        stripped = line.strip()
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif stripped.startswith("--hash=sha256:") and current:
            version, count = pins[current]
            pins[current] = (version, count + 1)
        elif stripped and not stripped.startswith("#") and not line.startswith(" "):
            pytest.fail(f"{path.name}: expected only `name==version` pins, got {line!r}")
    return pins


def test_the_lock_covers_the_pythons_the_dev_server_may_run() -> None:
    assert {"3.11", "3.13"} <= set(LOCK_PYTHONS), f"expected Debian 12's 3.11 and 13's 3.13, got {LOCK_PYTHONS}"
    for version in LOCK_PYTHONS:
        lock = ROOT / "requirements" / f"runtime-py{version}.txt"
        assert lock.is_file(), f"expected {lock.relative_to(ROOT)}: run `make lock`"


@pytest.mark.parametrize("python", LOCK_PYTHONS)
def test_every_runtime_dependency_is_pinned_in_the_lock_within_its_specifier(python: str) -> None:
    lock = ROOT / "requirements" / f"runtime-py{python}.txt"
    pins = parse_lock(lock)
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
                   "platform_system": "Linux"}
    problems = []
    for spec in PYPROJECT["dependencies"]:
        requirement = Requirement(spec)
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(Version(pins[name][0]), prereleases=True):
            problems.append(f"{requirement.name}=={pins[name][0]} does not satisfy {requirement.specifier}")
    assert not problems, f"{lock.name} disagrees with pyproject.toml (run `make lock`): {problems}"


@pytest.mark.parametrize("python", LOCK_PYTHONS)
def test_every_pin_in_the_lock_carries_hashes(python: str) -> None:
    pins = parse_lock(ROOT / "requirements" / f"runtime-py{python}.txt")
    unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
    assert pins and not unhashed, f"expected every pin hashed (pip --require-hashes), unhashed: {unhashed}"


def test_the_build_refuses_a_python_without_a_lock(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "roles/sync_service/files/build_wheelhouse.py"),
                           "--source", str(ROOT), "--cache", str(tmp_path / "cache"), "--python-version", "3.99",
                           "--arch", "x86_64"], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "no lock for Python 3.99" in proc.stderr and "make lock" in proc.stderr, (
        f"expected a clear refusal, got exit {proc.returncode}: {proc.stderr[-800:]}")


def third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level module -> files importing it (absolute imports anywhere in the file, lazy ones included)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__" and top not in LOCAL_MODULES:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(imports: dict[str, set[str]], allowed: set[str]) -> list[str]:
    modules = packages_distributions()
    problems = []
    for module, files in sorted(imports.items()):
        distributions = {canonicalize_name(d) for d in modules.get(module, [])}
        distributions = {PROVIDED_BY.get(d, d) for d in distributions}
        if not distributions & allowed:
            problems.append(f"{module} (from {sorted(distributions) or 'no installed distribution'}; "
                            f"imported by {sorted(files)[:3]})")
    return problems


def test_every_module_the_engine_imports_is_a_declared_runtime_dependency() -> None:
    engine = [p for p in sorted((ROOT / "scripts" / "cloudpypi").rglob("*.py")) if OPS not in p.parents]
    imports = third_party_imports(engine)
    assert imports, "expected the engine to import something"
    problems = undeclared(imports, declared())
    assert not problems, f"expected every engine import declared in [project] dependencies: {problems}"


def test_every_module_the_operator_side_imports_is_declared() -> None:
    paths = [ROOT / "fabfile.py", *sorted(OPS.rglob("*.py")), *sorted((ROOT / "scripts" / "sandbox").rglob("*.py")),
             *sorted(ROOT.glob("roles/*/files/*.py")), *sorted((ROOT / "collections").rglob("*.py"))]
    imports = third_party_imports(paths)
    assert {"fabric", "ruamel"} <= imports.keys(), f"expected fabfile's imports found, got {sorted(imports)}"
    problems = undeclared(imports, declared("dev"))
    assert not problems, f"expected every operator-side import declared (runtime or dev): {problems}"


@pytest.mark.slow
def test_the_hosts_install_from_the_lock_refuses_a_wheel_whose_bytes_changed(tmp_path: Path) -> None:
    """What the role does on the host, with real pip: the locked wheels install with --require-hashes, and
    the same install fails once one wheel's bytes differ from the lock's hash.  The wheels come from
    build_wheelhouse.py (pip download from the configured package index, cached like a deploy's)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python not in LOCK_PYTHONS:
        pytest.skip(f"no lock for this Python ({python})")
    cache = Path(os.environ.get("CLOUDPYPI_CACHE") or Path.home() / ".cache" / "cloudpypi") / "wheelhouse"
    built = subprocess.run([sys.executable, str(ROOT / "roles/sync_service/files/build_wheelhouse.py"),
                            "--source", str(ROOT), "--cache", str(cache), "--python-version", python,
                            "--arch", os.uname().machine], capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, f"expected the wheelhouse built, got:\n{built.stderr[-2000:]}"
    wheels = tmp_path / "wheels"
    shutil.copytree(json.loads(built.stdout)["deps_dir"], wheels)

    def install(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--no-index", "--no-cache-dir",
                               "--disable-pip-version-check", "--require-hashes", "--only-binary", ":all:",
                               "--find-links", str(wheels), "--target", str(tmp_path / target),
                               "--requirement", str(wheels / "requirements.txt")],
                              capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "PIP_CONFIG_FILE": os.devnull})

    good = install("good")
    assert good.returncode == 0, f"expected the locked wheels to install, got:\n{good.stderr[-2000:]}"
    victim = sorted(wheels.glob("six-*.whl"))[0]
    victim.write_bytes(victim.read_bytes() + b"\0")  # one byte more: a different file, same name
    tampered = install("tampered")
    assert tampered.returncode != 0, "expected pip to refuse a wheel whose hash is not the lock's"
    assert "DO NOT MATCH THE HASHES" in tampered.stderr and "six" in tampered.stderr, tampered.stderr[-2000:]
