"""Configure Django in-process from plain values, for the web app, `manage`, and the worker.

Django owns the models and migrations, but its settings are derived from our typed settings
(`loopin_web.settings.Settings`) instead of a settings module full of `os.environ` reads. The
worker needs only the database, so `setup(database_url=...)` is all it has to call.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import django
from django.conf import settings as django_settings

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "loopin_web.accounts",
    "loopin_web.notifications",
]

_lock = threading.Lock()


def database_from_url(url: str, *, connect_timeout: int = 3) -> dict[str, Any]:
    """postgresql://user:pass@host:port/name?sslmode=require -> a Django DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    options: dict[str, Any] = {"connect_timeout": connect_timeout}
    options.update(dict(parse_qsl(parts.query)))
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or 5432),
        # Persistent connections, checked before reuse, so a restarted PostgreSQL is survived.
        "CONN_MAX_AGE": 300,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


def django_settings_dict(
    *,
    database_url: str,
    secret_key: str = "worker-has-no-django-sessions",  # noqa: S107 - only signs admin sessions
    debug: bool = False,
    allowed_hosts: list[str] | None = None,
    csrf_trusted_origins: list[str] | None = None,
    secure_cookies: bool = True,
) -> dict[str, Any]:
    return {
        "DEBUG": debug,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": allowed_hosts or [],
        "CSRF_TRUSTED_ORIGINS": csrf_trusted_origins or [],
        "INSTALLED_APPS": INSTALLED_APPS,
        "DATABASES": {"default": database_from_url(database_url)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "AUTH_USER_MODEL": "accounts.User",
        "PASSWORD_HASHERS": [
            "loopin_web.accounts.hashers.Argon2idOwaspHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "ROOT_URLCONF": "loopin_web.admin_urls",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "STATIC_URL": "/static/",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        # The ALB terminates TLS and says so in X-Forwarded-Proto.
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SESSION_COOKIE_SECURE": secure_cookies,
        "CSRF_COOKIE_SECURE": secure_cookies,
        "LOGGING_CONFIG": None,  # loopin_web.logs owns logging
    }


def setup(**kwargs: Any) -> None:
    """Configure and start Django once per process; later calls are no-ops."""
    with _lock:
        if not django_settings.configured:
            django_settings.configure(**django_settings_dict(**kwargs))
        django.setup()
