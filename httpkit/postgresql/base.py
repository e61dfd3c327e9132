"""Django's PostgreSQL backend with a health check that costs no round trip while all is well.

Django's CONN_HEALTH_CHECKS sends `SELECT 1` before the first query of every request. A
connection the server has closed (restart, failover, idle timeout, terminated backend) has
its FATAL notice or end-of-file waiting on the socket, so a zero-timeout poll tells which
connections need the real check; healthy ones go straight to work.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.connection.closed
            and not _has_pending_input(self.connection.fileno())
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()


def _has_pending_input(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))
