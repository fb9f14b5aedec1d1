"""CloudFront invalidation of the pages a sync changed, run on demand (a sync never invalidates): a pure
planner that knows what each choice costs, a ledger of the paths used this month, and an executor that is
idempotent and waits out CloudFront's in-flight limits.

What is cached.  The viewer-request function rewrites ``/simple/foo/`` to one of the stored objects
``/simple/foo/index.v1_json``, ``index.v1_html`` or ``index.html`` *before* the cache lookup, so the
cache holds those object keys; ``/simple/foo/`` itself is never cached.  Package files are immutable and
never invalidated.

Representations of one changed page (docs/edge.md has the reasoning):

* the three object keys: 3 paths, exact;
* one wildcard ``/simple/foo/*`` (``/simple/index*`` for the root): 1 path, covers exactly that
  project's objects (the root's wildcard may also touch projects named ``index...``: harmless), but
  CloudFront allows only 15 wildcard paths in flight;
* ``/simple/*``: 1 path for every page at once (the whole /simple/ cache is refilled from S3).

Policies:

* ``none``: invalidate nothing; pages become fresh when their TTL runs out.
* ``wildcard``: ``/simple/*``.
* ``changed``: exactly the changed pages, as per-page wildcards when at most 15, else object keys;
  collapsed to ``/simple/*`` when that costs fewer dollars this month, or when the exact form would
  exceed CloudFront's limits (3,000 paths in flight).  While both cost $0 (inside the free allowance)
  the exact form is kept, so the rest of the cache stays warm.
* ``auto`` (default): the cheapest policy that keeps every page at most ``max_staleness`` seconds stale
  (default 600 s, PyPI's own page TTL).  If pages are cached for at most that long anyway (their TTL
  <= max_staleness), that is ``none`` at $0.  Otherwise (a longer ``index_max_age``, or a cache policy
  whose minimum TTL overrides max-age: ``--page-ttl``) it is the cheaper of ``changed`` and
  ``wildcard``, by paths used (each path spent now is one the month cannot spend later).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cloudpypi.edge.rules import is_valid_name, normalize_name
from cloudpypi.errors import CloudPyPIError
from cloudpypi.layout import LEDGER_KEY, PAGE_NAMES, page_url_path
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)

POLICIES = ("auto", "changed", "wildcard", "none")
ALL_PAGES = "/simple/*"
MAX_WILDCARDS_IN_FLIGHT = 15
MAX_PATHS_IN_FLIGHT = 3000
LEDGER_KEEP_INVALIDATIONS = 200
LEDGER_KEEP_MONTHS = 24


class InvalidationError(CloudPyPIError):
    pass


# -- prices -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvalidationPrices:
    free_paths_per_month: int
    usd_per_path: Decimal
    as_of: str = ""

    @classmethod
    def from_prices(cls, prices: Any) -> InvalidationPrices:
        """The CloudFront invalidation part of the prices file (cloudpypi.costs.prices.load_prices())."""
        return cls(prices.cf_invalidation_free_paths, prices.cf_invalidation_per_path, prices.as_of)

    def cost(self, paths: int, used_this_month: int) -> Decimal:
        """Dollars for `paths` more paths after `used_this_month` (a wildcard counts as one path)."""
        billable = max(0, used_this_month + paths - self.free_paths_per_month)
        already_billable = max(0, used_this_month - self.free_paths_per_month)
        return (billable - already_billable) * self.usd_per_path


# -- which pages changed ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Pages:
    """The page folders to refresh ("/simple/" and "/simple/<name>/"), or every page."""

    folders: tuple[str, ...] = ()
    everything: bool = False
    dropped: tuple[str, ...] = ()  # /packages/ paths: immutable, never invalidated


def pages_from_paths(paths: Iterable[str]) -> Pages:
    """URL paths from a sync report or the command line -> the page folders they concern.

    Accepts ``/simple/``, ``/simple/<name>/`` (any spelling of the name: it is normalized), the object
    keys ``/simple/<name>/index.*``, and ``/simple/*``.  ``/packages/...`` is dropped with a note.
    """
    folders: dict[str, None] = {}
    dropped: list[str] = []
    everything = False
    for raw in paths:
        path = raw.strip()
        if path.startswith("/packages/"):
            dropped.append(path)
            continue
        if path in (ALL_PAGES, "/*"):
            everything = True
            continue
        match = re.fullmatch(r"/simple/(?:([^/]+)/)?(index\.(?:html|v1_html|v1_json))?", path) \
            or re.fullmatch(r"/simple/([^/]+)", path)
        if not match:
            raise InvalidationError(f"{raw!r} is not a mirror page path (expected /simple/ or /simple/NAME/)")
        name = match.group(1)
        if name is None:
            folders[page_url_path(None)] = None
            continue
        if not is_valid_name(name):
            raise InvalidationError(f"{raw!r}: {name!r} is not a valid project name")
        folders[page_url_path(normalize_name(name))] = None
    return Pages(tuple(sorted(folders)), everything, tuple(dropped))


def object_paths(folder: str) -> list[str]:
    return [folder + page for page in PAGE_NAMES]


def wildcard_path(folder: str) -> str:
    return folder + "index*" if folder == page_url_path(None) else folder + "*"


def exact_paths(pages: Pages) -> tuple[str, ...]:
    """The fewest paths that cover exactly the changed pages, within CloudFront's wildcard limit."""
    if len(pages.folders) <= MAX_WILDCARDS_IN_FLIGHT:
        return tuple(wildcard_path(folder) for folder in pages.folders)
    return tuple(path for folder in pages.folders for path in object_paths(folder))


# -- the plan ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    policy: str
    paths: tuple[str, ...]
    cost: Decimal


@dataclass(frozen=True)
class Plan:
    requested: str
    chosen: str
    paths: tuple[str, ...]
    cost: Decimal
    reason: str
    options: dict[str, Option]
    pages: Pages
    used_this_month: int
    prices: InvalidationPrices

    @property
    def nothing(self) -> bool:
        return not self.paths


def parse_max_age(cache_control: str | None) -> int | None:
    """s-maxage (what a CDN obeys first) or max-age from a Cache-Control value."""
    if not cache_control:
        return None
    values = dict(re.findall(r"(s-maxage|max-age)\s*=\s*(\d+)", cache_control.lower()))
    chosen = values.get("s-maxage", values.get("max-age"))
    return int(chosen) if chosen is not None else None


def plan_invalidation(pages: Pages, policy: str, used_this_month: int, prices: InvalidationPrices, *,
                      page_ttl: int, max_staleness: int = 600) -> Plan:
    """Choose what to invalidate.  Pure: same inputs, same plan."""
    if policy not in POLICIES:
        raise InvalidationError(f"unknown invalidation policy {policy!r}; one of {', '.join(POLICIES)}")

    def option(name: str, paths: Sequence[str]) -> Option:
        return Option(name, tuple(paths), prices.cost(len(paths), used_this_month))

    changed_any = bool(pages.folders) or pages.everything
    exact = exact_paths(pages) if not pages.everything else (ALL_PAGES,)
    options = {
        "none": option("none", ()),
        "changed": option("changed", exact if changed_any else ()),
        "wildcard": option("wildcard", (ALL_PAGES,) if changed_any else ()),
    }
    wildcard, changed = options["wildcard"], options["changed"]

    def plan(chosen: Option, reason: str) -> Plan:
        return Plan(policy, chosen.policy, chosen.paths, chosen.cost, reason, options, pages,
                    used_this_month, prices)

    if not changed_any:
        return plan(options["none"], "no page changed")
    if policy == "none":
        return plan(options["none"], f"policy none: pages refresh when their TTL ({page_ttl} s) runs out")
    if policy == "wildcard":
        return plan(wildcard, "policy wildcard")
    if policy == "changed":
        if len(changed.paths) > MAX_PATHS_IN_FLIGHT:
            return plan(wildcard, f"{len(changed.paths)} exact paths exceed CloudFront's "
                                  f"{MAX_PATHS_IN_FLIGHT} in flight: collapsed to /simple/*")
        if wildcard.cost < changed.cost:
            return plan(wildcard, f"collapsed {len(changed.paths)} paths to /simple/*: "
                                  f"${wildcard.cost:.3f} instead of ${changed.cost:.3f}")
        return plan(changed, "policy changed")
    # auto
    if page_ttl <= max_staleness:
        return plan(options["none"], f"auto: pages are cached at most {page_ttl} s, within the "
                                     f"{max_staleness} s freshness target, so the TTL alone keeps them fresh")
    cheaper = changed if len(changed.paths) <= len(wildcard.paths) else wildcard
    return plan(cheaper, f"auto: pages are cached {page_ttl} s, longer than the {max_staleness} s freshness "
                         f"target; {cheaper.policy} uses the fewest paths ({len(cheaper.paths)})")


def caller_reference(distribution_id: str, serial: int | str, paths: Sequence[str]) -> str:
    """Deterministic per (distribution, sync serial, paths): a retried run re-sends the same batch."""
    digest = hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()[:16]
    return f"cloudpypi-{distribution_id}-{serial}-{digest}"


# -- the ledger -------------------------------------------------------------------------------------

def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


@dataclass
class Ledger:
    """``.cloudpypi/invalidations.json``: paths used per calendar month (UTC), and recent invalidations."""

    months: dict[str, int] = field(default_factory=dict)
    invalidations: dict[str, dict[str, Any]] = field(default_factory=dict)  # caller reference -> details
    etag: str | None = None

    @classmethod
    def parse(cls, data: bytes | None, etag: str | None = None) -> Ledger:
        if data is None:
            return cls()
        try:
            doc = json.loads(data)
            months = {str(k): int(v) for k, v in doc.get("months", {}).items()}
            invalidations = {str(k): dict(v) for k, v in doc.get("invalidations", {}).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidationError(f"{LEDGER_KEY} is damaged ({exc}); move it aside to start a new ledger") \
                from None
        return cls(months, invalidations, etag)

    def to_bytes(self) -> bytes:
        return json.dumps({"version": 1, "months": self.months, "invalidations": self.invalidations},
                          indent=1, sort_keys=True).encode()

    def used(self, month: str) -> int:
        return self.months.get(month, 0)

    def record(self, reference: str, entry: dict[str, Any]) -> bool:
        """Add one invalidation; False (and no count) when it is already recorded."""
        if reference in self.invalidations:
            return False
        month = entry["month"]
        self.months[month] = self.used(month) + int(entry["paths"])
        self.invalidations[reference] = entry
        for old in sorted(self.months)[:-LEDGER_KEEP_MONTHS]:
            del self.months[old]
        if len(self.invalidations) > LEDGER_KEEP_INVALIDATIONS:
            by_age = sorted(self.invalidations, key=lambda ref: self.invalidations[ref].get("created_at", ""))
            for ref in by_age[: len(self.invalidations) - LEDGER_KEEP_INVALIDATIONS]:
                del self.invalidations[ref]
        return True


def load_ledger(storage: Storage) -> Ledger:
    for _ in range(5):
        info = storage.stat(LEDGER_KEY)
        if info is None:
            return Ledger()
        data = storage.read_bytes(LEDGER_KEY)
        after = storage.stat(LEDGER_KEY)
        if data is not None and after is not None and after.etag == info.etag:
            return Ledger.parse(data, info.etag)
    raise InvalidationError(f"{LEDGER_KEY} keeps changing while being read; try again")


def record_in_ledger(storage: Storage, reference: str, entry: dict[str, Any], attempts: int = 20) -> Ledger:
    """Add an invalidation with compare-and-swap, so concurrent runs never lose a count."""
    for attempt in range(attempts):
        ledger = load_ledger(storage)
        if not ledger.record(reference, entry):
            return ledger
        if ledger.etag is None:
            if storage.create_exclusive(LEDGER_KEY, ledger.to_bytes()):
                return ledger
        elif storage.replace_if_unchanged(LEDGER_KEY, ledger.to_bytes(), ledger.etag):
            return ledger
        log.debug("ledger changed under us (attempt %d); re-reading", attempt + 1)
        time.sleep(min(0.05 * 2**attempt, 1.0))  # back off between compare-and-swap retries
    raise InvalidationError(f"could not update {LEDGER_KEY} after {attempts} attempts (too much contention)")


def invalidation_paths_used(target: str, now: datetime) -> int | None:
    """Paths invalidated so far this month, from the invalidation ledger that ``cloudpypi invalidate``
    keeps in the target (``.cloudpypi/invalidations.json``); None when there is no ledger to read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cloudpypi.config import Config
    from cloudpypi.storage import open_target

    try:
        ledger = load_ledger(open_target(Config(target=target)))
    except (CloudPyPIError, OSError, BotoCoreError, ClientError) as exc:  # fall back to the estimate
        log.info("no invalidation ledger read from %s: %s", target, exc)
        return None
    month = month_of(now)
    return ledger.used(month) if month in ledger.months else None


# -- CloudFront -------------------------------------------------------------------------------------

def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_RETRIED = frozenset({"TooManyInvalidationsInProgress", "InvalidationBatchAlreadyExists"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})


class CloudFrontInvalidator:
    """Creates one invalidation idempotently; waits (bounded, with backoff) while too many are in flight."""

    def __init__(self, client: Any, distribution_id: str, *, max_wait: float = 900.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 lookback: timedelta = timedelta(days=1), max_checked: int = 25) -> None:
        self.client = client
        self.distribution_id = distribution_id
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock
        self.lookback = lookback
        self.max_checked = max_checked

    def _call(self, what: str, func: Callable[..., Any], passthrough: frozenset[str] = frozenset(),
              **kwargs: Any) -> Any:
        """One API call; errors become one clear InvalidationError, except the codes the caller handles."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(DistributionId=self.distribution_id, **kwargs)
        except ClientError as exc:
            code = _error_code(exc)
            if code in passthrough:
                raise
            if code == "NoSuchDistribution":
                raise InvalidationError(f"CloudFront has no distribution {self.distribution_id!r} "
                                        "(check --distribution or [invalidation] distribution_id)") from None
            if code in ("AccessDenied", "AccessDeniedException"):
                raise InvalidationError(f"not allowed to {what} on distribution {self.distribution_id}: "
                                        "the credentials need cloudfront:CreateInvalidation, "
                                        "GetInvalidation and ListInvalidations") from None
            raise InvalidationError(f"CloudFront refused to {what}: {exc}") from None
        except BotoCoreError as exc:
            raise InvalidationError(f"CloudFront {what}: {exc}") from None

    def find_existing(self, reference: str) -> str | None:
        """The id of a recent invalidation with this caller reference, if CloudFront has one.

        Without cloudfront:ListInvalidations this check is skipped: CloudFront itself still answers a
        repeated caller reference with the existing invalidation instead of a new one.
        """
        from botocore.exceptions import ClientError

        try:
            return self._find_existing(reference)
        except ClientError as exc:
            log.warning("cannot look for an earlier invalidation (%s); relying on CloudFront's own "
                        "caller-reference check", _error_code(exc))
            return None

    def _find_existing(self, reference: str) -> str | None:
        since = datetime.now(UTC) - self.lookback
        marker = ""
        checked = 0
        while checked < self.max_checked:
            paging = {"Marker": marker} if marker else {}
            page = self._call("list invalidations", self.client.list_invalidations, passthrough=_DENIED,
                              MaxItems="50", **paging)
            listing = page.get("InvalidationList", {})
            for item in listing.get("Items") or ():
                created = item.get("CreateTime")
                if isinstance(created, datetime) and created < since:
                    continue
                checked += 1
                if checked > self.max_checked:
                    return None
                detail = self._call("get invalidation", self.client.get_invalidation, passthrough=_DENIED,
                                    Id=item["Id"])
                batch = detail["Invalidation"].get("InvalidationBatch", {})
                if batch.get("CallerReference") == reference:
                    return str(item["Id"])
            if not listing.get("IsTruncated"):
                return None
            marker = listing.get("NextMarker", "")
        return None

    def in_progress(self) -> int:
        page = self._call("list invalidations", self.client.list_invalidations, MaxItems="100")
        return sum(1 for item in page.get("InvalidationList", {}).get("Items") or ()
                   if item.get("Status") == "InProgress")

    def create(self, paths: Sequence[str], reference: str) -> str:
        """CreateInvalidation; returns its id.  The same reference and paths never create a second one."""
        from botocore.exceptions import ClientError

        batch = {"Paths": {"Quantity": len(paths), "Items": list(paths)}, "CallerReference": reference}
        deadline = self.clock() + self.max_wait
        delay = 5.0
        while True:
            try:
                answer = self._call("create an invalidation", self.client.create_invalidation,
                                    passthrough=_RETRIED, InvalidationBatch=batch)
                return str(answer["Invalidation"]["Id"])
            except ClientError as exc:
                code = _error_code(exc)
                if code == "InvalidationBatchAlreadyExists":
                    existing = self.find_existing(reference)
                    if existing:
                        return existing
                    raise InvalidationError(f"CloudFront already has caller reference {reference} with other "
                                            "paths; nothing was invalidated") from None
                left = deadline - self.clock()
                if left <= 0:
                    raise InvalidationError(
                        "CloudFront still has too many invalidations in progress after "
                        f"{self.max_wait:.0f} s (limits: 3,000 paths or 15 wildcard paths in flight); "
                        "retry later") from None
                try:
                    busy = self.in_progress()
                except InvalidationError:
                    busy = -1
                wait = min(delay, left)
                log.warning("too many invalidations in progress (%s); retrying in %.0f s",
                            busy if busy >= 0 else "unknown", wait)
                self.sleep(wait)
                delay = min(delay * 2, 60.0)


# -- one run ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    plan: Plan
    reference: str | None
    invalidation_id: str | None
    status: str  # "nothing" | "dry-run" | "created" | "already-done"
    used_after: int


def run_invalidation(storage: Storage, invalidator: CloudFrontInvalidator | None, plan: Plan,
                     serial: int | str, *, dry_run: bool = False, now: datetime | None = None) -> Outcome:
    moment = now or datetime.now(UTC)
    month = month_of(moment)
    if plan.nothing:
        return Outcome(plan, None, None, "nothing", plan.used_this_month)
    assert invalidator is not None
    reference = caller_reference(invalidator.distribution_id, serial, plan.paths)
    ledger = load_ledger(storage)
    if reference in ledger.invalidations:
        done = ledger.invalidations[reference]
        return Outcome(plan, reference, done.get("id"), "already-done", ledger.used(month))
    if dry_run:
        return Outcome(plan, reference, None, "dry-run", plan.used_this_month)
    existing = invalidator.find_existing(reference)
    invalidation_id = existing or invalidator.create(plan.paths, reference)
    entry = {"id": invalidation_id, "serial": str(serial), "paths": len(plan.paths), "month": month,
             "policy": plan.chosen, "distribution": invalidator.distribution_id,
             "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    # Recorded (and counted) even when CloudFront already had it: a run that crashed before recording
    # was still billed for those paths.
    ledger = record_in_ledger(storage, reference, entry)
    status = "already-done" if existing else "created"
    return Outcome(plan, reference, invalidation_id, status, ledger.used(month))


def describe(outcome: Outcome, distribution_id: str) -> list[str]:
    """Human-readable lines: what was done, what it cost, and what the other policies would have cost."""
    plan = outcome.plan
    prices = plan.prices
    lines = []
    shown = ", ".join(plan.paths[:5]) + (f", ... ({len(plan.paths)} in all)" if len(plan.paths) > 5 else "")
    if outcome.status == "nothing":
        lines.append(f"nothing invalidated on {distribution_id} ({plan.reason}); cost $0.000")
    elif outcome.status == "dry-run":
        lines.append(f"dry run: would invalidate {len(plan.paths)} path(s) on {distribution_id}: {shown} "
                     f"[{plan.chosen}; {plan.reason}]; cost ${plan.cost:.3f}")
    elif outcome.status == "already-done":
        lines.append(f"already invalidated on {distribution_id} as {outcome.invalidation_id} "
                     f"(caller reference {outcome.reference}); nothing new sent, cost $0.000")
    else:
        lines.append(f"invalidation {outcome.invalidation_id} on {distribution_id}: "
                     f"{len(plan.paths)} path(s): {shown} [{plan.chosen}; {plan.reason}]; "
                     f"cost ${plan.cost:.3f}")
    others = [f"{name} {len(opt.paths)} path(s) ${opt.cost:.3f}" for name, opt in plan.options.items()
              if name != plan.chosen or outcome.status in ("nothing", "already-done")]
    lines.append("other policies: " + "; ".join(others))
    if plan.pages.dropped:
        lines.append(f"note: {len(plan.pages.dropped)} /packages/ path(s) dropped: files are immutable "
                     "and never invalidated")
    lines.append(f"this month: {outcome.used_after} of {prices.free_paths_per_month} free paths used "
                 f"(per AWS account; this ledger counts this mirror's); ${prices.usd_per_path} per path "
                 f"beyond (prices as of {prices.as_of or 'unknown'})")
    return lines
