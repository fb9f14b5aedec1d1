"""The metadata-service rules that roles/sync_service renders, loaded in a network namespace of the test's own.

The sandbox host shares this machine's network namespace, so the rules are never loaded there (the
sandbox inventory sets sync_service_imds_firewall_load: false).  Here the role's template is rendered by
Ansible's own template module, then, inside `unshare --net`: loopback up, 169.254.169.254 on it, a
stand-in metadata server bound there, the rendered ruleset loaded with `nft -f`.  An allowed account
gets the server's answer; any other account gets none, and the server never sees its request.

Needs root (namespaces, nft) and nftables on this machine: installed with apt-get when missing, as the
Makefile installs node; skipped with the reason where that cannot be done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "sync_service" / "templates" / "etc" / "nftables.d" / "cloudpypi-imds.nft.j2"
DEFAULTS = ROOT / "roles" / "sync_service" / "defaults" / "main.yml"
IMDS = "169.254.169.254"
CLIENT_PYTHON = "/usr/bin/python3"  # outside /root, so an unprivileged uid can run it

# Runs as root inside the new namespace: set up loopback and the stand-in server, load the rules, then
# ask the server once as each uid (argv: rules file, uids...).  Prints one JSON object.
NAMESPACE_SCRIPT = r"""
import http.server, json, subprocess, sys, threading

rules, uids = sys.argv[1], [int(u) for u in sys.argv[2:]]
for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
            ["nft", "-f", rules]):
    subprocess.run(cmd, check=True)
seen = []

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(self.path)
        body = b"stand-in credentials"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("169.254.169.254", 80), Handler)  # bound before any client runs
threading.Thread(target=server.serve_forever, daemon=True).start()
client = ("import sys, urllib.request\n"
          "try:\n"
          "    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)\n"
          "except Exception as exc:\n"
          "    print(type(exc).__name__, exc)\n")
answers = {}
for uid in uids:
    url = f"http://169.254.169.254/latest/meta-data/iam/security-credentials/as-{uid}"
    proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid if uid else 0}", "--clear-groups",
                           CLIENT, "-c", client, url], capture_output=True, text=True, timeout=30)
    answers[str(uid)] = (proc.stdout + proc.stderr).strip()
server.shutdown()
ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
print(json.dumps({"answers": answers, "seen": seen, "ruleset": ruleset}))
"""


@pytest.fixture(scope="module")
def nft() -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and nft (run the suite as root, as `make test` does)")
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs unshare and setpriv (util-linux)")
    if shutil.which("nft") is None:
        install = subprocess.run(["sh", "-c", "apt-get install -y -qq nftables || "
                                  "{ apt-get update -qq && apt-get install -y -qq nftables; }"],
                                 capture_output=True, text=True, timeout=900, check=False)
        if install.returncode != 0 or shutil.which("nft") is None:
            pytest.skip(f"nftables is not installed and apt-get could not install it: {install.stderr[-500:]}")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.strip()}")
    return shutil.which("nft") or "nft"


def render(tmp_path: Path, allowed: list[str]) -> Path:
    """The rules file as the role renders it: Ansible's template module with the role's defaults."""
    dest = tmp_path / "cloudpypi-imds.nft"
    extra = json.dumps({"sync_service_imds_allowed_users": allowed})
    proc = subprocess.run(
        ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template",
         "-a", f"src={TEMPLATE} dest={dest} mode=0644", "-e", f"@{DEFAULTS}", "-e", extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"expected the role's template to render, got:\n{proc.stdout}{proc.stderr}"
    return dest


def ask_in_namespace(rules: Path, *uids: int) -> dict:
    script = NAMESPACE_SCRIPT.replace("CLIENT,", f"{CLIENT_PYTHON!r},")
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", script, str(rules), *map(str, uids)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"expected the namespace run to work, got exit {proc.returncode}:\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_only_root_reaches_the_metadata_service_when_root_alone_is_allowed(nft, tmp_path) -> None:
    result = ask_in_namespace(render(tmp_path, ["root"]), 0, 65534)
    assert result["answers"]["0"] == "200", f"expected root to get the stand-in's answer, got {result}"
    assert result["answers"]["65534"] != "200", f"expected uid 65534 refused, got {result['answers']}"
    assert result["seen"] == ["/latest/meta-data/iam/security-credentials/as-0"], (
        f"expected the server to see root's request only, got {result['seen']}")


def test_the_service_user_by_name_reaches_it_and_another_uid_does_not(nft, tmp_path) -> None:
    # "nobody" (uid 65534) stands in for the service user, which does not exist on this machine.
    rules = render(tmp_path, ["root", "nobody"])
    assert '"nobody"' in rules.read_text(), rules.read_text()
    result = ask_in_namespace(rules, 65534, 65533)
    assert result["answers"]["65534"] == "200", f"expected the allowed account's uid to get an answer, got {result}"
    assert result["answers"]["65533"] != "200", f"expected uid 65533 refused, got {result}"
    assert result["seen"] == ["/latest/meta-data/iam/security-credentials/as-65534"], result["seen"]
    assert "meta skuid { 0, 65534 } accept" in result["ruleset"], (
        f"expected the names resolved to uids when loaded, got:\n{result['ruleset']}")


def test_loading_the_rules_twice_replaces_the_table_instead_of_failing(nft, tmp_path) -> None:
    rules = render(tmp_path, ["root"])
    proc = subprocess.run(["unshare", "--net", "sh", "-c", f"nft -f {rules} && nft -f {rules} && nft list ruleset"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"expected a second load to succeed, got:\n{proc.stderr}"
    assert proc.stdout.count("table inet cloudpypi_imds") == 1, f"expected one table, got:\n{proc.stdout}"


def test_the_roles_validate_step_checks_without_loading_and_refuses_an_unknown_account(nft, tmp_path) -> None:
    # The role validates the file with `nft -c -f` before it replaces the old one (when loading is on).
    good = render(tmp_path, ["root"])
    check = subprocess.run(["unshare", "--net", "sh", "-c", f"nft -c -f {good} && nft list ruleset"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 0 and check.stdout.strip() == "", (
        f"expected the check to pass and load nothing, got exit {check.returncode}: {check.stdout}{check.stderr}")
    (tmp_path / "bad").mkdir()
    bad = render(tmp_path / "bad", ["root", "no-such-account-here"])
    refused = subprocess.run(["unshare", "--net", "nft", "-c", "-f", str(bad)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert refused.returncode != 0, "expected nft to refuse a rule naming an account that does not exist"
