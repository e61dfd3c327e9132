"""Settings for blogapi, read from the environment (and an optional `.env` file).

Every variable of the configuration table in docs/api.md is one line below with its default;
`.env.example` lists them all.
"""

import ipaddress
import sys
from datetime import timedelta
from pathlib import Path

import environ

from httpkit import logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # One sentence on stderr; exit status 3 also makes gunicorn stop instead of respawning.
        sys.stderr.write("blogapi: SECRET_KEY must be set when DEBUG is false.\n")
        raise SystemExit(3)
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis that stops answering costs a request a second, not a hung thread (CACHE_URL may say otherwise).
    for _option in ("socket_connect_timeout", "socket_timeout"):
        CACHES["default"].setdefault("OPTIONS", {}).setdefault(_option, 1)
ACCESS_TOKEN_LIFETIME_MINUTES = env.int("ACCESS_TOKEN_LIFETIME_MINUTES", default=30)
REFRESH_TOKEN_LIFETIME_DAYS = env.int("REFRESH_TOKEN_LIFETIME_DAYS", default=7)
PASSWORD_RESET_CODE_MINUTES = env.int("PASSWORD_RESET_CODE_MINUTES", default=15)
TASKS_BACKEND = env.str("TASKS_BACKEND", default="immediate")
AUTH_THROTTLE_RATE = env.str("AUTH_THROTTLE_RATE", default="20/min")
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW_MINUTES = env.int("LOGIN_FAILURE_WINDOW_MINUTES", default=15)
RECOVERY_CODES_PER_HOUR = env.int("RECOVERY_CODES_PER_HOUR", default=3)
RESET_FAILURE_LIMIT = env.int("RESET_FAILURE_LIMIT", default=10)
USER_RATE_LIMIT = env.str("USER_RATE_LIMIT", default="600/min")
POST_RATE_LIMIT = env.str("POST_RATE_LIMIT", default="30/hour")
VOTE_RATE_LIMIT = env.str("VOTE_RATE_LIMIT", default="300/hour")
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_ALLOWED_CIDRS = env.list("METRICS_ALLOWED_CIDRS", default=["127.0.0.1/32", "::1/128"])
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
# 0 switches Idempotency-Key off: keys are still checked, nothing is kept (docs/retries.md).
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)

# Clients behind a reverse proxy: how many proxies append to X-Forwarded-For (0 = trust none).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "posts",
    "votes",
    "fastapi_import",
    "demo",
    "httpkit",
    "idempotency",
]

MIDDLEWARE = [
    # First: binds the request id, times and logs every request, counts it, answers /metrics.
    "httpkit.observe.ObserveRequestsMiddleware",
    "httpkit.errors.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "httpkit.throttling.RateLimitHeadersMiddleware",
    "httpkit.idempotency.IdempotencyKeyScopeMiddleware",
]

ROOT_URLCONF = "blogapi.urls"
WSGI_APPLICATION = "blogapi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: persistent connections with a health check before reuse, so a restarted
# database is picked up again without restarting the process.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # The same backend; its health check polls the socket and asks the server only when needed.
    DATABASES["default"]["ENGINE"] = "httpkit.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "accounts.hashers.PasslibBCryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email",)},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Without a collectstatic run (make run), whitenoise serves straight from the app folders.
WHITENOISE_USE_FINDERS = True

# Request bodies: the API takes small JSON documents; anything larger is refused with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# No endpoint takes files: a multipart body with a file part is refused before it is stored.
DATA_UPLOAD_MAX_NUMBER_FILES = 0

# Email
EMAIL_BACKEND = EMAIL_CONFIG["EMAIL_BACKEND"]
EMAIL_HOST = EMAIL_CONFIG.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = EMAIL_CONFIG.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = EMAIL_CONFIG.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = EMAIL_CONFIG.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = EMAIL_CONFIG.get("EMAIL_USE_SSL", False)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = 10

