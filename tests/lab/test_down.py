"""`loadlab down` signals only the processes its run recorded, proven by pid and start time (pids recycle)."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from loadlab.stack import STATE_FILE, down, process_start


def _sleeper() -> subprocess.Popen[bytes]:
    # Its own process group, as the lab's services have; reaped as soon as it ends (a zombie still "exists").
    process = subprocess.Popen(["sleep", "60"], process_group=0)
    threading.Thread(target=process.wait, daemon=True).start()
    return process


def _state(folder: Path, processes: list[dict[str, int | None]]) -> None:
    pids = [p["pid"] for p in processes]
    (folder / STATE_FILE).write_text(json.dumps({"pids": pids, "processes": processes, "external_dirs": []}))


def test_down_stops_a_recorded_process(tmp_path: Path) -> None:
    ours = _sleeper()
    try:
        _state(tmp_path, [{"pid": ours.pid, "start": process_start(ours.pid)}])
        assert down(tmp_path) == 1
        assert ours.wait(timeout=20) != 0
        assert json.loads((tmp_path / STATE_FILE).read_text())["processes"] == []
    finally:
        ours.kill()


def test_down_leaves_a_recycled_pid_alone(tmp_path: Path) -> None:
    """The recorded pid now names another process (another start time), or the record has no start: not ours."""
    other = _sleeper()
    try:
        start = process_start(other.pid)
        assert start is not None
        _state(tmp_path, [{"pid": other.pid, "start": start - 1}, {"pid": other.pid, "start": None}])
        assert down(tmp_path) == 0
        assert other.poll() is None  # still running
    finally:
        other.kill()
        other.wait()
