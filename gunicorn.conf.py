"""gunicorn settings, read automatically by `gunicorn blogapi.wsgi` from this folder.

Each knob can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import logging.config
import os

from gunicorn import glogging

from httpkit import logs, metrics_files

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# One gthread worker per CPU this process may run on (taskset and cpuset pinning count): threads
# overlap one request's database round trips with another's Python, and keep-alive connections
# spare a TCP handshake per request. Measured on one core: 4-5x the sync workers' throughput.
workers = int(os.environ.get("WEB_CONCURRENCY", len(os.sched_getaffinity(0))))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 200_000
max_requests_jitter = 20_000
# No gunicornc control socket: its default path ($HOME/.gunicorn) is shared by every instance on a
# host and is not writable in the container's read-only filesystem.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No access log: the app logs each request itself, with its id, route, status, duration and user.
accesslog = None
errorlog = "-"


class JsonLogger(glogging.Logger):
    """gunicorn's own records as JSON lines in the app's shape (httpkit/logs.py).

    Not `logconfig_dict`: with it gunicorn builds an access-log entry for every request (about
    40 us here) even when nothing logs it.
    """

    def setup(self, cfg):
        super().setup(cfg)
        logging.config.dictConfig(logs.gunicorn_config("json"))


if os.environ.get("LOG_FORMAT", "text") == "json":
    logger_class = JsonLogger


def on_starting(server):
    # Metrics of every worker in one folder (prometheus_client's multiprocess mode), fresh for each
    # master start; named in the environment before any worker exists or imports prometheus_client.
    folder = metrics_files.start()
    server.log.info("metrics folder: %s", folder)
    # Load the settings once in the master, so a missing SECRET_KEY stops startup with one
    # sentence instead of workers failing one after another.
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogapi.settings")
    django.setup(set_prefix=False)


def child_exit(server, worker):
    # A recycled worker's counts still count; its files go into the folder's archive.
    metrics_files.fold_dead_worker(os.environ[metrics_files.ENVIRONMENT_VARIABLE], worker.pid)


def on_exit(server):
    metrics_files.remove(os.environ[metrics_files.ENVIRONMENT_VARIABLE])