# Background tasks (password-recovery emails)
TASK_BACKENDS = {
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
    "database": "django_tasks_db.DatabaseBackend",
}
if TASKS_BACKEND not in TASK_BACKENDS:
    sys.stderr.write("blogapi: TASKS_BACKEND must be 'immediate' or 'database'.\n")
    raise SystemExit(3)
TASKS = {"default": {"BACKEND": TASK_BACKENDS[TASKS_BACKEND]}}

# Security
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    # TLS is terminated by the proxy in front (Ingress, load balancer); it sets the header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Health probes call the pods over plain HTTP from inside; a redirect would hide the answer.
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz)$"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# CORS: only the API is meant for browsers on other origins.
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "origin",
    "user-agent",
    "x-request-id",
)
CORS_PREFLIGHT_MAX_AGE = 86400
# Front ends on other origins may read the request id (to quote it in a support request), where
# their user stands (fair use) and when to retry.
CORS_EXPOSE_HEADERS = (
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Link",
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "httpkit.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "httpkit.negotiation.JSONFirstNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "httpkit.parsers.FastJSONParser",
        "rest_framework.parsers.FormParser",
        # The browsable API's HTML forms post multipart/form-data.
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "httpkit.pagination.KeysetPagination",
    "PAGE_SIZE": 10,
    "DEFAULT_SCHEMA_CLASS": "httpkit.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "httpkit.errors.api_exception_handler",
    "VIEW_NAME_FUNCTION": "httpkit.pages.view_name",
    # Fair use (docs/fair-use.md): every per-user budget, scope -> rate; "off" disables one.
    "DEFAULT_THROTTLE_CLASSES": ["httpkit.throttling.UserBudget", "httpkit.throttling.ActionBudget"],
    "DEFAULT_THROTTLE_RATES": {"user": USER_RATE_LIMIT, "posts": POST_RATE_LIMIT, "votes": VOTE_RATE_LIMIT},
    # 0 means X-Forwarded-For is ignored, so clients cannot pick their own throttle identity.
    "NUM_PROXIES": NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNICODE_JSON": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=ACCESS_TOKEN_LIFETIME_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=REFRESH_TOKEN_LIFETIME_DAYS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
    # A password change (reset) also ends every access token issued before it.
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "blogapi",
    "DESCRIPTION": "A social blogging API: accounts with JWT login, posts, likes, password recovery.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One request media type per operation (JSON; the token view declares its form itself), and
    # only the Bearer scheme: generated clients and Swagger UI's Authorize use exactly these.
    "PARSER_WHITELIST": ["httpkit.parsers.FastJSONParser"],
    "AUTHENTICATION_WHITELIST": ["accounts.authentication.BearerAuthentication"],
    "ENUM_NAME_OVERRIDES": {
        "TokenRejectionCodeEnum": "httpkit.errors.TOKEN_REJECTION_CODES",
        "OAuth2ErrorCodeEnum": "httpkit.errors.OAUTH2_ERRORS",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "httpkit.openapi.require_envelope_fields",
        "httpkit.openapi.add_health_endpoints",
    ],
    # Swagger UI's own settings live in its init script, httpkit/static/httpkit/swagger-init.js.
}

# Logs: LOG_FORMAT text (people) or json (one object per line); httpkit/logs.py.
if LOG_FORMAT not in logs.FORMATS:
    sys.stderr.write("blogapi: LOG_FORMAT must be 'text' or 'json'.\n")
    raise SystemExit(3)
LOGGING = logs.django_config(LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# /metrics: a bad network in METRICS_ALLOWED_CIDRS stops startup instead of failing each scrape.
try:
    [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in METRICS_ALLOWED_CIDRS]
except ValueError as error:
    sys.stderr.write(f"blogapi: METRICS_ALLOWED_CIDRS: {error}.\n")
    raise SystemExit(3) from None

# Emails are unique case-insensitively through the Lower(email) constraint on accounts.User,
# which this check does not recognise. The feed's keyset indexes carry extra columns on
# PostgreSQL; SQLite builds them without, as intended (models.W040).
SILENCED_SYSTEM_CHECKS = ["auth.W004", "models.W040"]
