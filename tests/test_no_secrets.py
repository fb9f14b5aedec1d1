"""No secret is stored in the repository: a scan of every git-tracked file.

Looked for: private keys, AWS access key ids and secret access keys, GitHub/Slack tokens, passwords and
secrets given as literals in YAML, unencrypted Ansible Vault files, and key files that should never be
tracked.  Dummy test credentials are allowed when they say so: a value containing one of DUMMY_MARKERS
(moto's helper uses "cloudpypi-test-secret-key-not-a-real-credential-..."), or an id in ALLOWED_KEY_IDS.
What must really be secret goes into Ansible Vault (see docs/RELIABILITY.md).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DUMMY_MARKERS = ("dummy", "example", "stub", "not-real", "not-a-real", "test-secret", "fake", "placeholder")
ALLOWED_KEY_IDS = {"AKIAIOSFODNN7EXAMPLE", "AKIATESTSTUBBER00000", "AKIASTUB000000000000"}
SKIP_SUFFIXES = (".whl", ".gz", ".zip", ".png", ".jpg", ".ico", ".sqlite", ".tar")
FORBIDDEN_FILES = re.compile(r"(^|/)(id_rsa|id_ed25519|id_ecdsa|[^/]*\.pem|[^/]*\.p12|\.env|\.vault_pass[^/]*|"
                             r"vault[-_]pass(word)?[^/]*|credentials)$")

# Built from parts so this file does not match its own patterns.
_BEGIN = "-----" + "BEGIN"
PRIVATE_KEY = re.compile(_BEGIN + r" (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----")
KEY_MATERIAL = 64  # base64 characters: a real key has hundreds; a test stub ("abc") has none worth the name
PATTERNS: dict[str, re.Pattern[str]] = {
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "AWS secret access key": re.compile(
        r"(?i)aws.{0,3}secret.{0,3}(?:access.{0,3})?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
}
YAML_SECRET = re.compile(
    r"^\s*-?\s*[\"']?(?P<key>[\w.-]*?(?:password|passwd|secret|secret_key|secret_access_key|api_key|apikey|"
    r"access_token|auth_token|private_key))[\"']?\s*:\s*(?P<value>.*?)\s*(?:#.*)?$", re.IGNORECASE)
SAFE_YAML_VALUE = re.compile(r"""^(?:|~|null|true|false|yes|no|\d+|"\s*"|'\s*'|!vault\b.*|\|.*|>.*|
                                 ["']?\{\{.*\}\}["']?|["']?\{%.*%\}["']?)$""", re.IGNORECASE | re.VERBOSE)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _is_dummy(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in DUMMY_MARKERS)


def scan_text(path: str, text: str) -> list[Finding]:
    findings = []
    for match in PRIVATE_KEY.finditer(text):
        body = text[match.end():match.end() + 8000].split("-----END", 1)[0]
        if len(re.findall(r"[A-Za-z0-9+/=]", body)) >= KEY_MATERIAL:
            findings.append(Finding(path, text.count("\n", 0, match.start()) + 1, "private key"))
    is_yaml = path.endswith((".yml", ".yaml"))
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.group(match.lastindex or 0)
                if what == "AWS access key id" and value in ALLOWED_KEY_IDS:
                    continue
                if what == "AWS secret access key" and _is_dummy(line):
                    continue
                findings.append(Finding(path, number, what))
        if is_yaml:
            match = YAML_SECRET.match(line)
            if match and not SAFE_YAML_VALUE.match(match.group("value")) and not _is_dummy(match.group("value")):
                findings.append(Finding(path, number, f"literal {match.group('key')} in YAML (use Ansible Vault)"))
    if (re.search(r"(^|/)[^/]*vault[^/]*\.ya?ml$", path) and text.strip()
            and not text.lstrip().startswith("$ANSIBLE_VAULT;")):
        findings.append(Finding(path, 1, "a vault file that is not encrypted with ansible-vault"))
    return findings


def tracked_files() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [p for p in result.stdout.decode().split("\0") if p]


def scan_repository() -> list[Finding]:
    findings = []
    for path in tracked_files():
        if FORBIDDEN_FILES.search(path):
            findings.append(Finding(path, 0, "a key or credentials file must not be tracked"))
        if path.endswith(SKIP_SUFFIXES):
            continue
        try:
            text = (REPO / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        findings.extend(scan_text(path, text))
    return findings


def test_no_secret_is_tracked_in_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 50, f"expected to scan the whole tracked tree, git listed {len(files)} files"
    findings = scan_repository()
    assert not findings, "expected no secrets in tracked files, found:\n  " + "\n  ".join(map(str, findings))


@pytest.mark.parametrize(("path", "text", "what"), [
    ("deploy/key.txt", _BEGIN + " OPENSSH PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE\n" * 4,
     "private key"),
    ("scripts/x.py", "KEY = '" + "AKIA" + "Q7RZ3MUXW2LJPT4B" + "'\n", "AWS access key id"),
    ("x.env.sh", "export AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "Q8h3Zk9LmN" + "\n",
     "AWS secret access key"),
    ("inventory/group_vars/all.yml", "db_password: " + "hunter2-prod\n", "literal db_password in YAML"),
    ("inventory/group_vars/vault.yml", "vault_db_password: hunter2\n", "not encrypted"),
    ("ci.yml", "token: " + "ghp_" + "a1B2" * 9 + "\n", "GitHub token"),
])
def test_scanner_catches_a_planted_secret(path: str, text: str, what: str) -> None:
    findings = scan_text(path, text)
    assert any(what in f.what for f in findings), f"expected a {what!r} finding in {text!r}, got {findings}"


@pytest.mark.parametrize("text", [
    _BEGIN + " OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",  # a stub in a test
    "AWS_SECRET_ACCESS_KEY: sandbox-dummy-secret-access-key\n",
    "db_password: \"{{ vault_db_password }}\"\n",
    "db_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n",
    "password_lock: true\n",
    "http_tokens: required\n",
    "aws_access_key_id = 'AKIAIOSFODNN7EXAMPLE'\n",
])
def test_scanner_allows_templated_vaulted_and_documented_dummy_values(text: str) -> None:
    assert scan_text("group_vars/all.yml", text) == [], f"expected {text!r} allowed"
