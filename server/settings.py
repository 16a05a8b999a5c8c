"""Talad Live settings, read from the environment.

With nothing set, this is the embedded default a newcomer gets from the demo launcher:
SQLite under the data folder, a private Redis on a unix socket beside it, DEBUG on.
``TALAD_ENV=production`` turns on everything a public deployment needs and refuses to
start without the secrets and addresses it cannot guess.
"""

from decimal import Decimal
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from server.clientaddr import parse_proxies

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

TALAD_ENV = env.str("TALAD_ENV", default="development")
if TALAD_ENV not in ("development", "production"):
    raise ImproperlyConfigured("TALAD_ENV must be 'development' or 'production'")
PRODUCTION = TALAD_ENV == "production"

DATA_DIR = Path(env.str("TALAD_DATA_DIR", default=str(BASE_DIR / ".data"))).resolve()

DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    for required in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        if not env.str(required, default=""):
            raise ImproperlyConfigured(f"{required} must be set when TALAD_ENV=production")
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="django-insecure-embedded-default-not-for-production"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
# Full origins (scheme://host[:port]) trusted besides this site's own, for forms, WebSockets
# and WHIP/WHEP (server.origins).
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Addresses or CIDRs of the reverse proxies in front of us (docs/operations.md). Only from
# these are X-Forwarded-For and X-Forwarded-Proto believed; none by default.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    parse_proxies(TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


def _production_refusals() -> list[str]:
    """Settings a public deployment must never run with; each one stops the start."""
    refusals = []
    if DEBUG:
        refusals.append("DEBUG must be off when TALAD_ENV=production")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        refusals.append(
            "SECRET_KEY must be at least 50 characters with at least 5 different ones, "
            "and random (python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    if "*" in ALLOWED_HOSTS:
        refusals.append("ALLOWED_HOSTS must name this site's hosts, not '*'")
    return refusals


if PRODUCTION and (_refusals := _production_refusals()):
    raise ImproperlyConfigured("; ".join(_refusals))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "server.accounts",
    "server.outbox",
    "catalog",
    "streams",
    "streams.media",
    "coupons",
    "orders",
    "frontend",
]

MIDDLEWARE = [
    "server.middleware.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "server.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "server.middleware.DisplayTimezoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "server.urls"
ASGI_APPLICATION = "server.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'talad.sqlite3'}")
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one file: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions queue writers on the lock instead of failing mid-transaction.
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # One pool per process; keep processes x DB_POOL_MAX under the server's max_connections.
    _pool_max = env.int("DB_POOL_MAX", default=8)
    if _pool_max > 0:
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": _pool_max,
            "timeout": 10,
        }
        _db["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- redis, cache, channel layer, celery ------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default=f"unix://{DATA_DIR / 'redis.sock'}")


def _kombu_url(url: str) -> str:
    """Kombu spells a unix-socket Redis differently from redis-py."""
    return "redis+socket://" + url.removeprefix("unix://") if url.startswith("unix://") else url


CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "talad"},
    }
}

CELERY_BROKER_URL = _kombu_url(env.str("CELERY_BROKER_URL", default=REDIS_URL))
CELERY_RESULT_BACKEND = _kombu_url(env.str("CELERY_RESULT_BACKEND", default=REDIS_URL))
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, and a worker killed mid-task gives it back:
# every task is written to be idempotent, so at-least-once is what we want.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"
# The kernel is not an installed app, so autodiscovery does not see its tasks.
CELERY_IMPORTS = ["server.tasks"]
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "close-overdue-drops": {"task": "coupons.close_overdue_drops", "schedule": 2.0},
    "reconcile-gates": {"task": "coupons.reconcile", "schedule": 5.0},
    "expire-claims": {"task": "coupons.expire_claims", "schedule": 30.0},
    # Session metrics: Redis buckets into PostgreSQL (idempotent; reports also flush first).
    "flush-session-metrics": {"task": "streams.flush_metrics", "schedule": 10.0},
    "expire-unpaid-orders": {"task": "orders.expire_unpaid", "schedule": 30.0},
    "reconcile-stock": {"task": "orders.reconcile_stock", "schedule": 5.0},
    "complete-delivered-orders": {"task": "orders.complete_delivered", "schedule": 900.0},
    # Behind each commit's own relay task and each delivery's own retry task: what a lost
    # task or a killed worker left (server.outbox, orders.webhooks, orders.notifications).
    "outbox-relay": {"task": "outbox.relay", "schedule": env.float("OUTBOX_SWEEP_S", default=10.0)},
    "outbound-sweep": {
        "task": "orders.outbound_sweep",
        "schedule": env.float("OUTBOUND_SWEEP_S", default=15.0),
    },
}

