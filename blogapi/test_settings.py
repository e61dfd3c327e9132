"""Settings for the test suite: the real settings, with only speed-related things changed."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-with-enough-length-for-hs256")
os.environ.setdefault("AUTH_THROTTLE_RATE", "off")
# Fair-use budgets are off for the suite (and the gunicorn instances it starts); their tests turn them on.
os.environ.setdefault("USER_RATE_LIMIT", "off")
os.environ.setdefault("POST_RATE_LIMIT", "off")
os.environ.setdefault("VOTE_RATE_LIMIT", "off")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *PASSWORD_HASHERS,  # noqa: F405
]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
