"""Planted bottlenecks (lab/planted/): each run saturates one known resource, and the diagnosis must name that one,
and only it, as the first to saturate. Short runs against the real stack.

The suite runs `SUITE_CASES` (about 35 s each, so the suite grows by under two minutes); `loadlab diagnose-matrix`
runs every case of `loadlab.planted.CASES` and prints the planted-vs-named table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab import diagnosis, planted
from loadlab.formats import text_table
from loadlab.report import summary_text

pytestmark = pytest.mark.e2e

#: One case per kind of resource the lab can plant without a CPU quota: the API's pool in front of a remote
#: database, the bcrypt executor, the load generator (the case that makes a verdict suspect).
SUITE_CASES = ("db-pool", "executor", "generator")
DURATION = 14


@pytest.mark.parametrize("name", SUITE_CASES)
def test_the_diagnosis_names_the_planted_resource_first(tmp_path: Path, name: str) -> None:
    case = planted.BY_NAME[name]
    result = planted.run_case(tmp_path, case, duration=DURATION)
    table = text_table(planted.matrix_rows([(case, result)]))
    assert result.diagnosis is not None, summary_text(result)
    assert diagnosis.first_resource(result.diagnosis) == case.expected, f"{table}\n\n{summary_text(result)}"
    first = result.diagnosis.findings[0]
    assert first.next_step and first.crossed_at is not None and first.evidence
    # The planted resource is the one named (a symptom that crossed near it, such as a throttled loop's lag,
    # comes after it), and every other resource that saturated did so later.
    assert all(
        (f.crossed_at or 0.0) >= first.crossed_at - diagnosis.TIE_SECONDS for f in result.diagnosis.findings[1:]
    ), table
