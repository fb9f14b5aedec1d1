"""PEP 503 HTML and PEP 691 JSON pages for the fake origin, and the Accept header negotiation.

Pure functions over corpus snapshots; the only I/O is ArtifactStore.get (which builds files on demand).
"""

from __future__ import annotations

import html
import json
from typing import Any

from packaging.version import InvalidVersion, Version

from .corpus import Corpus
from .model import Project, normalize

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
API_VERSION = "1.4"

_ALIASES = {
    JSON_V1: JSON_V1,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    HTML_V1: HTML_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
    TEXT_HTML: TEXT_HTML,
    "text/*": TEXT_HTML,
    "*/*": TEXT_HTML,
}
_PREFERENCE = {JSON_V1: 3, HTML_V1: 2, TEXT_HTML: 1}


def negotiate(accept: str | None, *, html_only: bool = False, format_param: str | None = None) -> str | None:
    """The content type to serve, or None for 406.  No Accept header means text/html, like pypi."""
    if html_only:
        return TEXT_HTML
    if format_param:
        accept = format_param
    if not accept:
        return TEXT_HTML
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        quality = 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        chosen = _ALIASES.get(media)
        if chosen is None or quality <= 0:
            continue
        candidate = (quality, _PREFERENCE[chosen], chosen)
        if best is None or candidate > best:
            best = candidate
    return best[2] if best else None


def _version_key(version: str) -> tuple[int, Any]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def provenance_path(project: Project, version: str, filename: str) -> str:
    """Where the index host serves a file's provenance, as pypi.org's integrity API does."""
    return f"/integrity/{project.normalized}/{version}/{filename}/provenance"


def file_entries(corpus: Corpus, project: Project, files_url: str, index_url: str = "") -> list[dict[str, Any]]:
    """PEP 691 file entries, in release then upload order, with patches and raw entries applied.

    A quarantined project (PEP 792) lists no files, as pypi.org's index does."""
    entries: list[dict[str, Any]] = []
    patches = corpus.overrides.patched_entries
    if project.status == "quarantined":
        return entries
    for release in sorted(project.releases.values(), key=lambda r: _version_key(r.version)):
        for dist in release.files.values():
            spec = corpus.spec_for(project, release, dist)
            art = corpus.store.get(spec)
            meta: dict[str, str] | bool = {"sha256": art.metadata_sha256} if art.metadata_sha256 else False
            yanked: bool | str = (release.yanked_reason or True) if release.yanked else False
            entry: dict[str, Any] = {
                "filename": dist.filename,
                "url": files_url.rstrip("/") + spec.url_path,
                "hashes": {"sha256": art.sha256},
                "requires-python": release.requires_python,
                "core-metadata": meta,
                "data-dist-info-metadata": meta,
                "size": art.size,
                "upload-time": dist.upload_time,
                "yanked": yanked,
            }
            if dist.filename in project.provenance:
                entry["provenance"] = index_url.rstrip("/") + provenance_path(project, release.version, dist.filename)
            entry.update(patches.get((project.normalized, dist.filename), {}))
            entries.append(entry)
    return entries


def project_json(
    project: Project, serial: int, entries: list[dict[str, Any]], raw: list[dict[str, Any]]
) -> bytes:
    versions = [] if project.status == "quarantined" else sorted(project.releases, key=_version_key)
    meta: dict[str, Any] = {"_last-serial": serial, "api-version": API_VERSION}
    if project.tracks:
        meta["tracks"] = list(project.tracks)
    doc: dict[str, Any] = {
        "meta": meta,
        "name": project.normalized,
        "versions": versions,
        "files": entries + raw,
    }
    if project.alternate_locations:
        doc["alternate-locations"] = list(project.alternate_locations)
    if project.status:
        doc["project-status"] = {"status": project.status, **({"reason": project.status_reason}
                                                               if project.status_reason else {})}
    return json.dumps(doc).encode()


def _pypi_meta(project: Project) -> list[str]:
    """The PEP 792 and PEP 708 <meta> tags of a project page."""
    tags = []
    if project.status:
        tags.append(f'    <meta name="pypi:project-status" content="{_attr(project.status)}">')
        if project.status_reason:
            tags.append(f'    <meta name="pypi:project-status-reason" content="{_attr(project.status_reason)}">')
    tags.extend(f'    <meta name="pypi:tracks" content="{_attr(url)}">' for url in project.tracks)
    tags.extend(f'    <meta name="pypi:alternate-locations" content="{_attr(url)}">'
                for url in project.alternate_locations)
    return tags


def _attr(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value), quote=True)


def anchor(entry: dict[str, Any]) -> str:
    """One PEP 503 anchor from a (possibly hostile) JSON entry, values passed through verbatim."""
    url = entry.get("url", "")
    hashes = entry.get("hashes")
    if isinstance(hashes, dict) and hashes.get("sha256"):
        url = f"{url}#sha256={hashes['sha256']}"
    attrs = [f'href="{_attr(url)}"']
    if entry.get("requires-python"):
        attrs.append(f'data-requires-python="{_attr(entry["requires-python"])}"')
    meta = entry.get("core-metadata")
    if isinstance(meta, dict) and meta.get("sha256"):
        value = f"sha256={meta['sha256']}"
        attrs.append(f'data-dist-info-metadata="{_attr(value)}"')
        attrs.append(f'data-core-metadata="{_attr(value)}"')
    yanked = entry.get("yanked")
    if yanked:
        attrs.append(f'data-yanked="{_attr(yanked if isinstance(yanked, str) else "")}"')
    if entry.get("provenance"):
        attrs.append(f'data-provenance="{_attr(entry["provenance"])}"')
    return f"<a {' '.join(attrs)}>{html.escape(str(entry.get('filename', '')))}</a><br />"


def project_html(
    project: Project, serial: int, entries: list[dict[str, Any]], raw: list[tuple[dict[str, Any], str | None]]
) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        *_pypi_meta(project),
        f"    <title>Links for {html.escape(project.normalized)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {html.escape(project.normalized)}</h1>",
    ]
    lines.extend(f"    {anchor(e)}" for e in entries)
    lines.extend(f"    {raw_html if raw_html is not None else anchor(e)}" for e, raw_html in raw)
    lines += ["  </body>", "</html>", f"<!--SERIAL {serial}-->", ""]
    return "\n".join(lines).encode()


def root_listing(corpus: Corpus) -> tuple[int, list[tuple[str, int]]]:
    """(global serial, [(display name, last serial)]) including raw and synthetic names."""
    with corpus.lock:
        names = corpus.project_serials()
        names.extend(corpus.overrides.root_names.items())
        count, prefix = corpus.overrides.synthetic_root
        serial = corpus.serial
    names.extend((f"{prefix}{i:06d}", 1 + i % max(serial, 1)) for i in range(count))
    return serial, names


def root_json(serial: int, names: list[tuple[str, int]]) -> bytes:
    doc = {
        "meta": {"_last-serial": serial, "api-version": API_VERSION},
        "projects": [{"name": n, "_last-serial": s} for n, s in names],
    }
    return json.dumps(doc).encode()


def root_html(serial: int, names: list[tuple[str, int]]) -> bytes:
    parts = [
        "<!DOCTYPE html>\n<html>\n  <head>\n",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n',
        "    <title>Simple index</title>\n  </head>\n  <body>\n",
    ]
    parts.extend(
        f'    <a href="/simple/{html.escape(normalize(n), quote=True)}/">{html.escape(n)}</a>\n'
        for n, _s in names
    )
    parts.append(f"  </body>\n</html>\n<!--SERIAL {serial}-->\n")
    return "".join(parts).encode()
