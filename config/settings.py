"""Tunedesk settings. The only module that reads os.environ (through config.env).

Every variable is documented in README.md, section Configuration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from config.env import (
    database_config,
    env_bool,
    env_choice,
    env_dir,
    env_float,
    env_int,
    env_list,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
DATA_DIR = env_dir("TUNEDESK_DATA_DIR", BASE_DIR / "var")
UPLOAD_DIR = DATA_DIR / "uploads"
EXPORT_DIR = DATA_DIR / "exports"
MODEL_CACHE_DIR = DATA_DIR / "models"
RUNS_DIR = DATA_DIR / "runs"
JOBS_DIR = DATA_DIR / "jobs"


def _secret_key() -> str:
    # Without SECRET_KEY a key is made once and kept in the data dir, so sessions survive
    # restarts and no install ever runs on a key published in this repository.
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Before django_tasks_db: jobs' db_worker (a worker that survives a locked database and
    # sweeps orphans on a timer) replaces that package's command of the same name.
    "core",
    "jobs",
    "django_tasks",
    "django_tasks_db",
    "curation",
    "training",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body: a body over the upload limit is refused unread.
    "config.limits.UploadSizeLimitMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.security.LoginRateLimitMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": database_config(
        os.environ.get("DATABASE_URL"),
        sqlite_path=DATA_DIR / "tunedesk.sqlite3",
        sqlite_timeout=env_float("TUNEDESK_SQLITE_BUSY_TIMEOUT", 20.0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "curation:project_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = UPLOAD_DIR
# Uploads past this size stream to a temp file instead of memory; the hard limit is the
# import's own (TUNEDESK_MAX_UPLOAD_MB), checked before any row is read.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
TUNEDESK_MAX_UPLOAD_MB = env_int("TUNEDESK_MAX_UPLOAD_MB", 1024)
# An annotator's claim on a record lapses after this long without a save.
TUNEDESK_CLAIM_TIMEOUT_MINUTES = env_int("TUNEDESK_CLAIM_TIMEOUT_MINUTES", 30)
# Who may create projects in the app: "superusers"; "engineers" (superusers, staff and
# anyone who is an engineer of some project); or "everyone" signed in.
TUNEDESK_PROJECT_CREATORS = env_choice(
    "TUNEDESK_PROJECT_CREATORS", "engineers", ("superusers", "engineers", "everyone")
)
# Cost model of the compare report: what an hour of this hardware costs.
TUNEDESK_HARDWARE_PRICE_PER_HOUR = env_float("TUNEDESK_HARDWARE_PRICE_PER_HOUR", 0.10)
# /v1/chat/completions: a request still generating after this long is answered with an error.
TUNEDESK_CHAT_TIME_LIMIT_S = env_float("TUNEDESK_CHAT_TIME_LIMIT_S", 120.0)

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        # One queue per host class: a db_worker on a GPU host serves "gpu".
        "QUEUES": ["default", "cpu", "gpu"],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tunedesk API",
    "DESCRIPTION": "Curate LLM fine-tuning data, train LoRA adapters and compare models.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from validator.swagger.io: the CSP allows no outside images, and the schema
    # URL must not be sent to an outside service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "ENUM_NAME_OVERRIDES": {
        "RecordStatusEnum": "curation.models.Record.Status",
        "RecordKindEnum": "curation.models.Record.Kind",
        "RecordSplitEnum": "curation.models.Record.Split",
        "JobStatusEnum": "training.models.Job.Status",
        "JobKindEnum": "training.models.Job.Kind",
        "ReadableFormatEnum": "api.serializers.READABLE_FORMATS",
        "WritableFormatEnum": "api.serializers.WRITABLE_FORMATS",
        "YesNoEnum": ["yes", "no"],
    },
}

# Production hardening (`manage.py check --deploy` is clean with TUNEDESK_HTTPS=true).
HTTPS = env_bool("TUNEDESK_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
