"""Claimlens settings: one module, every knob an environment variable with a sane default.

The defaults run on a fresh machine with nothing but Python: SQLite in ``var/`` and a
real Celery worker on kombu's file-system broker. Production sets ``CLAIMLENS_PRODUCTION=1``
plus ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` (PostgreSQL) and
``CELERY_BROKER_URL`` (Redis); see docs/deployment.md.
"""

import datetime as dt
import os
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CLAIMLENS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

PRODUCTION = env.bool("CLAIMLENS_PRODUCTION", default=False)
DEBUG = env.bool("DEBUG", default=False)
if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")  # no default: production refuses to start without one
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "accounts",
    "merchants",
    "refunds",
    "evidence",
    "api",
    "notifications",
    "reporting",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Refuses from Content-Length while requests pass in, so before any view-phase hook
    # (the CSRF check is the first to read a body); after the user and language are known.
    "config.middleware.RequestBodyLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'claimlens.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to one file: wait for the lock instead of
    # failing, and take it at BEGIN so two writers never deadlock on an upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so a real worker process can share the test database; one
    # per test process so that concurrent runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://claimlens")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "config.cache.RedisCache"  # one client per server

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user name before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A form refused for its CSRF token gets a page in the site's design (config/errors.py).
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes; config/login_throttle.py says why by user name + address).
# Web and admin logins alike; the admin lists lockouts under "Axes" (delete one to unlock,
# or `manage.py axes_reset_username NAME`).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_ip"
# Proxies in front of gunicorn that append to X-Forwarded-For (nginx: 1). With 0 the
# header is ignored: a client must not choose the address it is throttled by.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Only failures are kept (AccessAttempt, shown in the admin); successful logins are not
# logged a second time beside Django's last_login.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- E-mail (password resets) --------------------------------------------------------
# EMAIL_URL in django-environ's form (smtp+tls://user:password@host:587 for STARTTLS,
# smtp+ssl://user:password@host:465, consolemail://), or its parts as EMAIL_HOST,
# EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS / EMAIL_USE_SSL, which
# win over the URL's. SMTP in production or when EMAIL_HOST is set; the console elsewhere
# (the demo prints its e-mails); tests use Django's locmem outbox.
_smtp = PRODUCTION or bool(env.str("EMAIL_HOST", default=""))
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25" if _smtp else "consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = env.str("EMAIL_HOST", default=_email["EMAIL_HOST"] or "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=_email["EMAIL_PORT"] or 25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default=_email["EMAIL_HOST_USER"] or "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default=_email["EMAIL_HOST_PASSWORD"] or "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # Django's default waits forever
# From no-reply@ the site's first host name unless told otherwise.
_mail_domain = next(
    (h.lstrip(".") for h in ALLOWED_HOSTS if "*" not in h and not h.startswith("[")), "localhost"
)
# Where the links in e-mails point (notifications): the site's public address.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"Claimlens <no-reply@{_mail_domain}>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# A reset link works once, for this long. Reset requests are counted per e-mail address
# and per client address in the cache (accounts/throttle.py says why both).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_HOURS", default=24) * 3600
PASSWORD_RESET_ADDRESS_LIMIT = env.int("PASSWORD_RESET_ADDRESS_LIMIT", default=3)
PASSWORD_RESET_CLIENT_LIMIT = env.int("PASSWORD_RESET_CLIENT_LIMIT", default=10)
PASSWORD_RESET_WINDOW_MINUTES = env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60)
# The demo (scripts/demo.sh) lists its logins on the login page; never in production.
CLAIMLENS_DEMO = env.bool("CLAIMLENS_DEMO", default=False) and not PRODUCTION

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files --------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded evidence is never served from a public URL: there is no MEDIA_URL route.
# Files are streamed by views that check who is asking (see evidence/views.py).
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = None
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem")
if STORAGE_BACKEND == "s3":
    _evidence_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
else:
    _evidence_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _evidence_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}
