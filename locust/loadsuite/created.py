"""Counts of 201 responses per (method, name), shipped from workers to the master.

Workers count in their ``request`` listener and hand the master only what is new since the
last report (a delta, like Locust's own stats), inside the regular worker report. The
worker's final report is sent after its users stop, so the master's totals are complete at
quit. The counts are cumulative over the process (a stats reset does not clear them): the
consistency check compares them with rows in the database, which do not reset either.
"""

from __future__ import annotations

from collections import Counter

REPORT_KEY = "loadlab_created"


class CreatedCounter:
    def __init__(self) -> None:
        self._totals: Counter[tuple[str, str]] = Counter()
        self._unreported: Counter[tuple[str, str]] = Counter()

    def add(self, method: str, name: str) -> None:
        self._totals[(method, name)] += 1
        self._unreported[(method, name)] += 1

    def take_delta(self) -> list[list[str | int]]:
        """What was counted since the last call, as a msgpack-friendly list of [method, name, count]."""
        delta = [[m, n, c] for (m, n), c in self._unreported.items() if c]
        self._unreported.clear()
        return delta

    def merge(self, delta: list[list[str | int]] | None) -> None:
        """Add a worker's delta (on the master)."""
        for method, name, count in delta or ():
            self._totals[(str(method), str(name))] += int(count)

    def totals(self) -> dict[tuple[str, str], int]:
        return dict(self._totals)

    def get(self, method: str, name: str) -> int:
        return self._totals.get((method, name), 0)
