"""Counts of every response status per (method, name), shipped from workers to the master.

Workers count in their ``request`` listener and hand the master only what is new since the
last report (a delta, like Locust's own stats), inside the regular worker report. The
worker's final report is sent after its users stop, so the master's totals are complete at
quit. The counts are cumulative over the process (a stats reset does not clear them): the
lab's consistency check compares them with what the server counted (rows for 201s, its own
counters for 401/422/429/503), and neither of those resets.

A request that got no response at all (connection refused or reset, timeout) counts as
status 0, as Locust's FastResponse reports it.
"""

from __future__ import annotations

from collections import Counter

REPORT_KEY = "loadlab_statuses"
#: The status of a request that never got a response.
NO_RESPONSE = 0
CREATED = 201

Key = tuple[str, str, int]  # (method, name, status)


class StatusCounter:
    def __init__(self) -> None:
        self._totals: Counter[Key] = Counter()
        self._unreported: Counter[Key] = Counter()

    def add(self, method: str, name: str, status: int) -> None:
        self._totals[(method, name, status)] += 1
        self._unreported[(method, name, status)] += 1

    def take_delta(self) -> list[list[str | int]]:
        """What was counted since the last call, as a msgpack-friendly list of [method, name, status, count]."""
        delta: list[list[str | int]] = [[m, n, s, c] for (m, n, s), c in self._unreported.items() if c]
        self._unreported.clear()
        return delta

    def merge(self, delta: list[list[str | int]] | None) -> None:
        """Add a worker's delta (on the master)."""
        for method, name, status, count in delta or ():
            self._totals[(str(method), str(name), int(status))] += int(count)

    def for_endpoint(self, method: str, name: str) -> dict[int, int]:
        """`{status: count}` of one endpoint."""
        return {s: c for (m, n, s), c in self._totals.items() if (m, n) == (method, name) and c}

    def overall(self) -> dict[int, int]:
        """`{status: count}` summed over every endpoint."""
        out: Counter[int] = Counter()
        for (_, _, status), count in self._totals.items():
            out[status] += count
        return dict(out)


def status_of(response: object | None) -> int:
    """The HTTP status of a request event's response; NO_RESPONSE when there was none."""
    status = getattr(response, "status_code", None) if response is not None else None
    return int(status) if isinstance(status, int) and status > 0 else NO_RESPONSE
