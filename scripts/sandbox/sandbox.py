#!/usr/bin/env python3
"""The local sandbox: a booted Debian 13 host (systemd-nspawn) plus a moto server, on loopback.

    sandbox.py check        exit 0 if the sandbox can run here, else print why and exit 3
    sandbox.py up [--json]  build (cached) and boot the host, start moto; idempotent
                            (exit 3 with the reason when this machine cannot run it)
    sandbox.py down         stop only what `up` started (recorded PIDs), remove the run copy
    sandbox.py status [--json]
    sandbox.py env          shell exports for the endpoints and the SSH key

Layout under $CLOUDPYPI_CACHE/sandbox (never inside the clone):
    rootfs-trixie-<recipe hash>.tar   the debootstrapped root filesystem (rebuilt when the recipe changes)
    ssh/id_ed25519[.pub]              the key Ansible and testinfra connect with
    run/root/                         a fresh copy of the root filesystem per boot
                                      (run-<name>/ for a sandbox with another CLOUDPYPI_SANDBOX_NAME)
    run/state.json                    PIDs and endpoints of what `up` started
    run/nspawn.log, run/moto.log      their output

Environment overrides (defaults in brackets):
    CLOUDPYPI_CACHE [~/.cache/cloudpypi]
    CLOUDPYPI_SANDBOX_NAME [cloudpypi-sandbox]
    CLOUDPYPI_SANDBOX_SSH_PORT [2222]
    CLOUDPYPI_SANDBOX_MOTO_PORT [5000]
    CLOUDPYPI_SANDBOX_DEBIAN_MIRROR [http://deb.debian.org/debian]
    CLOUDPYPI_SANDBOX_BOOT_TIMEOUT [180] seconds
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger("sandbox")

ADMIN_USER = "admin"  # the login of Debian's official cloud images, so the sandbox matches EC2
SUITE = "trixie"
# python3-apt is on Debian's cloud images (unattended-upgrades needs it); Ansible's apt module needs
# it for check mode on a host never configured.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo",
            "ca-certificates")
APT_PREREQS = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container", "ssh": "openssh-client",
               "ssh-keygen": "openssh-client"}
EXIT_UNAVAILABLE = 3
READY_STATES = ("running", "degraded")  # what `systemctl is-system-running` says of a usable host
DEFAULT_NAME = "cloudpypi-sandbox"


class SandboxError(Exception):
    """A failure the operator can act on; the message says what to do."""


@dataclass(frozen=True)
class Settings:
    cache: Path
    name: str
    ssh_port: int
    moto_port: int
    debian_mirror: str
    boot_timeout: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            cache=Path(env.get("CLOUDPYPI_CACHE") or Path.home() / ".cache" / "cloudpypi"),
            name=env.get("CLOUDPYPI_SANDBOX_NAME", DEFAULT_NAME),
            ssh_port=int(env.get("CLOUDPYPI_SANDBOX_SSH_PORT", "2222")),
            moto_port=int(env.get("CLOUDPYPI_SANDBOX_MOTO_PORT", "5000")),
            debian_mirror=env.get("CLOUDPYPI_SANDBOX_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
            boot_timeout=float(env.get("CLOUDPYPI_SANDBOX_BOOT_TIMEOUT", "180")),
        )

    @property
    def home(self) -> Path:
        return self.cache / "sandbox"

    @property
    def run_dir(self) -> Path:
        # Each named sandbox boots from its own run copy, so two can run side by side.
        return self.home / ("run" if self.name == DEFAULT_NAME else f"run-{self.name}")

    @property
    def root(self) -> Path:
        return self.run_dir / "root"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def key(self) -> Path:
        return self.home / "ssh" / "id_ed25519"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"


@dataclass
class State:
    nspawn_pid: int | None
    moto_pid: int | None  # None when an already-running moto server was reused
    root: str
    ssh_host: str
    ssh_port: int
    ssh_user: str
    ssh_key: str
    moto_url: str
    name: str


# --- the build recipe: its hash names the cached tarball, so any change here rebuilds it -----------------

SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-sandbox.conf"


def recipe(settings: Settings) -> dict[str, object]:
    return {
        "version": 2,
        "suite": SUITE,
        "variant": "minbase",
        "packages": PACKAGES,
        "mirror": settings.debian_mirror,
        "admin": ADMIN_USER,
        "customize": [
            f"useradd --create-home --shell /bin/bash --user-group {ADMIN_USER}",
            f"/etc/sudoers.d/90-sandbox-{ADMIN_USER}: NOPASSWD",
            "/etc/hostname",
            "apt-get clean",
        ],
    }


def recipe_hash(settings: Settings) -> str:
    return hashlib.sha256(json.dumps(recipe(settings), sort_keys=True).encode()).hexdigest()[:12]


def tarball_path(settings: Settings) -> Path:
    return settings.home / f"rootfs-{SUITE}-{recipe_hash(settings)}.tar"


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    log.debug("+ %s", " ".join(cmd))
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


# --- checks ---------------------------------------------------------------------------------------------

def unavailable_reason() -> str | None:
    """Why the sandbox cannot run on this machine, or None when it can."""
    if sys.platform != "linux":
        return f"the sandbox needs Linux (systemd-nspawn); this is {sys.platform}"
    if os.geteuid() != 0:
        return "the sandbox needs root (debootstrap and systemd-nspawn); run as root or with sudo"
    missing = [tool for tool in APT_PREREQS if shutil.which(tool) is None]
    if missing and shutil.which("apt-get") is None:
        return f"missing {', '.join(missing)} and no apt-get to install them"
    return None


def ensure_prereqs() -> None:
    missing = sorted({pkg for tool, pkg in APT_PREREQS.items() if shutil.which(tool) is None})
    if not missing:
        return
    log.info("installing %s with apt-get", " ".join(missing))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL)
        run(cmd, env=env, stdout=subprocess.DEVNULL)


# --- build ----------------------------------------------------------------------------------------------

def chroot(root: Path, *cmd: str) -> None:
    run(["chroot", str(root), *cmd], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})


def build_rootfs(settings: Settings) -> Path:
    """Debootstrap the root filesystem and cache it as a tarball; reuse the tarball when it exists."""
    tarball = tarball_path(settings)
    if tarball.exists():
        return tarball
    settings.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.info("building the %s root filesystem with debootstrap (about a minute, once)", SUITE)
    with tempfile.TemporaryDirectory(dir=settings.home, prefix="build-") as tmp:
        root = Path(tmp) / "root"
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root),
             settings.debian_mirror], stdout=subprocess.DEVNULL)
        chroot(root, "useradd", "--create-home", "--shell", "/bin/bash", "--user-group", ADMIN_USER)
        sudoers = root / "etc/sudoers.d" / f"90-sandbox-{ADMIN_USER}"
        sudoers.write_text(f"{ADMIN_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
        (root / "etc/hostname").write_text(f"{settings.name}\n")
        chroot(root, "apt-get", "clean")
        partial = tarball.with_suffix(".tar.partial")
        run(["tar", "-C", str(root), "--numeric-owner", "--xattrs", "--acls", "-cf", str(partial), "."])
        partial.rename(tarball)
    for old in settings.home.glob(f"rootfs-{SUITE}-*.tar"):
        if old != tarball:
            old.unlink()
    log.info("root filesystem cached at %s (%.0f s)", tarball, time.monotonic() - started)
    return tarball


def ensure_key(settings: Settings) -> Path:
    if not settings.key.exists():
        settings.key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cloudpypi-sandbox",
             "-f", str(settings.key)])
    return settings.key


def prepare_root(settings: Settings, tarball: Path, key: Path) -> None:
    """Unpack a fresh copy and set what depends on this boot: the SSH port and the admin's key."""
    if settings.root.exists():
        remove_tree(settings.root)
    settings.root.mkdir(parents=True)
    run(["tar", "-C", str(settings.root), "--numeric-owner", "--xattrs", "--acls", "-xpf", str(tarball)])
    (settings.root / SSHD_DROPIN.lstrip("/")).write_text(
        "# Written by scripts/sandbox/sandbox.py: the sandbox host listens on loopback only.\n"
        f"Port {settings.ssh_port}\nListenAddress 127.0.0.1\n")
    hosts = settings.root / "etc/hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{settings.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    (settings.root / "etc/hostname").write_text(f"{settings.name}\n")
    uid, gid = admin_ids(settings.root)
    ssh_dir = settings.root / "home" / ADMIN_USER / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(key.with_suffix(".pub").read_text())
    keys.chmod(0o600)
    for path in (ssh_dir, keys):
        os.chown(path, uid, gid)


