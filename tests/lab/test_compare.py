"""The comparison's failure reasons: Locust's error text reduced to status and the API's detail."""

from __future__ import annotations

import pytest

from loadlab.compare import short_reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "CatchResponseError('expected 200, got 503: \\'{\"detail\":"
            "\"server busy: no database connection available\"}\\'')",
            "503 server busy: no database connection available",
        ),
        ("CatchResponseError(\"expected 200, got 0: ''\")", "0 (no response)"),
        (
            "CatchResponseError('expected 201, got 0: \"ConnectionResetError(104, \\'Connection reset by peer\\')\"')",
            "0 (no response: ConnectionResetError)",
        ),
        ("CatchResponseError('expected 201, got 401')", "401"),
        ("ConnectionRefusedError(111, 'Connection refused')", "ConnectionRefusedError(111, 'Connection refused')"),
    ],
)
def test_short_reason(error: str, reason: str) -> None:
    assert short_reason(error) == reason
