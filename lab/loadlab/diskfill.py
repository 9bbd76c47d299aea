"""Fill a filesystem to its last page, for the disk-full drill.

One `fallocate` of "all that is free" is not enough: on a tmpfs a call that runs out of space gives back every page it
took (the kernel undoes the whole range), so when Postgres takes a few pages between our look at the free space and
the call, the disk ends up not full at all. Many calls, each smaller than the last once space runs out, keep what
each one got.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

FIRST_CHUNK = 1 << 20


def fill(path: Path) -> int:
    """Grow the file at `path` until its filesystem has no free page left; return the file's size then."""
    page = os.statvfs(path.parent).f_frsize
    chunk = FIRST_CHUNK
    with path.open("ab") as handle:
        taken = os.fstat(handle.fileno()).st_size
        while chunk >= page:
            try:
                os.posix_fallocate(handle.fileno(), taken, chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                chunk //= 2
            else:
                taken += chunk
    return taken
