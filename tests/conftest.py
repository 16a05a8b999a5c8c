"""Fixtures built through the services, as the product builds its own rows."""

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from rest_framework.test import APIClient

from catalog import services as catalog
from catalog.models import Farm, Product
from server.accounts import services as accounts
from server.accounts.models import User

PASSWORD = "a-Strong-passw0rd"
_ids = count(1)


@pytest.fixture(autouse=True)
def _clean_redis(settings: Any) -> Iterator[None]:
    """Each test starts with an empty test Redis (its own db number, never db 0)."""
    from server.redis import redis_client

    client = redis_client()
    client.flushdb()
    yield


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(role: str = "viewer", username: str | None = None) -> User:
        name = username or f"{role}{next(_ids)}"
        return accounts.user_register(username=name, password=PASSWORD, role=role)

    return make


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(
                HTTP_AUTHORIZATION=f"Token {accounts.token_get_or_create(user=user)}"
            )
        return client

    return make


@pytest.fixture
def host(make_user: Callable[..., User]) -> User:
    return make_user("host")


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    return make_user("viewer")


@pytest.fixture
def farm(host: User) -> Farm:
    return catalog.farm_create(
        owner=host,
        name="Ban Rai Mango Garden",
        province="Chachoengsao",
        district="Bang Khla",
        poverty_county=False,
        households=2,
    )


@pytest.fixture
def product(host: User, farm: Farm) -> Product:
    from decimal import Decimal

    return catalog.product_create(
        actor=host, farm=farm, name="Nam Dok Mai mango", unit="kg", price=Decimal("89.50"), stock=40
    )
