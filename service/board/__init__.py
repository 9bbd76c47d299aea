"""The board API: the system under test of board-loadlab."""

from __future__ import annotations

__version__ = "0.1.0"
