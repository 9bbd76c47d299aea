"""The local lab: the whole board-loadlab stack on one machine, on loopback, as the user's own processes."""

from __future__ import annotations

__version__ = "0.1.0"
