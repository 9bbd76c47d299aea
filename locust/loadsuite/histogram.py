"""Response-time arithmetic on Locust's own buckets.

Locust keeps, per endpoint, a ``response_times`` dict of rounded milliseconds -> count
(``locust.stats.bucket_response_time``: 2 significant digits). Its percentiles and our
Prometheus histogram are both derived from that dict, so they can be compared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

# Histogram boundaries in milliseconds. Dense below 1 s where most endpoints live, and
# wide up to 60 s: the seed's requests sat at the 30 s pool timeout, so the default
# prometheus_client buckets (which stop at 10 s) would have hidden them.
BUCKET_BOUNDS_MS: tuple[int, ...] = (
    1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750,
    1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000, 45000, 60000,
)  # fmt: skip  # two rows: under a second, then from one second (one bound a line would be 33 lines)

ResponseTimes = Mapping[int | float, int]


def percentile(response_times: ResponseTimes, percent: float, count: int | None = None) -> float:
    """Return the response time (ms) that ``percent`` (0-1) of the requests finished within.

    The same walk as ``locust.stats.calculate_response_time_percentile`` (from the slowest
    bucket down), so a verdict computed here matches the numbers in Locust's own report.
    ``count`` defaults to the number of samples in the dict.
    """
    total = sum(response_times.values()) if count is None else count
    if total <= 0:
        return 0
    wanted = int(total * percent)
    processed = 0
    for rt in sorted(response_times, reverse=True):
        processed += response_times[rt]
        if total - processed <= wanted:
            return rt
    return 0


def diff_response_times(latest: ResponseTimes, old: ResponseTimes) -> dict[int | float, int]:
    """Return the samples in ``latest`` that were not yet in ``old`` (a window between two snapshots)."""
    out: dict[int | float, int] = {}
    for rt, n in latest.items():
        if delta := n - old.get(rt, 0):
            out[rt] = delta
    return out


def cumulative_buckets(
    response_times: ResponseTimes, bounds_ms: Iterable[int] = BUCKET_BOUNDS_MS
) -> list[tuple[float, int]]:
    """Convert Locust's ms dict into cumulative Prometheus buckets ``[(le_seconds, count), ...]``.

    The last pair is ``(+Inf, total samples)``. Each Locust key is already a rounded value, so
    it is placed by that value: a key equal to a boundary belongs to that boundary (``le``).
    Comparison is done in integer-ish milliseconds to avoid float drift at the edges.
    """
    bounds = sorted(bounds_ms)
    per_bucket = [0] * (len(bounds) + 1)
    for rt, n in response_times.items():
        per_bucket[_bucket_slot(rt, bounds)] += n
    out: list[tuple[float, int]] = []
    running = 0
    for i, b in enumerate(bounds):
        running += per_bucket[i]
        out.append((b / 1000.0, running))
    running += per_bucket[-1]
    out.append((math.inf, running))
    return out


def _bucket_slot(rt_ms: float, bounds: list[int]) -> int:
    for i, b in enumerate(bounds):
        if rt_ms <= b:
            return i
    return len(bounds)


def bucket_index(value_seconds: float, bounds_ms: Iterable[int] = BUCKET_BOUNDS_MS) -> int:
    """Index of the histogram bucket a value (seconds) falls in (``len(bounds)`` = the +Inf bucket)."""
    return _bucket_slot(value_seconds * 1000.0, sorted(bounds_ms))


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's ``histogram_quantile`` over cumulative ``(le, count)`` pairs, ``le`` ascending.

    Linear interpolation inside the bucket holding the rank, the lowest bucket starting at 0,
    and the highest finite bound returned when the rank falls in +Inf, exactly as
    ``promql/quantile.go`` does. Returns NaN when there are no observations.
    """
    if not buckets or not math.isinf(buckets[-1][0]):
        raise ValueError("histogram needs a +Inf bucket as its last entry")
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    i = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if i == len(buckets) - 1:
        return buckets[-2][0] if len(buckets) > 1 else math.nan
    upper, count = buckets[i]
    lower, prev = (0.0, 0.0) if i == 0 else buckets[i - 1]
    if i == 0 and upper <= 0:
        return upper
    in_bucket = count - prev
    if in_bucket == 0:
        return upper
    return lower + (upper - lower) * ((rank - prev) / in_bucket)
