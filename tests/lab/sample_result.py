"""A hand-made run result (no stack): what the rendering tests feed the report."""

from __future__ import annotations

from pathlib import Path

from loadlab.result import (
    ROWS,
    Chart,
    Consistency,
    CountCheck,
    Diagnosis,
    Endpoint,
    Finding,
    Machine,
    RunResult,
    Series,
)


def sample_result(report_dir: Path, *, passed: bool = True) -> RunResult:
    """Two endpoints, one chart with data and one without, a diagnosis, a machine; the verdict as asked."""
    verdict = {
        "passed": passed,
        "status": "pass" if passed else "fail",
        "suspect": False,
        "suspect_reasons": [],
        "broken": [] if passed else ["GET /posts/: p95_ms 1800 (limit <= 1000)"],
    }
    return RunResult(
        run_id="sample-run",
        report_dir=str(report_dir),
        preset={"name": "tuned", "path": "helm/loadlab/presets/tuned.yaml"},
        options={"users": 50, "duration": 20},
        started_at=1_700_000_000.0,
        ended_at=1_700_000_020.0,
        locust_exit_code=0 if passed else 1,
        diagnosis=Diagnosis(
            "the bcrypt executor saturated first",
            [Finding("bcrypt executor", "queue wait p95 > 0.5 s", {"executor wait p95 (s)": 2.4}, "BOARD_WORKERS")],
        ),
        machine=Machine(2, 2.0, "Test CPU @ 2.0GHz", "none", 76.0, 848.0, 0.5, "3.11.2", "6.1.0"),
        verdict=verdict,
        endpoints=[
            Endpoint("GET", "/posts/", 900, 0, 12.0, 35.0, 60.0, 45.0, 120.0, {"200": 900}),
            Endpoint("POST", "/posts/", 180, 3, 20.0, 48.0, 90.0, 9.0, 200.0, {"201": 177, "503": 3}),
        ],
        failures={"POST /posts/: CatchResponseError('expected 201, got 503')": 3},
        consistency=Consistency([CountCheck(ROWS, "posts", 177, 177), CountCheck(ROWS, "comments", 0, 0)]),
        server={"pool wait p95 (s)": 0.004, "cache hit ratio": None},
        charts=[
            Chart(
                "Locust p95 by endpoint",
                "s",
                "locust-p95-by-endpoint.png",
                "Load test / Locust p95 by endpoint",
                [
                    Series("GET /posts/", [[0.0, 0.01], [10.0, 0.03], [20.0, 0.035]]),
                    Series("POST /posts/", [[0.0, 0.02], [10.0, 0.05], [20.0, 0.048]]),
                ],
            ),
            Chart("Pool connections", "short", "pool-connections.png", "API / Pool connections", []),
        ],
        versions={"python": "3.11.2"},
    )
