"""A Locust worker that never joins the master (here: pointed at a port nobody listens on) stops the run with an
error naming it, instead of the master waiting for it forever; nothing of the run is left running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadlab.loadtest import LoadOptions, LocustRun
from loadlab.process import Process, ServiceError, free_port

pytestmark = pytest.mark.integration


class MisdirectedRun(LocustRun):
    """Its workers are told a master port no one listens on."""

    def add_worker(self) -> Process:
        master_port, self.master_port = self.master_port, free_port()
        try:
            return super().add_worker()
        finally:
            self.master_port = master_port


def test_a_worker_that_never_joins_fails_the_run_with_its_name_and_stops_everything(tmp_path: Path) -> None:
    options = LoadOptions(users=1, spawn_rate=1, duration=5, workers=1, scenario="bare")
    run = MisdirectedRun(
        tmp_path,
        tmp_path / "report",
        "http://127.0.0.1:9",
        options,
        exporter_port=free_port(),
        run_id="never-joins",
        join_timeout=5,
    )
    run.start()
    with pytest.raises(ServiceError) as failed:
        run.wait()
    message = str(failed.value)
    assert f"did not join the master (127.0.0.1:{run.master_port}) within 5 s" in message
    assert "0 of 1 joined (locust-worker-1)" in message and "locust-worker-1's log" in message
    assert run.master is not None and not run.master.alive
    assert run.workers and not any(w.alive for w in run.workers)
    for pid in [run.master.pid, *(w.pid for w in run.workers)]:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
