"""The folder where gunicorn's workers keep their metrics (prometheus_client's multiprocess mode).

gunicorn.conf.py makes a fresh one at each master start and removes it on exit. Every worker
writes its own files there; a scrape sums them all. gunicorn recycles workers (max_requests), and
each dead worker would leave its files behind for good, so the folder (in memory on Kubernetes)
would grow and every scrape would read more: when a worker exits, its counts are folded into one
archive file per metric type and its files deleted. A lock keeps scrapes from reading halfway
through a fold. No Django here: the gunicorn master imports this module, and it imports
prometheus_client only inside functions, because that package picks its mode (one process or
many) when first imported, which must come after `start()`.
"""

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The types of the app's metrics; gauges are computed at scrape time and never written here.
ADDITIVE_TYPES = ("counter", "histogram")
ARCHIVE = "archive"
_LOCK = "fold.lock"


def start() -> str:
    """A fresh folder for this master and its workers, named in the environment they inherit."""
    folder = tempfile.mkdtemp(prefix="blogapi-metrics-")
    os.environ[ENVIRONMENT_VARIABLE] = folder
    return folder


def remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def locked(folder: str, *, exclusive: bool) -> Iterator[None]:
    """Shared for scrapes (they may overlap), exclusive for a fold."""
    with open(Path(folder) / _LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def fold_dead_worker(folder: str, pid: int) -> None:
    """Add a dead worker's counts to the archive files and delete its own files."""
    from prometheus_client.mmap_dict import MmapedDict
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, folder)
    with locked(folder, exclusive=True):
        for kind in ADDITIVE_TYPES:
            dead = Path(folder) / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = MmapedDict(str(Path(folder) / f"{kind}_{ARCHIVE}.db"))
            try:
                for key, value, _timestamp, _position in MmapedDict.read_all_values_from_file(str(dead)):
                    total, _ = archive.read_value(key)
                    archive.write_value(key, total + value, 0.0)
            finally:
                archive.close()
            dead.unlink()
