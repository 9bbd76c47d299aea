"""Load-suite tests: the pure `loadsuite` modules in-process, Locust itself only as subprocesses.

`locust/` is put on sys.path so `import loadsuite` works as it does for the locustfile. Never
import `loadsuite.shapes` or `locustfile` here: they import `locust`, which monkey-patches
this process with gevent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from locust_helpers import LocustProcesses  # tests/loadsuite is on sys.path (pytest's prepend import mode)

LOCUST_DIR = Path(__file__).resolve().parents[2] / "locust"
if str(LOCUST_DIR) not in sys.path:
    sys.path.insert(0, str(LOCUST_DIR))


@pytest.fixture
def locust_procs(tmp_path: Path) -> Iterator[LocustProcesses]:
    """Locust subprocesses for one test (never in-process: importing locust would gevent-patch pytest)."""
    procs = LocustProcesses(tmp_path)
    yield procs
    procs.stop_all()
