"""The mirror's own cost model: pure functions from usage figures and :class:`Prices` to dollars.

Nothing here does I/O.  Amounts are ``Decimal`` and exact; rounding happens only when printing.

Formulas (one month; prices from data/prices.json, see prices.py):

- S3 storage: ``GB = bytes / bytes_per_gb``, charged across ``s3.storage_tiers``.  With S3 Intelligent-Tiering
  (``storage_class="INTELLIGENT_TIERING"``, the lifecycle rule roles/mirror_bucket applies to packages/):
  in the first month every byte is in Frequent Access (priced as S3 Standard); from the second month the bytes
  not read for 30 days (``1 - frequent_share``) are in Infrequent Access, from the fourth (90 days) in Archive
  Instant Access.  Plus monitoring per object and month and one lifecycle transition request per new file.
- S3 requests: ``PUT / 1000 * put_usd_per_1000`` and ``GET / 1000 * get_usd_per_1000``.  Transfer from S3 to
  CloudFront is free.
- CloudFront egress: ``GB`` out to viewers, minus the always-free 1 TB when ``free_tier``, across the
  ``cloudfront.egress_tiers``; HTTPS requests ``/ 10000 * rate`` (minus 10M free); CloudFront Function
  invocations ``/ 1e6 * rate`` (minus 2M free).
- Invalidations: ``max(0, paths - 1000) * 0.005``.
- EC2: ``hours * usd_per_hour[instance_type]``; a public IPv4 address ``hours * 0.005``.
- EBS: ``GB * usd_per_gb_month`` plus provisioned IOPS and throughput above what gp3 includes.
- CloudWatch: custom metrics and alarm metrics beyond the free 10 of each (an alarm on a metric-math
  expression is billed for each metric it reads).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from cloudpypi.costs.prices import Prices, Tier
from cloudpypi.errors import ConfigError
from cloudpypi.monitoring import METRIC_NAMES

ZERO = Decimal(0)

#: S3 objects per project page set: index.html, index.v1_html, index.v1_json.
PAGES_PER_PROJECT = 3
#: S3 PUTs every sync run makes besides files and pages: the lock object and the state upload.
PUTS_PER_RUN = 2
#: S3 GETs every sync run makes: reading the state and checking the lock.
GETS_PER_RUN = 2
#: The sync timer's default interval in minutes (roles/sync_service: 15min), for forecasts not told otherwise.
DEFAULT_SYNC_INTERVAL_MIN = 15
#: The instance type and root volume the provisioning playbooks default to.
#: The smallest mean download size assumed when turning egress into request counts, so that a toy mirror of
#: tiny files does not turn 100 GB of assumed egress into hundreds of millions of requests.
MIN_MEAN_FILE_BYTES = 1_000_000
DEFAULT_INSTANCE_TYPE = "t3.small"
DEFAULT_VOLUME_GB = 30
#: Storage classes the model prices for packages/ (roles/mirror_bucket's lifecycle rule chooses one).
STORAGE_CLASSES = ("STANDARD", "INTELLIGENT_TIERING")
#: The share of a mirror's bytes assumed read at least once a month (they stay in Frequent Access).
DEFAULT_FREQUENT_SHARE = 0.2
#: The month from which Intelligent-Tiering's cold bytes sit in Archive Instant Access (after 90 days).
STEADY_STATE_MONTH = 4


@dataclass(frozen=True)
class CostLine:
    """One priced item: ``quantity`` of ``unit`` costs ``usd``."""

    service: str
    item: str
    quantity: Decimal
    unit: str
    usd: Decimal
    note: str = ""


@dataclass(frozen=True)
class CostEstimate:
    """Monthly lines, one-time lines (e.g. the initial upload) and the assumptions behind them."""

    monthly: tuple[CostLine, ...]
    one_time: tuple[CostLine, ...] = ()
    assumptions: tuple[str, ...] = ()
    prices_as_of: str = ""

    @property
    def monthly_total(self) -> Decimal:
        return sum((line.usd for line in self.monthly), ZERO)

    @property
    def one_time_total(self) -> Decimal:
        return sum((line.usd for line in self.one_time), ZERO)

    def by_service(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.monthly:
            totals[line.service] = totals.get(line.service, ZERO) + line.usd
        return totals


@dataclass(frozen=True)
class MirrorUsage:
    """What the mirror uses in one month.  Every figure is per month except ``stored_bytes``."""

    stored_bytes: int
    put_requests: int = 0
    get_requests: int = 0
    egress_bytes: int = 0
    viewer_requests: int = 0
    function_invocations: int = 0
    invalidation_paths: int = 0
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_hours: Decimal | None = None  # None: running all month (prices.hours_per_month)
    volume_gb: int = DEFAULT_VOLUME_GB
    volume_type: str = "gp3"
    volume_iops: int = 3000
    volume_throughput_mbps: int = 125
    public_ipv4: bool = True
    cloudwatch_metrics: int = len(METRIC_NAMES)  # every metric the sync publishes (cloudpypi.monitoring)
    cloudwatch_alarms: int = 2  # the stale-sync alarm reads 2 metrics (LastSuccessTime, ProgressHeartbeat)
    free_tier: bool = True
    notes: tuple[str, ...] = field(default=())
    storage_class: str = "STANDARD"
    stored_objects: int = 0  # Intelligent-Tiering: objects monitored (files of at least 128 KB)
    frequent_share: float = DEFAULT_FREQUENT_SHARE  # Intelligent-Tiering: bytes read within 30 days
    month: int = STEADY_STATE_MONTH  # Intelligent-Tiering: which month since the upload (1 = the first)
    transition_requests: int = 0  # Intelligent-Tiering: lifecycle transitions this month (new files)


def to_gb(num_bytes: int | Decimal, prices: Prices) -> Decimal:
    return Decimal(num_bytes) / Decimal(prices.bytes_per_gb)


def tiered_cost(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """Charge ``quantity`` across tiers whose ``up_to`` bounds are cumulative."""
    if quantity < 0:
        raise ValueError(f"quantity cannot be negative: {quantity}")
    cost, lower = ZERO, ZERO
    for tier in tiers:
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        if upper > lower:
            cost += (upper - lower) * tier.rate
        if tier.up_to is None or quantity <= tier.up_to:
            break
        lower = tier.up_to
    return cost


def s3_storage_cost(stored_bytes: int, prices: Prices) -> Decimal:
    return tiered_cost(to_gb(stored_bytes, prices), prices.s3_storage_tiers)


def intelligent_tiering_storage(stored_bytes: int, prices: Prices, frequent_share: float,
                                month: int) -> tuple[Decimal, str]:
    """(USD, description) of one month of ``stored_bytes`` in S3 Intelligent-Tiering, ``month`` months after
    the upload: all of it in Frequent Access in the first month, the cold share in Infrequent Access in the
    second and third, in Archive Instant Access from the fourth."""
    tiering = _tiering(prices)
    if not 0 <= frequent_share <= 1:
        raise ValueError(f"frequent_share must be between 0 and 1, got {frequent_share}")
    total = to_gb(stored_bytes, prices)
    if month <= 1:
        return tiered_cost(total, prices.s3_storage_tiers), "Intelligent-Tiering, first month: all Frequent Access"
    hot = total * Decimal(str(frequent_share))
    if month < STEADY_STATE_MONTH:
        rate, tier = tiering.infrequent_per_gb_month, "Infrequent Access"
    else:
        rate, tier = tiering.archive_instant_per_gb_month, "Archive Instant Access"
    usd = tiered_cost(hot, prices.s3_storage_tiers) + (total - hot) * rate
    return usd, f"Intelligent-Tiering: {frequent_share:.0%} Frequent Access, the rest {tier}"


def _tiering(prices: Prices):  # type: ignore[no-untyped-def]
    if prices.s3_intelligent_tiering is None:
        raise ConfigError("prices.json has no s3.intelligent_tiering prices")
    return prices.s3_intelligent_tiering


def s3_request_cost(puts: int, gets: int, prices: Prices) -> tuple[Decimal, Decimal]:
    return (Decimal(puts) / 1000 * prices.s3_put_per_1000, Decimal(gets) / 1000 * prices.s3_get_per_1000)


def cloudfront_egress_cost(egress_bytes: int, prices: Prices, free_tier: bool = True) -> Decimal:
    gb = to_gb(egress_bytes, prices)
    if free_tier:
        gb = max(ZERO, gb - prices.cf_free_egress_gb)
    return tiered_cost(gb, prices.cf_egress_tiers)


def cloudfront_request_cost(requests: int, prices: Prices, free_tier: bool = True) -> Decimal:
    billable = max(0, requests - (prices.cf_free_requests if free_tier else 0))
    return Decimal(billable) / 10000 * prices.cf_requests_per_10000


def cloudfront_function_cost(invocations: int, prices: Prices, free_tier: bool = True) -> Decimal:
    billable = max(0, invocations - (prices.cf_free_function_invocations if free_tier else 0))
    return Decimal(billable) / 1_000_000 * prices.cf_functions_per_million


def invalidation_cost(paths: int, prices: Prices, already_used: int = 0) -> Decimal:
    """Cost of ``paths`` more invalidation paths when ``already_used`` were used this month."""
    free_left = max(0, prices.cf_invalidation_free_paths - already_used)
    return Decimal(max(0, paths - free_left)) * prices.cf_invalidation_per_path


def ec2_hourly_price(instance_type: str, prices: Prices) -> Decimal:
    try:
        return prices.ec2_per_hour[instance_type]
    except KeyError:
        known = ", ".join(sorted(prices.ec2_per_hour))
        raise ConfigError(
            f"no price for instance type {instance_type!r} in prices.json; known: {known} "
            "(add it to scripts/cloudpypi/data/prices.json)"
        ) from None


def ebs_cost(volume_gb: int, volume_type: str, iops: int, throughput_mbps: int, prices: Prices,
             months: Decimal = Decimal(1)) -> Decimal:
    try:
        vol = prices.ebs[volume_type]
    except KeyError:
        known = sorted(prices.ebs)
        raise ConfigError(f"no price for EBS volume type {volume_type!r}; known: {known}") from None
    extra_iops = max(0, iops - vol.included_iops) if vol.included_iops else 0
    extra_mbps = max(0, throughput_mbps - vol.included_throughput_mbps) if vol.included_throughput_mbps else 0
    monthly = (Decimal(volume_gb) * vol.per_gb_month + extra_iops * vol.per_iops_month
               + extra_mbps * vol.per_mbps_month)
    return monthly * months


def monthly_cost(usage: MirrorUsage, prices: Prices) -> CostEstimate:
    """Price one month of ``usage``.  Lines are in a fixed order: S3, CloudFront, EC2, EBS, CloudWatch."""
    hours = prices.hours_per_month if usage.instance_hours is None else usage.instance_hours
    months = hours / prices.hours_per_month
    put_usd, get_usd = s3_request_cost(usage.put_requests, usage.get_requests, prices)
    free = "after the free tier" if usage.free_tier else ""
    lines = [*_storage_lines(usage, prices)]
    lines += [
        CostLine("S3", "PUT requests", Decimal(usage.put_requests), "requests", put_usd),
        CostLine("S3", "GET requests", Decimal(usage.get_requests), "requests", get_usd),
        CostLine("CloudFront", "egress to viewers", to_gb(usage.egress_bytes, prices), "GB",
                 cloudfront_egress_cost(usage.egress_bytes, prices, usage.free_tier), free),
        CostLine("CloudFront", "HTTPS requests", Decimal(usage.viewer_requests), "requests",
                 cloudfront_request_cost(usage.viewer_requests, prices, usage.free_tier), free),
        CostLine("CloudFront", "function invocations", Decimal(usage.function_invocations), "invocations",
                 cloudfront_function_cost(usage.function_invocations, prices, usage.free_tier),
                 free),
        CostLine("CloudFront", "invalidation paths", Decimal(usage.invalidation_paths), "paths",
                 invalidation_cost(usage.invalidation_paths, prices),
                 f"first {prices.cf_invalidation_free_paths} free"),
        CostLine("EC2", f"{usage.instance_type} instance", hours, "hours",
                 hours * ec2_hourly_price(usage.instance_type, prices)),
    ]
    if usage.public_ipv4:
        lines.append(CostLine("EC2", "public IPv4 address", hours, "hours",
                              hours * prices.public_ipv4_per_hour))
    lines.append(CostLine("EBS", f"{usage.volume_type} root volume", Decimal(usage.volume_gb), "GB-month",
                          ebs_cost(usage.volume_gb, usage.volume_type, usage.volume_iops,
                                   usage.volume_throughput_mbps, prices, months)))
    metrics = max(0, usage.cloudwatch_metrics - (prices.cw_free_metrics if usage.free_tier else 0))
    alarms = max(0, usage.cloudwatch_alarms - (prices.cw_free_alarms if usage.free_tier else 0))
    lines.append(CostLine("CloudWatch", "custom metrics", Decimal(usage.cloudwatch_metrics), "metrics",
                          metrics * prices.cw_metric_per_month, free))
    lines.append(CostLine("CloudWatch", "alarms", Decimal(usage.cloudwatch_alarms), "alarm metrics",
                          alarms * prices.cw_alarm_per_month, free))
    return CostEstimate(monthly=tuple(lines), assumptions=usage.notes, prices_as_of=prices.as_of)


def _storage_lines(usage: MirrorUsage, prices: Prices) -> list[CostLine]:
    if usage.storage_class not in STORAGE_CLASSES:
        raise ConfigError(f"storage class {usage.storage_class!r} is not priced; known: {', '.join(STORAGE_CLASSES)}")
    gb = to_gb(usage.stored_bytes, prices)
    if usage.storage_class == "STANDARD":
        return [CostLine("S3", "storage", gb, "GB-month", s3_storage_cost(usage.stored_bytes, prices))]
    tiering = _tiering(prices)
    usd, note = intelligent_tiering_storage(usage.stored_bytes, prices, usage.frequent_share, usage.month)
    return [
        CostLine("S3", "storage (Intelligent-Tiering)", gb, "GB-month", usd, note),
        CostLine("S3", "Intelligent-Tiering monitoring", Decimal(usage.stored_objects), "objects",
                 Decimal(usage.stored_objects) / 1000 * tiering.monitoring_per_1000_objects,
                 "objects of 128 KB or more"),
        CostLine("S3", "lifecycle transitions to Intelligent-Tiering", Decimal(usage.transition_requests),
                 "requests", Decimal(usage.transition_requests) / 1000 * tiering.transition_per_1000),
    ]


def forecast_mirror_cost(
    total_bytes: int,
    files: int,
    projects: int,
    monthly_egress_bytes: int,
    *,
    prices: Prices,
    files_added_per_month: int | None = None,
    projects_changed_per_month: int | None = None,
    viewer_requests_per_month: int | None = None,
    cache_hit_ratio: float = 0.9,
    sync_interval_min: int = DEFAULT_SYNC_INTERVAL_MIN,
    invalidation_paths_per_month: int = 0,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    volume_gb: int = DEFAULT_VOLUME_GB,
    free_tier: bool = True,
    storage_class: str = "STANDARD",
    frequent_share: float = DEFAULT_FREQUENT_SHARE,
    month: int = STEADY_STATE_MONTH,
) -> CostEstimate:
    """The monthly cost of a mirror of the given size, plus the one-time cost of its initial upload.

    For callers that know only the size (the benchmark's "full PyPI" line, ``cloudpypi closure --dry-run``).
    Unknown activity figures default to stated assumptions, returned in ``assumptions``:

    - files added per month: 2% of ``files``; projects whose pages change per month: 10% of ``projects``;
    - viewer requests: two per downloaded file (the page, then the file), the file count being
      ``monthly_egress_bytes`` over the mean file size; half of them (the pages) run the CloudFront Function;
    - S3 GETs: the viewer requests that miss the CloudFront cache (``1 - cache_hit_ratio``) plus
      ``GETS_PER_RUN`` per sync run; the sync runs every ``sync_interval_min`` minutes all month.
    - with ``storage_class="INTELLIGENT_TIERING"``: ``month`` months after the upload, ``frequent_share`` of
      the bytes read within 30 days; every file is monitored and each new file is transitioned once.
    """
    if min(total_bytes, files, projects, monthly_egress_bytes) < 0:
        raise ValueError("sizes and counts cannot be negative")
    if not 0 <= cache_hit_ratio <= 1:
        raise ValueError(f"cache_hit_ratio must be between 0 and 1, got {cache_hit_ratio}")
    notes = [f"a mirror of {human_bytes(total_bytes)} in {files:,} files, {projects:,} projects"]
    if files_added_per_month is None:
        files_added_per_month = math.ceil(files * 0.02)
        notes.append(f"files added per month: 2% of the files ({files_added_per_month:,})")
    if projects_changed_per_month is None:
        projects_changed_per_month = math.ceil(projects * 0.10)
        notes.append(f"projects whose pages change per month: 10% ({projects_changed_per_month:,})")
    if viewer_requests_per_month is None:
        mean_file = mean_download_bytes(total_bytes, files)
        downloads = math.ceil(monthly_egress_bytes / mean_file)
        viewer_requests_per_month = 2 * downloads
        notes.append(f"viewer requests: 2 per downloaded file, {downloads:,} files of mean size "
                     f"{human_bytes(int(mean_file))} in {human_bytes(monthly_egress_bytes)} of egress")
    runs = math.ceil(float(prices.hours_per_month) * 60 / sync_interval_min)
    notes.append(f"sync every {sync_interval_min} min: {runs:,} runs a month")
    misses = math.ceil(viewer_requests_per_month * (1 - cache_hit_ratio))
    notes.append(f"CloudFront cache hit ratio {cache_hit_ratio:.0%}: {misses:,} origin fetches from S3")
    puts = (files_added_per_month + PAGES_PER_PROJECT * projects_changed_per_month
            + runs * (PUTS_PER_RUN + PAGES_PER_PROJECT))  # the root index changes on nearly every run
    usage = MirrorUsage(
        stored_bytes=total_bytes,
        put_requests=puts,
        get_requests=misses + runs * GETS_PER_RUN,
        egress_bytes=monthly_egress_bytes,
        viewer_requests=viewer_requests_per_month,
        function_invocations=viewer_requests_per_month // 2,
        invalidation_paths=invalidation_paths_per_month,
        instance_type=instance_type,
        volume_gb=volume_gb,
        free_tier=free_tier,
        notes=tuple(notes),
        storage_class=storage_class,
        stored_objects=files,
        frequent_share=frequent_share,
        month=month,
        transition_requests=files_added_per_month,
    )
    if storage_class == "INTELLIGENT_TIERING":
        notes.append(f"S3 Intelligent-Tiering for packages/, month {month} after the upload: "
                     f"{frequent_share:.0%} of the bytes read within 30 days; every file monitored")
        usage = replace(usage, notes=tuple(notes))
    estimate = monthly_cost(usage, prices)
    initial_puts = files + PAGES_PER_PROJECT * (projects + 1)
    put_usd, _ = s3_request_cost(initial_puts, 0, prices)
    one_time: tuple[CostLine, ...] = (CostLine("S3", "initial upload PUT requests", Decimal(initial_puts),
                                               "requests", put_usd, "transfer into AWS is free"),)
    if storage_class == "INTELLIGENT_TIERING":
        transitions = Decimal(files) / 1000 * _tiering(prices).transition_per_1000
        one_time += (CostLine("S3", "initial lifecycle transitions to Intelligent-Tiering", Decimal(files),
                              "requests", transitions),)
    return CostEstimate(estimate.monthly, one_time, estimate.assumptions, prices.as_of)


def mean_download_bytes(total_bytes: int, files: int) -> float:
    """The mean file size, but at least ``MIN_MEAN_FILE_BYTES``."""
    return max(total_bytes / files if files else 0.0, float(MIN_MEAN_FILE_BYTES))


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def project_month(daily: Iterable[tuple[date, Decimal]], today: date) -> Decimal:
    """A linear projection of this month's spend: the mean daily spend of the complete days so far
    (the days before ``today``) times the days in the month.  On the 1st, today's partial figure is all
    there is, so it is used as one day."""
    entries = [(d, amount) for d, amount in daily if d.year == today.year and d.month == today.month]
    complete = [amount for d, amount in entries if d < today]
    if complete:
        return sum(complete, ZERO) / len(complete) * days_in_month(today)
    partial = sum((amount for _, amount in entries), ZERO)
    return partial * days_in_month(today)


@dataclass(frozen=True)
class BudgetCheck:
    """The verdict on spend against a budget limit."""

    limit: Decimal
    actual: Decimal | None
    forecast: Decimal | None

    @property
    def actual_exceeded(self) -> bool:
        return self.actual is not None and self.actual > self.limit

    @property
    def forecast_exceeded(self) -> bool:
        return self.forecast is not None and self.forecast > self.limit

    @property
    def exceeded(self) -> bool:
        return self.actual_exceeded or self.forecast_exceeded


def thresholds_crossed(amount: Decimal, limit: Decimal, thresholds: Iterable[Decimal]) -> list[Decimal]:
    """The percentage thresholds that ``amount`` has reached, in ascending order."""
    if limit <= 0:
        return []
    percent = amount / limit * 100
    return sorted(t for t in thresholds if percent >= t)


def human_bytes(num: int) -> str:
    """A size in decimal units, as the cost lines print it (1.5 GB)."""
    value = float(num)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