# Outside production WhiteNoise serves straight from the apps' static folders (no
# collectstatic step for the demo); production serves the collected, hashed files.
WHITENOISE_USE_FINDERS = not PRODUCTION
# Request size limits. A web form's whole body, photos included, is refused from its
# Content-Length before anything reads it (config/middleware.py; the API's views read the
# same two numbers: api.views.ApiView.initial), over UPLOAD_MAX_REQUEST_BYTES (25 MB per
# photo is evidence.imaging.MAX_BYTES). A body without files, and the fields beside the
# files, over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB). Uploaded files over
# FILE_UPLOAD_MAX_MEMORY_SIZE are spooled to a temporary file instead of memory.
UPLOAD_MAX_REQUEST_BYTES = 100 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
# Webhook URLs (refunds/outbound.py): https only, and never an internal address, in
# production; development and tests may post to a receiver on 127.0.0.1.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=PRODUCTION)
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=not PRODUCTION)

# Content-Security-Policy on every response that has none of its own (evidence files set
# a stricter one). Nothing inline: scripts and styles are files under static/, htmx is
# told not to inject its indicator <style> (base.html), the Swagger UI page loads its
# start script as a file (api/urls.py). The admin of Django 5.2 needs nothing more: its
# one inline <style> is in change lists with no action bar, which no admin here has.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # acks_late + visibility timeout: a task whose worker died is delivered again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Deployments (or test runs) sharing one broker keep apart by their queue's name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "enforce-deadlines": {"task": "refunds.tasks.enforce_deadlines_task", "schedule": 60.0},
    "reconcile-evidence": {"task": "evidence.tasks.reconcile_checks_task", "schedule": 120.0},
    # Claims whose reviewer went quiet for their queue's lease go back to the queue.
    "expire-leases": {
        "task": "refunds.tasks.leases_expire_task",
        "schedule": env.float("LEASE_SWEEP_SECONDS", default=60.0),
    },
    # Opted-in platforms' contributions to the buyer-credit network, a bounded batch a run.
    "credit-network-refresh": {
        "task": "refunds.tasks.credit_network_refresh_task",
        "schedule": 300.0,
    },
    # Waiting claims past their queue's SLA move to its escalation queue (once).
    "escalate-overdue": {"task": "refunds.tasks.claims_escalate_overdue_task", "schedule": 60.0},
    # The status counters' delta rows folded into one per shop and status.
    "compact-status-counts": {
        "task": "refunds.tasks.claim_status_counts_compact_task",
        "schedule": 60.0,
    },
    # The queues' waiting counters folded likewise, the hours already past into one.
    "compact-waiting-counts": {
        "task": "refunds.tasks.queue_waiting_counts_compact_task",
        "schedule": 60.0,
    },
    "purge-idempotency-keys": {
        "task": "api.tasks.purge_idempotency_records_task",
        "schedule": 3600.0,
    },
    # The audit chain's head copied into the file storage (S3 in production), so that
    # cutting off or rewriting the newest events is detected by verify_audit.
    "audit-checkpoint": {
        "task": "refunds.tasks.audit_checkpoint_task",
        "schedule": env.float("AUDIT_CHECKPOINT_SECONDS", default=600.0),
    },
    # Notifications (docs/notifications.md): the 12 h answer reminders, the outbox sweep
    # of their e-mails, and the daily digest.
    "notification-deadlines": {
        "task": "notifications.tasks.deadline_reminders_task",
        "schedule": 600.0,
    },
    "notification-reconcile": {
        "task": "notifications.tasks.notifications_reconcile_task",
        "schedule": 300.0,
    },
    "notification-digests": {
        "task": "notifications.tasks.digests_task",
        "schedule": env.float("NOTIFICATION_DIGEST_SECONDS", default=86400.0),
    },
    # The statistics' daily rollups: the days touched since the last run, recomputed
    # (docs/statistics.md, "Freshness": the page is at most this stale, plus a run).
    "rollups-refresh": {
        "task": "reporting.tasks.rollups_refresh_task",
        "schedule": env.float("ROLLUPS_REFRESH_SECONDS", default=300.0),
    },
    # ...and every night the last ROLLUPS_REBUILD_DAYS days rebuilt whole, for the changes
    # that do not save a claim (a refresh cannot see them).
    "rollups-rebuild-recent": {
        "task": "reporting.tasks.rollups_rebuild_recent_task",
        "schedule": crontab(hour=env.int("ROLLUPS_REBUILD_HOUR", default=3), minute=30),
    },
}
ROLLUPS_REBUILD_DAYS = env.int("ROLLUPS_REBUILD_DAYS", default=7)
# ...and after the commit of every Nth audit event (0: only the periodic one).
AUDIT_CHECKPOINT_EVERY = env.int("AUDIT_CHECKPOINT_EVERY", default=100)

