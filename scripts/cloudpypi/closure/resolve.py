"""Resolving one environment: all requirements together, isolating the ones that cannot be resolved.

``resolved`` mode: one resolution of every top-level requirement that is active in the environment (its
marker holds) and satisfiable on its own.  If the whole set conflicts, each requirement is resolved
alone; the ones that fail are reported with resolvelib's causes, the rest are resolved together again,
and if they still conflict with each other the union of their separate resolutions is kept (and the
conflict reported).  ``matching`` mode adds, for every top-level requirement, every release its
specifier allows, each resolved with its own closure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from cloudpypi.closure.index import ProjectIndex
from cloudpypi.closure.provider import PYTHON, Candidate, ClosureProvider, Edge, EnvResult, Req, evaluate
from cloudpypi.platforms import Environment

log = logging.getLogger(__name__)

MAX_ROUNDS = 20000


class _Failed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _describe(exc: ResolutionImpossible | ResolutionTooDeep) -> str:
    if isinstance(exc, ResolutionTooDeep):
        return f"the resolver gave up after {exc.round_count} rounds"
    causes = []
    for info in exc.causes:
        if info.requirement.identifier == PYTHON:
            causes.append(f"{info.parent} needs Python {info.requirement.specifier}")
            continue
        by = f"required by {info.parent}" if info.parent is not None else "top-level"
        causes.append(f"{info.requirement.text} ({by})")
    return "no version satisfies all of: " + "; ".join(dict.fromkeys(causes))


def _resolve(provider: ClosureProvider, roots: Sequence[Req]) -> dict[str, object]:
    try:
        result = Resolver(provider, BaseReporter()).resolve(list(roots), max_rounds=MAX_ROUNDS)
    except (ResolutionImpossible, ResolutionTooDeep) as exc:
        raise _Failed(_describe(exc)) from None
    return {"mapping": result.mapping, "criteria": result.criteria}


def _collect(outcome: EnvResult, provider: ClosureProvider, resolution: dict[str, object]) -> None:
    mapping: dict[str, Candidate] = resolution["mapping"]  # type: ignore[assignment]
    for identifier, candidate in mapping.items():
        if identifier == PYTHON or candidate.extras or candidate.file is None:
            continue
        outcome.pins.setdefault(candidate.name, set()).add(candidate.version)
        outcome.files.setdefault(candidate.name, {})[candidate.version] = candidate.file
    for identifier, criterion in resolution["criteria"].items():  # type: ignore[attr-defined]
        child = mapping.get(identifier)
        if identifier == PYTHON or child is None:
            continue
        for info in criterion.information:
            parent = info.parent
            if parent is not None and parent.name == child.name:
                continue  # name[extra] -> name==version: the same release
            outcome.edges.append(Edge(child.name, str(child.version), parent.identifier if parent else None,
                                      str(parent.version) if parent else None, info.requirement.text))
    selected = {(c.name, c.version, c.extras) for c in mapping.values()}
    for dropped in provider.dropped:
        parent = dropped.parent
        if parent is None or (parent.name, parent.version, parent.extras) in selected:
            by = f"required by {parent}" if parent else "top-level"
            outcome.failures.append((dropped.requirement, f"{by}: {dropped.reason}"))


def resolve_environment(env: Environment, requirements: Sequence[Requirement], index: ProjectIndex,
                        releases: str = "resolved") -> EnvResult:
    provider = ClosureProvider(env, index)
    outcome = EnvResult(env)
    index.prefetch(Req.from_requirement(r).name for r in requirements)
    roots: list[Req] = []
    for requirement in requirements:
        try:
            if not evaluate(requirement.marker, env.markers):
                continue
        except (UndefinedComparison, UndefinedEnvironmentName) as exc:
            outcome.failures.append((str(requirement), f"its marker cannot be evaluated: {exc}"))
            continue
        root = Req.from_requirement(requirement)
        reason = provider.why_unavailable(root)
        if reason is None:
            roots.append(root)
        else:
            outcome.failures.append((root.text, f"top-level: {reason}"))
    if not roots:
        return outcome
    resolutions = []
    try:
        resolutions.append(_resolve(provider, roots))
    except _Failed:
        passing = []
        for root in roots:
            try:
                resolutions.append(_resolve(provider, [root]))
                passing.append(root)
            except _Failed as exc:
                outcome.failures.append((root.text, f"top-level: {exc.reason}"))
        if len(passing) > 1:
            try:
                resolutions = [_resolve(provider, passing)]
            except _Failed as exc:
                names = ", ".join(r.text for r in passing)
                outcome.failures.append((names, f"these requirements conflict with each other ({exc.reason}); "
                                                "each one's own closure is mirrored"))
    if releases == "matching":
        for root in roots:
            for version in provider.matching(root.name, [root]):
                pinned = Req(root.name, root.extras, SpecifierSet(f"=={version}"), f"{root.identifier}=={version}")
                try:
                    resolutions.append(_resolve(provider, [pinned]))
                except _Failed as exc:
                    outcome.failures.append((pinned.text, f"top-level (matching release): {exc.reason}"))
    for resolution in resolutions:
        _collect(outcome, provider, resolution)
    outcome.failures = list(dict.fromkeys(outcome.failures))
    return outcome
