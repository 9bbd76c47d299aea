"""Histogram arithmetic: Locust's percentile walk, cumulative buckets, Prometheus's histogram_quantile."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from loadsuite.histogram import (
    BUCKET_BOUNDS_MS,
    ResponseTimes,
    bucket_index,
    cumulative_buckets,
    diff_response_times,
    histogram_quantile,
    percentile,
)


def test_percentile_walks_like_locust() -> None:
    # 100 samples: 90 at 10 ms, 9 at 200 ms, 1 at 3000 ms (Locust's keys are rounded values)
    rts: ResponseTimes = {10: 90, 200: 9, 3000: 1}
    assert percentile(rts, 0.50) == 10
    assert percentile(rts, 0.89) == 10
    assert percentile(rts, 0.90) == 200  # Locust: the slowest bucket leaving <= 90 samples below it
    assert percentile(rts, 0.95) == 200
    assert percentile(rts, 0.99) == 3000
    assert percentile(rts, 1.0) == 3000


def test_percentile_matches_locusts_own_function() -> None:
    """Ask the installed Locust (in a subprocess: importing it here would monkey-patch pytest)."""
    cases: list[ResponseTimes] = [{10: 90, 200: 9, 3000: 1}, {3: 7, 8: 1, 140: 12, 2300: 4}, {58000: 2, 1: 1}]
    quantiles = [0.5, 0.66, 0.9, 0.95, 0.99, 1.0]
    code = (
        "import json, sys\n"
        "from locust.stats import calculate_response_time_percentile as p\n"
        "cases = [{int(k): v for k, v in c.items()} for c in json.loads(sys.argv[1])]\n"
        "print(json.dumps([[p(c, sum(c.values()), q) for q in json.loads(sys.argv[2])] for c in cases]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cases), json.dumps(quantiles)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == [[percentile(c, q) for q in quantiles] for c in cases]


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile({}, 0.95) == 0


def test_cumulative_buckets_place_boundary_values_in_their_le_bucket() -> None:
    buckets = cumulative_buckets({5: 2, 6: 1, 100: 3, 70000: 1}, bounds_ms=(5, 10, 100))
    assert buckets == [(0.005, 2), (0.01, 3), (0.1, 6), (math.inf, 7)]


def test_cumulative_buckets_are_monotonic_and_end_with_the_total() -> None:
    rts: ResponseTimes = {1: 4, 37: 10, 480: 7, 9900: 2, 61000: 1}
    buckets = cumulative_buckets(rts)
    counts = [c for _, c in buckets]
    assert counts == sorted(counts)
    assert buckets[-1] == (math.inf, 24)
    assert len(buckets) == len(BUCKET_BOUNDS_MS) + 1


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    buckets = [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)  # first bucket starts at 0


def test_histogram_quantile_in_inf_bucket_returns_highest_finite_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 10.0)]) == pytest.approx(0.1)


def test_histogram_quantile_without_observations_is_nan() -> None:
    assert math.isnan(histogram_quantile(0.95, [(0.1, 0.0), (math.inf, 0.0)]))


def test_histogram_quantile_needs_inf_bucket() -> None:
    with pytest.raises(ValueError, match="Inf"):
        histogram_quantile(0.5, [(0.1, 1.0)])


def test_exported_quantile_within_one_bucket_of_locust_p95() -> None:
    rts: ResponseTimes = {3: 100, 8: 300, 12: 250, 45: 80, 130: 40, 900: 9, 2400: 1}
    locust_p95 = percentile(rts, 0.95) / 1000.0
    exported = histogram_quantile(0.95, cumulative_buckets(rts))
    assert abs(bucket_index(exported) - bucket_index(locust_p95)) <= 1


def test_bucket_index() -> None:
    assert bucket_index(0.0005) == 0
    assert bucket_index(0.001) == 0
    assert bucket_index(0.0011) == 1
    assert bucket_index(1000.0) == len(BUCKET_BOUNDS_MS)


def test_diff_response_times_keeps_only_new_samples() -> None:
    assert diff_response_times({10: 5, 20: 3, 30: 1}, {10: 5, 20: 1}) == {20: 2, 30: 1}