# --- Claim rules ----------------------------------------------------------------------
CLAIMLENS = {
    "MERCHANT_RESPONSE_HOURS": env.int("MERCHANT_RESPONSE_HOURS", default=48),
    # When the evidence looks suspicious the merchant gets more time to gather proof.
    "MERCHANT_RESPONSE_HOURS_SUSPICIOUS": env.int("MERCHANT_RESPONSE_HOURS_SUSPICIOUS", default=96),
    "BUYER_EVIDENCE_HOURS": env.int("BUYER_EVIDENCE_HOURS", default=72),
    "REVIEW_SLA_HOURS": env.int("REVIEW_SLA_HOURS", default=24),
    "APPEAL_WINDOW_HOURS": env.int("APPEAL_WINDOW_HOURS", default=168),
    "CHECK_STUCK_MINUTES": env.int("CHECK_STUCK_MINUTES", default=10),
}

# Reviewers' leases (docs/lifecycle.md, "Taking claims and leases"): how many claims one
# reviewer may hold at once, and how many expired leases one sweep ends at most.
REVIEW_MAX_OPEN_LEASES = env.int("REVIEW_MAX_OPEN_LEASES", default=10)
LEASE_EXPIRY_BATCH = env.int("LEASE_EXPIRY_BATCH", default=500)
# The deadline sweep: claims per transaction, and the time a tick may take (below the
# beat interval of 60 s) before it leaves the rest to the next tick.
DEADLINE_BATCH = env.int("DEADLINE_BATCH", default=500)
DEADLINE_BUDGET_SECONDS = env.float("DEADLINE_BUDGET_SECONDS", default=45.0)

# The cross-platform buyer-credit network (docs/security.md, "Buyer-credit network"): the
# HMAC key of buyers' identifier hashes, held by the deployment only (no platform's staff
# sees it: not in the admin, not in any page), and its version (raise it with a new key
# to rotate; contributions are re-hashed batch by batch). No key: the network is off.
CREDIT_NETWORK_KEY = env.str("CREDIT_NETWORK_KEY", default="")
CREDIT_NETWORK_KEY_VERSION = env.int("CREDIT_NETWORK_KEY_VERSION", default=1)
CREDIT_NETWORK_REFRESH_BATCH = env.int("CREDIT_NETWORK_REFRESH_BATCH", default=500)

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "api.schema.ProblemAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.PlatformTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsPlatformClient"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.PlatformClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "platform_client": env.str("API_RATE", default="1200/min"),
        # POST /api/v1/claims/batch/, up to 100 claims each: 120/min is 200 claims/s.
        "platform_client_batch": env.str("API_BATCH_RATE", default="120/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.exceptions.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Idempotency-Key records are kept at least this long (purged hourly after that).
API_IDEMPOTENCY_TTL_HOURS = env.int("API_IDEMPOTENCY_TTL_HOURS", default=24)
# A key whose request is still "in progress" this long is taken over by the next retry
# (its request died, or the database failed before the key could be released).
API_IDEMPOTENCY_LEASE_SECONDS = env.int("API_IDEMPOTENCY_LEASE_SECONDS", default=120)
# Retry-After of a 503 (the database, the cache or the broker cannot be reached).
RETRY_AFTER_SECONDS = env.int("RETRY_AFTER_SECONDS", default=10)
SPECTACULAR_SETTINGS = {
    "TITLE": "Claimlens platform API",
    "DESCRIPTION": (
        "Push orders, refund-only claims and evidence; read status and findings. "
        "Authenticate with `Authorization: Token <token>`. Errors are RFC 9457 problem "
        "documents (`application/problem+json`). Every POST honours `Idempotency-Key`. "
        "See docs/api.md."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ClaimStatusEnum": "refunds.models.ClaimStatus",
        "OutcomeEnum": "refunds.models.Outcome",
        "ClaimReasonEnum": "refunds.models.ClaimReason",
        "SubmittedByEnum": "evidence.models.SubmittedBy",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Lockouts and failed logins are warnings; every successful login is not news.
    "loggers": {"axes": {"level": env.str("AXES_LOG_LEVEL", default="WARNING")}},
}
