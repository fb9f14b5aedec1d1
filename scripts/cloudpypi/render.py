"""PEP 503 HTML and PEP 691 JSON pages from the model.  Pure: values in, bytes out.

Where the pages live, and reading them back, is the page store's part (cloudpypi.layout, cloudpypi.pages).

Project pages go through a Jinja2 template.  The root index can list 700,000 projects, so it is
rendered as a stream of chunks straight from the state's cursor, never as one big string.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cloudpypi.layout import HTML_PAGE, JSON_PAGE, V1_HTML_PAGE, page_dir
from cloudpypi.model import DistFile, ProjectPage, RootEntry
from cloudpypi.paths import relative_link

if TYPE_CHECKING:
    import jinja2

API_VERSION = "1.4"  # PEP 792 project status; also PEP 740 provenance (1.3), PEP 708 (1.2)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2  # imported on first use: a no-op sync renders no page and skips its import cost

    return jinja2.Environment(
        loader=jinja2.PackageLoader("cloudpypi", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,  # the template ships with the package: no stat() of it per rendered page
    )


def link_to(directory: str, key: str, public_url: str = "") -> str:
    """A page's link to a stored object: relative to the page, or absolute under the mirror's public URL."""
    return f"{public_url.rstrip('/')}/{key}" if public_url else relative_link(directory, key)


def _provenance(file: DistFile, directory: str, public_url: str) -> str | None:
    return link_to(directory, file.provenance_key, public_url) if file.has_provenance else None


def _json_file(file: DistFile, href: str, provenance: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": file.filename,
        "url": href,
        "hashes": {"sha256": file.sha256},
        "requires-python": file.requires_python,
        "yanked": file.yanked,
        "size": file.size,
    }
    if file.upload_time:
        entry["upload-time"] = file.upload_time
    metadata: Any = {"sha256": file.metadata_sha256} if file.has_metadata and file.metadata_sha256 else False
    entry["core-metadata"] = metadata
    entry["data-dist-info-metadata"] = metadata  # PEP 714: kept for clients that predate the rename
    if provenance:
        entry["provenance"] = provenance  # PEP 740: the mirror's own copy of the origin's provenance object
    return entry


def render_project_json(page: ProjectPage, public_url: str = "") -> bytes:
    directory = page_dir(page.name)
    meta: dict[str, Any] = {"api-version": API_VERSION, "_last-serial": page.last_serial}
    if page.tracks:
        meta["tracks"] = list(page.tracks)
    document: dict[str, Any] = {
        "meta": meta,
        "name": page.name,
        "versions": list(page.versions),
        "files": [_json_file(f, relative_link(directory, f.key), _provenance(f, directory, public_url))
                  for f in page.files],
    }
    if page.alternate_locations:
        document["alternate-locations"] = list(page.alternate_locations)
    if page.status:
        status = {"status": page.status}
        if page.status_reason:
            status["reason"] = page.status_reason
        document["project-status"] = status
    return json.dumps(document, indent=None, separators=(",", ":"), ensure_ascii=False).encode()


def render_project_html(page: ProjectPage, public_url: str = "") -> bytes:
    directory = page_dir(page.name)
    files = [
        {
            "href": relative_link(directory, f.key),
            "sha256": f.sha256,
            "filename": f.filename,
            "requires_python": f.requires_python,
            "yanked": f.yanked,
            "metadata": f.metadata_sha256 if f.has_metadata else None,
            "provenance": _provenance(f, directory, public_url),
        }
        for f in page.files
    ]
    return _environment().get_template("project.html.j2").render(page=page, files=files,
                                                                 api_version=API_VERSION).encode()


def render_project(page: ProjectPage, public_url: str = "") -> dict[str, bytes]:
    """All three representations of a project page, by file name.

    public_url: the mirror's own base URL, when known; provenance links are then absolute, as PEP 740
    asks.  Without it every link is relative to the page, and the mirror works wherever it is served.
    """
    html_bytes = render_project_html(page, public_url)
    return {JSON_PAGE: render_project_json(page, public_url), V1_HTML_PAGE: html_bytes, HTML_PAGE: html_bytes}


_ROOT_HTML_HEAD = (
    '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.4">\n'
    "    <title>Simple index</title>\n  </head>\n  <body>\n"
)


# Names with nothing to escape in JSON or HTML: every name the state holds once it passed normalization.
_PLAIN_NAMES = re.compile(r"[a-z0-9._\n-]*\Z")


def iter_root_parts(batches: Iterable[Sequence[tuple[str, int | None]]],
                    serial: int | None) -> Iterator[tuple[bytes, bytes]]:
    """The root index in both forms at once, from batches of (name, last serial) rows in order:
    (JSON bytes, HTML bytes) pairs whose concatenations are exactly iter_root_json and iter_root_html.

    One pass over the state serves the three root pages (the two HTML pages are the same bytes).
    A batch of plain names (`[a-z0-9._-]`, what normalization leaves) is formatted without a
    json.dumps or html.escape call per name; any other batch takes the escaping path.
    """
    meta = json.dumps({"api-version": API_VERSION, "_last-serial": serial}, separators=(",", ":"))
    json_head, html_head = f'{{"meta":{meta},"projects":['.encode(), _ROOT_HTML_HEAD.encode()
    first = True
    for rows in batches:
        if not rows:
            continue
        if _PLAIN_NAMES.match("\n".join(name for name, _serial in rows)):
            objects = ",".join([f'{{"name":"{name}","_last-serial":{"null" if last is None else int(last)}}}'
                                for name, last in rows])
            links = "".join([f'    <a href="{name}/">{name}</a><br />\n' for name, _last in rows])
        else:
            dumps, escape = json.dumps, html.escape
            objects = ",".join(['{"name":' + dumps(name) + ',"_last-serial":'
                                + ("null" if last is None else str(int(last))) + "}" for name, last in rows])
            links = "".join([f'    <a href="{escape(name)}/">{escape(name)}</a><br />\n' for name, _last in rows])
        text = objects if first else "," + objects
        yield ((json_head if first else b"") + text.encode(), (html_head if first else b"") + links.encode())
        first = False
    if first:
        yield json_head, html_head
    yield b"]}", b"  </body>\n</html>\n"


def iter_root_html(entries: Iterable[RootEntry], batch: int = 4096) -> Iterator[bytes]:
    yield _ROOT_HTML_HEAD.encode()
    lines: list[str] = []
    for entry in entries:
        # Normalized names need no escaping, but the page must stay safe whatever the state holds.
        name = html.escape(entry.name)
        lines.append(f'    <a href="{name}/">{name}</a><br />\n')
        if len(lines) >= batch:
            yield "".join(lines).encode()
            lines.clear()
    lines.append("  </body>\n</html>\n")
    yield "".join(lines).encode()


def iter_root_json(entries: Iterable[RootEntry], serial: int | None, batch: int = 4096) -> Iterator[bytes]:
    meta = json.dumps({"api-version": API_VERSION, "_last-serial": serial}, separators=(",", ":"))
    yield f'{{"meta":{meta},"projects":['.encode()
    parts: list[str] = []
    first = True
    dumps = json.dumps
    for entry in entries:
        parts.append(("" if first else ",") + '{"name":' + dumps(entry.name) + ',"_last-serial":'
                     + ("null" if entry.last_serial is None else str(int(entry.last_serial))) + "}")
        first = False
        if len(parts) >= batch:
            yield "".join(parts).encode()
            parts.clear()
    parts.append("]}")
    yield "".join(parts).encode()
