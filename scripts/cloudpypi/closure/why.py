"""`why NAME`: the requirement chains that pulled a project into the closure.  Pure: records in, text out."""

from __future__ import annotations

from collections.abc import Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from cloudpypi.closure.provider import Edge
from cloudpypi.closure.store import ClosureRecord, EnvRecord

MAX_CHAINS = 20


def _subject_name(subject: str) -> str | None:
    try:
        return canonicalize_name(Requirement(subject).name)
    except InvalidRequirement:
        return None


def _base(identifier: str) -> str:
    return identifier.split("[", 1)[0]


def chains(env: EnvRecord, name: str, limit: int = MAX_CHAINS) -> list[list[Edge]]:
    """Every path from a top-level requirement down to ``name``, as the edges along it (root first)."""
    name = canonicalize_name(name)
    into: dict[str, list[Edge]] = {}
    for edge in env.edges:
        into.setdefault(edge.child, []).append(edge)
    found: list[list[Edge]] = []

    def walk(child: str, below: list[Edge], seen: frozenset[str]) -> Iterator[list[Edge]]:
        for edge in sorted(into.get(child, ()), key=lambda e: (e.parent or "", e.requirement)):
            path = [edge, *below]
            if edge.parent is None:
                yield path
                continue
            parent = _base(edge.parent)
            if parent not in seen:  # a cycle: this path adds nothing new
                yield from walk(parent, path, seen | {parent})

    for path in walk(name, [], frozenset({name})):
        found.append(path)
        if len(found) >= limit:
            break
    return found


def render_chain(path: list[Edge]) -> str:
    parts = ["requirement " + path[0].requirement]
    for index, edge in enumerate(path):
        if index:
            parts.append(edge.requirement)
        # the next edge's parent names the child with its extras (libb[fast]), when there is one
        child = path[index + 1].parent if index + 1 < len(path) else edge.child
        parts.append(f"{child} {edge.child_version}")
    return " -> ".join(parts)


def explain(record: ClosureRecord, name: str) -> tuple[bool, list[str]]:
    """(found, lines): chains grouped by the environments that share them, or why the project is absent."""
    wanted = canonicalize_name(name)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for env in record.environments:
        rendered = tuple(render_chain(path) for path in chains(env, wanted))
        if rendered:
            grouped.setdefault(rendered, []).append(env.label)
    lines: list[str] = []
    for rendered, labels in grouped.items():
        versions = sorted({v for env in record.environments if env.label in labels
                           for v in env.pins.get(wanted, ())})
        lines.append(f"{wanted} {', '.join(versions)}  [{', '.join(labels)}]")
        lines.extend(f"  {chain}" for chain in rendered)
    found = bool(lines)
    for subject, reason in record.failures:
        if _subject_name(subject) == wanted:
            lines.append(f"{subject}: not mirrored: {reason}")
    if not lines:
        lines.append(f"{wanted} is not in the closure of {', '.join(record.requirements)}")
    return found, lines
