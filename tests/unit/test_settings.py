"""Production refuses to start without its secrets, and hardens itself when it does."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'secure_cookie': s.SESSION_COOKIE_SECURE, "
    "'csrf_secure': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS, "
    "'hosts': s.ALLOWED_HOSTS, 'db': s.DATABASES['default']['ENGINE'], "
    "'proxy_ssl': getattr(s, 'SECURE_PROXY_SSL_HEADER', None)}))"
)
PRODUCTION = {
    "TALAD_ENV": "production",
    "SECRET_KEY": "k3J9-vQ2pX7_mZ4rT8wL1nB6yH0cF5dG2sA9eU3iO7jK4lP8qR1tV6xW0zY",
    "DATABASE_URL": "postgres://u:p@db.internal:5432/talad",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "talad.example",
}


def _run(extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    env.update(DJANGO_SETTINGS_MODULE="server.settings", **extra)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secret_key():
    result = _run({k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_database_url():
    result = _run({k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"})
    assert result.returncode != 0
    assert "DATABASE_URL must be set" in result.stderr


def test_production_is_hardened():
    result = _run(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "secure_cookie": True,
        "csrf_secure": True,
        "hsts": 31536000,
        "hosts": ["talad.example"],
        "db": "django.db.backends.postgresql",
        "proxy_ssl": None,
    }


@pytest.mark.parametrize(
    ("unsafe", "message"),
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY must be at least 50 characters"),
        (
            {"SECRET_KEY": "django-insecure-" + "k3J9vQ2pX7mZ4rT8wL1nB6yH0cF5dG2sA9eU3i"},
            "SECRET_KEY",
        ),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must name this site's hosts"),
        ({"ALLOWED_HOSTS": "talad.example,*"}, "ALLOWED_HOSTS must name this site's hosts"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8,not-an-address"}, "TRUSTED_PROXIES"),
    ],
)
def test_production_refuses_unsafe_settings(unsafe, message):
    result = _run({**PRODUCTION, **unsafe})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_forwarded_proto_is_believed_only_with_trusted_proxies():
    result = _run({**PRODUCTION, "TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["proxy_ssl"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_embedded_default_needs_nothing(tmp_path):
    result = _run({"TALAD_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["debug"] is True
    assert probe["db"] == "django.db.backends.sqlite3"
