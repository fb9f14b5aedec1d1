"""`fab publish`: private distributions uploaded through the dev server's service.

The files are copied to a fresh folder under /var/tmp on the host (the only place the service's runner
reads uploads from), readable by the service user, and `cloudpypi upload` runs there as the service,
with the deployed configuration; the folder goes whatever happens.  Only the standard library here:
the fabfile imports it.
"""

from __future__ import annotations

import glob
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

STAGING_PARENT = "/var/tmp"  # the runner's UPLOAD_DIR (roles/sync_service/templates/cloudpypi-service.j2)
SUFFIXES = (".whl", ".tar.gz")


class Uploader(Protocol):
    def put(self, local: str, remote: str) -> Any: ...


def local_dists(spec: str) -> list[Path]:
    """Paths or glob patterns, separated by commas or spaces, as distribution files here."""
    found: list[Path] = []
    for part in spec.replace(",", " ").split():
        matches = sorted(glob.glob(part)) if glob.has_magic(part) else [part]
        if not matches:
            raise ValueError(f"{part!r} matches no file")
        for match in matches:
            path = Path(match)
            if not path.is_file():
                raise ValueError(f"{match} is not a file")
            if not match.endswith(SUFFIXES):
                raise ValueError(f"{match} is not a wheel (.whl) or an sdist (.tar.gz)")
            found.append(path)
    if not found:
        raise ValueError("name at least one wheel or sdist (paths or a quoted glob such as 'dist/*')")
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise ValueError("two files with the same name: a filename is published once")
    return found


def publish_dists(conn: Uploader, run: Callable[..., Any], service_command: Callable[..., str], config: str,
                  paths: Sequence[Path], lock_wait: float) -> None:
    """Stage the files on the host, run the service's `upload`, remove the staging folder."""
    staged = run(f"mktemp -d -p {STAGING_PARENT} cloudpypi-publish.XXXXXXXX", hide=True).stdout.strip()
    try:
        # the folder and files are readable by the service user; they are published anyway
        run(shlex.join(["chmod", "755", staged]), hide=True)
        remote_paths = []
        for path in paths:
            remote = f"{staged}/{path.name}"
            conn.put(str(path), remote=remote)
            remote_paths.append(remote)
        run(shlex.join(["chmod", "644", *remote_paths]), hide=True)
        run(service_command("upload", "--config", config, "--lock-wait", f"{lock_wait:g}", *remote_paths))
    finally:
        run(shlex.join(["rm", "-rf", "--", staged]), hide=True, ok_codes=tuple(range(256)))