# --- auth ----------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
WS_TICKET_TTL_S = env.int("WS_TICKET_TTL_S", default=30)
# A coupon claim needs an account made before the drop opened: fresh bot accounts gain nothing.
CLAIM_NEEDS_PRIOR_ACCOUNT = env.bool("CLAIM_NEEDS_PRIOR_ACCOUNT", default=True)

# --- i18n ----------------------------------------------------------------------------

LANGUAGE_CODE = "en"  # the fallback; browsers and apps ask for th or zh via Accept-Language
LANGUAGES = [("th", "ไทย"), ("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "frontend" / "locale"]
# The API speaks UTC (RFC 3339, unambiguous for every client); pages show local time.
TIME_ZONE = "UTC"
DISPLAY_TIME_ZONE = env.str("DISPLAY_TIME_ZONE", default="Asia/Bangkok")
USE_I18N = True
USE_TZ = True

# --- static and media ----------------------------------------------------------------

STATIC_URL = "/static/"
# collectstatic (the release step) fills STATIC_ROOT in production; locally WhiteNoise
# serves straight from the apps' static folders.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static"))) if PRODUCTION else None
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Bodies past these sizes get 413 before anything parses them.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
UPLOAD_MAX_BODY_BYTES = env.int("UPLOAD_MAX_BODY_BYTES", default=8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BODY_BYTES

# --- REST API ------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not logged in" into a 401.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PARSER_CLASSES": [
        "server.api.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PAGINATION_CLASS": "server.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "server.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}

# Read at request time (server.api.SettingsRateThrottle), so tests can change them.
# "auth": every register and token request per client address, a flood guard only.
TALAD_THROTTLE_RATES = {
    "auth": env.str("THROTTLE_AUTH", default="120/min"),
    # GET /api/impact/ answers from a cache; this bounds what one address can make it compute.
    "impact": env.str("THROTTLE_IMPACT", default="60/min"),
}
# (count, window in seconds), read at request time (server.accounts.throttle). Failures
# only for logins; every attempt for sign-ups. See docs/operations.md for CGNAT.
_AUTH_WINDOW_S = env.int("AUTH_WINDOW_S", default=15 * 60)
TALAD_AUTH_LIMITS = {
    "login_failures_per_address": (
        env.int("LOGIN_FAILURES_PER_ADDRESS", default=100),
        _AUTH_WINDOW_S,
    ),
    "login_failures_per_username": (
        env.int("LOGIN_FAILURES_PER_USERNAME", default=10),
        _AUTH_WINDOW_S,
    ),
    "register_per_address": (env.int("REGISTER_PER_ADDRESS", default=300), 60 * 60),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Talad Live API",
    "DESCRIPTION": (
        "Live-commerce for farm households. Errors always have the shape "
        '`{"error": {"code": "...", "message": "..."}}`; see docs/api.md.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "server.api.add_error_responses",
    ],
}

# --- production hardening ------------------------------------------------------------

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # Believed only from TRUSTED_PROXIES (server.middleware.ForwardedHeadersMiddleware
    # drops it from anyone else); without proxies, the socket itself says what it is.
    if TRUSTED_PROXIES:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content Security Policy (django-csp) on every response: our pages carry no inline script
# or style, so none is allowed. connect-src: this site over HTTP(S) and WebSocket, and the
# media processes the studio's WHIP request is redirected to (MEDIA_PUBLIC_ORIGINS).
MEDIA_PUBLIC_ORIGINS = env.list("MEDIA_PUBLIC_ORIGINS", default=[])


def _own_sources(schemes: tuple[str, ...]) -> list[str]:
    """CSP sources for ALLOWED_HOSTS: port-exact in production (the default port), any
    port in development, where the web and media processes listen side by side."""
    sources = []
    for host in ALLOWED_HOSTS:
        if host == "*" or host.startswith("["):  # CSP has no syntax for IPv6 literals
            continue
        name = f"*{host}" if host.startswith(".") else host
        for scheme in schemes:
            sources.append(f"{scheme}://{name}" if PRODUCTION else f"{scheme}://{name}:*")
    return sources


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [
            SELF,
            *_own_sources(("wss",) if PRODUCTION else ("ws", "http")),
            *MEDIA_PUBLIC_ORIGINS,
        ],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- logging -------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {"()": "server.logs.structured_formatter", "as_json": PRODUCTION},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint logs every step of every label at INFO.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# --- live channel (streams, docs/protocol.md, docs/scaling.md) --------------------------

# With at least this many live sockets, a web process keeps their long-lived objects out of
# full garbage collections (server.heap: a 1-1.6 s stall at 5,000 sockets otherwise); 0: off.
LIVE_GC_FREEZE_MIN_SOCKETS = env.int("LIVE_GC_FREEZE_MIN_SOCKETS", default=1000)

# --- live video (streams.media, docs/video.md) ----------------------------------------

# STUN/TURN for our peer connections and for clients, as JSON in the browser's shape:
# [{"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "p"}].
# None by default: aiortc would otherwise ask a public STUN server.
MEDIA_ICE_SERVERS = env.json("MEDIA_ICE_SERVERS", default=[])
# Addresses our host candidates use; empty: every interface aioice finds (not loopback).
# Tests and the loopback-only mode set 127.0.0.1.
MEDIA_ICE_HOST_ADDRESSES = env.list("MEDIA_ICE_HOST_ADDRESSES", default=[])
# This process's advertised base URL when it is a media process (the Procfile's `media`
# sets it); empty: a web process, which redirects WHIP/WHEP to a media process.
MEDIA_NODE_URL = env.str("MEDIA_NODE_URL", default="")
# A media process that has not said it is alive for this long no longer holds its sessions.
MEDIA_NODE_TTL_S = env.float("MEDIA_NODE_TTL_S", default=6.0)
# A peer connection not connected within this long is closed (ICE that never starts), so
# an offer that is never followed up holds a media slot only this long.
MEDIA_CONNECT_TIMEOUT_S = env.float("MEDIA_CONNECT_TIMEOUT_S", default=5.0)
# Peer connections one media process takes; past it WHEP answers 503 (see docs/video.md).
MEDIA_MAX_PEERS = env.int("MEDIA_MAX_PEERS", default=150)
# Playbacks one client holds on one media process (a signed-in user, else one address);
# past it WHEP answers 429, so one client cannot take every slot.
MEDIA_PEERS_PER_CLIENT = env.int("MEDIA_PEERS_PER_CLIENT", default=5)
# The share of MEDIA_MAX_PEERS anonymous viewers may take; the rest stays for signed-in ones.
MEDIA_ANONYMOUS_SHARE = env.float("MEDIA_ANONYMOUS_SHARE", default=0.8)
# Record each publication to WebM under MEDIA_ROOT/recordings/ (the host may opt out).
MEDIA_RECORDING = env.bool("MEDIA_RECORDING", default=True)
# Browser origins (besides ALLOWED_HOSTS' own) whose pages may call a media process.
MEDIA_CORS_ORIGINS = env.list("MEDIA_CORS_ORIGINS", default=[])

# --- orders and payments (orders/, docs/api.md "Orders") ------------------------------

# How long a buyer has to pay a PromptPay or card order before it is cancelled and its
# stock and coupon go back.
ORDER_PAYMENT_TTL_S = env.int("ORDER_PAYMENT_TTL_S", default=15 * 60)
# The platform's fee on what a farm sells (goods, not shipping), in percent (docs/api.md,
# "Payouts"): taken from each settled order's payout.
PLATFORM_FEE_PERCENT = Decimal(env.str("PLATFORM_FEE_PERCENT", default="5"))
# How long an order request whose answer is not stored yet keeps its Idempotency-Key from a
# retry (orders.services.idempotency): past it, the process is presumed dead.
ORDER_IDEMPOTENCY_LEASE_S = env.int("ORDER_IDEMPOTENCY_LEASE_S", default=10)
# The PromptPay id (mobile number, tax id or e-wallet id) buyers pay; required in production.
PROMPTPAY_ID = env.str("PROMPTPAY_ID", default="" if PRODUCTION else "0812345678")
# Each payment provider's Standard Webhooks secret, as JSON: {"promptpay": "whsec_..."}.
# Unset on the embedded default: derived from SECRET_KEY (orders.payments.signing).
PAYMENT_WEBHOOK_SECRETS = env.json("PAYMENT_WEBHOOK_SECRETS", default={})
# Each webhook carrier's Standard Webhooks secret, as JSON: {"thailandpost": "whsec_..."};
# unset on the embedded default: derived from SECRET_KEY like the providers'.
CARRIER_WEBHOOK_SECRETS = env.json("CARRIER_WEBHOOK_SECRETS", default={})
# Days after delivery that an order with no refund asked becomes final (``completed``).
ORDER_AUTO_COMPLETE_DAYS = env.int("ORDER_AUTO_COMPLETE_DAYS", default=7)
# The sandbox card gateway and its hosted page; never on in production.
PAYMENT_SANDBOX = env.bool("PAYMENT_SANDBOX", default=not PRODUCTION) and not PRODUCTION

# --- outbox, outbound webhooks, notifications (docs/webhooks.md) -------------------------

# Events one relay transaction fans out; how long a queued relay stands for the next commits.
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=200)
OUTBOX_KICK_TTL_S = env.int("OUTBOX_KICK_TTL_S", default=5)
# Seconds to wait after failed attempt 1, 2, ...: Standard Webhooks' example schedule (5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; eight attempts over about 27 hours), each stretched
# or shrunk at random by up to WEBHOOK_RETRY_JITTER so retries of many deliveries spread out.
WEBHOOK_RETRY_SCHEDULE_S = env.list(
    "WEBHOOK_RETRY_SCHEDULE_S", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_RETRY_JITTER = env.float("WEBHOOK_RETRY_JITTER", default=0.2)
WEBHOOK_CONNECT_TIMEOUT_S = env.float("WEBHOOK_CONNECT_TIMEOUT_S", default=5.0)
WEBHOOK_READ_TIMEOUT_S = env.float("WEBHOOK_READ_TIMEOUT_S", default=15.0)
# How long one attempt holds its delivery: past it (the worker died mid-request) another
# worker may try again. Longer than the timeouts above.
WEBHOOK_LEASE_S = env.float("WEBHOOK_LEASE_S", default=60.0)
# An endpoint whose deliveries gave up this many times in a row is disabled, its owner told.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5)
# Endpoints one user may hold.
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=10)
# Whether endpoints may be private, loopback or link-local addresses (SSRF): development,
# the demo and tests post to receivers on this machine; a public deployment never does.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=not PRODUCTION)
# Channels notifications go out on (server.notify); a name no app registered is skipped.
NOTIFICATION_CHANNELS = env.list("NOTIFICATION_CHANNELS", default=["email"])
NOTIFICATION_MAX_ATTEMPTS = env.int("NOTIFICATION_MAX_ATTEMPTS", default=5)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(DATA_DIR / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Talad Live <no-reply@talad.invalid>")

# --- packing slips and labels (orders/documents/, docs/api.md "Labels") -------------------

# Where a worker writes a session's labels PDF and web nodes read it: private (never under
# MEDIA_ROOT, which DEBUG serves), and one folder every web node and worker share in a fleet.
LABELS_DIR = Path(env.str("LABELS_DIR", default=str(DATA_DIR / "labels")))
# Labels laid out per step of a session's build, each step one progress report.
LABELS_CHUNK = env.int("LABELS_CHUNK", default=25)
