"""What syncing one project must fetch, write and delete.  Pure: origin page + mirror page + filters in."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cloudpypi.config import Filters
from cloudpypi.filters import select_files, versions_of
from cloudpypi.model import DistFile, ProjectPage


@dataclass(frozen=True)
class ProjectPlan:
    name: str
    desired: ProjectPage  # the page as it should be once every file is in place
    present: frozenset[str]  # keys already linked from the current mirror page: verified, keep as they are
    to_fetch: tuple[DistFile, ...]  # files not linked yet: check the target, else download
    to_drop: tuple[str, ...]  # keys the current page links and the new one does not (deleted after grace)
    skipped: tuple[DistFile, ...] = ()  # over [mirror] max_file_size: not mirrored, reported

    @property
    def unchanged(self) -> bool:
        return not self.to_fetch and not self.to_drop


def file_keys(page: ProjectPage) -> set[str]:
    keys = set()
    for item in page.files:
        keys.update(item.stored_keys)
        if item.provenance_url:  # offered by the origin: a copy the mirror holds stays linked
            keys.add(item.provenance_key)
    return keys


def plan_project(origin_page: ProjectPage, mirror_page: ProjectPage | None, filters: Filters,
                 only_filenames: frozenset[str] | None = None, max_file_size: int = 0) -> ProjectPlan:
    """only_filenames: a closure mirror's selection for this project (None: the filters alone decide).
    max_file_size: the mirror's cap; a file known to be larger is skipped (left off the page) and reported."""
    selected = select_files(origin_page.files, filters, origin_page.name)
    if origin_page.quarantined:
        selected = ()  # PEP 792: a quarantined project offers no files, whatever its page still lists
    if only_filenames is not None:
        selected = tuple(f for f in selected if f.filename in only_filenames)
    skipped: tuple[DistFile, ...] = ()
    if max_file_size:
        skipped = tuple(f for f in selected if f.size is not None and f.size > max_file_size)
        if skipped:
            selected = tuple(f for f in selected if f not in skipped)
    versions = origin_page.versions if len(selected) == len(origin_page.files) else versions_of(selected)
    desired = dataclasses.replace(origin_page, files=selected, versions=() if origin_page.quarantined else versions)
    current = {item.key: item for item in mirror_page.files} if mirror_page else {}
    present = set()
    to_fetch = []
    for item in selected:
        old = current.get(item.key)
        same_file = old is not None and old.sha256 == item.sha256
        same_metadata = old is not None and (not item.has_metadata or old.metadata_sha256 == item.metadata_sha256)
        if same_file and same_metadata:
            present.add(item.key)
        else:
            to_fetch.append(item)
    dropped = file_keys(mirror_page) - file_keys(desired) if mirror_page else set()
    return ProjectPlan(origin_page.name, desired, frozenset(present), tuple(to_fetch), tuple(sorted(dropped)),
                       skipped)


def removal_keys(mirror_page: ProjectPage | None) -> tuple[str, ...]:
    """Every file a removed project's page linked: they go after the grace period."""
    return tuple(sorted(file_keys(mirror_page))) if mirror_page else ()
