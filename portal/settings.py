"""Settings for the portal, all read from the environment.

With no DATABASE_URL and no REDIS_URL the portal runs on an embedded default:
SQLite under var/ and Celery tasks in-process. Production, tests and the demo
differ only by environment variables, never by code paths.
"""

import datetime as dt
from pathlib import Path

from celery.schedules import crontab
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from .crypto import local_fernet_key, split_keys
from .env import env, env_secret, env_threshold, local_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env_secret("SECRET_KEY") or local_secret(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with the staff gate (verified TOTP) as its site.
    "portal.security_admin.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "portal",
    "audit",
    "access",
    "members",
    "accounts",
    "payments",
    "claims",
    "family",
    "dashboard",
    "errands",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Signs out a staff session idle for STAFF_SESSION_IDLE_SECONDS.
    "portal.security.StaffSessionIdleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The access layer's refusals: the portal's 404 page, DEBUG or not.
    "access.middleware.RefusalMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a refused sign-in into a clear lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.display.context",
                "access.context_processors.viewer",
                "notifications.context.unread",
                "portal.chrome.chrome",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
EMBEDDED_DATABASE_URL = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
DATABASES = {"default": env.db("DATABASE_URL", default=EMBEDDED_DATABASE_URL)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
# The hot statements PostgreSQL plans once per connection (portal/prepared.py):
# prepared once run this many times on a connection; "off" prepares nothing
# (behind a pooler in transaction mode that cannot keep prepared statements).
DATABASE_PREPARE_THRESHOLD = env_threshold("DATABASE_PREPARE_THRESHOLD", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ---------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# No broker: run tasks in-process so a newcomer needs no server.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=1800)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Longer than the longest task, so a late-acked task is not redelivered early.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="portal")
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE: dict = {
    # Year-end rollover (docs/adr/0002): 1 January 00:05 Asia/Shanghai, for the
    # year that just ended; exactly once per member per year, safe to re-run.
    "year-end-rollover": {
        "task": "accounts.tasks.rollover_year_task",
        "schedule": crontab(minute=5, hour=0, day_of_month=1, month_of_year=1),
    },
    # Daily settlement (docs/adr/0005): everything submitted before today,
    # one batch per institution; exactly once, safe to re-run.
    "daily-settlement": {
        "task": "claims.tasks.settle_due",
        "schedule": crontab(minute=30, hour=1),
    },
    # Family links (docs/adr/0017): a reminder 30 days before a link ends and
    # the record that it ended, once per link and end date; safe to re-run.
    # Access stops at the end date on every request, not by this job.
    "family-link-expiry": {
        "task": "family.tasks.link_expiry_sweep",
        "schedule": crontab(minute=15, hour=7),
    },
    # Shared ledger accounts (docs/adr/0001): fold the pending balance deltas
    # into the snapshots, so reading a payable's or the fund's balance stays short.
    "ledger-fold-balance-deltas": {
        "task": "accounts.tasks.fold_balance_deltas",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Audit trail (docs/adr/0014): seal the events appended since the last
    # seal; an audited access also asks for one a second later.
    "audit-seal": {
        "task": "audit.tasks.seal_audit_chain",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Member pages' read versions (docs/adr/0006): fold each person's rows
    # into one, nightly; a version never changes by it.
    "dashboard-compact-read-versions": {
        "task": "dashboard.tasks.compact_read_versions_task",
        "schedule": crontab(minute=40, hour=3),
    },
    # Settlement stall sweeper (docs/adr/0005): every minute, send again the
    # unfinished batches with no sign of a worker for
    # CLAIMS_SETTLEMENT_STALL_SECONDS (default 180). Expires unconsumed, so
    # sweeps do not pile up while no worker runs.
    "settlement-stall-sweep": {
        "task": "claims.tasks.settle_stalled",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Notifications (docs/adr/0016): the outbox every minute (a lost kick
    # is made up here), an hourly sweep of the last day, the daily digest of
    # views at 08:00 for the day before.
    "notifications-outbox": {
        "task": "notifications.tasks.notify_outbox",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "notifications-sweep": {
        "task": "notifications.tasks.notify_outbox_sweep",
        "schedule": crontab(minute=17),
    },
    "notifications-view-digest": {
        "task": "notifications.tasks.send_view_digests",
        "schedule": crontab(minute=0, hour=8),
    },
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="portal"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The member pages' content block (dashboard, payment record, a relative's
# view) is cached under a read version kept by database triggers, so a hit is
# never stale (dashboard.pagecache, docs/adr/0006). Seconds an unused entry is
# kept; 0 turns the cache off. Only on PostgreSQL.
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=900)
# The tests turn this on: a block that read a table no trigger watches is
# refused (an error) instead of cached.
PAGE_CACHE_CHECK_TABLES = env.bool("PAGE_CACHE_CHECK_TABLES", default=False)

# Sessions are read on every signed-in request: with Redis, from the cache
# (written through to the database, so a Redis restart signs nobody out).
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
# The signed-in user (with their person) is cached for this long between
# requests (members.auth); any save or delete of either drops the entry at
# once. Only with a shared cache (Redis): a per-process cache could not be
# dropped in every worker, so without Redis it is off (0).
AUTH_USER_CACHE_SECONDS = env.int("AUTH_USER_CACHE_SECONDS", default=300 if REDIS_URL else 0)
# The address limit and django-axes first: they refuse a locked-out address
# or account before any password check.
AUTHENTICATION_BACKENDS = [
    # Per-address limit across accounts (password spraying), then django-axes.
    "members.auth.AddressThrottleBackend",
    "axes.backends.AxesStandaloneBackend",
    "members.auth.IdentityNumberOrPhoneBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = env.list(
    "PASSWORD_HASHERS",
    default=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ],
)

# --- I18N -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ---------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it to exist
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploaded personal documents live outside every public URL; they are served
# only through views that check who asks.
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
# Family-account documents (PDF, JPEG, PNG): the largest accepted upload.
FAMILY_UPLOAD_MAX_BYTES = env.int("FAMILY_UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)
# Adding a relative: how many requests a member may make per day that name
# nobody insured with that name (docs/adr/0009); then refused until tomorrow.
FAMILY_CHECK_FAILURES_PER_DAY = env.int("FAMILY_CHECK_FAILURES_PER_DAY", default=5)
# Contribution imports (docs/adr/0008): the largest file accepted, and how many
# bad rows a stored report lists in full (the rest are counted).
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
IMPORT_REPORT_MAX_ROWS = env.int("IMPORT_REPORT_MAX_ROWS", default=1000)
# Images are decoded and re-encoded (family/uploads.py): larger ones are refused
# before a pixel is decoded (decompression bombs).
FAMILY_UPLOAD_MAX_PIXELS = env.int("FAMILY_UPLOAD_MAX_PIXELS", default=25_000_000)
# Staff preview PDFs as images rendered on the server: this many first pages, at this DPI.
FAMILY_PREVIEW_MAX_PAGES = env.int("FAMILY_PREVIEW_MAX_PAGES", default=5)
FAMILY_PREVIEW_DPI = env.int("FAMILY_PREVIEW_DPI", default=100)
# The first handler stops holding a file once it passes its view's cap
# (portal/uploads.py), so an oversized upload is never kept whole.
FILE_UPLOAD_HANDLERS = [
    "portal.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- E-mail -----------------------------------------------------------------
# EMAIL_BACKEND picks the back end; the SMTP one reads EMAIL_HOST, EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD(_FILE), EMAIL_USE_TLS / EMAIL_USE_SSL
# and EMAIL_TIMEOUT; the file one EMAIL_FILE_PATH (README, ADR 0016).
EMAIL_BACKEND_PATH = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
_EMAIL_OPTIONS: dict = {}
if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend"):
    _EMAIL_OPTIONS = {
        "host": env("EMAIL_HOST", default="localhost"),
        "port": env.int("EMAIL_PORT", default=25),
        "username": env("EMAIL_HOST_USER", default=""),
        "password": env_secret("EMAIL_HOST_PASSWORD") or "",
        "use_tls": env.bool("EMAIL_USE_TLS", default=False),
        "use_ssl": env.bool("EMAIL_USE_SSL", default=False),
        "timeout": env.int("EMAIL_TIMEOUT", default=30),
    }
elif EMAIL_BACKEND_PATH.endswith("filebased.EmailBackend"):
    _EMAIL_OPTIONS = {"file_path": env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))}
MAILERS = {"default": {"BACKEND": EMAIL_BACKEND_PATH, "OPTIONS": _EMAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="portal@localhost")
# Notifications (docs/adr/0016): channel -> sender class (an SMS provider's
# adapter goes here), the outbox's lag, a claimed delivery's stale time.
NOTIFICATION_SENDERS = {"email": "notifications.senders.EmailSender"}
if env("NOTIFICATION_SMS_SENDER", default=""):
    NOTIFICATION_SENDERS["sms"] = env("NOTIFICATION_SMS_SENDER")
NOTIFICATIONS_OUTBOX_LAG_SECONDS = env.int("NOTIFICATIONS_OUTBOX_LAG_SECONDS", default=120)
NOTIFICATIONS_OUTBOX_RUN_SECONDS = env.int("NOTIFICATIONS_OUTBOX_RUN_SECONDS", default=60)
NOTIFICATIONS_SEND_SECONDS = env.int("NOTIFICATIONS_SEND_SECONDS", default=60)
NOTIFICATIONS_DELIVERY_STALE_SECONDS = env.int("NOTIFICATIONS_DELIVERY_STALE_SECONDS", default=300)
NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS = env.int("NOTIFICATIONS_DELIVERY_MAX_ATTEMPTS", default=5)
NOTIFICATIONS_CONFIRM_SECONDS = env.int("NOTIFICATIONS_CONFIRM_SECONDS", default=172800)
NOTIFICATIONS_CONFIRM_RATE = env("NOTIFICATIONS_CONFIRM_RATE", default="5/hour")
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
PASSWORD_RESET_RATE_ADDRESS = env("PASSWORD_RESET_RATE_ADDRESS", default="3/hour")
PASSWORD_RESET_RATE_ACCOUNT = env("PASSWORD_RESET_RATE_ACCOUNT", default="3/day")
PASSWORD_RESET_RATE_CLIENT = env("PASSWORD_RESET_RATE_CLIENT", default="20/hour")

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "members.auth.MemberTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # JSON bounded in size and nesting depth (portal.parsers, docs/adr/0007).
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_VERSIONING_CLASS": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Medical insurance portal API",
    "DESCRIPTION": "Members, personal accounts, contributions, expenses and settlement.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ExpenseStatusEnum": "claims.models.ExpenseStatus",
        "LinkStatusEnum": "family.models.LinkStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.openapi_errors.document_error_responses_on_every_operation",
    ],
}

# --- Security ---------------------------------------------------------------
# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for
# one account from one address, that pair is locked for the cool-off time. The
# account is the same whether named by identity number, phone or username.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "members.auth.axes_username"
AXES_LOCKOUT_CALLABLE = "members.security_views.lockout_response"
AXES_RESET_ON_SUCCESS = True
# A retry while locked does not extend the lock, so "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_SENSITIVE_PARAMETERS = ["username", "password", "otp_token"]
AXES_VERBOSE = False
# Identity numbers are stored encrypted (Fernet) with a keyed hash for look-ups
# (members/crypto.py, docs/adr/0004-personal-data.md). Comma-separated lists,
# current key first; `manage.py rotate_id_number_keys` moves data to the first.
ID_NUMBER_KEYS = split_keys(env_secret("ID_NUMBER_KEYS")) or [
    local_fernet_key(VAR_DIR / "id_number_key")
]
ID_NUMBER_HASH_KEYS = split_keys(env_secret("ID_NUMBER_HASH_KEY")) or [
    local_secret(VAR_DIR / "id_number_hash_key")
]
# Staff pages need a TOTP code on top of the password (portal.security.staff_required).
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Medical insurance portal")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind HTTPS in production: HTTPS=true turns on secure cookies, the redirect
# to HTTPS and HSTS. Behind a TLS-terminating proxy that proxy must set
# X-Forwarded-Proto (and strip it from clients).
HTTPS = env.bool("HTTPS", default=False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load-balancer probes speak plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Django's own Content-Security-Policy: only our own files, no inline script or
# style anywhere (JS lives in static/js/). The API docs page relaxes styles
# only (portal/views.api_docs).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Security hardening (issue 15): tokens, staff sessions, throttles --------
# Member API tokens (members.models.MemberToken) end this long after they are
# made; a password change, "sign out everywhere" or deactivation ends them sooner.
MEMBER_TOKEN_SECONDS = env.int("MEMBER_TOKEN_SECONDS", default=7 * 24 * 3600)
# A staff session unused for this long is signed out (portal.security.
# StaffSessionIdleMiddleware), so a stolen staff session key lives briefly.
STAFF_SESSION_IDLE_SECONDS = env.int("STAFF_SESSION_IDLE_SECONDS", default=15 * 60)
# Staff enrol their authenticator app only with a one-time code an
# administrator issued (manage.py issue_enrolment_code); it expires after this.
STAFF_ENROLMENT_CODE_SECONDS = env.int("STAFF_ENROLMENT_CODE_SECONDS", default=24 * 3600)
# Password spraying: after this many failed sign-ins from one address, across
# all accounts, that address may not sign in for the cool-off (page and token
# API; counted in the cache). django-axes still locks per account and address.
SIGNIN_ADDRESS_FAILURE_LIMIT = env.int("SIGNIN_ADDRESS_FAILURE_LIMIT", default=20)
SIGNIN_ADDRESS_COOLOFF_MINUTES = env.int("SIGNIN_ADDRESS_COOLOFF_MINUTES", default=15)
# API rate limits ("<n>/<second|minute|hour|day>", or "off"), per signed-in
# user (members, relatives, staff), per institution, and per address for
# anonymous requests (portal.throttles). 429 with Retry-After when exceeded.
API_THROTTLE_MEMBER = env("API_THROTTLE_MEMBER", default="600/minute")
API_THROTTLE_INSTITUTION = env("API_THROTTLE_INSTITUTION", default="3000/minute")
API_THROTTLE_ANON = env("API_THROTTLE_ANON", default="120/minute")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "portal.throttles.InstitutionRateThrottle",
    "portal.throttles.MemberRateThrottle",
    "portal.throttles.AnonRateThrottle",
]

# --- Domain -----------------------------------------------------------------
# The region whose policy parameters the demo and calculator default to.
PORTAL_DEFAULT_REGION = env("PORTAL_DEFAULT_REGION", default="110100")

# --- Certificates -------------------------------------------------------------
# The address printed on certificates for checking them (scheme and host, no
# trailing slash), e.g. https://portal.example.gov.cn; empty: the address the
# request came to.
PORTAL_PUBLIC_URL = env("PORTAL_PUBLIC_URL", default="").rstrip("/")
# The issuer line printed on every certificate.
CERTIFICATE_ISSUER = env("CERTIFICATE_ISSUER", default="")
# --- Operations (issue 17: serving, logs, metrics, errors, queues, replica) ---
# Kept in one block to ease merges; docs/operating.md explains each knob.
from kombu import Queue  # noqa: E402

from .logging import configure_structlog, logging_config  # noqa: E402

# Prometheus metrics at /metrics (portal/metrics.py): from these addresses, or
# from anywhere with `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_TOKEN = env_secret("METRICS_TOKEN") or ""
MIDDLEWARE.insert(0, "portal.metrics.MetricsMiddleware")
SECURE_REDIRECT_EXEMPT.append(r"^metrics$")  # scraped over plain HTTP on the host

# Structured JSON logs (django-structlog): request id, user id, route, time taken.
INSTALLED_APPS.append("django_structlog")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "portal.observability.RequestLogMiddleware",
)
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logging_config(level=env("LOG_LEVEL", default="INFO"), fmt=LOG_FORMAT)
configure_structlog()
DJANGO_STRUCTLOG_CELERY_ENABLED = True
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_USER_ID_FIELD = "pk"
DJANGO_STRUCTLOG_COMMAND_LOGGING_ENABLED = False

# Error reports (sentry-sdk): off unless SENTRY_DSN is set; personal data is
# scrubbed before sending (portal/sentry.py).
SENTRY_DSN = env_secret("SENTRY_DSN") or ""
if SENTRY_DSN:
    from .sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        release=env("SENTRY_RELEASE", default=""),
        traces_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# Celery queues per kind of task (portal/celery_ops.py): workers on other
# machines take one kind each (`celery -A portal worker -Q settlement`); a
# worker started without -Q consumes all of them.
CELERY_KIND_QUEUES = {
    "settlement": env("CELERY_QUEUE_SETTLEMENT", default="settlement"),
    "notifications": env("CELERY_QUEUE_NOTIFICATIONS", default="notifications"),
    "imports": env("CELERY_QUEUE_IMPORTS", default="imports"),
    "default": CELERY_TASK_DEFAULT_QUEUE,
}
CELERY_TASK_QUEUES = [Queue(q) for q in dict.fromkeys(CELERY_KIND_QUEUES.values())]
CELERY_TASK_ROUTES = ("portal.celery_ops.route_task",)
# (hard, soft) seconds per kind; the broker's visibility timeout (above) stays
# longer than the longest.
CELERY_KIND_TIME_LIMITS = {
    "settlement": (CELERY_TASK_TIME_LIMIT, CELERY_TASK_SOFT_TIME_LIMIT),
    "imports": (
        env.int("CELERY_IMPORT_TIME_LIMIT", default=900),
        env.int("CELERY_IMPORT_TIME_LIMIT", default=900) - 30,
    ),
    "notifications": (
        env.int("CELERY_NOTIFICATION_TIME_LIMIT", default=120),
        env.int("CELERY_NOTIFICATION_TIME_LIMIT", default=120) - 20,
    ),
    "default": (CELERY_TASK_TIME_LIMIT, CELERY_TASK_SOFT_TIME_LIMIT),
}
CELERY_TASK_ANNOTATIONS = ("portal.celery_ops.TaskPolicy",)
CELERY_MAX_RETRIES = env.int("CELERY_MAX_RETRIES", default=5)
CELERY_RETRY_BACKOFF = env.int("CELERY_RETRY_BACKOFF", default=5)  # seconds, doubled each try
CELERY_RETRY_BACKOFF_MAX = env.int("CELERY_RETRY_BACKOFF_MAX", default=600)

# Read replica (portal/replica.py): member read-only pages read from it; access
# decisions, writes and a member's reads just after their own write stay on
# the primary.
DATABASE_REPLICA_URL = env_secret("DATABASE_REPLICA_URL") or ""
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["portal.replica.ReplicaRouter"]
DATABASE_REPLICA_VIEWS = env.list(
    "DATABASE_REPLICA_VIEWS",
    default=[
        "home",
        "dashboard:index",
        "dashboard:member",
        "dashboard:records",
        "dashboard:records_csv",
        "dashboard:summary",
    ],
)
DATABASE_REPLICA_STICKY_SECONDS = env.int("DATABASE_REPLICA_STICKY_SECONDS", default=15)
MIDDLEWARE.insert(
    MIDDLEWARE.index("portal.observability.RequestLogMiddleware") + 1,
    "portal.replica.ReplicaReadsMiddleware",
)
