"""Helpers for the end-to-end lab tests: run `loadlab` as a user would, look for leftovers, look at the report page."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import psutil

from tests.browser import Browser


def loadlab_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadlab.cli", *args]


def as_from_a_terminal() -> None:
    """`preexec_fn` of a child that must see Ctrl-C: SIGINT back to its default. Python keeps SIGINT ignored when it
    starts with it ignored (the suite run as a background job of a script, or under nohup), and a child inherits
    that: the lab would never see the test's Ctrl-C and run its full length."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def lab_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def processes_under(folder: Path) -> list[str]:
    """Processes whose command line or working directory names `folder` (the run's own children)."""
    found = []
    needle = str(folder)
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if needle in cmdline or needle in (proc.info["cwd"] or ""):
                found.append(f"{proc.info['pid']}: {cmdline[:200]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def listening_ports() -> set[int]:
    listening = [c.laddr for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    return {address.port for address in listening if address}


#: What the page shows a reader, gathered in the browser after the load event.
LOOK = """(() => {
  const verdict = document.getElementById('verdict');
  const box = verdict.getBoundingClientRect();
  const style = getComputedStyle(verdict);
  const diagnosis = document.getElementById('diagnosis');
  return {
    images: Array.from(document.images).map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0,
                                                   scheme: i.src.split(',')[0]})),
    verdict: verdict.innerText,
    verdictVisible: box.width > 0 && box.height > 0 && box.top >= 0 && box.bottom <= innerHeight
                    && style.visibility === 'visible' && style.display !== 'none',
    diagnosisFirst: diagnosis !== null
                    && !!(diagnosis.compareDocumentPosition(verdict) & Node.DOCUMENT_POSITION_FOLLOWING),
    fetched: performance.getEntriesByType('resource').map(e => e.name),
    links: Array.from(document.links).map(a => a.getAttribute('href')),
  };
})()"""


def look_at(page: Path, screenshot: Path | None = None) -> dict[str, Any]:
    with Browser() as browser:
        browser.open(page.resolve().as_uri())
        seen = browser.evaluate(LOOK)
        if screenshot is not None:
            browser.screenshot(screenshot)
    return seen
