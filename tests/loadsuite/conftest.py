"""Load-suite tests: the pure `loadsuite` modules in-process, Locust itself only as subprocesses.

`locust/` is put on sys.path so `import loadsuite` works as it does for the locustfile. Never
import `loadsuite.shapes` or `locustfile` here: they import `locust`, which monkey-patches
this process with gevent.
"""

from __future__ import annotations

import sys
from pathlib import Path

LOCUST_DIR = Path(__file__).resolve().parents[2] / "locust"
if str(LOCUST_DIR) not in sys.path:
    sys.path.insert(0, str(LOCUST_DIR))
