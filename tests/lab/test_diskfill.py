"""The disk-full drill's filler on a real tmpfs: the disk ends full even while another writer takes pages."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadlab import diskfill
from tests.tools import missing_tool

PAGE = 4096


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        missing_tool("root", "the tests as root: this test mounts a tmpfs")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_fill_leaves_no_free_page(tmpfs: Path) -> None:
    (tmpfs / "data").write_bytes(b"x" * (3 * PAGE + 1))
    before = free_bytes(tmpfs)
    taken = diskfill.fill(tmpfs / "filler")
    assert free_bytes(tmpfs) == 0
    assert taken == before == (tmpfs / "filler").stat().st_size


def test_fill_keeps_what_it_took_while_another_writer_grows(tmpfs: Path) -> None:
    """A tmpfs gives back all of a failed fallocate's pages: one call for 'all that is free' loses to any writer."""
    stop = threading.Event()
    refused = threading.Event()

    def compete() -> None:
        with (tmpfs / "table").open("wb", buffering=0) as table:
            while not stop.is_set():
                try:
                    table.write(b"\0" * PAGE)
                except OSError as error:
                    assert error.errno == errno.ENOSPC
                    refused.set()
                    return

    writer = threading.Thread(target=compete)
    writer.start()
    try:
        diskfill.fill(tmpfs / "filler")
        assert refused.wait(5), "the competing writer never ran out of space"
    finally:
        stop.set()
        writer.join()
    assert free_bytes(tmpfs) == 0
    assert (tmpfs / "filler").stat().st_size > 16 * 1024 * 1024
