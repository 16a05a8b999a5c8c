"""Backing-service failures the client hears as ``unavailable`` (server/errors.py)."""

from django.db import OperationalError
from psycopg_pool import PoolTimeout

from server.errors import Unavailable, service_error


def _wrapped(cause: Exception) -> OperationalError:
    """As Django raises it: its own error, the driver's as the cause."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as exc:
        return exc


def test_a_full_connection_pool_is_unavailable_with_retry_after():
    refusal = service_error(_wrapped(PoolTimeout("couldn't get a connection after 10.00 sec")))
    assert isinstance(refusal, Unavailable)
    assert refusal.status == 503 and refusal.extra == {"retry_after_s": 2}


def test_other_database_errors_stay_server_errors():
    assert service_error(_wrapped(ValueError("server closed the connection"))) is None