def admin_ids(root: Path) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == ADMIN_USER:
            return int(fields[2]), int(fields[3])
    raise SandboxError(f"no {ADMIN_USER} user in {root}/etc/passwd: delete the cached tarball and rerun up")


def remove_tree(path: Path) -> None:
    """Remove a run copy; refuse if something is still mounted inside it (the container still running)."""
    with open("/proc/self/mounts") as mounts:
        busy = [line.split()[1] for line in mounts if line.split()[1].startswith(str(path) + "/")]
    if busy:
        raise SandboxError(f"{path} still has mounts ({busy[0]} ...): is the container still running? "
                           "Stop it with sandbox.py down")
    shutil.rmtree(path)


# --- processes ------------------------------------------------------------------------------------------

def alive(pid: int | None, marker: str) -> bool:
    """True if pid runs and its command line contains marker (guards against a reused PID).

    A zombie has an empty command line, so an exited process nobody reaped counts as gone.
    """
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def wait_for(what: str, condition: Callable[[], bool], timeout: float,
             failed: Callable[[], str | None] = lambda: None) -> None:
    """Poll condition until true; raise if failed() names a reason or the deadline passes."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if condition():
            return
        if reason := failed():
            raise SandboxError(f"{what}: {reason}")
        if time.monotonic() > deadline:
            raise SandboxError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ssh_command(settings: Settings, *remote: str) -> list[str]:
    return ["ssh", "-i", str(settings.key), "-p", str(settings.ssh_port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=3", f"{ADMIN_USER}@127.0.0.1", *remote]


def system_state(settings: Settings) -> str:
    """The container's `systemctl is-system-running` over SSH, or '' while SSH does not answer."""
    try:
        proc = subprocess.run(ssh_command(settings, "systemctl", "is-system-running"), capture_output=True,
                              text=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return ""
    return proc.stdout.strip() if proc.returncode in (0, 1) else ""


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def boot(settings: Settings) -> int:
    if port_open(settings.ssh_port):
        raise SandboxError(f"127.0.0.1:{settings.ssh_port} is already in use by something else; stop it or "
                           "set CLOUDPYPI_SANDBOX_SSH_PORT")
    logfile = settings.run_dir / "nspawn.log"
    with open(logfile, "w") as out:
        proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(settings.root), "-M", settings.name, "--boot", "--register=no",
             "--keep-unit", "--console=passive"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    log.info("booting %s (nspawn pid %d)", settings.name, proc.pid)
    states: list[str] = []

    def booted() -> bool:
        states.append(system_state(settings))
        return states[-1] in READY_STATES

    def died() -> str | None:
        if proc.poll() is not None:
            return f"systemd-nspawn exited with {proc.returncode}; its log ends:\n{tail(logfile)}"
        return None

    try:
        wait_for("the sandbox host's boot", booted, settings.boot_timeout, died)
    except SandboxError:
        stop_pid(proc.pid, "systemd-nspawn", timeout=30)
        raise
    if states[-1] == "degraded":
        failed = subprocess.run(ssh_command(settings, "systemctl", "--failed", "--no-legend", "--plain"),
                                capture_output=True, text=True, check=False).stdout.strip()
        log.info("the host booted degraded; failed units: %s", failed.replace("\n", "; ") or "none")
    return proc.pid


def moto_answers(url: str) -> bool:
    # The dashboard page is small and fixed; data.json is the whole state, megabytes after a deploy,
    # and too slow to be a liveness probe.
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def moto_server_binary() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise SandboxError("moto_server not found: run `make venv` (it installs moto[server])")
    return found


def start_moto(settings: Settings) -> int | None:
    if moto_answers(settings.moto_url):
        log.info("reusing the moto server already answering at %s (sandbox down will not stop it)",
                 settings.moto_url)
        return None
    if port_open(settings.moto_port):
        raise SandboxError(f"127.0.0.1:{settings.moto_port} is in use by something that is not moto; "
                           "set CLOUDPYPI_SANDBOX_MOTO_PORT")
    logfile = settings.run_dir / "moto.log"
    with open(logfile, "w") as out:
        proc = subprocess.Popen([moto_server_binary(), "-H", "127.0.0.1", "-p", str(settings.moto_port)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def died() -> str | None:
        if proc.poll() is not None:
            return f"moto_server exited with {proc.returncode}; its log ends:\n{tail(logfile)}"
        return None

    wait_for(f"moto at {settings.moto_url}", lambda: moto_answers(settings.moto_url), 60, died)
    return proc.pid


def stop_pid(pid: int | None, marker: str, timeout: float) -> None:
    """SIGTERM the process (and its session), wait for it to exit; SIGKILL after the timeout."""
    if not alive(pid, marker):
        return
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    try:
        wait_for(f"{marker} (pid {pid}) to exit", lambda: not alive(pid, marker), timeout)
    except SandboxError:
        log.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", marker, pid, timeout)
        os.killpg(pid, signal.SIGKILL)
        wait_for(f"{marker} (pid {pid}) to die", lambda: not alive(pid, marker), 10)


# --- commands -------------------------------------------------------------------------------------------

def load_state(settings: Settings) -> State | None:
    try:
        return State(**json.loads(settings.state_file.read_text()))
    except FileNotFoundError:
        return None


# How long a live container may take to answer as running: right after a deploy, sshd or a unit may
# be restarting and a loaded machine answers SSH slowly, and a single probe then mistook a working
# sandbox for a broken one (and `up` tore it down).
READY_GRACE_SECONDS = 60.0


def is_up(settings: Settings, state: State | None) -> bool:
    """True when both processes live and the host answers as running, within a bounded grace."""
    if state is None or not alive(state.nspawn_pid, "systemd-nspawn"):
        return False

    def ready() -> bool:
        return moto_answers(state.moto_url) and system_state(settings) in READY_STATES
    try:
        wait_for("the sandbox's readiness", ready,
                 READY_GRACE_SECONDS,
                 lambda: None if alive(state.nspawn_pid, "systemd-nspawn") else "systemd-nspawn exited")
    except SandboxError as exc:
        log.warning("%s", exc)
        return False
    return True


def up(settings: Settings) -> State:
    if reason := unavailable_reason():
        raise SandboxError(reason)
    state = load_state(settings)
    if is_up(settings, state):
        assert state is not None
        log.info("the sandbox is already up")
        return state
    if state is not None:
        log.info("cleaning up a sandbox that is only partly up")
        down(settings)
    started = time.monotonic()
    ensure_prereqs()
    tarball = build_rootfs(settings)
    key = ensure_key(settings)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    prepare_root(settings, tarball, key)
    state = State(nspawn_pid=None, moto_pid=None, root=str(settings.root), ssh_host="127.0.0.1",
                  ssh_port=settings.ssh_port, ssh_user=ADMIN_USER, ssh_key=str(key),
                  moto_url=settings.moto_url, name=settings.name)
    try:
        state.moto_pid = start_moto(settings)
        save_state(settings, state)
        state.nspawn_pid = boot(settings)
        save_state(settings, state)
    except BaseException:
        down(settings)
        raise
    log.info("the sandbox is up (%.1f s)", time.monotonic() - started)
    return state


def save_state(settings: Settings, state: State) -> None:
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
    tmp.rename(settings.state_file)


def down(settings: Settings) -> None:
    state = load_state(settings)
    if state is not None:
        stop_pid(state.nspawn_pid, "systemd-nspawn", timeout=60)
        stop_pid(state.moto_pid, "moto_server", timeout=15)
    if settings.root.exists():
        remove_tree(settings.root)
    settings.state_file.unlink(missing_ok=True)
    log.info("the sandbox is down")


def describe(state: State) -> str:
    return (f"sandbox host: ssh -i {state.ssh_key} -p {state.ssh_port} {state.ssh_user}@{state.ssh_host}\n"
            f"AWS endpoint (moto): {state.moto_url}\n"
            f"use it: CLOUDPYPI_INVENTORY=inventory/sandbox AWS_ENDPOINT_URL={state.moto_url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log every command run")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 0 if the sandbox can run here, else print why and exit 3")
    for name, text in (("up", "build and boot the host, start moto"), ("status", "say whether it is up")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--json", action="store_true", help="print the state as JSON")
    sub.add_parser("down", help="stop what up started and remove the run copy")
    sub.add_parser("env", help="print shell exports for the endpoints")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="sandbox: %(message)s", stream=sys.stderr)
    settings = Settings.from_env()
    try:
        if args.command == "check":
            if reason := unavailable_reason():
                print(reason)
                return EXIT_UNAVAILABLE
            return 0
        if args.command == "up":
            if reason := unavailable_reason():
                print(f"the sandbox cannot run here: {reason}")
                return EXIT_UNAVAILABLE
            state = up(settings)
            print(json.dumps(asdict(state)) if args.json else describe(state))
            return 0
        if args.command == "down":
            down(settings)
            return 0
        state = load_state(settings)
        running = is_up(settings, state)
        if args.command == "status":
            if args.json:
                print(json.dumps({"up": running, **(asdict(state) if state else {})}))
            else:
                print(describe(state) if running and state else "the sandbox is down")
            return 0 if running else 1
        if args.command == "env":
            print(f"export CLOUDPYPI_SANDBOX_SSH_KEY={settings.key}\n"
                  f"export CLOUDPYPI_SANDBOX_SSH_PORT={settings.ssh_port}\n"
                  f"export CLOUDPYPI_SANDBOX_MOTO_URL={settings.moto_url}")
            return 0
    except SandboxError as exc:
        log.error("%s", exc)
        return 1
    except subprocess.CalledProcessError as exc:
        log.error("command failed (exit %s): %s", exc.returncode, " ".join(map(str, exc.cmd)))
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
