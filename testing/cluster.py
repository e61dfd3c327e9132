"""A throwaway PostgreSQL cluster that a test may stop and start: the database itself goes away.

Made with the server binaries of /usr/lib/postgresql in a temporary folder, on a port the calling
test owns on the shared machine, as a non-root user when the tests run as root (initdb refuses
root). Trust authentication, user `blogapi`.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
USER = "blogapi"


class Cluster:
    def __init__(self, folder: Path, port: int):
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        self.as_user = []
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(folder, user=owner)
            self.as_user = ["runuser", "-u", owner, "--"]

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{USER}@127.0.0.1:{self.port}/{database}"

    def run(self, *args: str) -> None:
        # Only the PostgreSQL binaries found above, with arguments this module builds.
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)  # noqa: S603

    def init(self) -> None:
        self.run(f"{PG_BIN[-1]}/initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        """Start the server; a failed start is tried once more, then fails with the server's log."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        command = [f"{PG_BIN[-1]}/pg_ctl", "-D", str(self.data), "-o", options]
        command += ["-l", str(self.folder / "log"), "-w", "start"]
        for attempt in range(2):
            try:
                self.run(*command)
                return
            except subprocess.CalledProcessError:
                if attempt:
                    log = self.folder / "log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                    pytest.fail(f"PostgreSQL did not start on port {self.port}:\n{tail}")
                time.sleep(1)

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back and every session is cut off."""
        self.run(f"{PG_BIN[-1]}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextmanager
def throwaway_cluster(port: int) -> Iterator[Cluster]:
    """A running cluster on `port`; stopped and deleted on exit."""
    if not PG_BIN:
        pytest.skip("needs PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    folder = Path(tempfile.mkdtemp(prefix="blogapi-pg-"))
    cluster = Cluster(folder, port)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
