"""Test settings: the real services on loopback unless the environment names others."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/talad")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
# One connection per thread, closed after each test: the pool would keep connections open
# that block dropping the test database. Process tests (daphne, celery) set their own.
os.environ.setdefault("DB_POOL_MAX", "0")
os.environ.setdefault("TALAD_DATA_DIR", os.path.join(tempfile.gettempdir(), "talad-tests"))

from server.settings import *  # noqa: F403

# Hashing cost is not what these tests measure.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests sign up and fail logins from one address by the hundred. The server processes
# that tests start to measure the limits themselves set TALAD_TEST_REAL_LIMITS and the
# limits' variables (tests/integration/test_auth_http.py).
if not os.environ.get("TALAD_TEST_REAL_LIMITS"):
    TALAD_THROTTLE_RATES = {"auth": "100000/min"}
    TALAD_AUTH_LIMITS = {
        "login_failures_per_address": (100000, 900),
        "login_failures_per_username": (100000, 900),
        "register_per_address": (100000, 3600),
    }

# Webhook receivers in tests are small servers on 127.0.0.1; a test that checks the refusal
# turns this off itself.
WEBHOOK_ALLOW_PRIVATE = True
