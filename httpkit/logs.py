"""Logging for both formats of `LOG_FORMAT`: `text` for people, `json` for log collectors.

`json` writes one object per line with python-json-logger (orjson inside): `time`, `level`,
`logger`, `message`, `request_id` and the record's extra fields. Django's settings and
gunicorn.conf.py both build their configuration here, so the app's records and gunicorn's look
alike. Each request's own line comes from `httpkit.observe`.
"""

import logging

from pythonjsonlogger.core import RESERVED_ATTRS

FORMATS = ("text", "json")

_FORMATTERS = {
    "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    "json": {
        "()": "pythonjsonlogger.orjson.OrjsonFormatter",
        "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
        "timestamp": "time",
        # django.request attaches the request object itself; the request line says what matters.
        "reserved_attrs": [*RESERVED_ATTRS, "request", "taskName"],
    },
}


def _base(log_format: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "httpkit.request_id.RequestIdLogFilter",
                "missing": "-" if log_format == "text" else None,
            }
        },
        "formatters": {log_format: _FORMATTERS[log_format]},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]}
        },
    }


def django_config(log_format: str, *, level: str) -> dict:
    """settings.LOGGING: every record through one console handler in `log_format`."""
    config = _base(log_format)
    config["root"] = {"handlers": ["console"], "level": level}
    config["loggers"] = {
        # Django's own handlers (a DEBUG-only console, mail to ADMINS, which is empty) would print
        # its records a second time in another format; through the root handler only.
        "django": {"handlers": [], "level": "INFO"},
        # 4xx responses are the client's business; the API answers them in the body.
        "django.request": {"level": "ERROR"},
    }
    if log_format == "json":
        # Python's warnings as records too, not bare lines on stderr among the JSON ones.
        logging.captureWarnings(True)
        # runserver's own request lines have a handler of their own; in JSON mode they go through ours.
        config["loggers"]["django.server"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
    return config


def gunicorn_config(log_format: str) -> dict:
    """gunicorn's error log (startup, workers, timeouts) and the master's other records in `log_format`."""
    config = _base(log_format)
    config["root"] = {"handlers": ["console"], "level": "INFO"}
    config["loggers"] = {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False}}
    return config
