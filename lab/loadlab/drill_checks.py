"""What must hold in a drill (each check returns what broke, or None), and the figures those checks read."""

from __future__ import annotations

from collections.abc import Callable

from loadlab import charts
from loadlab.drill import DrillOutcome

#: Client-side messages that mean a request already being served was cut off (not a refused connection).
CUT_OFF_MARKERS = ("reset", "RemoteDisconnected", "IncompleteRead", "ConnectionClosed", "BrokenPipe", "EOF")
SLOWEST_ALLOWED_MS = 5000


def no_failures_on(name: str) -> Callable[[DrillOutcome], str | None]:
    def check(outcome: DrillOutcome) -> str | None:
        failed = sum(r.failures for r in outcome.result.endpoints if r.name == name)
        return f"{failed} failures on {name}" if failed else None

    return check


def nothing_lost(outcome: DrillOutcome) -> str | None:
    """No 201 without its row. Rows whose 201 never reached a client are allowed under a fault (and reported)."""
    c = outcome.result.consistency
    if c and c.nothing_lost:
        return None
    rows = ", ".join(f"{r.subject} {r.clients} 201s / {r.server} rows" for r in c.rows) if c else "unknown"
    return f"an acknowledged write is missing: {rows}"


def only_fast_503s(outcome: DrillOutcome) -> str | None:
    bad = {s: n for s, n in outcome.errors_by_status.items() if s.startswith("5") and s != "503" and n >= 1}
    if bad:
        return f"5xx other than 503 from the API: {bad}"
    if outcome.slowest_ms > SLOWEST_ALLOWED_MS:
        return f"a request took {outcome.slowest_ms:.0f} ms (> {SLOWEST_ALLOWED_MS})"
    return None


def recovered_within(seconds: float) -> Callable[[DrillOutcome], str | None]:
    def check(outcome: DrillOutcome) -> str | None:
        if outcome.recovery_seconds is None:
            return "clients never saw failures stop after the fault"
        if outcome.recovery_seconds > seconds:
            return f"recovered after {outcome.recovery_seconds:.1f} s (> {seconds} s)"
        return None

    return check


def cache_errors_counted_then_hits_return(outcome: DrillOutcome) -> str | None:
    if outcome.extra.get("cache_errors", 0) < 1:
        return "no cache errors counted while Redis was down"
    if outcome.extra.get("cache_hits_after", 0) < 1:
        return "no cache hits after Redis came back"
    return None


def suspect_for_missing_worker(outcome: DrillOutcome) -> str | None:
    verdict = outcome.result.verdict
    reasons = " ".join(verdict.get("suspect_reasons", []))
    if not verdict.get("suspect") or "missing" not in reasons:
        return f"verdict not marked suspect for a missing worker: {verdict.get('suspect_reasons')}"
    if outcome.result.interrupted:
        return "the run did not go on to its end"
    return None


def no_cut_off_requests(outcome: DrillOutcome) -> str | None:
    cut = {e: n for e, n in outcome.client_errors.items() if any(m.lower() in e.lower() for m in CUT_OFF_MARKERS)}
    return f"requests cut off mid-flight: {cut}" if cut else None


def cache_figures(outcome: DrillOutcome, prometheus: str) -> None:
    """Cache errors while the fault lasted, hits after it (`cache_errors_counted_then_hits_return` reads them)."""
    window, end = outcome.window, outcome.result.ended_at
    if not window.injected_at:
        return
    down = f"{max(1, int(window.recovered_at - window.injected_at))}s"
    after_span = f"{max(1, int(end - window.recovered_at))}s"
    outcome.extra["cache_errors"] = scalar(
        prometheus, f'sum(increase(board_cache_lookups_total{{result="error"}}[{down}]))', window.recovered_at
    )
    outcome.extra["cache_hits_after"] = scalar(
        prometheus, f'sum(increase(board_cache_lookups_total{{result="hit"}}[{after_span}]))', end
    )


def scalar(prometheus: str, expr: str, at: float) -> float:
    result = charts.query_instant(prometheus, expr, at)
    return float(result[0]["value"][1]) if result else 0.0


def api_sends_no_5xx_but_503(outcome: DrillOutcome) -> str | None:
    bad = {s: n for s, n in outcome.errors_by_status.items() if s.startswith("5") and s != "503" and n >= 1}
    return f"5xx other than 503 from the API: {bad}" if bad else None
