"""The report page (`index.html`) in a real headless Chromium: every chart loaded from the page itself, the
verdict visible at the top, the diagnosis above it, nothing fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab import report
from loadlab.result import ROWS, Consistency, CountCheck
from tests.lab.helpers import look_at
from tests.lab.sample_result import sample_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_passing_page_shows_its_charts_and_verdict(tmp_path: Path) -> None:
    result = sample_result(tmp_path / "report")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "locust.html").write_text("<html>Locust</html>")
    page = report.write(result)
    seen = look_at(page, tmp_path / "page.png")
    assert seen["images"] == [{"alt": "Locust p95 by endpoint", "loaded": True, "scheme": "data:image/png;base64"}]
    assert seen["verdict"].startswith("PASS") and seen["verdictVisible"], seen
    assert seen["diagnosisFirst"]
    assert seen["fetched"] == []  # one self-contained page
    assert "locust.html" in seen["links"] and "summary.json" in seen["links"]
    assert "locust_failures.csv" not in seen["links"]  # not written: named, not linked
    assert (tmp_path / "page.png").read_bytes().startswith(PNG_MAGIC)


def test_a_failing_page_says_why(tmp_path: Path) -> None:
    result = sample_result(tmp_path, passed=False)
    result.dominant_cause = "3 of 3 failures are 503 executor_full on POST /posts/"
    result.consistency = Consistency([CountCheck(ROWS, "posts", 177, 176)])
    seen = look_at(report.write(result))
    assert seen["verdictVisible"], seen
    assert seen["verdict"].startswith("FAIL")
    assert "3 of 3 failures are 503 executor_full on POST /posts/" in seen["verdict"]
    assert "posts rows: clients 177, server 176" in seen["verdict"]


@pytest.fixture
def broken_image_page(tmp_path: Path) -> Path:
    """A page whose chart is not a PNG: the check must see it as not loaded."""
    page = report.write(sample_result(tmp_path))
    text = page.read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    page.write_text(text[:start] + "bm90IGEgcG5n" + text[text.index('"', start) :])
    return page


def test_a_chart_that_does_not_load_is_seen(broken_image_page: Path) -> None:
    assert [i["loaded"] for i in look_at(broken_image_page)["images"]] == [False]
