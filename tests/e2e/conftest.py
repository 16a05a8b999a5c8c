"""Browser-test fixtures (tests/e2e/stack.py): ``stack`` is the platform running inside a
loopback-only network namespace with a Chromium to drive it.

    def test_home(stack, make_user):
        page = stack.page(make_user("viewer"))
        stack.open(page, "/")
        stack.assert_clean(page)

A module's tests share one namespace and one browser; each test gets its own server
processes (Redis is emptied between tests, and the media process announces itself there).
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.e2e import stack as e2e

_why_not = e2e.usable()
# Playwright's sync API keeps its own event loop running on the test's thread, so Django's
# guard takes every ORM call in a browser test for one made from async code. Playwright's
# documentation gives this switch for Django; it changes nothing in the servers under test.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.django_db(transaction=True))
            if _why_not:
                item.add_marker(pytest.mark.skip(reason=_why_not))


@pytest.fixture(scope="module")
def namespace(django_db_setup: None, django_db_blocker: Any) -> Iterator[e2e.Namespace]:
    ns = e2e.Namespace.open(database=connection.settings_dict, redis_url=django_settings.REDIS_URL)
    yield ns
    ns.close()


@pytest.fixture(scope="module")
def browser(namespace: e2e.Namespace) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(namespace.chromium), headless=True, args=e2e.CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def stack_options() -> dict[str, Any]:
    """Override in a module to start a worker (``{"worker": True}``) or skip media."""
    return {}


@pytest.fixture
def stack(
    namespace: e2e.Namespace, browser: Any, transactional_db: None, stack_options: dict[str, Any]
) -> Iterator[e2e.Stack]:
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@127.0.0.1:5432/{db['NAME']}"
    redis = django_settings.REDIS_URL
    path = redis.split("//", 1)[1].split("/", 1)
    redis_url = "redis://127.0.0.1:6379" + (f"/{path[1]}" if len(path) > 1 else "")
    with e2e.running(
        namespace, browser, database_url=database_url, redis_url=redis_url, **stack_options
    ) as running:
        yield running
